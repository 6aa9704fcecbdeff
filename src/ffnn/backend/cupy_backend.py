"""The CuPy backend: ``cupy.ndarray`` on a CUDA device.

CuPy follows NumPy's API, ``out=`` included, so the namespace is the ``cupy`` module with
three differences papered over (:class:`CupyOps`): ``add.reduce`` is ``cupy.sum``, ``take``
has no ``mode``, and ufuncs take no ``where=``. The optimizers' updates run as one fused
elementwise kernel per parameter (:mod:`ffnn.backend.fused`) instead of NumPy's cache-sized
chunks of a dozen passes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from .base import Backend

__all__ = ["CupyBackend", "CupyOps"]


class _CupyAdd:
    def __init__(self, cupy: Any) -> None:
        self._cupy = cupy

    def __call__(self, a: Any, b: Any, out: Any = None) -> Any:
        return self._cupy.add(a, b, out=out)

    def reduce(self, a: Any, axis: int = 0, out: Any = None) -> Any:
        return self._cupy.sum(a, axis=axis, out=out)


class CupyOps:
    """The ``cupy`` module, with ``add.reduce``, ``take(mode=)``, ``multiply(where=)`` and
    ``astype`` in NumPy's form; every other name is CuPy's own."""

    def __init__(self, cupy: Any) -> None:
        self.cupy = cupy
        self.add = _CupyAdd(cupy)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.cupy, name)

    def take(self, a: Any, indices: Any, axis: int = 0, out: Any = None, mode: str | None = None) -> Any:
        return self.cupy.take(a, indices, axis=axis, out=out)

    def multiply(self, a: Any, b: Any, out: Any = None, where: Any = None) -> Any:
        if where is None:
            return self.cupy.multiply(a, b, out=out)
        result = self.cupy.where(where, self.cupy.multiply(a, b), out)
        if out is None:
            return result
        out[...] = result
        return out

    def astype(self, a: Any, dtype: Any, copy: bool = True) -> Any:
        return a.astype(dtype, copy=copy)


class CupyBackend(Backend):
    """CuPy arrays on CUDA device ``index``."""

    deferred = True

    def __init__(self, index: int = 0) -> None:
        try:
            import cupy
        except ImportError:
            raise ConfigError("the cupy backend needs CuPy built for this machine's CUDA "
                              "(pip install cupy-cuda12x)") from None
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception:                       # no driver, no device: CUDA's own error types
            count = 0
        if index >= count:
            raise ConfigError(f"backend 'cupy:{index}': CUDA sees {count} device(s) here")
        self.cupy = cupy
        self.index = index
        self.name = f"cupy:{index}"
        self.xp = CupyOps(cupy)
        self.array_type = cupy.ndarray

    def asarray(self, a: Any, dtype: Any = None) -> Any:
        with self.cupy.cuda.Device(self.index):
            return self.cupy.array(a, dtype=dtype, copy=True)

    def to_numpy(self, a: Any) -> np.ndarray:
        if isinstance(a, self.cupy.ndarray):
            return self.cupy.asnumpy(a)
        return np.asarray(a)

    def owns(self, a: Any) -> bool:
        return bool(a.device.id == self.index)

    def copy(self, a: Any) -> Any:
        return a.copy()

    def synchronize(self) -> None:
        self.cupy.cuda.Device(self.index).synchronize()
