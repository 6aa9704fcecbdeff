"""Array backends: where a model's arrays live and what computes on them.

A :class:`Backend` is chosen once per model (``model.to("torch")``) and never looked up per
call: each layer and optimizer keeps the backend's ``xp``, a namespace with NumPy's names and
signatures, ``out=`` included, and computes through it. For NumPy ``xp`` *is* the ``numpy``
module, so the NumPy path runs exactly the calls it always ran; for CuPy it is the ``cupy``
module (the same API, on the GPU); for PyTorch tensors and any other array-API library it is
an :class:`~ffnn.backend.ops.OutOps`, which maps each call onto the library (native ``out=``
where PyTorch has one, ``out[...] = result`` otherwise).

=====================  ==========================================================
spec                   arrays
=====================  ==========================================================
``"numpy"``            ``numpy.ndarray`` (the default; the fast CPU path)
``"torch"``            ``torch.Tensor`` on the CPU (``"torch:cpu"``)
``"torch:cuda"``       ``torch.Tensor`` on a CUDA device (``"torch:cuda:1"``...)
``"cupy"``             ``cupy.ndarray`` on the current CUDA device (``"cupy:1"``)
``"array-api-strict"`` ``array_api_strict`` arrays (``"array-api-strict:device1"``: its
                       second fake device; tests use it to catch mixed devices)
=====================  ==========================================================

:func:`get` turns a spec into a backend (libraries are imported then, not by ``import ffnn``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from .base import Backend
from .numpy_backend import NUMPY, NumpyBackend

__all__ = ["Backend", "NumpyBackend", "NUMPY", "OnBackend", "get", "of", "SPECS"]

SPECS = ("numpy", "torch", "torch:cpu", "torch:cuda", "cupy", "array-api-strict")
"""The backend names :func:`get` knows (a device index or name may follow ``torch:cuda``,
``cupy`` and ``array-api-strict``)."""

_CACHE: dict[str, Backend] = {"numpy": NUMPY}


def get(spec: str | Backend) -> Backend:
    """The backend for ``spec`` (a name from :data:`SPECS`, or a :class:`Backend`).

    Raises :class:`~ffnn.errors.ConfigError` for an unknown name, and names the package to
    install when the library is missing or the device is not there.

    Examples
    --------
    >>> get("numpy").name
    'numpy'
    """
    if isinstance(spec, Backend):
        return spec
    if not isinstance(spec, str):
        raise ConfigError(f"a backend is a name such as 'numpy' or 'torch:cuda', got {type(spec).__name__}")
    key = spec.strip().lower()
    if key == "torch":
        key = "torch:cpu"
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    library, _, device = key.partition(":")
    backend: Backend
    if library == "torch":
        from .torch_backend import TorchBackend
        backend = TorchBackend(device or "cpu")
    elif library == "cupy":
        from .cupy_backend import CupyBackend
        backend = CupyBackend(_device_index(spec, device))
    elif library in ("array-api-strict", "array_api_strict"):
        from .array_api import ArrayAPIStrictBackend
        backend = ArrayAPIStrictBackend(device or None)
    else:
        raise ConfigError(f"unknown backend {spec!r}; expected one of {', '.join(SPECS)} "
                          "(a device may follow, e.g. 'torch:cuda:1')")
    _CACHE[key] = _CACHE[backend.name] = backend
    return backend


def _device_index(spec: str, device: str) -> int:
    if not device:
        return 0
    try:
        index = int(device)
    except ValueError:
        index = -1
    if index < 0:
        raise ConfigError(f"backend {spec!r}: the device must be a number >= 0, got {device!r}")
    return index


class OnBackend:
    """What computes on a backend (layers, losses): :attr:`backend`, and what the hot path
    reads of it, ``_xp`` (its namespace) and ``_array`` (its array type), set together by
    :meth:`_use_backend`. NumPy by default. Pickles and copies carry the backend (by name),
    not the namespace (modules do not pickle): it is looked up again when they are loaded."""

    backend: Backend = NUMPY
    """Where the arrays live and compute (:mod:`ffnn.backend`); ``to(...)`` moves them."""
    _xp: Any = np
    _array: Any = np.ndarray

    def _use_backend(self, target: Backend) -> None:
        self.backend, self._xp, self._array = target, target.xp, target.array_type

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_xp", None)
        state.pop("_array", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if "backend" in state:
            self._use_backend(self.backend)


def of(array: Any) -> Backend:
    """The backend whose arrays ``array`` is one of (NumPy for anything NumPy takes).

    Used at the edges (files, checkpoints), never per step.
    """
    for backend in list(_CACHE.values()):
        if type(array) is backend.array_type and backend.owns(array):
            return backend
    return NUMPY
