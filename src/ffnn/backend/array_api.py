"""The generic array-API backend, over ``array_api_strict`` (the standard and nothing more).

It is what every other library falls back to, and the tests run ffnn on it (on its second
fake device, ``"array-api-strict:device1"``, an array created on the default device by
mistake cannot be combined with the model's: the mistake is an error, not a slow copy).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from .base import Backend
from .ops import OutOps

__all__ = ["ArrayAPIStrictBackend"]


class ArrayAPIStrictBackend(Backend):
    """``array_api_strict`` arrays on its default device or on ``device`` (``"device1"``...)."""

    deferred = False

    def __init__(self, device: str | None = None) -> None:
        try:
            import array_api_strict
        except ImportError:
            raise ConfigError("the array-api-strict backend needs the array-api-strict package "
                              "(pip install array-api-strict)") from None
        self._ns = array_api_strict
        self.device = array_api_strict.Device(device) if device else None
        self._host = array_api_strict.Device("CPU_DEVICE")
        self.name = "array-api-strict" + (f":{device}" if device else "")
        self.xp = OutOps(array_api_strict, self.device)
        self.array_type = type(array_api_strict.asarray(0.0))

    def dtype(self, dtype: Any) -> Any:
        return self.xp.dtype(dtype)

    def numpy_dtype(self, dtype: Any) -> np.dtype:
        if isinstance(dtype, np.dtype):
            return dtype
        return np.dtype(str(dtype).rsplit(".", 1)[-1])

    def asarray(self, a: Any, dtype: Any = None) -> Any:
        if type(a) is self.array_type:
            a = self.to_numpy(a)
        host = np.array(a, dtype=dtype, copy=True)
        return self._ns.asarray(host, device=self.device)

    def to_numpy(self, a: Any) -> np.ndarray:
        if type(a) is not self.array_type:
            return np.asarray(a)
        return np.array(np.from_dlpack(a.to_device(self._host)), copy=True)

    def owns(self, a: Any) -> bool:
        return bool(a.device == (self.device or self._host))
