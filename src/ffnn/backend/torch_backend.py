"""The PyTorch backend: ``torch.Tensor`` on the CPU or a CUDA device, computed with PyTorch's
own ``out=`` kernels (no autograd: ffnn derives every gradient itself)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from .base import Backend
from .ops import OutOps

__all__ = ["TorchBackend", "TorchOps"]


def _number(value: Any) -> bool:
    return isinstance(value, (int, float, np.generic))


class _TorchAdd:
    def __init__(self, torch: Any) -> None:
        self._torch = torch

    def __call__(self, a: Any, b: Any, out: Any = None) -> Any:
        if _number(a):
            a, b = b, a
        return self._torch.add(a, b, out=out) if out is not None else a + b

    def reduce(self, a: Any, axis: int = 0, out: Any = None) -> Any:
        if out is None:
            return self._torch.sum(a, dim=axis)
        return self._torch.sum(a, dim=axis, out=out)


class TorchOps(OutOps):
    """:class:`~ffnn.backend.ops.OutOps` over ``array_api_compat.torch``, with PyTorch's native
    ``out=`` kernels for the calls a training step makes (no temporary, no copy)."""

    def __init__(self, torch: Any, ns: Any, device: Any) -> None:
        super().__init__(ns, device)
        self.torch = torch
        self.add = _TorchAdd(torch)

    def empty(self, shape: Any, dtype: Any = None) -> Any:
        return self.torch.empty(tuple(shape), dtype=self.dtype(dtype or np.float64), device=self.device)

    def matmul(self, a: Any, b: Any, out: Any = None) -> Any:
        return a @ b if out is None else self.torch.matmul(a, b, out=out)

    def subtract(self, a: Any, b: Any, out: Any = None) -> Any:
        if out is None:
            return a - b
        if _number(a):                          # a - b = -(b - a)
            self.torch.sub(b, a, out=out)
            return out.neg_()
        return self.torch.sub(a, b, out=out)

    def multiply(self, a: Any, b: Any, out: Any = None, where: Any = None) -> Any:
        if where is not None:
            return super().multiply(a, b, out=out, where=where)
        if _number(a):
            a, b = b, a
        return a * b if out is None else self.torch.mul(a, b, out=out)

    def divide(self, a: Any, b: Any, out: Any = None) -> Any:
        if out is None:
            return a / b
        if _number(a):                          # a / b = a * (1 / b)
            self.torch.reciprocal(b, out=out)
            return out.mul_(a)
        return self.torch.div(a, b, out=out)

    def maximum(self, a: Any, b: Any, out: Any = None) -> Any:
        if _number(b):
            return self.torch.clamp_min(a, b) if out is None else self.torch.clamp_min(a, b, out=out)
        return super().maximum(a, b, out=out)

    def greater(self, a: Any, b: Any, out: Any = None) -> Any:
        return a > b if out is None else self.torch.gt(a, b, out=out)

    _NATIVE = {"negative": "neg", "abs": "abs", "sqrt": "sqrt", "exp": "exp", "expm1": "expm1",
               "log": "log", "log1p": "log1p", "tanh": "tanh", "sign": "sign"}
    """The elementwise functions PyTorch computes straight into ``out=`` (NumPy name: torch name)."""

    def _elementwise(self, name: str, a: Any, out: Any) -> Any:
        native = self._NATIVE.get(name)
        if native is None:
            return super()._elementwise(name, a, out)
        fn = getattr(self.torch, native)
        return fn(a) if out is None else fn(a, out=out)

    def sum(self, a: Any, axis: Any = None, keepdims: bool = False, out: Any = None, dtype: Any = None) -> Any:
        if out is None or axis is None or dtype is not None:
            return super().sum(a, axis=axis, keepdims=keepdims, out=out, dtype=dtype)
        return self.torch.sum(a, dim=axis, keepdim=keepdims, out=out)

    def take(self, a: Any, indices: Any, axis: int = 0, out: Any = None, mode: str | None = None) -> Any:
        if out is None:
            return self.torch.index_select(a, axis, indices)
        return self.torch.index_select(a, axis, indices, out=out)

    def copyto(self, dst: Any, src: Any, casting: str = "unsafe") -> None:
        dst.copy_(src)

    def astype(self, a: Any, dtype: Any, copy: bool = True) -> Any:
        return a.to(self.dtype(dtype), copy=copy)


class TorchBackend(Backend):
    """PyTorch tensors on ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``)."""

    def __init__(self, device: str = "cpu") -> None:
        try:
            import array_api_compat.torch as ns
            import torch
        except ImportError:
            raise ConfigError("the torch backend needs PyTorch and array-api-compat "
                              "(pip install 'ffnn[torch]')") from None
        try:
            self.device = torch.device(device)
        except RuntimeError:
            raise ConfigError(f"backend 'torch:{device}': not a PyTorch device") from None
        if self.device.type == "cuda":
            if not torch.cuda.is_available():
                raise ConfigError(f"backend 'torch:{device}': PyTorch sees no CUDA device here")
            if self.device.index is None:
                self.device = torch.device("cuda", torch.cuda.current_device())
        elif self.device.type != "cpu":
            raise ConfigError(f"backend 'torch:{device}': ffnn runs PyTorch on 'cpu' or 'cuda' devices")
        self.torch = torch
        self.name = f"torch:{self.device}"
        self.xp = TorchOps(torch, ns, self.device)
        self.array_type = torch.Tensor
        self.deferred = self.device.type == "cuda"
        self._dtypes: dict[np.dtype, Any] = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64,
                        np.dtype(np.int64): torch.int64, np.dtype(np.int32): torch.int32,
                        np.dtype(bool): torch.bool, np.dtype(np.uint8): torch.uint8}

    def dtype(self, dtype: Any) -> Any:
        if isinstance(dtype, self.torch.dtype):
            return dtype
        return self._dtypes[np.dtype(dtype)]

    def numpy_dtype(self, dtype: Any) -> np.dtype:
        if isinstance(dtype, self.torch.dtype):
            for host, native in self._dtypes.items():
                if native == dtype:
                    return host
            raise ConfigError(f"the torch backend computes in float32 or float64, got {dtype}")
        return np.dtype(dtype)

    def asarray(self, a: Any, dtype: Any = None) -> Any:
        if isinstance(a, self.torch.Tensor):
            return a.to(self.device, dtype=None if dtype is None else self.dtype(dtype), copy=True)
        host = np.array(a, dtype=dtype, copy=True)
        return self.torch.from_numpy(host).to(self.device)

    def to_numpy(self, a: Any) -> np.ndarray:
        if not isinstance(a, self.torch.Tensor):
            return np.asarray(a)
        return np.array(a.detach().cpu().numpy(), copy=True)

    def owns(self, a: Any) -> bool:
        return bool(a.device == self.device)

    def stage(self, batch: np.ndarray) -> Any:
        """On the CPU a copy; on CUDA the batch is written into a pinned host buffer and copied
        to a device buffer without blocking (both kept per shape and dtype, reused): the next
        call waits only until that copy has left the pinned buffer. The device buffer is
        overwritten in stream order, after the kernels of the step that read it."""
        if self.device.type != "cuda":
            return self.asarray(batch)
        key = (batch.shape, batch.dtype.str)
        staging = self.__dict__.setdefault("_staging", {})
        entry = staging.get(key)
        if entry is None:
            pinned = self.torch.empty(batch.shape, dtype=self.dtype(batch.dtype), pin_memory=True)
            entry = staging[key] = (pinned, self.torch.empty_like(pinned, device=self.device), self.torch.cuda.Event())
        pinned, device, copied = entry
        copied.synchronize()
        pinned.numpy()[...] = batch
        device.copy_(pinned, non_blocking=True)
        copied.record()
        return device

    def copy(self, a: Any) -> Any:
        return a.clone()

    def item(self, a: Any) -> float:
        return float(a)

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)
