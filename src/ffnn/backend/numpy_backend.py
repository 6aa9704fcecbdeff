"""The NumPy backend: the ``numpy`` module itself is the namespace, so the CPU path is
unchanged by the backend layer (``xp.matmul(x, w.T, out=buf)`` is ``np.matmul``).

The arrays it makes for a network (parameters, gradients, layer buffers, optimizer state,
gathered batches) start on a 64-byte boundary, a cache line and an AVX-512 register:
NumPy only promises 16 bytes, and OpenBLAS's small GEMMs are up to 1.2x slower on a weight
matrix that happens to start mid-line (784-100 at batch 10: 14.2 us against 11.6 us for
``x @ W.T`` on the 2-core Intel Xeon), so the speed of a run depended on where ``malloc``
put its weights.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .base import Backend

__all__ = ["NumpyBackend", "NUMPY", "ALIGNMENT", "aligned_empty", "aligned_zeros", "aligned"]

ALIGNMENT = 64
"""Bytes: where the data of the arrays this backend makes start (a multiple of it)."""


def aligned_empty(shape: Any, dtype: Any, *, zero: bool = False) -> np.ndarray:
    """An uninitialised (or, with ``zero``, zeroed) C-contiguous array whose data start at a
    multiple of :data:`ALIGNMENT` bytes: a view into a slightly larger byte buffer.

    >>> a = aligned_empty((3, 5), np.float32)
    >>> a.ctypes.data % ALIGNMENT, a.shape, a.flags.c_contiguous
    (0, (3, 5), True)
    """
    dtype = np.dtype(dtype)
    shape = tuple(int(n) for n in (shape if isinstance(shape, (tuple, list)) else (shape,)))
    nbytes = math.prod(shape) * dtype.itemsize
    raw = (np.zeros if zero else np.empty)(nbytes + ALIGNMENT, dtype=np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def aligned_zeros(shape: Any, dtype: Any) -> np.ndarray:
    """:func:`aligned_empty` filled with zeros (``np.zeros``' lazily zeroed pages)."""
    return aligned_empty(shape, dtype, zero=True)


def aligned(a: np.ndarray) -> np.ndarray:
    """``a`` itself when it is C-contiguous and aligned, else an aligned copy."""
    if a.flags.c_contiguous and a.ctypes.data % ALIGNMENT == 0:
        return a
    out = aligned_empty(a.shape, a.dtype)
    np.copyto(out, a)
    return out


class NumpyBackend(Backend):
    """NumPy arrays in host memory; BLAS for the products, cache-sized chunks for the
    optimizers' elementwise passes (:mod:`ffnn.optim`)."""

    name = "numpy"
    xp = np
    array_type = np.ndarray
    deferred = False

    def asarray(self, a: Any, dtype: Any = None) -> np.ndarray:
        source = np.asarray(a, dtype=dtype)
        out = aligned_empty(source.shape, source.dtype)
        np.copyto(out, source)
        return out

    def empty(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        return aligned_empty(shape, dtype)

    def zeros(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        return aligned_zeros(shape, dtype)

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

    def one_hot(self, labels: Any, k: int, dtype: Any) -> np.ndarray:
        dense = np.zeros((len(labels), k), dtype=dtype)
        dense[np.arange(len(labels)), labels] = 1.0
        return dense

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
