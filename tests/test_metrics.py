"""Tests of ffnn.metrics: accuracy, confusion matrix, precision/recall, MSE, the text table."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ffnn.errors import ConfigError, FfnnError, LabelError, ShapeError
from ffnn.metrics import (accuracy, classification_table, confusion_matrix, mean_squared_error,
                          precision_recall, predicted_labels)


def manual_confusion(y_true, y_pred, k):
    cm = np.zeros((k, k), dtype=int)
    for t, p in zip(y_true, y_pred):
        cm[t, p] += 1
    return cm


def test_accuracy():
    assert accuracy([0, 1, 2, 2], [0, 1, 1, 2]) == 0.75
    assert accuracy(np.array([1, 1]), np.array([1, 1])) == 1.0
    assert accuracy([0, 0, 0], [1, 1, 1]) == 0.0
    assert isinstance(accuracy([0], [0]), float)
    assert math.isnan(accuracy([], []))
    with pytest.raises(ShapeError, match="3 and 2"):
        accuracy([0, 1, 2], [0, 1])


def test_confusion_matrix_matches_a_manual_count(rng):
    y_true = rng.integers(0, 5, 300)
    y_pred = np.where(rng.random(300) < 0.7, y_true, rng.integers(0, 5, 300))
    cm = confusion_matrix(y_true, y_pred, 5)
    np.testing.assert_array_equal(cm, manual_confusion(y_true, y_pred, 5))
    assert cm.sum() == 300
    np.testing.assert_array_equal(cm.sum(axis=1), np.bincount(y_true, minlength=5))   # rows: true class
    np.testing.assert_array_equal(cm.sum(axis=0), np.bincount(y_pred, minlength=5))   # columns: predicted
    assert np.trace(cm) / 300 == pytest.approx(accuracy(y_true, y_pred))


def test_confusion_matrix_is_not_symmetric_by_accident():
    cm = confusion_matrix([0, 0, 0, 1], [1, 1, 0, 1], 2)
    np.testing.assert_array_equal(cm, [[1, 2], [0, 1]])


def test_confusion_matrix_infers_the_number_of_classes_and_pads():
    np.testing.assert_array_equal(confusion_matrix([0, 1, 1], [0, 0, 1]), [[1, 0], [1, 1]])
    cm = confusion_matrix([0, 1], [0, 1], n_classes=4)
    assert cm.shape == (4, 4) and cm.sum() == 2
    assert confusion_matrix([3], [1]).shape == (4, 4)


def test_confusion_matrix_against_sklearn(rng):
    sk = pytest.importorskip("sklearn.metrics")
    y_true = rng.integers(0, 4, 200)
    y_pred = rng.integers(0, 4, 200)
    np.testing.assert_array_equal(confusion_matrix(y_true, y_pred, 4),
                                  sk.confusion_matrix(y_true, y_pred, labels=range(4)))


@pytest.mark.parametrize("y_true, y_pred, n, needle", [
    ([0, 1, 5], [0, 1, 1], 3, "5"),
    ([0, 1, 1], [0, -1, 1], 3, "-1"),
    ([0, 1.5, 1], [0, 1, 1], 3, "1.5"),
    ([0, 1], [0, 1, 1], 3, "2 and 3"),
])
def test_confusion_matrix_rejects_bad_labels(y_true, y_pred, n, needle):
    with pytest.raises((LabelError, ShapeError)) as info:
        confusion_matrix(y_true, y_pred, n)
    assert needle in str(info.value)


def test_confusion_matrix_rejects_bad_n_classes():
    with pytest.raises(ConfigError, match="0"):
        confusion_matrix([0], [0], n_classes=0)


def test_precision_recall():
    cm = np.array([[5, 1, 0],
                   [2, 3, 0],
                   [0, 0, 0]])
    precision, recall = precision_recall(cm)
    np.testing.assert_allclose(precision[:2], [5 / 7, 3 / 4])
    np.testing.assert_allclose(recall[:2], [5 / 6, 3 / 5])
    assert math.isnan(precision[2]) and math.isnan(recall[2])        # never predicted, never present


def test_precision_recall_nan_only_where_undefined():
    cm = np.array([[2, 0], [3, 0]])        # class 1 is present (recall 0) but never predicted
    precision, recall = precision_recall(cm)
    assert precision[0] == pytest.approx(0.4) and math.isnan(precision[1])
    assert recall.tolist() == [1.0, 0.0]


def test_precision_recall_against_sklearn(rng):
    sk = pytest.importorskip("sklearn.metrics")
    y_true, y_pred = rng.integers(0, 3, 100), rng.integers(0, 3, 100)
    precision, recall = precision_recall(confusion_matrix(y_true, y_pred, 3))
    np.testing.assert_allclose(precision, sk.precision_score(y_true, y_pred, average=None))
    np.testing.assert_allclose(recall, sk.recall_score(y_true, y_pred, average=None))


def test_mean_squared_error():
    assert mean_squared_error([1.0, 2.0], [1.0, 4.0]) == 2.0
    assert mean_squared_error(np.zeros((2, 2)), np.array([[1.0, 1.0], [1.0, 3.0]])) == 3.0
    # (n,) targets against an (n, 1) output: no (n, n) broadcasting
    t = np.array([0.0, 1.0, 2.0])
    assert mean_squared_error(t, t[:, None] + 1.0) == 1.0
    assert isinstance(mean_squared_error([0.0], [1.0]), float)
    with pytest.raises(ShapeError):
        mean_squared_error([1.0, 2.0, 3.0], [1.0, 2.0])


def test_mean_squared_error_against_sklearn(rng):
    sk = pytest.importorskip("sklearn.metrics")
    a, b = rng.normal(size=(20, 3)), rng.normal(size=(20, 3))
    assert mean_squared_error(a, b) == pytest.approx(sk.mean_squared_error(a, b))


def test_predicted_labels():
    assert predicted_labels(np.array([[0.1, 0.9], [2.0, -1.0]])).tolist() == [1, 0]
    assert predicted_labels(np.array([[0.3], [-0.2]])).tolist() == [1, 0]
    assert predicted_labels(np.array([0.3, -0.2, 0.0])).tolist() == [1, 0, 0]


def test_classification_table():
    y_true = [0, 0, 1, 1, 1, 2]
    y_pred = [0, 1, 1, 1, 0, 2]
    text = classification_table(y_true, y_pred, 3, class_names=["cat", "dog", "bird"])
    assert isinstance(text, str)
    lines = text.splitlines()
    assert lines[0].split() == ["class", "support", "precision", "recall"]
    assert lines[1].split() == ["cat", "2", "0.500", "0.500"]
    assert lines[2].split() == ["dog", "3", "0.667", "0.667"]
    assert lines[3].split() == ["bird", "1", "1.000", "1.000"]
    assert "accuracy: 0.6667 on 6 samples" in text
    assert lines[-3].split() == ["cat", "1", "1", "0"]
    assert lines[-2].split() == ["dog", "1", "2", "0"]
    assert lines[-1].split() == ["bird", "0", "0", "1"]


def test_classification_table_without_names_and_with_an_absent_class():
    text = classification_table([0, 1], [0, 1], 3)
    assert "accuracy: 1.0000 on 2 samples" in text
    row2 = [line for line in text.splitlines() if line.startswith("2 ")][0].split()
    assert row2[:2] == ["2", "0"] and row2[2] == "nan"


def test_errors_are_ffnn_errors():
    with pytest.raises(FfnnError):
        confusion_matrix([0, 9], [0, 1], 2)
