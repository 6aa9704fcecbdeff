"""The NumPy backend: the ``numpy`` module itself is the namespace, so the CPU path is
unchanged by the backend layer (``xp.matmul(x, w.T, out=buf)`` is ``np.matmul``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Backend

__all__ = ["NumpyBackend", "NUMPY"]


class NumpyBackend(Backend):
    """NumPy arrays in host memory; BLAS for the products, cache-sized chunks for the
    optimizers' elementwise passes (:mod:`ffnn.optim`)."""

    name = "numpy"
    xp = np
    array_type = np.ndarray
    deferred = False

    def asarray(self, a: Any, dtype: Any = None) -> np.ndarray:
        return np.array(a, dtype=dtype, copy=True)

    def from_host(self, a: np.ndarray) -> np.ndarray:
        return a

    def to_numpy(self, a: Any) -> np.ndarray:
        return np.array(a, copy=True)

    def copy(self, a: Any) -> np.ndarray:
        return np.array(a, copy=True)

    def copy_into(self, dst: Any, src: Any) -> None:
        np.copyto(dst, src, casting="unsafe")

    def item(self, a: Any) -> float:
        return float(a)

    def all_finite(self, a: Any) -> bool:
        return bool(np.isfinite(a).all())


NUMPY = NumpyBackend()
"""The default backend of every layer, loss and optimizer."""
