"""Evaluation metrics: accuracy, confusion matrix, per-class precision/recall, mean squared error."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._validation import check_int, check_labels, check_same_length

__all__ = ["accuracy", "confusion_matrix", "precision_recall", "mean_squared_error",
           "classification_table", "predicted_labels"]


def predicted_labels(output: np.ndarray) -> np.ndarray:
    """Class predictions from a network output: argmax over K >= 2 outputs, ``output > 0`` for one logit."""
    output = np.asarray(output)
    if output.ndim == 2 and output.shape[1] > 1:
        return output.argmax(axis=1)
    return (output.reshape(len(output)) > 0).astype(np.intp)


def accuracy(y_true: Any, y_pred: Any) -> float:
    """Fraction of samples whose predicted label equals the true one.

    >>> accuracy([0, 1, 2, 2], [0, 1, 1, 2])
    0.75
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    check_same_length(y_true, y_pred, "y_true", "y_pred")
    if y_true.size == 0:
        return float("nan")
    return float(np.mean(y_true == y_pred))


def confusion_matrix(y_true: Any, y_pred: Any, n_classes: int | None = None) -> np.ndarray:
    """``C[i, j]`` = number of samples of true class i predicted as class j.

    >>> confusion_matrix([0, 1, 1], [0, 0, 1])
    array([[1, 0],
           [1, 1]])
    """
    y_true_a, y_pred_a = np.asarray(y_true), np.asarray(y_pred)
    if n_classes is None:
        n_classes = int(max(y_true_a.max(initial=0), y_pred_a.max(initial=0))) + 1
    n_classes = check_int("n_classes", n_classes, low=1)
    y_true_a = check_labels(y_true_a, n_classes, "y_true")
    y_pred_a = check_labels(y_pred_a, n_classes, "y_pred")
    check_same_length(y_true_a, y_pred_a, "y_true", "y_pred")
    return np.bincount(y_true_a * n_classes + y_pred_a, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def precision_recall(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class precision ``C_kk / sum_i C_ik`` and recall ``C_kk / sum_j C_kj`` (nan where undefined)."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    with np.errstate(invalid="ignore", divide="ignore"):
        return tp / cm.sum(axis=0), tp / cm.sum(axis=1)


def mean_squared_error(y_true: Any, y_pred: Any) -> float:
    """``mean over samples and outputs of (y - t)^2`` (as scikit-learn; EuclideanLoss is half the per-sample sum)."""
    y_true, y_pred = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    if y_true.shape != y_pred.shape:
        y_true = y_true.reshape(y_pred.shape) if y_true.size == y_pred.size else y_true
    check_same_length(y_true, y_pred, "y_true", "y_pred")
    return float(np.mean((y_true - y_pred) ** 2))


def classification_table(y_true: Any, y_pred: Any, n_classes: int,
                         class_names: Sequence[str] | None = None) -> str:
    """A text table: per class support, precision and recall, then accuracy and the confusion matrix."""
    cm = confusion_matrix(y_true, y_pred, n_classes)
    precision, recall = precision_recall(cm)
    names = [str(c) for c in (class_names or range(n_classes))]
    width = max(5, max(len(n) for n in names))
    lines = [f"{'class':<{width}}  {'support':>7}  {'precision':>9}  {'recall':>6}"]
    for k in range(n_classes):
        lines.append(f"{names[k]:<{width}}  {int(cm[k].sum()):>7}  {precision[k]:>9.3f}  {recall[k]:>6.3f}")
    lines.append(f"accuracy: {np.trace(cm) / max(cm.sum(), 1):.4f} on {int(cm.sum())} samples")
    lines.append("confusion matrix (rows: true class, columns: predicted):")
    cell = max(len(str(int(cm.max(initial=0)))), 3)
    lines.append(" " * (width + 1) + " ".join(f"{n[:cell]:>{cell}}" for n in names))
    for k in range(n_classes):
        lines.append(f"{names[k]:<{width}} " + " ".join(f"{int(v):>{cell}}" for v in cm[k]))
    return "\n".join(lines)
