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

    def softmax_cross_entropy(self, z: Any, target: Any, scale: Any, rows: Any) -> tuple[float, np.ndarray]:
        """:meth:`Backend.softmax_cross_entropy` with NumPy's fast paths: array methods, the
        labels' entries picked and decremented by fancy indexing, the loss a float."""
        shifted = z - z.max(axis=1, keepdims=True)
        p = np.exp(shifted)
        sums = p.sum(axis=1, keepdims=True)
        p /= sums
        log_norm = np.log(sums)
        if target.ndim == 1:
            if isinstance(scale, float):
                loss = float(log_norm.sum() - shifted[rows, target].sum()) * scale
            else:
                loss = float(np.sum(scale[:, 0] * (log_norm[:, 0] - shifted[rows, target])))
            p[rows, target] -= 1.0
        else:
            loss = float(np.sum(scale * target * (log_norm - shifted)))
            p -= target
        p *= scale
        return loss, p


NUMPY = NumpyBackend()
"""The default backend of every layer, loss and optimizer."""
