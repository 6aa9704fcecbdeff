"""Derived input features of 2-D points, as TensorFlow Playground offers them.

A network that sees only ``(x1, x2)`` must build curved boundaries from its hidden units;
feeding ``x1^2 + x2^2``-like features makes the circle set linearly separable. The names
below are stored in a model's metadata (``"features"``), so prediction applies the same map.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .._validation import as_float_array
from ..errors import ConfigError, ShapeError

__all__ = ["PLANE_FEATURES", "plane_features", "check_feature_names"]

PLANE_FEATURES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "x1": lambda a, b: a,
    "x2": lambda a, b: b,
    "x1^2": lambda a, b: a * a,
    "x2^2": lambda a, b: b * b,
    "x1*x2": lambda a, b: a * b,
    "sin(x1)": lambda a, b: np.sin(a),
    "sin(x2)": lambda a, b: np.sin(b),
}
"""Feature name -> function of the two coordinates, in display order."""


def check_feature_names(names: Sequence[str]) -> list[str]:
    """Validate a list of feature names (at least one, each known, no repeats)."""
    names = list(names)
    if not names:
        raise ConfigError("select at least one input feature")
    for name in names:
        if name not in PLANE_FEATURES:
            raise ConfigError(f"unknown feature {name!r}; expected some of {', '.join(PLANE_FEATURES)}")
    if len(set(names)) != len(names):
        raise ConfigError(f"features must not repeat, got {names}")
    return names


def plane_features(X: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """The (n, len(names)) float32 feature matrix of 2-D points ``X`` (n, 2).

    >>> plane_features(np.array([[2.0, 3.0]]), ["x1", "x1*x2", "x2^2"]).tolist()
    [[2.0, 6.0, 9.0]]
    """
    names = check_feature_names(names)
    X = as_float_array(X, "points", ndim=2)
    if X.shape[1] != 2:
        raise ShapeError(f"derived features need 2-D points (n, 2), got shape {X.shape}")
    a, b = X[:, 0].astype(np.float32), X[:, 1].astype(np.float32)
    return np.column_stack([PLANE_FEATURES[name](a, b) for name in names]).astype(np.float32)
