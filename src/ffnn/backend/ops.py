"""``OutOps``: NumPy's names and signatures (``out=`` included) over any array-API library.

ffnn's layers, losses and optimizers are written against NumPy's calling conventions, with
``out=`` buffers so that a warm step allocates nothing. On NumPy and CuPy those calls go to
the library itself. For a library that follows the array API standard instead (PyTorch
through ``array_api_compat``, ``array_api_strict``) an :class:`OutOps` takes the same calls:
the result is computed with the standard's functions and operators and stored into ``out``
(``out[...] = result``) when one is given. Arrays are created on the backend's device, so a
computation never mixes devices.

Only what ffnn uses is here; a missing name is an ``AttributeError`` naming it, not a silent
fallback to NumPy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["OutOps"]


def _store(out: Any, result: Any) -> Any:
    if out is None:
        return result
    out[...] = result
    return out


class _Add:
    """``xp.add(a, b, out=)`` and ``xp.add.reduce(a, axis=, out=)``, as NumPy's ufunc."""

    def __init__(self, ops: OutOps) -> None:
        self._ops = ops

    def __call__(self, a: Any, b: Any, out: Any = None) -> Any:
        return _store(out, a + b)

    def reduce(self, a: Any, axis: int = 0, out: Any = None) -> Any:
        return self._ops.sum(a, axis=axis, out=out)


