"""Feature scaling fitted on training data, and one-hot label encoding.

A scaler learns per-feature statistics from the training inputs only, then applies the same
affine map to any data. It is stored in a model file through :meth:`to_dict` /
:func:`scaler_from_dict` as plain JSON (lists of floats and a ``"kind"`` key).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Self

import numpy as np

from .._validation import as_float_array, check_int, check_labels
from ..backend import NUMPY
from ..errors import ConfigError, LabelError, ModelFileError, ShapeError

__all__ = ["MinMaxScaler", "StandardScaler", "scaler_from_dict", "one_hot", "from_one_hot"]


class _Scaler(ABC):
    """``z = (x - offset) / scale`` per feature; subclasses choose offset and scale in ``fit``."""

    kind = ""
    _fields: tuple[str, str] = ("", "")

    def __init__(self) -> None:
        self.offset_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None

    def fit(self, X: Any) -> Self:
        """Learn the per-feature statistics of ``X`` (n_samples, n_features); returns self."""
        X = as_float_array(X, f"{type(self).__name__}.fit input", ndim=2)
        if len(X) == 0:
            raise ShapeError(f"{type(self).__name__}.fit needs at least one sample, got shape {X.shape}")
        self.offset_, self.scale_ = self._statistics(X.astype(np.float64))
        return self

    @abstractmethod
    def _statistics(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-feature ``(offset, scale)`` of the float64 training data ``X``."""

    def transform(self, X: Any) -> np.ndarray:
        """Return ``(X - offset) / scale``, a new array with ``X``'s float dtype."""
        if self.offset_ is None:
            raise ConfigError(f"{type(self).__name__} is not fitted; call fit(X_train) first")
        X = as_float_array(X, f"{type(self).__name__}.transform input", ndim=2)
        if X.shape[1] != len(self.offset_):
            raise ShapeError(f"{type(self).__name__} was fitted on {len(self.offset_)} features, "
                             f"got {X.shape[1]}")
        return ((X - self.offset_) / self.scale_).astype(X.dtype, copy=False)

    def fit_transform(self, X: Any) -> np.ndarray:
        """``fit(X)`` then ``transform(X)``."""
        return self.fit(X).transform(X)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable state: ``{"kind": ..., <offset name>: [...], <scale name>: [...]}``."""
        if self.offset_ is None or self.scale_ is None:  # fit and from_dict set both together
            raise ConfigError(f"{type(self).__name__} is not fitted; nothing to save")
        return {"kind": self.kind, self._fields[0]: self.offset_.tolist(),
                self._fields[1]: self.scale_.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Self:
        """Rebuild a fitted scaler from :meth:`to_dict` output."""
        if not isinstance(d, dict) or d.get("kind") != cls.kind:
            raise ModelFileError(f"expected a {cls.kind!r} scaler record, got {d!r:.80}")
        try:
            offset = np.array(d[cls._fields[0]], dtype=np.float64)
            scale = np.array(d[cls._fields[1]], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{cls.kind} scaler record needs numeric lists "
                                 f"{cls._fields[0]!r} and {cls._fields[1]!r}: {exc}") from exc
        if offset.ndim != 1 or offset.shape != scale.shape or not (
                np.isfinite(offset).all() and np.isfinite(scale).all() and (scale > 0).all()):
            raise ModelFileError(f"{cls.kind} scaler record: expected two equal-length lists of finite "
                                 f"numbers with positive scales, got shapes {offset.shape} and {scale.shape}")
        scaler = cls()
        scaler.offset_, scaler.scale_ = offset, scale
        return scaler

    def __repr__(self) -> str:
        state = "unfitted" if self.offset_ is None else f"n_features={len(self.offset_)}"
        return f"{type(self).__name__}({state})"


class MinMaxScaler(_Scaler):
    """Scale each feature to [0, 1] on the training data: ``z = (x - min) / (max - min)``.

    A constant feature (``max == min``) gets scale 1, so it maps to 0. Data outside the
    training range map outside [0, 1]; nothing is clipped.

    Examples
    --------
    >>> MinMaxScaler().fit_transform(np.array([[0.0, 5.0], [2.0, 5.0], [4.0, 5.0]])).tolist()
    [[0.0, 0.0], [0.5, 0.0], [1.0, 0.0]]
    """

    kind = "minmax"
    _fields = ("min", "range")

    def _statistics(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        low, span = X.min(axis=0), np.ptp(X, axis=0)
        return low, np.where(span > 0, span, 1.0)


class StandardScaler(_Scaler):
    """Standardise each feature: ``z = (x - mean) / std`` with the training mean and std.

    ``std`` is the population standard deviation (``ddof=0``, as scikit-learn); a feature
    with zero std gets scale 1, so it maps to 0.
    """

    kind = "standard"
    _fields = ("mean", "std")

    def _statistics(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        std = X.std(axis=0)
        return X.mean(axis=0), np.where(std > 0, std, 1.0)


_SCALERS: dict[str, type[MinMaxScaler] | type[StandardScaler]] = {
    cls.kind: cls for cls in (MinMaxScaler, StandardScaler)}


def scaler_from_dict(d: dict[str, Any]) -> MinMaxScaler | StandardScaler:
    """Rebuild whichever scaler ``d["kind"]`` names (``"minmax"`` or ``"standard"``)."""
    kind = d.get("kind") if isinstance(d, dict) else None
    if kind not in _SCALERS:
        raise ModelFileError(f"unknown scaler kind {kind!r}; expected one of {sorted(_SCALERS)}")
    return _SCALERS[kind].from_dict(d)


def one_hot(labels: Any, n_classes: int, dtype: Any = np.float32) -> np.ndarray:
    """One-hot encode: ``T[n, k] = 1`` if ``labels[n] == k`` else 0; shape (n, n_classes).

    Examples
    --------
    >>> one_hot([2, 0], 3).tolist()
    [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    n_classes = check_int("n_classes", n_classes, low=1)
    return NUMPY.one_hot(check_labels(labels, n_classes, "one_hot labels"), n_classes, dtype)


def from_one_hot(T: Any) -> np.ndarray:
    """Labels from one-hot (or probability) rows: ``argmax_k T[n, k]``, int64 of shape (n,)."""
    T = np.asarray(T)
    if T.ndim != 2 or T.shape[1] < 1:
        raise LabelError(f"from_one_hot expects a 2-D array (n_samples, n_classes), got shape {T.shape}")
    return T.argmax(axis=1).astype(np.int64)
