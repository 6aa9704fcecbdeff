"""Hand weights to PyTorch and back: :func:`to_torch` and :func:`from_torch`.

``to_torch(model)`` builds a ``torch.nn.Sequential`` of the matching ``torch.nn`` modules with
the same weights in the model's dtype (float32 or float64) and the same train/eval mode;
``from_torch(module)`` reads such a ``torch.nn.Sequential`` back into an
:class:`ffnn.Sequential`. Both copy every parameter bit for bit, so the round trip is exact.
ffnn's ``Linear.weight`` has PyTorch's layout, (out_features, in_features), and copies across
unchanged.

| ffnn layer | torch module |
|---|---|
| ``Linear`` (bias or not) | ``nn.Linear`` |
| ``Sigmoid``, ``Tanh``, ``ReLU`` | ``nn.Sigmoid``, ``nn.Tanh``, ``nn.ReLU`` |
| ``LeakyReLU(negative_slope)`` | ``nn.LeakyReLU(negative_slope)`` |
| ``PReLU(num_parameters)`` | ``nn.PReLU(num_parameters)``, the slopes copied |
| ``RReLU(lower, upper)`` | ``nn.RReLU(lower, upper)`` |
| ``ELU(alpha)`` | ``nn.ELU(alpha)`` |
| ``Softplus`` | ``nn.Softplus()`` (beta 1, threshold 20: equal to within exp(-20)) |
| ``Softsign``, ``Identity`` | ``nn.Softsign``, ``nn.Identity`` |
| ``Softmax`` | ``nn.Softmax(dim=1)`` (``dim=-1`` is read too) |
| ``Dropout(p)`` | ``nn.Dropout(p)`` |
| ``BatchNorm`` | ``nn.BatchNorm1d``, with the running mean and variance |
| ``LayerNorm`` | ``nn.LayerNorm`` over the features |

The random layers (``RReLU`` and ``Dropout`` in training) draw from each library's own
generator: their training-mode outputs differ, their evaluation-mode outputs agree.

A layer of your own converts when it has a method ``to_torch()`` returning a
``torch.nn.Module``. Any other layer or module raises :class:`~ffnn.ConfigError` naming it
and what is supported. PyTorch is imported only when these functions are called.

Examples
--------
>>> import numpy as np, ffnn
>>> torch = __import__("pytest").importorskip("torch")
>>> net = ffnn.mlp([3, 4, 2], "relu", seed=0)
>>> module = ffnn.to_torch(net)
>>> module
Sequential(
  (0): Linear(in_features=3, out_features=4, bias=True)
  (1): ReLU()
  (2): Linear(in_features=4, out_features=2, bias=True)
)
>>> back = ffnn.from_torch(module)
>>> all(np.array_equal(a.value, b.value) for a, b in zip(net.parameters(), back.parameters()))
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from . import layers as L
from .errors import ConfigError
from .model import Sequential

if TYPE_CHECKING:
    import torch

__all__ = ["to_torch", "from_torch"]


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise ConfigError("PyTorch interop needs torch: pip install 'ffnn[torch]'") from None
    return torch


def _tensor(torch: Any, value: np.ndarray) -> Any:
    """A torch parameter holding a copy of ``value`` (same dtype)."""
    return torch.nn.Parameter(torch.from_numpy(np.array(value, copy=True)))


# --- ffnn -> torch ---------------------------------------------------------------------

def _linear_to(torch: Any, layer: Any) -> Any:
    # skip_init: no random initial weights, so torch's global generator is left as it was
    module = torch.nn.utils.skip_init(torch.nn.Linear, layer.in_features, layer.out_features,
                                      bias=layer.bias is not None, dtype=_torch_dtype(torch, layer.weight.value.dtype))
    module.weight = _tensor(torch, layer.weight.value)
    if layer.bias is not None:
        module.bias = _tensor(torch, layer.bias.value)
    return module


def _prelu_to(torch: Any, layer: Any) -> Any:
    module = torch.nn.PReLU(layer.num_parameters, layer.init, dtype=_torch_dtype(torch, layer.slope.value.dtype))
    module.weight = _tensor(torch, layer.slope.value)
    return module


def _affine_to(torch: Any, layer: Any, module: Any) -> Any:
    """Copy gamma and beta of an ffnn normalization layer into ``module``; returns it."""
    if layer.weight is not None and layer.bias is not None:
        module.weight, module.bias = _tensor(torch, layer.weight.value), _tensor(torch, layer.bias.value)
    return module


def _batch_norm_to(torch: Any, layer: Any) -> Any:
    module = torch.nn.BatchNorm1d(layer.num_features, eps=layer.eps, momentum=layer.momentum, affine=layer.affine,
                                  dtype=_torch_dtype(torch, layer.dtype))
    module.running_mean = torch.from_numpy(np.array(layer.running_mean, dtype=layer.dtype))
    module.running_var = torch.from_numpy(np.array(layer.running_var, dtype=layer.dtype))
    return _affine_to(torch, layer, module)


def _layer_norm_to(torch: Any, layer: Any) -> Any:
    module = torch.nn.LayerNorm(layer.num_features, eps=layer.eps, elementwise_affine=layer.affine,
                                dtype=_torch_dtype(torch, layer.dtype))
    return _affine_to(torch, layer, module)


_TO_TORCH: dict[str, Callable[[Any, Any], Any]] = {
    "Linear": _linear_to,
    "Sigmoid": lambda torch, layer: torch.nn.Sigmoid(),
    "Tanh": lambda torch, layer: torch.nn.Tanh(),
    "ReLU": lambda torch, layer: torch.nn.ReLU(),
    "LeakyReLU": lambda torch, layer: torch.nn.LeakyReLU(layer.negative_slope),
    "PReLU": _prelu_to,
    "RReLU": lambda torch, layer: torch.nn.RReLU(layer.lower, layer.upper),
    "ELU": lambda torch, layer: torch.nn.ELU(layer.alpha),
    "Softplus": lambda torch, layer: torch.nn.Softplus(),
    "Softsign": lambda torch, layer: torch.nn.Softsign(),
    "Identity": lambda torch, layer: torch.nn.Identity(),
    "Softmax": lambda torch, layer: torch.nn.Softmax(dim=1),
    "Dropout": lambda torch, layer: torch.nn.Dropout(layer.p),
    "BatchNorm": _batch_norm_to,
    "LayerNorm": _layer_norm_to,
}
"""ffnn layer (by the name its class is registered under in :data:`ffnn.catalog.LAYERS`) ->
``f(torch, layer)`` building the torch module."""


def _torch_dtype(torch: Any, dtype: np.dtype) -> Any:
    return {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[np.dtype(dtype)]


def _layer_to_torch(torch: Any, layer: Any, index: int) -> Any:
    hook = getattr(layer, "to_torch", None)
    if callable(hook):
        return hook()
    from .catalog import LAYERS
    name = type(layer).__name__
    if LAYERS.get(name) is type(layer) and name in _TO_TORCH:
        return _TO_TORCH[name](torch, layer)
    raise ConfigError(f"layer {index} ({name}) has no PyTorch counterpart: ffnn converts "
                      f"{', '.join(sorted(_TO_TORCH))}; give your layer a to_torch() method")


def to_torch(model: Sequential) -> torch.nn.Sequential:
    """A ``torch.nn.Sequential`` computing what ``model`` computes, with copies of its weights.

    The parameters keep their dtype (float32 or float64); the module is in the model's
    train/eval mode. See the module docstring for the layer-to-module table.
    """
    torch = _torch()
    if not isinstance(model, Sequential):
        raise ConfigError(f"to_torch expects an ffnn.Sequential, got {type(model).__name__}")
    if model.backend.name != "numpy":        # the weights are copied from host arrays
        model = model.copy().to("numpy")
    module = torch.nn.Sequential(*(_layer_to_torch(torch, layer, i) for i, layer in enumerate(model.layers)))
    return module.train(model.training)


# --- torch -> ffnn ---------------------------------------------------------------------

def _array(tensor: Any, what: str) -> np.ndarray:
    """A NumPy copy of a float32 or float64 tensor."""
    if str(tensor.dtype) not in ("torch.float32", "torch.float64"):
        raise ConfigError(f"{what} has dtype {tensor.dtype}; ffnn reads float32 and float64 weights")
    array: np.ndarray = tensor.detach().cpu().numpy().copy()
    return array


def _linear_from(module: Any, dtype: np.dtype) -> L.Layer:
    weight = _array(module.weight, "nn.Linear weight")
    layer = L.Linear.from_config({"in_features": module.in_features, "out_features": module.out_features,
                                  "bias": module.bias is not None, "dtype": weight.dtype.name})
    layer.weight.value[...] = weight
    if layer.bias is not None:
        layer.bias.value[...] = _array(module.bias, "nn.Linear bias")
    return layer


def _prelu_from(module: Any, dtype: np.dtype) -> L.Layer:
    slope = _array(module.weight, "nn.PReLU weight")
    layer = L.PReLU(module.num_parameters, init=module.init, dtype=slope.dtype)
    layer.slope.value[...] = slope
    return layer


def _softmax_from(module: Any, dtype: np.dtype) -> L.Layer:
    if module.dim not in (1, -1):
        raise ConfigError(f"nn.Softmax(dim={module.dim}) is not supported: ffnn's Softmax is over the features "
                          "(dim=1 or dim=-1)")
    return L.Softmax()


def _softplus_from(module: Any, dtype: np.dtype) -> L.Layer:
    if module.beta != 1 or module.threshold != 20:
        raise ConfigError(f"nn.Softplus(beta={module.beta}, threshold={module.threshold}) is not supported: "
                          "ffnn's Softplus is beta=1 (threshold 20)")
    return L.Softplus()


def _affine_from(module: Any, layer: Any, affine: bool) -> Any:
    """Copy gamma and beta of a torch normalization module into ``layer``; returns it."""
    if affine:
        layer.weight.value[...] = _array(module.weight, f"nn.{type(module).__name__} weight")
        layer.bias.value[...] = _array(module.bias, f"nn.{type(module).__name__} bias")
    return layer


def _batch_norm_from(module: Any, dtype: np.dtype) -> L.Layer:
    if not module.track_running_stats or module.momentum is None:
        raise ConfigError("nn.BatchNorm1d is supported with track_running_stats=True and a momentum "
                          f"(ffnn's BatchNorm), got track_running_stats={module.track_running_stats}, "
                          f"momentum={module.momentum}")
    mean = _array(module.running_mean, "nn.BatchNorm1d running_mean")
    layer = L.BatchNorm(module.num_features, momentum=module.momentum, eps=module.eps, affine=module.affine,
                        running_mean=mean, running_var=_array(module.running_var, "nn.BatchNorm1d running_var"),
                        dtype=mean.dtype)
    return _affine_from(module, layer, module.affine)


def _layer_norm_from(module: Any, dtype: np.dtype) -> L.Layer:
    shape = tuple(module.normalized_shape)
    affine = module.weight is not None
    if len(shape) != 1 or affine != (module.bias is not None):
        raise ConfigError(f"nn.LayerNorm is supported over the last axis with both or neither of weight and bias "
                          f"(ffnn's LayerNorm), got normalized_shape={shape}, bias={module.bias is not None}")
    if affine:
        dtype = _array(module.weight, "nn.LayerNorm weight").dtype
    return _affine_from(module, L.LayerNorm(shape[0], eps=module.eps, affine=affine, dtype=dtype), affine)


_FROM_TORCH: dict[str, Callable[[Any, np.dtype], L.Layer]] = {
    "Linear": _linear_from,
    "Sigmoid": lambda m, dtype: L.Sigmoid(),
    "Tanh": lambda m, dtype: L.Tanh(),
    "ReLU": lambda m, dtype: L.ReLU(),
    "LeakyReLU": lambda m, dtype: L.LeakyReLU(m.negative_slope),
    "PReLU": _prelu_from,
    "RReLU": lambda m, dtype: L.RReLU(m.lower, m.upper),
    "ELU": lambda m, dtype: L.ELU(m.alpha),
    "Softplus": _softplus_from,
    "Softsign": lambda m, dtype: L.Softsign(),
    "Identity": lambda m, dtype: L.Identity(),
    "Softmax": _softmax_from,
    "Dropout": lambda m, dtype: L.Dropout(m.p),
    "BatchNorm1d": _batch_norm_from,
    "LayerNorm": _layer_norm_from,
}
"""``torch.nn`` class name -> ``f(module, dtype)`` building the ffnn layer (``dtype``: the
network's, for a layer without parameters of its own); used only for the class of that name in
``torch.nn`` itself (a subclass of it is not taken for it)."""


def from_torch(module: torch.nn.Module) -> Sequential:
    """An :class:`ffnn.Sequential` with the layers and copies of the weights of ``module``.

    ``module`` is a ``torch.nn.Sequential`` (nested ones are flattened) of the modules in the
    module docstring's table, with float32 or float64 parameters; the network takes their
    dtype and the module's train/eval mode. Anything else raises :class:`~ffnn.ConfigError`.
    """
    torch = _torch()
    if type(module) is not torch.nn.Sequential:
        raise ConfigError(f"from_torch expects a torch.nn.Sequential, got {type(module).__name__}")
    tensors = [t for t in (*module.parameters(), *module.buffers()) if t.is_floating_point()]
    dtype = np.dtype(np.float64) if tensors and tensors[0].dtype == torch.float64 else np.dtype(np.float32)
    layers = [_module_to_layer(torch, m, name, dtype) for name, m in _leaves(torch, module, "")]
    return Sequential(layers).train(module.training)


def _leaves(torch: Any, module: Any, prefix: str) -> list[tuple[str, Any]]:
    """The modules of a Sequential in order, with nested Sequentials flattened, each with its path."""
    found = []
    for name, child in module.named_children():
        if type(child) is torch.nn.Sequential:
            found += _leaves(torch, child, f"{prefix}{name}.")
        else:
            found.append((f"{prefix}{name}", child))
    return found


def _module_to_layer(torch: Any, module: Any, name: str, dtype: np.dtype) -> L.Layer:
    cls = type(module)
    convert = _FROM_TORCH.get(cls.__name__)
    if convert is None or getattr(torch.nn, cls.__name__, None) is not cls:
        raise ConfigError(f"module {name} ({cls.__module__}.{cls.__qualname__}) cannot be read into ffnn; "
                          f"supported: {', '.join(f'nn.{n}' for n in _FROM_TORCH)}")
    return convert(module, dtype)