class OutOps:
    """NumPy-style functions over the array-API namespace ``ns`` on ``device``.

    Parameters
    ----------
    ns : module
        An array-API namespace (``array_api_strict``, ``array_api_compat.torch``...).
    device : object or None
        Where new arrays are created (None: the library's default).
    """

    def __init__(self, ns: Any, device: Any = None) -> None:
        self.ns = ns
        self.device = device
        self.add: Any = _Add(self)
        self.float32, self.float64, self.intp = ns.float32, ns.float64, ns.int64
        self.bool_ = ns.bool

    # -- dtypes and creation --------------------------------------------------------
    def dtype(self, dtype: Any) -> Any:
        """The namespace's dtype for a NumPy dtype, or ``dtype`` itself when it is one."""
        if isinstance(dtype, (np.dtype, type, str)):
            name = np.dtype(dtype).name
            return self.bool_ if name == "bool" else getattr(self.ns, name)
        return dtype

    def empty(self, shape: Any, dtype: Any = None) -> Any:
        return self.ns.empty(tuple(shape), dtype=self.dtype(dtype or np.float64), device=self.device)

    def zeros(self, shape: Any, dtype: Any = None) -> Any:
        return self.ns.zeros(tuple(shape), dtype=self.dtype(dtype or np.float64), device=self.device)

    def empty_like(self, a: Any) -> Any:
        return self.ns.empty(a.shape, dtype=a.dtype, device=self.device)

    def full_like(self, a: Any, fill_value: float) -> Any:
        return self.ns.full(a.shape, fill_value, dtype=a.dtype, device=self.device)

    def arange(self, n: int, dtype: Any = None) -> Any:
        return self.ns.arange(n, dtype=self.dtype(dtype or np.int64), device=self.device)

    def asarray(self, a: Any, dtype: Any = None) -> Any:
        if isinstance(a, np.ndarray) or np.isscalar(a):
            a = np.asarray(a)
            dt = self.dtype(dtype if dtype is not None else a.dtype)
            return self.ns.asarray(a.tolist() if a.ndim == 0 else a, dtype=dt, device=self.device)
        return self.ns.asarray(a, dtype=None if dtype is None else self.dtype(dtype), device=self.device)

    def astype(self, a: Any, dtype: Any, copy: bool = True) -> Any:
        return self.ns.astype(a, self.dtype(dtype), copy=copy)

    def copyto(self, dst: Any, src: Any, casting: str = "unsafe") -> None:
        if src.dtype != dst.dtype:
            src = self.ns.astype(src, dst.dtype)
        dst[...] = src

    def reshape(self, a: Any, shape: Any) -> Any:
        return self.ns.reshape(a, tuple(shape))

    def _scalar(self, value: Any, like: Any) -> Any:
        """A Python number as a 0-d array of ``like``'s dtype (some functions take arrays only)."""
        if isinstance(value, (int, float, bool, np.generic)):
            return self.ns.asarray(float(value) if like.dtype != self.bool_ else bool(value),
                                   dtype=like.dtype, device=self.device)
        return value

    # -- elementwise (out= like NumPy) ------------------------------------------------
    def subtract(self, a: Any, b: Any, out: Any = None) -> Any:
        return _store(out, a - b)

    def multiply(self, a: Any, b: Any, out: Any = None, where: Any = None) -> Any:
        if getattr(b, "dtype", None) == self.bool_ and getattr(a, "dtype", None) != self.bool_:
            b = self.ns.astype(b, a.dtype)      # a mask (the standard does not mix bool and float)
        if where is not None:
            return _store(out, self.ns.where(where, a * b, out))
        return _store(out, a * b)

    def divide(self, a: Any, b: Any, out: Any = None) -> Any:
        return _store(out, a / b)

    def maximum(self, a: Any, b: Any, out: Any = None) -> Any:
        like = b if isinstance(a, (int, float)) else a
        return _store(out, self.ns.maximum(self._scalar(a, like), self._scalar(b, like)))

    def minimum(self, a: Any, b: Any, out: Any = None) -> Any:
        like = b if isinstance(a, (int, float)) else a
        return _store(out, self.ns.minimum(self._scalar(a, like), self._scalar(b, like)))

    def greater(self, a: Any, b: Any, out: Any = None) -> Any:
        return _store(out, a > b)

    def less(self, a: Any, b: Any, out: Any = None) -> Any:
        return _store(out, a < b)

    def _elementwise(self, name: str, a: Any, out: Any) -> Any:
        """The namespace's elementwise function ``name`` of ``a``, stored into ``out`` if given."""
        return _store(out, getattr(self.ns, name)(a))

    def _unary(name: str) -> Any:  # type: ignore[misc]  # noqa: N805 - builds methods
        def method(self: OutOps, a: Any, out: Any = None) -> Any:
            return self._elementwise(name, a, out)
        method.__name__ = name
        return method

    negative = _unary("negative")
    abs = _unary("abs")
    sqrt = _unary("sqrt")
    exp = _unary("exp")
    expm1 = _unary("expm1")
    log = _unary("log")
    log1p = _unary("log1p")
    tanh = _unary("tanh")
    sign = _unary("sign")
    isfinite = _unary("isfinite")
    del _unary

    def logaddexp(self, a: Any, b: Any) -> Any:
        like = b if isinstance(a, (int, float)) else a
        return self.ns.logaddexp(self._scalar(a, like), self._scalar(b, like))

    def clip(self, a: Any, low: float, high: float) -> Any:
        return self.ns.clip(a, low, high)

    def ones_like(self, a: Any) -> Any:
        return self.ns.ones(a.shape, dtype=a.dtype, device=self.device)

    def count_nonzero(self, a: Any) -> Any:
        return self.ns.count_nonzero(a)

    def matmul(self, a: Any, b: Any, out: Any = None) -> Any:
        return _store(out, a @ b)

    def where(self, condition: Any, a: Any, b: Any) -> Any:
        like = a if not isinstance(a, (int, float)) else b
        return self.ns.where(condition, self._scalar(a, like), self._scalar(b, like))

    # -- reductions and indexing ------------------------------------------------------
    def sum(self, a: Any, axis: Any = None, keepdims: bool = False, out: Any = None, dtype: Any = None) -> Any:
        result = self.ns.sum(a, axis=axis, keepdims=keepdims,
                             dtype=None if dtype is None else self.dtype(dtype))
        return _store(out, result)

    def mean(self, a: Any, axis: Any = None, keepdims: bool = False) -> Any:
        return self.ns.mean(a, axis=axis, keepdims=keepdims)

    def max(self, a: Any, axis: Any = None, keepdims: bool = False) -> Any:
        return self.ns.max(a, axis=axis, keepdims=keepdims)

    def min(self, a: Any, axis: Any = None, keepdims: bool = False) -> Any:
        return self.ns.min(a, axis=axis, keepdims=keepdims)

    def all(self, a: Any) -> Any:
        return self.ns.all(a)

    def any(self, a: Any) -> Any:
        return self.ns.any(a)

    def argmax(self, a: Any, axis: Any = None) -> Any:
        return self.ns.argmax(a, axis=axis)

    def take(self, a: Any, indices: Any, axis: int = 0, out: Any = None, mode: str | None = None) -> Any:
        return _store(out, self.ns.take(a, indices, axis=axis))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.ns.__name__}, device={self.device!r})"
