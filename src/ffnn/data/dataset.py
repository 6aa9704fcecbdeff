"""The :class:`Dataset` record every loader returns (and the train/test split, from :mod:`ffnn.sampling`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from ..sampling import train_test_split

__all__ = ["Dataset", "train_test_split", "TASKS"]

TASKS = ("classification", "regression")


@dataclass(frozen=True, eq=False)
class Dataset:
    """A supervised data set already split into a training and a test part.

    Attributes
    ----------
    name : str
        Registry name or file name.
    X_train, X_test : numpy.ndarray, shape (n_samples, n_features), float32
        Inputs, one row per sample; images are flattened row-major and scaled to [0, 1].
    y_train, y_test : numpy.ndarray
        int64 labels of shape (n_samples,) in ``[0, n_classes)`` for classification; float32
        targets of shape (n_samples,) or (n_samples, n_outputs) for regression.
    task : {"classification", "regression"}
    n_classes : int or None
        Number of classes; None for regression.
    image_shape : tuple of int or None
        ``(height, width)`` of the images for image sets (``(28, 28)`` for MNIST), else None.
    class_names : tuple of str or None
        Name of each class, index = label.
    description : str
        One line, including the source and its attribution.

    Arrays are checked (dtype, shapes, label range) when the record is built.
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    task: str
    n_classes: int | None
    image_shape: tuple[int, int] | None = None
    class_names: tuple[str, ...] | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise DataError(f"Dataset {self.name!r}: task must be one of {TASKS}, got {self.task!r}")
        for part in ("train", "test"):
            X, y = getattr(self, f"X_{part}"), getattr(self, f"y_{part}")
            if X.ndim != 2 or X.dtype != np.float32:
                raise DataError(f"Dataset {self.name!r}: X_{part} must be a float32 array of shape "
                                f"(n_samples, n_features), got {X.dtype} of shape {X.shape}")
            if len(y) != len(X):
                raise DataError(f"Dataset {self.name!r}: X_{part} has {len(X)} rows but "
                                f"y_{part} has {len(y)}")
            if self.task == "classification":
                self._check_labels(part, y)
            elif y.dtype != np.float32 or y.ndim not in (1, 2):
                raise DataError(f"Dataset {self.name!r}: regression targets y_{part} must be "
                                f"float32 of shape (n,) or (n, k), got {y.dtype} of shape {y.shape}")
        if self.X_train.shape[1] != self.X_test.shape[1]:
            raise DataError(f"Dataset {self.name!r}: X_train has {self.X_train.shape[1]} features "
                            f"but X_test has {self.X_test.shape[1]}")
        if self.image_shape is not None and int(np.prod(self.image_shape)) != self.n_features:
            raise DataError(f"Dataset {self.name!r}: image_shape {self.image_shape} does not match "
                            f"{self.n_features} features")

    def _check_labels(self, part: str, y: np.ndarray) -> None:
        if self.n_classes is None or self.n_classes < 1:
            raise DataError(f"Dataset {self.name!r}: a classification set needs n_classes >= 1, "
                            f"got {self.n_classes}")
        if y.dtype != np.int64 or y.ndim != 1:
            raise DataError(f"Dataset {self.name!r}: labels y_{part} must be int64 of shape (n,), "
                            f"got {y.dtype} of shape {y.shape}")
        if y.size and (y.min() < 0 or y.max() >= self.n_classes):
            raise DataError(f"Dataset {self.name!r}: labels y_{part} must lie in "
                            f"[0, {self.n_classes}), got values in [{y.min()}, {y.max()}]")
        if self.class_names is not None and len(self.class_names) != self.n_classes:
            raise DataError(f"Dataset {self.name!r}: {len(self.class_names)} class names for "
                            f"{self.n_classes} classes")

    @property
    def n_features(self) -> int:
        """Number of input features (columns of ``X_train``)."""
        return int(self.X_train.shape[1])

    def __repr__(self) -> str:
        classes = f", n_classes={self.n_classes}" if self.n_classes is not None else ""
        return (f"Dataset({self.name!r}, {self.task}, train={self.X_train.shape}, "
                f"test={self.X_test.shape}{classes})")
