"""Sequential: a feed-forward network as a stack of layers."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from . import backend as _backend
from ._typing import Array
from ._validation import as_float_array, check_dtype, check_int
from .errors import ConfigError, ShapeError
from .layers import Layer
from .parameter import Parameter

__all__ = ["Sequential"]


class Sequential:
    """A feed-forward network: ``y = f_L(... f_2(f_1(x)))``.

    ``forward`` runs the layers in order; ``backward`` runs the delta recursion in reverse,
    each layer turning dE/d(its output) into dE/d(its input) and storing its parameters'
    gradients.

    Parameters
    ----------
    layers : iterable of Layer
        The layers in order. Consecutive sizes are checked when they are known
        (``Linear(2, 3)`` followed by ``Linear(4, 1)`` is an error).

    Attributes
    ----------
    layers : list of Layer
    metadata : dict
        JSON-serializable information saved with the model (e.g. the preprocessing, the
        class names); :func:`ffnn.save` stores it and :func:`ffnn.load` restores it.

    Examples
    --------
    >>> import numpy as np
    >>> from ffnn import layers
    >>> model = Sequential([layers.Linear(2, 3, rng=0), layers.Tanh(), layers.Linear(3, 1, rng=1)])
    >>> model
    Sequential(
      (0): Linear(2, 3, dtype=float32)  # 9 parameters
      (1): Tanh()
      (2): Linear(3, 1, dtype=float32)  # 4 parameters
    )  # 13 parameters in total
    >>> model(np.zeros((5, 2), dtype=np.float32)).shape
    (5, 1)
    """

    def __init__(self, layers: Iterable[Layer], metadata: dict[str, Any] | None = None) -> None:
        if isinstance(layers, Layer):
            raise ConfigError("Sequential takes a list of layers, e.g. Sequential([Linear(2, 3), Tanh()]); "
                              f"got a single {type(layers).__name__}")
        self.layers: list[Layer] = list(layers)
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, Layer):
                raise ConfigError(f"Sequential layer {i} must be an ffnn Layer, got {type(layer).__name__}")
        if len({id(layer) for layer in self.layers}) != len(self.layers):
            raise ConfigError("the same layer instance appears twice in Sequential; create a new one for each place")
        self._check_sizes()
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.training = True

    def _check_sizes(self) -> None:
        self._sizes()

    def _sizes(self) -> list[int] | None:
        """The width before and after each layer, or None when no layer fixes the input width."""
        n = self.in_features
        if n is None:
            return None
        sizes = [n]
        for layer in self.layers:
            n = layer.output_features(n)
            sizes.append(n)
        return sizes

    @property
    def in_features(self) -> int | None:
        """Number of input features: the ``in_features`` of the first layer that fixes it
        (a :class:`~ffnn.layers.Linear`, for instance), or None."""
        for layer in self.layers:
            if layer.in_features is not None:
                return layer.in_features
        return None

    @property
    def out_features(self) -> int | None:
        """Number of outputs, from :attr:`in_features` through each layer's ``output_features``,
        or None when the input width is unknown."""
        sizes = self._sizes()
        return None if sizes is None else sizes[-1]

    @property
    def dtype(self) -> np.dtype | None:
        """The NumPy dtype of the parameters (None for a network without parameters)."""
        params = self.parameters()
        return self.backend.numpy_dtype(params[0].value.dtype) if params else None

    # --- backends --------------------------------------------------------------------
    @property
    def backend(self) -> _backend.Backend:
        """Where the network's arrays live and compute (:mod:`ffnn.backend`); NumPy by default."""
        return self.layers[0].backend if self.layers else _backend.NUMPY

    def to(self, backend: str | _backend.Backend) -> Sequential:
        """Move the network to ``backend``, in place, and return it.

        ``backend`` is a name (``"numpy"``, ``"torch"``, ``"torch:cuda"``, ``"cupy"``,
        ``"array-api-strict"``; see :mod:`ffnn.backend`) or a
        :class:`~ffnn.backend.Backend`. Every layer moves (parameters, running statistics);
        the values are the same. Build the optimizer after moving the network (or call the
        optimizer's own ``to``). Every layer is checked before any moves: a layer that
        computes with NumPy itself (a user's layer without ``array_api = True``) is a
        :class:`~ffnn.errors.ConfigError` naming it, and nothing has moved.

        Examples
        --------
        >>> import numpy as np
        >>> from ffnn import layers
        >>> net = Sequential([layers.Linear(2, 1, rng=0)])
        >>> net.to("numpy").backend.name
        'numpy'
        """
        target = _backend.get(backend)
        for i, layer in enumerate(self.layers):       # all checked before any moves
            layer._check_backend(target, f"layer {i} ")
        for layer in self.layers:
            layer.to(target)
        return self

    def _input(self, x: Array, what: str = "network input") -> Any:
        """``x`` checked (2-D, numeric, finite) and in the network's dtype, on its backend.

        An array of the network's own backend is taken as it is (its shape checked).
        """
        backend = self.backend
        if backend is not _backend.NUMPY and isinstance(x, backend.array_type):
            if not backend.owns(x):
                raise ConfigError(f"{what} is an array on another device than the network's "
                                  f"({backend.name}); move it there first (backend.asarray)")
            if x.ndim != 2:
                raise ShapeError(f"{what} must be a 2-D batch (n_samples, n_features), got shape {tuple(x.shape)}")
            dtype = self.dtype
            return x if dtype is None or x.dtype == backend.dtype(dtype) else backend.xp.astype(x, backend.dtype(dtype))
        host = as_float_array(x, what, dtype=self.dtype, ndim=2)
        return host if backend is _backend.NUMPY else backend.asarray(host)

    # --- the sequence protocol -------------------------------------------------------
    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i: int) -> Layer:
        return self.layers[i]

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    # --- computation -----------------------------------------------------------------
    def forward(self, x: Array) -> Array:
        """Return the network output for a batch ``x`` (n_samples, in_features).

        The input is validated (numeric, 2-D, finite, right feature count) and the result
        is a new array that belongs to the caller.
        """
        backend = self.backend
        if backend is _backend.NUMPY or not isinstance(x, backend.array_type):
            x = as_float_array(x, "network input", dtype=self.dtype)
            if x.ndim != 2:
                raise ShapeError(f"network input must be a 2-D batch (n_samples, n_features), got shape {x.shape}")
            if backend is not _backend.NUMPY:
                x = backend.asarray(x)
        else:
            x = self._input(x)
        return backend.copy(self._forward(x))

    __call__ = forward

    def _forward(self, x: np.ndarray) -> np.ndarray:
        """Forward without validation or copy (the result may be a layer's buffer)."""
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, grad: Array, input_grad: bool = True) -> Array | None:
        """Backpropagate dE/d(output) = ``grad`` through every layer.

        Stores each parameter's gradient (replacing the previous one) and returns dE/dx,
        a new array, or None with ``input_grad=False`` (then the first layer is told so:
        :class:`~ffnn.layers.Linear` skips the product ``G W`` that only dE/dx needs).
        """
        dx = self._backward(grad, input_grad)
        return None if dx is None else self.backend.copy(dx)

    def _backward(self, grad: np.ndarray, input_grad: bool) -> np.ndarray | None:
        layers = self.layers
        for i in range(len(layers) - 1, 0, -1):
            out = layers[i].backward(grad)
            if out is None:
                raise ShapeError(f"layer {i} ({layers[i]!r}) returned no input gradient from backward")
            grad = out
        if not layers:
            return grad
        if input_grad:
            return layers[0].backward(grad)
        if _takes_input_grad(layers[0]):
            layers[0].backward(grad, input_grad=False)
        else:                            # a layer written before input_grad was part of the protocol
            layers[0].backward(grad)
        return None

    def predict(self, x: Array, batch_size: int = 4096) -> np.ndarray:
        """Forward pass in evaluation mode, in chunks of ``batch_size`` rows; restores the mode.

        Returns a NumPy array whatever the backend (the outputs are read back once per chunk).
        """
        batch_size = check_int("batch_size", batch_size, low=1)
        x = self._input(x)
        host = self.backend.to_numpy
        was_training = self.training
        self.eval()
        try:
            n = x.shape[0]
            outs = [host(self._forward(x[i:min(i + batch_size, n), ...])) for i in range(0, n, batch_size)]
        finally:
            self.train(was_training)
        if not outs:
            raise ShapeError("predict got an empty batch (0 samples)")
        return np.concatenate(outs)

    # --- parameters and modes --------------------------------------------------------
    def parameters(self) -> list[Parameter]:
        """Every trainable parameter, layer by layer."""
        return [p for layer in self.layers for p in layer.parameters()]

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        """``("<layer index>.<name>", parameter)`` pairs, e.g. ``("0.weight", p)``."""
        return [(f"{i}.{p.name}", p) for i, layer in enumerate(self.layers) for p in layer.parameters()]

    def num_parameters(self) -> int:
        return sum(p.size for p in self.parameters())

    def train(self, mode: bool = True) -> Sequential:
        """Training mode for every layer (``mode=False``: evaluation). Returns self."""
        self.training = bool(mode)
        for layer in self.layers:
            layer.train(mode)
        return self

    def eval(self) -> Sequential:
        return self.train(False)

    def state(self) -> dict[str, np.ndarray]:
        """Copies of every parameter value, by ``named_parameters`` name, as NumPy arrays."""
        host = self.backend.to_numpy
        return {name: host(p.value) for name, p in self.named_parameters()}

    def check_state(self, state: dict[str, Any]) -> None:
        """Check that ``state`` holds one numeric array of the right shape per parameter, and nothing else."""
        if not isinstance(state, dict):
            raise ShapeError(f"a model state maps parameter names to arrays, got {type(state).__name__}")
        names = dict(self.named_parameters())
        for name, p in names.items():
            value = state.get(name)
            if value is None or np.shape(value) != tuple(p.value.shape) or np.asarray(value).dtype.kind not in "biuf":
                raise ShapeError(f"state has no numeric array of shape {tuple(p.value.shape)} for parameter {name!r}")
        extra = sorted(set(state) - set(names))
        if extra:
            raise ShapeError(f"state has arrays {extra} that match no parameter of this model")

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Copy values from :meth:`state` back into the parameters (in place); checked first."""
        self.check_state(state)
        backend = self.backend
        for name, p in self.named_parameters():
            backend.copy_into(p.value, state[name])

    def copy(self) -> Sequential:
        """An independent deep copy (parameters, optimizer-free state, random generators)."""
        return copy.deepcopy(self)

    def astype(self, dtype: Any) -> Sequential:
        """A deep copy whose parameters (and so its computation) are in ``dtype``.

        Works for any layer, including user-defined ones: parameters are converted, and a
        layer's ``dtype`` attribute, if it has one, is updated.
        """
        dt = check_dtype(dtype)
        clone = self.copy()
        for layer in clone.layers:
            backend = getattr(layer, "backend", _backend.NUMPY)
            if hasattr(layer, "dtype"):
                layer.dtype = dt
            for p in layer.parameters():
                p.value = backend.asarray(p.value, dtype=dt)
                p.grad = backend.zeros(p.value.shape, dt)
            if isinstance(getattr(layer, "_buffers", None), dict):
                layer._buffers.clear()
        return clone

    def __repr__(self) -> str:
        lines = ["Sequential("]
        for i, layer in enumerate(self.layers):
            n = sum(p.size for p in layer.parameters())
            lines.append(f"  ({i}): {layer!r}" + (f"  # {n:,} parameters" if n else ""))
        lines.append(f")  # {self.num_parameters():,} parameters in total")
        return "\n".join(lines)


def _takes_input_grad(layer: Layer) -> bool:
    """Whether ``layer.backward`` accepts ``input_grad`` (every built-in layer does)."""
    cls = type(layer)
    known = _INPUT_GRAD.get(cls)
    if known is None:
        try:
            known = "input_grad" in inspect.signature(cls.backward).parameters
        except (TypeError, ValueError):
            known = False
        _INPUT_GRAD[cls] = known
    return known


_INPUT_GRAD: dict[type, bool] = {}
