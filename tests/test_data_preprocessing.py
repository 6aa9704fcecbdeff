"""Scalers and one-hot encoding."""

import json

import numpy as np
import pytest

from ffnn.data.preprocessing import (MinMaxScaler, StandardScaler, from_one_hot, one_hot,
                                     scaler_from_dict)
from ffnn.errors import ConfigError, LabelError, ModelFileError, ShapeError


def _data(dtype=np.float64):
    rng = np.random.default_rng(0)
    X = rng.normal(3.0, 2.0, size=(50, 4)).astype(dtype)
    X[:, 2] = 7.0  # a constant feature
    return X


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_minmax(dtype):
    X = _data(dtype)
    Z = MinMaxScaler().fit_transform(X)
    assert Z.dtype == dtype
    np.testing.assert_allclose(Z.min(axis=0), [0, 0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(Z.max(axis=0), [1, 1, 0, 1], atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_standard(dtype):
    X = _data(dtype)
    Z = StandardScaler().fit_transform(X)
    assert Z.dtype == dtype
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(Z.std(axis=0), [1, 1, 0, 1], atol=1e-5)


def test_fit_on_train_only():
    X = _data()
    scaler = StandardScaler().fit(X[:25])
    np.testing.assert_allclose(scaler.transform(X[25:]), (X[25:] - X[:25].mean(0)) /
                               np.where(X[:25].std(0) > 0, X[:25].std(0), 1))


@pytest.mark.parametrize("cls", [MinMaxScaler, StandardScaler])
def test_to_dict_round_trip(cls):
    X = _data()
    scaler = cls().fit(X)
    record = json.loads(json.dumps(scaler.to_dict()))
    assert record["kind"] == cls.kind
    back = scaler_from_dict(record)
    assert type(back) is cls
    np.testing.assert_array_equal(back.transform(X), scaler.transform(X))
    np.testing.assert_array_equal(cls.from_dict(record).transform(X), scaler.transform(X))


def test_errors():
    with pytest.raises(ConfigError, match="not fitted"):
        MinMaxScaler().transform(np.zeros((2, 2)))
    with pytest.raises(ShapeError, match="fitted on 4 features, got 3"):
        MinMaxScaler().fit(_data()).transform(np.zeros((2, 3)))
    with pytest.raises(ShapeError):
        StandardScaler().fit(np.zeros(3))
    with pytest.raises(ModelFileError, match="unknown scaler kind 'robust'"):
        scaler_from_dict({"kind": "robust"})
    with pytest.raises(ModelFileError):
        StandardScaler.from_dict({"kind": "standard", "mean": [0.0], "std": [0.0]})
    with pytest.raises(ModelFileError):
        MinMaxScaler.from_dict({"kind": "standard", "mean": [0.0], "std": [1.0]})
    assert "unfitted" in repr(MinMaxScaler())


def test_one_hot_round_trip():
    labels = np.array([2, 0, 1, 2])
    T = one_hot(labels, 3)
    assert T.dtype == np.float32 and T.shape == (4, 3)
    np.testing.assert_array_equal(T.sum(axis=1), 1)
    np.testing.assert_array_equal(from_one_hot(T), labels)
    assert one_hot(labels, 4, dtype=np.float64).dtype == np.float64


def test_one_hot_checks_labels():
    with pytest.raises(LabelError, match=r"\[0, 3\).*got 3"):
        one_hot([0, 3], 3)
    with pytest.raises(LabelError):
        one_hot([0.5], 3)
    with pytest.raises(LabelError):
        from_one_hot(np.zeros(3))
