"""Layers: a fully connected layer, activation layers, softmax and dropout.

Every layer maps a batch ``x`` of shape ``(n_samples, n_features)`` to a batch of the same
number of rows. ``forward(x)`` caches what ``backward`` needs; ``backward(grad_out)`` takes
dE/dy (the delta arriving from the layer above, same shape as the output), returns dE/dx and
*replaces* the ``grad`` of each of the layer's parameters. Chained through a
:class:`ffnn.Sequential` this is the delta recursion of backpropagation:
``delta_l = f'(a_l) * (W_{l+1}^T delta_{l+1})``.

Buffers: a layer's ``forward`` and ``backward`` write into arrays the layer owns and reuses
while the batch shape stays the same, so the returned array is valid until the layer's next
call of the same method. :class:`ffnn.Sequential` copies what it hands back to the caller.
A layer instance therefore belongs to one place in one network.

dtype: parameter-free layers follow their input's dtype (float32 stays float32, float64
stays float64). Layers with parameters (:class:`Linear`, :class:`PReLU`) take ``dtype=`` and
compute in it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from . import backend as _backend
from . import init as _init
from ._math import sigmoid, softplus
from ._typing import Array, Seed
from ._validation import (
    check_2d,
    check_dtype,
    check_features,
    check_int,
    check_number,
    generator_state,
    make_rng,
    set_generator_state,
)
from .backend.numpy_backend import aligned, aligned_zeros
from .errors import ConfigError, ShapeError
from .parameter import Parameter

# LAYERS and ACTIVATIONS are still importable from here: they are the catalogue's tables.
__all__ = [
    "Layer", "Linear", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "PReLU", "RReLU", "ELU",
    "Softplus", "Softsign", "Identity", "Softmax", "Dropout", "BatchNorm", "LayerNorm",
]


class Layer(_backend.OnBackend, ABC):
    """Base class: ``forward``, ``backward``, ``parameters``, train/eval mode, ``config``.

    The protocol every layer follows (built-in or written by a user), and the only thing
    :class:`ffnn.Sequential`, the serializer and the training engine rely on:

    - ``forward(x)`` and ``backward(grad_out, input_grad=True)``; with ``input_grad=False``
      the caller does not need dE/dx (the layer is first in the network), so a layer may skip
      computing it and return None (:class:`Linear` saves the product ``G W``);
    - ``parameters()``: the trainable :class:`~ffnn.Parameter` objects (empty by default);
    - ``config()``: the JSON-serializable constructor arguments that :func:`ffnn.save`
      stores, and ``from_config(config)`` that rebuilds the layer from them (default
      ``cls(**config)``); register the class with :func:`ffnn.catalog.register_layer` so
      :func:`ffnn.load` can find it by name;
    - ``in_features``: the input width the layer requires, or None when any width works;
      ``output_features(n_in)``: the output width for an input width (checks it);
    - ``extra_state()`` / ``load_extra_state(state)``: state that is neither a parameter nor
      a constructor argument, as JSON-serializable values (a random generator's position);
      training checkpoints save it so that a resumed run continues bit for bit;
    - ``to(backend)``: move the parameters (and ``_move_arrays``' other arrays) to a backend
      (:mod:`ffnn.backend`); a layer that sets ``array_api = True`` computes only through
      ``self._xp`` and so runs on every backend, any other layer stays on NumPy.
    """

    training: bool = True
    array_api: bool = False
    """Whether the layer computes only through ``self._xp`` (the backend's namespace), and so
    runs on every backend; a layer that calls NumPy itself stays on NumPy."""
    in_features: int | None = None
    """The input width the layer requires, or None when any width works."""
    kinks: tuple[float, ...] = ()
    """Inputs at which ``dy/dx`` jumps (0 for the ReLU family): :func:`ffnn.gradcheck` does
    not compare a finite difference whose step moves an input of this layer across one."""

    def __init__(self) -> None:
        self.training = True
        self._buffers: dict[str, np.ndarray] = {}

    @abstractmethod
    def forward(self, x: Array) -> Array:
        """Return the layer's output for a batch ``x`` of shape (n_samples, n_features)."""

    @abstractmethod
    def backward(self, grad_out: Array, input_grad: bool = True) -> Array | None:
        """Return dE/dx for dE/dy = ``grad_out``; replace each parameter's ``grad``.

        With ``input_grad=False`` the layer may return None instead of dE/dx.
        """

    def __call__(self, x: Array) -> Array:
        return self.forward(x)

    def parameters(self) -> list[Parameter]:
        """The layer's trainable parameters (empty for parameter-free layers)."""
        return []

    def train(self, mode: bool = True) -> Layer:
        """Switch to training mode (``mode=False``: evaluation mode). Returns self."""
        self.training = bool(mode)
        return self

    def eval(self) -> Layer:
        """Switch to evaluation mode (Dropout off, RReLU uses its mean slope). Returns self."""
        return self.train(False)

    def config(self) -> dict[str, Any]:
        """Constructor arguments as a JSON-serializable dict."""
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        """Rebuild a layer from :meth:`config` output (parameters are loaded afterwards)."""
        return cls(**config)

    def output_features(self, n_in: int) -> int:
        """Number of output features for ``n_in`` input features (checks compatibility)."""
        return n_in

    def extra_state(self) -> dict[str, Any]:
        """Non-parameter state to checkpoint, JSON-serializable (empty by default)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`extra_state` output."""
        if state:
            raise ConfigError(f"{type(self).__name__} keeps no extra state, got keys {sorted(state)}")

    _CACHES = ("_x", "_y", "_factor", "_mask", "_shape", "_xhat", "_inv_std")
    """Where a forward pass leaves what ``backward`` needs (besides the scratch ``_buffers``)."""

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the layer's configuration, parameters and random generator, not what the
        last forward pass left behind: the scratch buffers and the caches (the last input)."""
        state = super().__getstate__()
        state["_buffers"] = {}
        for name in self._CACHES:
            if state.get(name) is not None:
                state[name] = None
        return state

    def to(self, backend: str | _backend.Backend) -> Layer:
        """Move the layer to ``backend`` (a name such as ``"torch"`` or a
        :class:`~ffnn.backend.Backend`), in place; returns self.

        Parameters (with zero gradients) and the arrays :meth:`_move_arrays` names are copied
        there; scratch buffers and forward caches are dropped. Raises
        :class:`~ffnn.errors.ConfigError` when the layer computes with NumPy itself
        (``array_api`` False) and the backend is not NumPy.
        """
        target = _backend.get(backend)
        if target is self.backend:
            return self
        self._check_backend(target)
        source = self.backend
        for p in self.parameters():
            p.value = target.asarray(source.to_numpy(p.value))
            p.grad = target.zeros(p.value.shape, p.value.dtype)
        for name in self._move_arrays():
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, target.asarray(source.to_numpy(value)))
        self._buffers.clear()
        for name in self._CACHES:
            if getattr(self, name, None) is not None:
                setattr(self, name, None)
        self._use_backend(target)
        if isinstance(self, _Typed):
            self.dtype = self.dtype              # its name on the new backend
        return self

    def _check_backend(self, target: _backend.Backend, where: str = "") -> None:
        """Refuse a backend other than NumPy unless the layer computes through ``self._xp``
        (``array_api``); ``where`` (e.g. "layer 2 ") says where the layer sits."""
        if target is not _backend.NUMPY and not self.array_api:
            name = f"{where}({type(self).__name__})" if where else type(self).__name__
            raise ConfigError(f"{name} computes with NumPy only, so it cannot move to the {target.name} "
                              "backend; a layer runs on every backend when it computes through self._xp and "
                              "sets array_api = True")

    def _move_arrays(self) -> tuple[str, ...]:
        """Attributes holding arrays that are not parameters but move with the layer."""
        return ()

    def _buffer(self, key: str, shape: tuple[int, ...], dtype: Any) -> Any:
        """An array owned by this layer, reused while shape and dtype stay the same."""
        buf = self._buffers.get(key)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = self._buffers[key] = self.backend.empty(shape, dtype)
        return buf

    def _check_width(self, x: Any, n: int | None, name: str) -> None:
        """The slow path of an input check: a 2-D batch of this backend's arrays (``n`` features)."""
        if n is None:
            check_2d(x, name, self._array)
        else:
            check_features(x, n, name, self._array)

    def _cached(self, name: str) -> Any:
        value = getattr(self, name, None)
        if value is None:
            raise ShapeError(f"{type(self).__name__}.backward called before forward")
        return value

    def _check_grad(self, grad_out: Any, expected_shape: tuple[int, ...]) -> None:
        if not isinstance(grad_out, self._array) or grad_out.shape != expected_shape:
            got = tuple(grad_out.shape) if isinstance(grad_out, self._array) else type(grad_out).__name__
            raise ShapeError(f"{type(self).__name__}.backward expects a gradient of shape "
                             f"{expected_shape} (the shape of its last output), got {got}")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


class _Typed(Layer):
    """A layer that computes in its own ``dtype`` (float32 or float64): ``_dt`` is that dtype
    as the layer's backend names it, kept in step when ``dtype`` or the backend changes."""

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @dtype.setter
    def dtype(self, value: Any) -> None:
        self._dtype = check_dtype(value)
        self._dt = self.backend.dtype(self._dtype)


class Linear(_Typed):
    """Fully connected layer: ``y = x W^T + b``.

    Parameters
    ----------
    in_features, out_features : int
        Sizes of the input ``x`` (n_samples, in_features) and output ``y`` (n_samples, out_features).
    bias : bool
        Whether to add the bias ``b`` (the course also uses bias-free networks).
    init : str or callable
        Weight initializer, a name from :mod:`ffnn.init` or ``f(shape, rng, dtype)``. The bias
        starts at zero.
    rng : int, Generator or None
        Randomness for the initializer.
    dtype : float32 or float64

    Notes
    -----
    ``weight`` has shape (out_features, in_features): row j holds the weights into unit j,
    as the course's W and as ``torch.nn.Linear``. With upstream delta ``G = dE/dy``:

    - ``dE/dW = G^T x``  (out, in)
    - ``dE/db = sum_n G_n``  (out,)
    - ``dE/dx = G W``  (n, in)

    Input of another dtype is converted to the layer's dtype.

    Examples
    --------
    >>> import numpy as np
    >>> layer = Linear(3, 2, rng=0)
    >>> layer.forward(np.ones((4, 3), dtype=np.float32)).shape
    (4, 2)
    """

    in_features: int
    array_api = True

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 init: str | _init.Initializer = "xavier", rng: Seed = None,
                 dtype: Any = np.float32) -> None:
        super().__init__()
        self.in_features = check_int("in_features", in_features, low=1)
        self.out_features = check_int("out_features", out_features, low=1)
        self.dtype = dtype
        initializer = _init.get(init)
        self.init = _init_name(init)
        w = np.asarray(initializer((self.out_features, self.in_features), make_rng(rng), self.dtype))
        if w.shape != (self.out_features, self.in_features):
            raise ShapeError(f"init returned shape {w.shape}, expected {(self.out_features, self.in_features)}")
        self.weight = Parameter(aligned(w.astype(self.dtype, copy=False)), name="weight", decay=True)
        self.bias = Parameter(aligned_zeros(self.out_features, self.dtype), name="bias", decay=False) if bias else None
        self._x: np.ndarray | None = None

    def forward(self, x: Array) -> Array:
        if type(x) is not self._array or x.ndim != 2 or x.shape[1] != self.in_features:
            self._check_width(x, self.in_features, self._name())   # the slow path names the error
        xp, dt = self._xp, self._dt
        if x.dtype != dt:
            x = xp.astype(x, dt)
        self._x = x
        out = self._buffer("out", (x.shape[0], self.out_features), dt)
        xp.matmul(x, self.weight.value.T, out=out)
        if self.bias is not None:
            out += self.bias.value
        return out

    def backward(self, grad_out: Array, input_grad: bool = True) -> Array | None:
        """Store dE/dW, dE/db; return dE/dx (None when ``input_grad=False``)."""
        x = self._cached("_x")
        self._check_grad(grad_out, (x.shape[0], self.out_features))
        xp, dt = self._xp, self._dt
        if grad_out.dtype != dt:
            grad_out = xp.astype(grad_out, dt)
        xp.matmul(grad_out.T, x, out=self.weight.grad)
        if self.bias is not None:
            xp.add.reduce(grad_out, axis=0, out=self.bias.grad)
        if not input_grad:
            return None
        dx = self._buffer("dx", x.shape, dt)
        return xp.matmul(grad_out, self.weight.value, out=dx)

    def parameters(self) -> list[Parameter]:
        return [self.weight] if self.bias is None else [self.weight, self.bias]

    def output_features(self, n_in: int) -> int:
        if n_in != self.in_features:
            raise ShapeError(f"{self._name()} expects {self.in_features} input features, "
                             f"but the layer before it outputs {n_in}")
        return self.out_features

    def config(self) -> dict[str, Any]:
        return {"in_features": self.in_features, "out_features": self.out_features,
                "bias": self.bias is not None, "init": self.init, "dtype": self.dtype.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Linear:
        """Rebuild from :meth:`config` without drawing random weights (they are loaded next);
        the initializer's name is kept."""
        config = dict(config)
        init = config.pop("init", "xavier")
        layer = cls(**config, init="zeros")
        layer.init = _init_name(init)
        return layer

    def _name(self) -> str:
        return f"Linear({self.in_features}, {self.out_features})"

    def __repr__(self) -> str:
        extra = "" if self.bias is not None else ", bias=False"
        return f"Linear({self.in_features}, {self.out_features}{extra}, dtype={self.dtype.name})"


def _init_name(init: str | _init.Initializer) -> str:
    """A name ``ffnn.init.get`` resolves: the given name, the name of ``gaussian(std)``, or
    "xavier" (the default) for other callables, which cannot be named."""
    if isinstance(init, str):
        return init
    name = getattr(init, "__name__", "")
    try:
        _init.get(name)
    except ConfigError:
        return "xavier"
    return name


class _Elementwise(Layer):
    """An activation applied element by element; output has the input's shape and dtype."""

    array_api = True

    def _check_input(self, x: Any) -> None:
        if type(x) is np.ndarray and x.ndim == 2 and x.dtype.kind == "f":
            return                                   # the common case, checked cheaply
        self._check_width(x, None, type(self).__name__)
        if self.backend.numpy_dtype(x.dtype).kind != "f":
            raise ShapeError(f"{type(self).__name__} expects a floating-point array, got dtype {x.dtype}")


class Sigmoid(_Elementwise):
    """Logistic sigmoid: ``y = 1 / (1 + exp(-x))``; ``dy/dx = y (1 - y)``.

    Computed as ``1/(1+e)`` for x >= 0 and ``e/(1+e)`` for x < 0 with ``e = exp(-|x|)``, so
    no exponential overflows (x = +-1e4 gives exactly 1 and 0).
    The output is cached: the derivative is a function of it.
    """

    def forward(self, x: Array) -> Array:
        self._check_input(x)
        self._y = sigmoid(x, out=self._buffer("y", x.shape, x.dtype), work=self._buffer("e", x.shape, x.dtype),
                          xp=self._xp)
        return self._y

    def backward(self, grad_out: Array, input_grad: bool = True) -> Array:
        y = self._cached("_y")
        self._check_grad(grad_out, y.shape)
        dx = self._buffer("dx", y.shape, y.dtype)
        self._xp.subtract(1.0, y, out=dx)
        dx *= y
        dx *= grad_out
        return dx


class Tanh(_Elementwise):
    """Hyperbolic tangent: ``y = tanh(x)``; ``dy/dx = 1 - y^2`` (output cached)."""

    def forward(self, x: Array) -> Array:
        self._check_input(x)
        self._y = self._xp.tanh(x, out=self._buffer("y", x.shape, x.dtype))
        return self._y

    def backward(self, grad_out: Array, input_grad: bool = True) -> Array:
        y = self._cached("_y")
        self._check_grad(grad_out, y.shape)
        dx = self._buffer("dx", y.shape, y.dtype)
        xp = self._xp
        xp.multiply(y, y, out=dx)
        xp.subtract(1.0, dx, out=dx)
        dx *= grad_out
        return dx


class ReLU(_Elementwise):
    """Rectified linear unit: ``y = max(0, x)``; ``dy/dx = 1 if x > 0 else 0`` (0 at x = 0, as PyTorch)."""

    kinks = (0.0,)

    def forward(self, x: Array) -> Array:
        self._check_input(x)
        self._y = self._xp.maximum(x, 0.0, out=self._buffer("y", x.shape, x.dtype))
        return self._y

    def backward(self, grad_out: Array, input_grad: bool = True) -> Array:
        y = self._cached("_y")
        self._check_grad(grad_out, y.shape)
        xp = self._xp
        mask = xp.greater(y, 0.0, out=self._buffer("mask", y.shape, xp.bool_))
        return xp.multiply(grad_out, mask, out=self._buffer("dx", y.shape, y.dtype))


class LeakyReLU(_Elementwise):
    """Leaky ReLU: ``y = x if x > 0 else a x``; ``dy/dx = 1 if x > 0 else a`` (``a`` at x = 0, as PyTorch).

    Parameters
    ----------
    negative_slope : float
        ``a``, the slope for negative inputs (default 0.01).
    """

    kinks = (0.0,)

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = check_number("negative_slope", negative_slope)

    def forward(self, x: Array) -> Array:
        self._check_input(x)
        self._x = x
        return self._xp.where(x > 0, x, self.negative_slope * x)

    def backward(self, grad_out: Array, input_grad: bool = True) -> Array:
        x = self._cached("_x")
        self._check_grad(grad_out, x.shape)
        return self._xp.where(x > 0, grad_out, grad_out * self.negative_slope)

    def config(self) -> dict[str, Any]:
        return {"negative_slope": self.negative_slope}


class PReLU(_Typed):
    """Parametric ReLU: ``y = max(0, x) + a min(0, x)`` with a learnable slope ``a``.

    Parameters
    ----------
    num_parameters : int
        1 (one slope shared by all units) or the number of units (one slope per unit).
    init : float
        Initial slope (default 0.25, as He et al. 2015 and PyTorch).
    dtype : float32 or float64

    Notes
    -----
    ``dy/dx = 1 if x > 0 else a`` (``a`` at x = 0, as PyTorch);
    ``dE/da_j = sum_n (dE/dy_nj) min(0, x_nj)`` (summed over units too when the slope is
    shared; an input of exactly 0 adds nothing). The slope is not weight-decayed (``decay=False``).
    """

    kinks = (0.0,)
    array_api = True

    def __init__(self, num_parameters: int = 1, init: float = 0.25, dtype: Any = np.float32) -> None:
        super().__init__()
        self.num_parameters = check_int("num_parameters", num_parameters, low=1)
        self.init = check_number("init", init)
        self.dtype = dtype
        self.slope = Parameter(np.full(self.num_parameters, self.init, self.dtype), name="slope", decay=False)

    def forward(self, x: Array) -> Array:
        self._check_width(x, None, "PReLU")
        if self.num_parameters != 1 and x.shape[1] != self.num_parameters:
            raise ShapeError(f"PReLU(num_parameters={self.num_parameters}) expects "
                             f"{self.num_parameters} input features, got {x.shape[1]}")
        xp = self._xp
        if x.dtype != self._dt:
            x = xp.astype(x, self._dt)
        self._x = x
        return xp.where(x > 0, x, self.slope.value * x)

    def backward(self, grad_out: Array, input_grad: bool = True) -> Array:
        x = self._cached("_x")
        self._check_grad(grad_out, x.shape)
        xp = self._xp
        g_neg = grad_out * xp.minimum(x, 0.0)
        if self.num_parameters == 1:
            self.slope.grad[...] = xp.sum(g_neg)
        else:
            xp.sum(g_neg, axis=0, out=self.slope.grad)
        return xp.where(x > 0, grad_out, grad_out * self.slope.value)

    def parameters(self) -> list[Parameter]:
        return [self.slope]

    def output_features(self, n_in: int) -> int:
        if self.num_parameters not in (1, n_in):
            raise ShapeError(f"PReLU(num_parameters={self.num_parameters}) expects 1 or "
                             f"{n_in} slopes for {n_in} input features")
        return n_in

    def config(self) -> dict[str, Any]:
        return {"num_parameters": self.num_parameters, "init": self.init, "dtype": self.dtype.name}


class RReLU(_Elementwise):
    """Randomized leaky ReLU (Xu et al. 2015): ``y = x if x >= 0 else a x``.

    In training, ``a ~ U(lower, upper)`` is drawn independently for every element of every
    batch; in evaluation ``a = (lower + upper) / 2``. ``dy/dx = 1 if x >= 0 else a`` with the
    slopes drawn in the last forward pass (1 at x = 0, where PyTorch uses the slope ``a``;
    the output there is 0 either way).

    Parameters
    ----------
    lower, upper : float
        Range of the random slope, 0 <= lower <= upper (defaults 1/8 and 1/3, as PyTorch).
    rng : int, Generator or None
    """

    kinks = (0.0,)

    def __init__(self, lower: float = 1 / 8, upper: float = 1 / 3, rng: Seed = None) -> None:
        super().__init__()
        self.lower = check_number("lower", lower, low=0.0)
        self.upper = check_number("upper", upper, low=self.lower)
        self.rng = make_rng(rng)

    def forward(self, x: Array) -> Array:
        self._check_input(x)
        xp = self._xp
        if self.training:               # drawn on the host: the same slopes on every backend
            dtype = self.backend.numpy_dtype(x.dtype)
            slopes = self.backend.from_host(self.rng.uniform(self.lower, self.upper, x.shape).astype(dtype))
        else:
            slopes = xp.full_like(x, (self.lower + self.upper) / 2)
        self._factor = xp.where(x >= 0, 1.0, slopes)
        return x * self._factor

    def backward(self, grad_out: Array, input_grad: bool = True) -> Array:
        factor = self._cached("_factor")
        self._check_grad(grad_out, factor.shape)
        return grad_out * factor

    def config(self) -> dict[str, Any]:
        return {"lower": self.lower, "upper": self.upper}

    def extra_state(self) -> dict[str, Any]:
        """The position of the random generator that draws the slopes."""
        return {"rng": generator_state(self.rng)}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        set_generator_state(self.rng, state.get("rng"), "RReLU rng")


class ELU(_Elementwise):
    """Exponential linear unit: ``y = x if x > 0 else alpha (exp(x) - 1)``.

    ``dy/dx = 1 if x > 0 else y + alpha`` (= alpha exp(x); ``alpha`` at x = 0, as PyTorch).
    ``exp`` is taken of min(x, 0) only, so large inputs cannot overflow.
    """

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = check_number("alpha", alpha, low=0.0)

    @property
    def kinks(self) -> tuple[float, ...]:  # type: ignore[override]
        """A corner at 0 unless ``alpha`` is 1 (the slopes there are 1 and ``alpha``)."""
        return () if self.alpha == 1.0 else (0.0,)

    def forward(self, x: Array) -> Array:
        self._check_input(x)
        self._x = x
        xp = self._xp
        self._y = xp.where(x > 0, x, self.alpha * xp.expm1(xp.minimum(x, 0.0)))
        return self._y

    def backward(self, grad_out: Array, input_grad: bool = True) -> Array:
        x, y = self._cached("_x"), self._cached("_y")
        self._check_grad(grad_out, x.shape)
        return grad_out * self._xp.where(x > 0, 1.0, y + self.alpha)

    def config(self) -> dict[str, Any]:
        return {"alpha": self.alpha}


class Softplus(_Elementwise):
    """Softplus: ``y = log(1 + exp(x))``; ``dy/dx = sigmoid(x)``.

    Computed as ``max(x, 0) + log1p(exp(-|x|))``: exact for large |x| and no overflow
    (x = 1e4 gives 1e4, x = -1e4 gives 0).
    """

    def forward(self, x: Array) -> Array:
        self._check_input(x)
        self._x = x
        return softplus(x, xp=self._xp)

    def backward(self, grad_out: Array, input_grad: bool = True) -> Array:
        x = self._cached("_x")
        self._check_grad(grad_out, x.shape)
        return grad_out * sigmoid(x, xp=self._xp)


class Softsign(_Elementwise):
    """Softsign: ``y = x / (1 + |x|)``; ``dy/dx = 1 / (1 + |x|)^2``."""

    def forward(self, x: Array) -> Array:
        self._check_input(x)
        self._x = x
        return x / (1.0 + self._xp.abs(x))

    def backward(self, grad_out: Array, input_grad: bool = True) -> Array:
        x = self._cached("_x")
        self._check_grad(grad_out, x.shape)
        d = 1.0 + self._xp.abs(x)
        return grad_out / (d * d)


class Identity(_Elementwise):
    """Identity: ``y = x``; ``dy/dx = 1`` (the linear output unit of regression networks)."""

    def forward(self, x: Array) -> Array:
        self._check_input(x)
        self._shape = x.shape
        return x

    def backward(self, grad_out: Array, input_grad: bool = True) -> Array:
        self._check_grad(grad_out, self._cached("_shape"))
        return grad_out


class Softmax(_Elementwise):
    """Softmax over the last axis: ``y_k = exp(x_k - m) / sum_j exp(x_j - m)``, ``m = max_j x_j``.

    Subtracting the row maximum changes nothing mathematically (softmax is invariant to
    adding a constant) and keeps every exponential <= 1. Jacobian
    ``dy_k/dx_j = y_k (delta_kj - y_j)``, so ``dE/dx = y * (g - sum_k g_k y_k)`` row by row.
    For training prefer :class:`ffnn.losses.SoftmaxCrossEntropy` on the logits: it fuses the
    two and its gradient is simply ``(y - t) / N``.
    """

    def forward(self, x: Array) -> Array:
        self._check_input(x)
        xp = self._xp
        z = x - xp.max(x, axis=1, keepdims=True)
        xp.exp(z, out=z)
        z /= xp.sum(z, axis=1, keepdims=True)
        self._y = z
        return z

    def backward(self, grad_out: Array, input_grad: bool = True) -> Array:
        y = self._cached("_y")
        self._check_grad(grad_out, y.shape)
        return y * (grad_out - self._xp.sum(grad_out * y, axis=1, keepdims=True))


class Dropout(_Elementwise):
    """Inverted dropout: ``y = x * m / (1 - p)`` with ``m_i ~ Bernoulli(1 - p)`` in training.

    In evaluation mode it is the identity, so no rescaling is needed at test time.
    ``dy/dx = m / (1 - p)`` with the mask of the last forward pass.

    Parameters
    ----------
    p : float
        Probability of dropping a unit, 0 <= p < 1.
    rng : int, Generator or None
    """

    def __init__(self, p: float = 0.5, rng: Seed = None) -> None:
        super().__init__()
        self.p = check_number("p", p, low=0.0, high=1.0, high_inclusive=False)
        self.rng = make_rng(rng)

    def forward(self, x: Array) -> Array:
        self._check_input(x)
        if not self.training or self.p == 0.0:
            self._mask = None
            self._shape = x.shape
            return x
        dtype = self.backend.numpy_dtype(x.dtype)     # drawn on the host: the same masks on every backend
        keep = self.rng.random(x.shape, dtype=dtype) >= self.p
        self._mask = self.backend.from_host(keep.astype(dtype) * (1.0 / (1.0 - self.p)))
        self._shape = x.shape
        return x * self._mask

    def backward(self, grad_out: Array, input_grad: bool = True) -> Array:
        self._check_grad(grad_out, self._cached("_shape"))
        return grad_out if self._mask is None else grad_out * self._mask

    def config(self) -> dict[str, Any]:
        return {"p": self.p}

    def extra_state(self) -> dict[str, Any]:
        """The position of the random generator that draws the masks."""
        return {"rng": generator_state(self.rng)}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        set_generator_state(self.rng, state.get("rng"), "Dropout rng")


def _normalize_backward(dxhat: Any, xhat: Any, inv_std: Any, axis: int, xp: Any = np) -> Any:
    """dE/dx of ``xhat = (x - mean(x)) / sqrt(var(x) + eps)`` (mean and biased variance over
    ``axis``, ``m`` values each) for ``dxhat = dE/dxhat``::

        dE/dx = inv_std / m * (m dxhat - sum(dxhat) - xhat sum(dxhat * xhat))

    The two sums come from the mean (``d mu / dx_i = 1/m``) and the variance
    (``d var / dx_i = 2 (x_i - mu) / m``) depending on every ``x_i``.
    """
    m = dxhat.shape[axis]
    total = xp.sum(dxhat, axis=axis, keepdims=True)
    projection = xp.sum(dxhat * xhat, axis=axis, keepdims=True)
    dx = dxhat * m
    dx -= total
    dx -= xhat * projection
    dx *= inv_std / m
    return dx


class _Normalization(_Typed):
    """Shared parts of :class:`BatchNorm` and :class:`LayerNorm`: the affine ``weight``
    (gamma) and ``bias`` (beta), one per feature, neither weight-decayed."""

    array_api = True

    def __init__(self, num_features: int, eps: float, affine: bool, dtype: Any) -> None:
        super().__init__()
        self.num_features = check_int("num_features", num_features, low=1)
        self.in_features = self.num_features
        self.eps = check_number("eps", eps, low=0.0, low_inclusive=False)
        self.affine = bool(affine)
        self.dtype = dtype
        self.weight = Parameter(np.ones(self.num_features, self.dtype), name="weight", decay=False) if affine else None
        self.bias = Parameter(np.zeros(self.num_features, self.dtype), name="bias", decay=False) if affine else None

    def parameters(self) -> list[Parameter]:
        return [] if self.weight is None or self.bias is None else [self.weight, self.bias]

    def output_features(self, n_in: int) -> int:
        if n_in != self.num_features:
            raise ShapeError(f"{type(self).__name__}({self.num_features}) expects {self.num_features} input "
                             f"features, but the layer before it outputs {n_in}")
        return n_in

    def _input(self, x: Array) -> Any:
        self._check_width(x, self.num_features, f"{type(self).__name__}({self.num_features})")
        return x if x.dtype == self._dt else self._xp.astype(x, self._dt)

    def _constant(self, value: float) -> Any:
        """``value`` rounded to the layer's dtype (a 0-d array of its backend), so that float32
        arithmetic with it is PyTorch's."""
        return self._xp.asarray(value, dtype=self._dt)

    def _affine(self, xhat: np.ndarray) -> np.ndarray:
        if self.weight is None or self.bias is None:
            return self.backend.copy(xhat)
        return xhat * self.weight.value + self.bias.value

    def _affine_backward(self, grad_out: np.ndarray, xhat: np.ndarray) -> np.ndarray:
        """Store dE/dgamma = sum_n g * xhat and dE/dbeta = sum_n g; return dE/dxhat = g * gamma."""
        xp = self._xp
        if grad_out.dtype != self._dt:
            grad_out = xp.astype(grad_out, self._dt)
        if self.weight is None or self.bias is None:
            return grad_out
        xp.sum(grad_out * xhat, axis=0, out=self.weight.grad)
        xp.sum(grad_out, axis=0, out=self.bias.grad)
        return grad_out * self.weight.value

    def config(self) -> dict[str, Any]:
        return {"num_features": self.num_features, "eps": self.eps, "affine": self.affine, "dtype": self.dtype.name}


class BatchNorm(_Normalization):
    """Batch normalization (Ioffe & Szegedy 2015), per feature over the batch.

    ``y = gamma * (x - mu) / sqrt(var + eps) + beta``, in training with the batch's mean
    ``mu_j = (1/N) sum_n x_nj`` and biased variance ``var_j = (1/N) sum_n (x_nj - mu_j)^2``;
    in evaluation with the running estimates, updated at every training forward pass as
    ``running_mean <- (1 - momentum) running_mean + momentum mu`` and
    ``running_var <- (1 - momentum) running_var + momentum var N / (N - 1)`` (the unbiased
    variance), exactly as ``torch.nn.BatchNorm1d``.

    Parameters
    ----------
    num_features : int
        Features of the input ``x`` (n_samples, num_features); the output has the same shape.
    momentum : float
        Weight in (0, 1] of the batch statistics in the running ones (PyTorch's default 0.1).
    eps : float
        Added to the variance, > 0.
    affine : bool
        Learn ``gamma`` (``weight``, starts at 1) and ``beta`` (``bias``, starts at 0);
        neither is weight-decayed.
    running_mean, running_var : sequence of float or None
        The running statistics (default 0 and 1): part of :meth:`config`, so that a saved
        model evaluates with them after :func:`ffnn.load`; checkpoints keep them too.
    dtype : float32 or float64

    Notes
    -----
    With ``xhat = (x - mu) / sqrt(var + eps)`` and upstream delta ``G = dE/dy``:

    - ``dE/dgamma = sum_n G_n * xhat_n``, ``dE/dbeta = sum_n G_n``;
    - training: ``dE/dx = (gamma / (N sqrt(var + eps))) * (N G - sum_n G_n - xhat sum_n G_n xhat_n)``
      (mu and var depend on every sample of the batch);
    - evaluation: the statistics are constants, ``dE/dx = gamma G / sqrt(running_var + eps)``.

    Training needs more than one sample per batch (the variance of one value is 0), as in
    PyTorch.

    Examples
    --------
    >>> import numpy as np
    >>> bn = BatchNorm(2, dtype=np.float64)
    >>> y = bn.forward(np.array([[1.0, 10.0], [3.0, 30.0]]))
    >>> y.round(3).tolist(), bn.running_mean.tolist()
    ([[-1.0, -1.0], [1.0, 1.0]], [0.2, 2.0])
    """

    def __init__(self, num_features: int, momentum: float = 0.1, eps: float = 1e-5, affine: bool = True,
                 running_mean: Any = None, running_var: Any = None, dtype: Any = np.float32) -> None:
        super().__init__(num_features, eps, affine, dtype)
        self.momentum = check_number("momentum", momentum, low=0.0, high=1.0, low_inclusive=False)
        self.running_mean = self._statistic("running_mean", running_mean, 0.0)
        self.running_var = self._statistic("running_var", running_var, 1.0)

    def _move_arrays(self) -> tuple[str, ...]:
        return ("running_mean", "running_var")

    def _statistic(self, name: str, value: Any, default: float) -> Any:
        """A running statistic from a constructor argument or a checkpoint, on the layer's backend."""
        return self.backend.from_host(self._host_statistic(name, value, default))

    def _host_statistic(self, name: str, value: Any, default: float) -> np.ndarray:
        if value is None:
            return np.full(self.num_features, default, self.dtype)
        try:
            arr = np.array(value, dtype=self.dtype)
        except (TypeError, ValueError):
            raise ConfigError(f"BatchNorm {name} must be {self.num_features} numbers, got {value!r:.80}") from None
        if arr.shape != (self.num_features,):
            raise ShapeError(f"BatchNorm {name} must have shape ({self.num_features},), got {arr.shape}")
        if name == "running_var" and not (arr >= 0).all():
            raise ConfigError("BatchNorm running_var must be >= 0")
        return arr

    def forward(self, x: Array) -> Array:
        x = self._input(x)
        if self.training:
            n = x.shape[0]
            if n < 2:
                raise ShapeError("BatchNorm in training mode needs more than 1 sample per batch, got 1 "
                                 "(use batches of 2 or more, or model.eval())")
            xp = self._xp
            mean = xp.mean(x, axis=0)
            centered = x - mean
            var = xp.sum(centered * centered, axis=0) / n
            m = self._constant(self.momentum)
            self.running_mean = (1 - m) * self._running("running_mean") + m * mean
            self.running_var = (1 - m) * self._running("running_var") + m * var * self._constant(n / (n - 1))
        else:
            centered = x - self._running("running_mean")
            var = self._running("running_var")
        inv_std = 1.0 / self._xp.sqrt(var + self._constant(self.eps))
        self._xhat = centered * inv_std
        self._inv_std, self._batch_stats = inv_std, self.training
        return self._affine(self._xhat)

    def _running(self, name: str) -> Any:
        """A running statistic in the layer's dtype (after ``model.astype`` changed it)."""
        value = getattr(self, name)
        if value.dtype != self._dt:
            value = self._xp.astype(value, self._dt)
            setattr(self, name, value)
        return value

    def backward(self, grad_out: Array, input_grad: bool = True) -> Array:
        xhat = self._cached("_xhat")
        self._check_grad(grad_out, xhat.shape)
        dxhat = self._affine_backward(grad_out, xhat)
        if self._batch_stats:
            return _normalize_backward(dxhat, xhat, self._inv_std, axis=0, xp=self._xp)
        return dxhat * self._inv_std

    def config(self) -> dict[str, Any]:
        return {**super().config(), "momentum": self.momentum, **self.extra_state()}

    def extra_state(self) -> dict[str, Any]:
        """The running statistics (checkpoints: a resumed run continues with them)."""
        host = self.backend.to_numpy
        return {"running_mean": host(self.running_mean).tolist(), "running_var": host(self.running_var).tolist()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or set(state) != {"running_mean", "running_var"}:
            raise ConfigError(f"BatchNorm state must hold running_mean and running_var, got {state!r:.80}")
        # None resets a statistic to its initial value, as in the constructor (mean 0, variance 1)
        mean = self._statistic("running_mean", state["running_mean"], 0.0)
        var = self._statistic("running_var", state["running_var"], 1.0)
        self.running_mean, self.running_var = mean, var

    def __repr__(self) -> str:
        extra = "" if self.affine else ", affine=False"
        return (f"BatchNorm({self.num_features}, momentum={self.momentum!r}, eps={self.eps!r}{extra}, "
                f"dtype={self.dtype.name})")


class LayerNorm(_Normalization):
    """Layer normalization (Ba, Kiros & Hinton 2016), per sample over its features.

    ``y_n = gamma * (x_n - mu_n) / sqrt(var_n + eps) + beta`` with ``mu_n = (1/D) sum_j x_nj``
    and ``var_n = (1/D) sum_j (x_nj - mu_n)^2`` (biased), the same in training and
    evaluation, as ``torch.nn.LayerNorm(D)``.

    Parameters
    ----------
    num_features : int
        ``D``, the features of the input (n_samples, D); the output has the same shape.
    eps : float
        Added to the variance, > 0.
    affine : bool
        Learn ``gamma`` (``weight``, starts at 1) and ``beta`` (``bias``, starts at 0), one per
        feature; neither is weight-decayed.
    dtype : float32 or float64

    Notes
    -----
    With ``xhat = (x - mu) / sqrt(var + eps)`` and upstream delta ``G = dE/dy``, row by row:
    ``dE/dgamma = sum_n G_n * xhat_n``, ``dE/dbeta = sum_n G_n``, and with
    ``H = gamma * G``: ``dE/dx_n = (H_n D - sum_j H_nj - xhat_n sum_j H_nj xhat_nj) / (D sqrt(var_n + eps))``.

    Examples
    --------
    >>> import numpy as np
    >>> LayerNorm(2, dtype=np.float64).forward(np.array([[1.0, 3.0]])).round(3).tolist()
    [[-1.0, 1.0]]
    """

    def __init__(self, num_features: int, eps: float = 1e-5, affine: bool = True, dtype: Any = np.float32) -> None:
        super().__init__(num_features, eps, affine, dtype)

    def forward(self, x: Array) -> Array:
        x = self._input(x)
        xp = self._xp
        centered = x - xp.mean(x, axis=1, keepdims=True)
        var = xp.sum(centered * centered, axis=1, keepdims=True) / self.num_features
        self._inv_std = 1.0 / xp.sqrt(var + self._constant(self.eps))
        self._xhat = centered * self._inv_std
        return self._affine(self._xhat)

    def backward(self, grad_out: Array, input_grad: bool = True) -> Array:
        xhat = self._cached("_xhat")
        self._check_grad(grad_out, xhat.shape)
        return _normalize_backward(self._affine_backward(grad_out, xhat), xhat, self._inv_std, axis=1, xp=self._xp)


def __getattr__(name: str) -> Any:
    # LAYERS and ACTIVATIONS moved to the catalogue (the one table of names); kept here too.
    if name in ("LAYERS", "ACTIVATIONS"):
        from . import catalog
        return getattr(catalog, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
