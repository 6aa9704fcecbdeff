"""Optimizers: turn each parameter's gradient into an in-place update of its value.

An optimizer is built over a list of :class:`~ffnn.parameter.Parameter` (usually
``model.parameters()``) and keeps its per-parameter state (velocities, moment estimates)
itself; layers never own an optimizer. Each update rule lives in one pure function that
works in place on arrays (:func:`sgd_update`, :func:`adam_update`,
:func:`rmsprop_update`, :func:`adagrad_update`,
:func:`adadelta_update`) and can be tested alone; ``step()`` only
loops over the parameters calling it.

The parameters may live on any backend (:mod:`ffnn.backend`): the optimizer takes theirs at
construction (all must share it) and calls the update functions with its ``xp`` (for NumPy
the ``numpy`` module itself, so the NumPy path is unchanged); on CuPy each update is one
fused kernel (:mod:`ffnn.backend.fused`). After ``model.to(...)``, move the optimizer too
(``optimizer.to(...)``) or build it afterwards.

Conventions shared by every optimizer here:

- ``param.value`` is updated **in place** (other code, such as a layer's cached views,
  holds references to the array), and every state array has the parameter's dtype:
  float32 stays float32, float64 stays float64.
- ``param.grad`` is read, never written: a layer's ``backward`` replaces it every step.
- Weight decay (the L2 penalty ``lambda/2 ||w||^2``, gradient ``lambda*w``) is applied only
  to parameters with ``param.decay`` True (weights), never to biases or PReLU slopes.
  PyTorch applies ``weight_decay`` to every parameter of a group; to compare, put biases
  in a group of their own with ``weight_decay=0``.
- ``lr`` is a writable attribute: learning-rate schedules (:mod:`ffnn.schedules`) live
  outside the optimizer and only write ``optimizer.lr`` (and ``optimizer.momentum``).
- ``state_dict()`` is a plain dict of hyper-parameters (Python scalars) and lists of NumPy
  arrays (one per parameter, whatever the backend), so a checkpoint can be written without
  pickle and loaded on any backend.
- The state is allocated once. On NumPy no array of a parameter's size is allocated per
  step: the temporaries come from two scratch buffers per dtype, shared by all parameters.
  Other backends keep two scratch arrays per parameter (their ``xp`` writes into them where
  the library has ``out=``), and CuPy's fused kernels need none.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from ._typing import Array
from ._validation import check_int, check_number
from .backend import NUMPY, Backend, fused
from .backend import get as get_backend
from .backend import of as backend_of
from .errors import ConfigError, ShapeError
from .parameter import Parameter

# NAMES (the optimizer names) is still importable from here: it is the catalogue's list.
__all__ = [
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "Adagrad",
    "Adadelta",
    "sgd_update",
    "adam_update",
    "rmsprop_update",
    "adagrad_update",
    "adadelta_update",
    "by_name",
]


# ---------------------------------------------------------------------------
# Pure update rules (in place on arrays)
# ---------------------------------------------------------------------------

def _work_buffers(w: Array, work: Sequence[Array] | None, n: int, *, xp: Any = np) -> Sequence[Array]:
    """Return ``n`` scratch arrays of ``w``'s shape and dtype (``work`` if given)."""
    if work is None:
        return [xp.empty_like(w) for _ in range(n)]
    return work


def _decayed_grad(w: Array, g: Array, weight_decay: float, decay: bool, buf: Array, *, xp: Any = np) -> Array:
    """Return ``g + weight_decay*w`` (written into ``buf``) or ``g`` itself when no decay applies."""
    if decay and weight_decay != 0.0:
        xp.multiply(w, weight_decay, out=buf)
        buf += g
        return buf
    return g


def sgd_update(w: Array, g: Array, v: Array, *, lr: float, momentum: float = 0.0,
               nesterov: bool = False, weight_decay: float = 0.0, decay: bool = True,
               work: Sequence[Array] | None = None, xp: Any = np) -> None:
    """One SGD step in place, in the course's form: ``v = momentum*v - lr*g; w = w + v``.

    With ``d = weight_decay`` applied only when ``decay`` is True:

    .. math::

        g &\\leftarrow g + d\\,w \\\\
        v &\\leftarrow \\mu v - \\eta g \\\\
        w &\\leftarrow w + v \\quad\\text{(classical)}, \\qquad
        w \\leftarrow w + \\mu v - \\eta g \\quad\\text{(Nesterov)}

    Parameters
    ----------
    w : ndarray, any shape
        The parameter value; updated in place.
    g : ndarray, shape of ``w``
        The gradient dE/dw; read only.
    v : ndarray, shape and dtype of ``w``
        The velocity (the last update); updated in place. With ``momentum == 0`` it is
        overwritten by ``-lr*g``.
    lr, momentum : float
        Learning rate eta and momentum mu.
    nesterov : bool
        Use Nesterov's look-ahead form (the gradient is the one taken at the current ``w``).
    weight_decay : float
        L2 coefficient lambda; its gradient ``lambda*w`` is added to ``g``.
    decay : bool
        Whether this parameter takes weight decay (``Parameter.decay``).
    work : sequence of 2 ndarrays of ``w``'s shape and dtype, optional
        Scratch space (must not alias ``w``, ``g`` or ``v``); allocated when None.
    xp : namespace, optional
        The arrays' namespace, :attr:`ffnn.backend.Backend.xp` (NumPy by default): every
        array call goes through it, so the same rule runs on any backend.

    Examples
    --------
    >>> import numpy as np
    >>> w, g, v = np.array([1.0, 2.0]), np.array([0.5, -1.0]), np.zeros(2)
    >>> sgd_update(w, g, v, lr=0.1, momentum=0.9)
    >>> w, v
    (array([0.95, 2.1 ]), array([-0.05,  0.1 ]))
    """
    s1, s2 = _work_buffers(w, work, 2, xp=xp)
    if decay and weight_decay != 0.0:
        g = _decayed_grad(w, g, weight_decay, decay, s1, xp=xp)
    if momentum == 0.0:
        # v = 0*v - lr*g without reading v (so a stale or uninitialised v cannot leak in).
        xp.multiply(g, -lr, out=v)
        w += v
        return
    v *= momentum
    xp.multiply(g, lr, out=s2)          # s2 = lr*g
    v -= s2
    if nesterov:
        w -= s2                          # w + mu*v - lr*g, without a third buffer
        xp.multiply(v, momentum, out=s2)
        w += s2
    else:
        w += v


def adam_update(w: Array, g: Array, m: Array, v: Array, *, step: int, lr: float,
                beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                weight_decay: float = 0.0, decay: bool = True, decoupled: bool = False,
                v_max: Array | None = None, work: Sequence[Array] | None = None, xp: Any = np) -> None:
    """One Adam (or AdamW) step in place, as torch.optim.Adam / AdamW compute it.

    With ``t = step`` (counting from 1) and ``d = weight_decay`` applied only when ``decay``:

    .. math::

        g &\\leftarrow g + d\\,w \\quad\\text{(Adam, L2)} \\qquad
        w \\leftarrow (1 - \\eta d)\\,w \\quad\\text{(AdamW, decoupled)} \\\\
        m &\\leftarrow \\beta_1 m + (1-\\beta_1) g \\\\
        v &\\leftarrow \\beta_2 v + (1-\\beta_2) g^2 \\\\
        \\hat v_{\\max} &\\leftarrow \\max(\\hat v_{\\max}, v) \\quad\\text{(AMSGrad only; used
        in place of } v\\text{)} \\\\
        w &\\leftarrow w - \\frac{\\eta}{1-\\beta_1^t}\\;
             \\frac{m}{\\sqrt{v}/\\sqrt{1-\\beta_2^t} + \\epsilon}

    i.e. ``w -= lr * m_hat / (sqrt(v_hat) + eps)`` with eps added *after* the bias
    correction of ``v``, exactly as PyTorch does.

    Parameters
    ----------
    w : ndarray
        The parameter value; updated in place.
    g : ndarray, shape of ``w``
        The gradient; read only.
    m, v : ndarray, shape and dtype of ``w``
        First and second moment estimates; updated in place.
    step : int
        The 1-based index of this step (for the bias corrections).
    lr, beta1, beta2, eps : float
        Learning rate and Adam's constants.
    weight_decay : float
        L2 coefficient (Adam) or decoupled decay rate (AdamW).
    decay : bool
        Whether this parameter takes weight decay.
    decoupled : bool
        AdamW: shrink ``w`` by ``1 - lr*weight_decay`` instead of adding to the gradient.
    v_max : ndarray, optional
        AMSGrad's running maximum of ``v``; updated in place. None disables AMSGrad.
    work : sequence of 2 ndarrays of ``w``'s shape and dtype, optional
        Scratch space; allocated when None.
    xp : namespace, optional
        The arrays' namespace, :attr:`ffnn.backend.Backend.xp` (NumPy by default): every
        array call goes through it, so the same rule runs on any backend.

    Examples
    --------
    >>> import numpy as np
    >>> w, g = np.array([1.0, -1.0]), np.array([0.2, -0.4])
    >>> m, v = np.zeros(2), np.zeros(2)
    >>> adam_update(w, g, m, v, step=1, lr=0.1)   # first step moves each weight by ~lr
    >>> w
    array([ 0.9, -0.9])
    """
    s1, s2 = _work_buffers(w, work, 2, xp=xp)
    if decay and weight_decay != 0.0:
        if decoupled:
            w *= 1.0 - lr * weight_decay
        else:
            g = _decayed_grad(w, g, weight_decay, decay, s1, xp=xp)
    m *= beta1
    xp.multiply(g, 1.0 - beta1, out=s2)
    m += s2
    v *= beta2
    xp.multiply(g, g, out=s2)
    s2 *= 1.0 - beta2
    v += s2
    bias_correction1 = 1.0 - beta1 ** step
    bias_correction2 = 1.0 - beta2 ** step
    step_size = lr / bias_correction1
    bias_correction2_sqrt = bias_correction2 ** 0.5
    if v_max is not None:
        xp.maximum(v_max, v, out=v_max)
        xp.sqrt(v_max, out=s2)
    else:
        xp.sqrt(v, out=s2)
    s2 /= bias_correction2_sqrt
    s2 += eps                            # s2 = denominator
    xp.divide(m, s2, out=s2)
    s2 *= step_size
    w -= s2


def rmsprop_update(w: Array, g: Array, square_avg: Array, *, lr: float, alpha: float = 0.99,
                   eps: float = 1e-8, momentum: float = 0.0, centered: bool = False,
                   weight_decay: float = 0.0, decay: bool = True,
                   grad_avg: Array | None = None, momentum_buffer: Array | None = None,
                   work: Sequence[Array] | None = None, xp: Any = np) -> None:
    """One RMSprop step in place, as torch.optim.RMSprop computes it.

    With ``d = weight_decay`` applied only when ``decay``:

    .. math::

        g &\\leftarrow g + d\\,w \\\\
        s &\\leftarrow \\alpha s + (1-\\alpha) g^2 \\\\
        \\bar g &\\leftarrow \\alpha \\bar g + (1-\\alpha) g \\quad\\text{(centered only)} \\\\
        r &= \\sqrt{s - \\bar g^2} + \\epsilon \\ \\text{(centered)}, \\qquad
             r = \\sqrt{s} + \\epsilon \\ \\text{(plain)} \\\\
        b &\\leftarrow \\mu b + g / r, \\quad w \\leftarrow w - \\eta b
             \\quad\\text{(momentum > 0)}, \\qquad w \\leftarrow w - \\eta\\, g / r
             \\quad\\text{(otherwise)}

    Note that the momentum buffer ``b`` holds ``g/r`` without the learning rate (PyTorch's
    convention), unlike :func:`sgd_update`'s velocity.

    Parameters
    ----------
    w : ndarray
        The parameter value; updated in place.
    g : ndarray, shape of ``w``
        The gradient; read only.
    square_avg : ndarray, shape and dtype of ``w``
        Running mean of ``g**2``; updated in place.
    lr, alpha, eps, momentum : float
        Learning rate, smoothing constant, denominator constant and momentum.
    centered : bool
        Normalise by an estimate of the variance instead of the raw second moment.
    weight_decay : float
        L2 coefficient; ``lambda*w`` is added to the gradient.
    decay : bool
        Whether this parameter takes weight decay.
    grad_avg : ndarray, optional
        Running mean of ``g`` (required when ``centered``); updated in place.
    momentum_buffer : ndarray, optional
        Required when ``momentum > 0``; updated in place.
    work : sequence of 2 ndarrays of ``w``'s shape and dtype, optional
        Scratch space; allocated when None.
    xp : namespace, optional
        The arrays' namespace, :attr:`ffnn.backend.Backend.xp` (NumPy by default): every
        array call goes through it, so the same rule runs on any backend.

    Examples
    --------
    >>> import numpy as np
    >>> w, g, s = np.array([1.0]), np.array([0.5]), np.zeros(1)
    >>> rmsprop_update(w, g, s, lr=0.01, alpha=0.75, eps=0.0)
    >>> w, s         # s = 0.25 * 0.5**2; w = 1 - 0.01 * 0.5 / sqrt(s)
    (array([0.98]), array([0.0625]))
    """
    s1, s2 = _work_buffers(w, work, 2, xp=xp)
    g = _decayed_grad(w, g, weight_decay, decay, s1, xp=xp)
    square_avg *= alpha
    xp.multiply(g, g, out=s2)
    s2 *= 1.0 - alpha
    square_avg += s2
    if centered:
        if grad_avg is None:
            raise ConfigError("rmsprop_update(centered=True) needs a grad_avg array, got None")
        grad_avg *= alpha
        xp.multiply(g, 1.0 - alpha, out=s2)
        grad_avg += s2
        xp.multiply(grad_avg, grad_avg, out=s2)
        xp.subtract(square_avg, s2, out=s2)
        xp.sqrt(s2, out=s2)
    else:
        xp.sqrt(square_avg, out=s2)
    s2 += eps                            # s2 = r
    xp.divide(g, s2, out=s2)             # s2 = g / r
    if momentum > 0.0:
        if momentum_buffer is None:
            raise ConfigError("rmsprop_update(momentum > 0) needs a momentum_buffer array, got None")
        momentum_buffer *= momentum
        momentum_buffer += s2
        xp.multiply(momentum_buffer, lr, out=s2)
    else:
        s2 *= lr
    w -= s2


def adagrad_update(w: Array, g: Array, accumulator: Array, *, step: int, lr: float,
                   lr_decay: float = 0.0, eps: float = 1e-10, weight_decay: float = 0.0,
                   decay: bool = True, work: Sequence[Array] | None = None, xp: Any = np) -> None:
    """One Adagrad step in place, as torch.optim.Adagrad computes it.

    With ``t = step`` (counting from 1) and ``d = weight_decay`` applied only when ``decay``:

    .. math::

        g &\\leftarrow g + d\\,w \\\\
        \\tilde\\eta &= \\eta / (1 + (t-1)\\,\\text{lr\\_decay}) \\\\
        G &\\leftarrow G + g^2 \\\\
        w &\\leftarrow w - \\tilde\\eta\\, g / (\\sqrt{G} + \\epsilon)

    Parameters
    ----------
    w : ndarray
        The parameter value; updated in place.
    g : ndarray, shape of ``w``
        The gradient; read only.
    accumulator : ndarray, shape and dtype of ``w``
        Sum of squared gradients G (starts at ``initial_accumulator_value``); updated in place.
    step : int
        The 1-based index of this step.
    lr, lr_decay, eps, weight_decay : float
        As in :class:`Adagrad`.
    decay : bool
        Whether this parameter takes weight decay.
    work : sequence of 2 ndarrays of ``w``'s shape and dtype, optional
        Scratch space; allocated when None.
    xp : namespace, optional
        The arrays' namespace, :attr:`ffnn.backend.Backend.xp` (NumPy by default): every
        array call goes through it, so the same rule runs on any backend.

    Examples
    --------
    >>> import numpy as np
    >>> w, g, acc = np.array([1.0]), np.array([2.0]), np.zeros(1)
    >>> adagrad_update(w, g, acc, step=1, lr=0.5, eps=0.0)
    >>> w, acc       # w = 1 - 0.5 * 2 / sqrt(4)
    (array([0.5]), array([4.]))
    """
    s1, s2 = _work_buffers(w, work, 2, xp=xp)
    g = _decayed_grad(w, g, weight_decay, decay, s1, xp=xp)
    clr = lr / (1.0 + (step - 1) * lr_decay)
    xp.multiply(g, g, out=s2)
    accumulator += s2
    xp.sqrt(accumulator, out=s2)
    s2 += eps
    xp.divide(g, s2, out=s2)
    s2 *= clr
    w -= s2


def adadelta_update(w: Array, g: Array, square_avg: Array, acc_delta: Array, *, lr: float = 1.0,
                    rho: float = 0.9, eps: float = 1e-6, weight_decay: float = 0.0, decay: bool = True,
                    work: Sequence[Array] | None = None, xp: Any = np) -> None:
    """One Adadelta step in place (Zeiler 2012), as torch.optim.Adadelta computes it.

    With ``d = weight_decay`` applied only when ``decay``:

    .. math::

        g &\\leftarrow g + d\\,w \\\\
        s &\\leftarrow \\rho s + (1-\\rho) g^2 \\\\
        \\Delta &= \\frac{\\sqrt{u + \\epsilon}}{\\sqrt{s + \\epsilon}}\\, g \\\\
        u &\\leftarrow \\rho u + (1-\\rho) \\Delta^2 \\\\
        w &\\leftarrow w - \\eta \\Delta

    The step size is the ratio of two running root-mean-squares (of past updates ``u`` and of
    gradients ``s``), so ``lr`` = 1 (the paper's and ConvNetJS's form, which has no learning
    rate) works without tuning.

    Parameters
    ----------
    w : ndarray
        The parameter value; updated in place.
    g : ndarray, shape of ``w``
        The gradient; read only.
    square_avg, acc_delta : ndarray, shape and dtype of ``w``
        Running means ``s`` of ``g**2`` and ``u`` of ``Delta**2``; updated in place.
    lr, rho, eps : float
        Scale of the step, decay of the running means, constant inside both square roots.
    weight_decay : float
        L2 coefficient; ``lambda*w`` is added to the gradient.
    decay : bool
        Whether this parameter takes weight decay.
    work : sequence of 2 ndarrays of ``w``'s shape and dtype, optional
        Scratch space; allocated when None.
    xp : namespace, optional
        The arrays' namespace, :attr:`ffnn.backend.Backend.xp` (NumPy by default): every
        array call goes through it, so the same rule runs on any backend.

    Examples
    --------
    >>> import numpy as np
    >>> w, g, s, u = np.array([1.0]), np.array([2.0]), np.zeros(1), np.zeros(1)
    >>> adadelta_update(w, g, s, u, rho=0.75, eps=1e-4)
    >>> s, u         # s = 0.25 * 2**2; Delta = sqrt(1e-4) / sqrt(1 + 1e-4) * 2 ~ 0.02
    (array([1.]), array([9.999e-05]))
    """
    s1, s2 = _work_buffers(w, work, 2, xp=xp)
    g = _decayed_grad(w, g, weight_decay, decay, s1, xp=xp)
    square_avg *= rho
    xp.multiply(g, g, out=s2)
    s2 *= 1.0 - rho
    square_avg += s2
    xp.add(square_avg, eps, out=s2)
    xp.sqrt(s2, out=s2)                  # s2 = sqrt(s + eps)
    xp.divide(g, s2, out=s2)             # s2 = g / sqrt(s + eps); g (maybe s1) is not read again
    xp.add(acc_delta, eps, out=s1)
    xp.sqrt(s1, out=s1)
    s2 *= s1                             # s2 = Delta
    acc_delta *= rho
    xp.multiply(s2, s2, out=s1)
    s1 *= 1.0 - rho
    acc_delta += s1
    if lr != 1.0:
        s2 *= lr
    w -= s2


# ---------------------------------------------------------------------------
# Optimizer classes
# ---------------------------------------------------------------------------

_CHUNK = 1 << 16
"""Elements per chunk of a large parameter's update: the chunk of every array involved stays
in the L2 cache across the update's passes (measured 1.7x faster on 784-1024-1024-10)."""


_FLUSH_EVERY = 32
"""Steps between two passes that set the subnormal numbers in an optimizer's state to zero."""


def flush_subnormals(a: Array, work: Array, *, xp: Any = np) -> None:
    """Set the subnormal entries of ``a`` (nonzero, below ``finfo(a.dtype).tiny`` in magnitude)
    to zero, in place; ``work`` is scratch space of ``a``'s shape and dtype, ``xp`` the arrays'
    namespace (:attr:`ffnn.backend.Backend.xp`).

    With ``m = [|a| < tiny]`` (1 or 0): ``a <- a (1 - m)``, exact for every other value (and
    for infinities and NaN), in cache-sized chunks. Other backends than NumPy take the whole
    array at once, as ``a <- where(|a| < tiny, 0, a)`` (the array API stores no boolean
    into a floating-point array).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([1e-40, -3.0, 0.0, np.inf], dtype=np.float32)
    >>> flush_subnormals(a, np.empty_like(a))
    >>> a
    array([ 0., -3.,  0., inf], dtype=float32)
    """
    if xp is not np:
        smallest_normal = float(np.finfo(backend_of(a).numpy_dtype(a.dtype)).tiny)
        xp.abs(a, out=work)
        xp.copyto(a, xp.where(xp.less(work, smallest_normal), 0.0, a))
        return
    tiny = np.finfo(a.dtype).tiny
    for part, m in _in_chunks((a, work)) or [(a, work)]:
        np.abs(part, out=m)
        np.less(m, tiny, out=m)
        np.subtract(1, m, out=m)
        part *= m


def _in_chunks(arrays: Sequence[Array]) -> list[tuple[Array, ...]] | None:
    """Matching flat chunks of same-sized C-contiguous arrays, or None when not worth it."""
    size = arrays[0].size
    if size <= _CHUNK or not all(a.flags.c_contiguous and a.size == size for a in arrays):
        return None
    flats = [a.reshape(-1) for a in arrays]
    return [tuple(f[start:start + _CHUNK] for f in flats) for start in range(0, size, _CHUNK)]


def _param_list(params: Any, owner: str) -> tuple[list[Parameter], Backend]:
    """Materialise ``params`` into a list of distinct floating-point Parameters, all arrays of
    one backend (returned with it)."""
    if isinstance(params, Parameter):
        raise ConfigError(f"{owner} expects an iterable of Parameter objects, got a single "
                          f"Parameter ({params.name!r}); pass [param]")
    try:
        items = list(params)
    except TypeError:
        hint = "; did you mean model.parameters()?" if hasattr(params, "parameters") else ""
        raise ConfigError(f"{owner} expects an iterable of Parameter objects, got "
                          f"{type(params).__name__}{hint}") from None
    if not items:
        raise ConfigError(f"{owner} got an empty parameter list; expected at least one Parameter")
    seen: set[int] = set()
    backends: list[Backend] = []
    for i, p in enumerate(items):
        if not isinstance(p, Parameter):
            raise ConfigError(f"{owner} expects Parameter objects, got {type(p).__name__} "
                              f"at position {i}")
        backend = backend_of(p.value)
        array = isinstance(p.value, backend.array_type)
        if not array or backend.numpy_dtype(p.value.dtype).kind != "f":
            kind = "NumPy" if backend is NUMPY else backend.name
            got = f"dtype {p.value.dtype}" if array else type(p.value).__name__
            raise ConfigError(f"{owner}: parameter {p.name!r} at position {i} must hold a "
                              f"floating-point {kind} array, got {got}")
        if backends and backend is not backends[0]:
            raise ConfigError(f"{owner}: parameter {p.name!r} at position {i} is a {backend.name} array "
                              f"but parameter {items[0].name!r} at position 0 is a {backends[0].name} "
                              "array; an optimizer's parameters share one backend (model.to(...) "
                              "moves them all)")
        backends.append(backend)
        if id(p) in seen:
            raise ConfigError(f"{owner}: parameter {p.name!r} at position {i} appears more "
                              "than once; each parameter must be listed once")
        seen.add(id(p))
    return items, backends[0]


def _scratch_views(shapes: list[tuple[int, ...]], dtypes: list[np.dtype], n: int,
                   xp: Any = np) -> list[tuple[Array, ...]]:
    """``n`` scratch arrays per parameter (of each parameter's shape and NumPy dtype).

    On NumPy they are views carved out of one shared buffer per dtype: temporaries are only
    needed during one parameter's update, so all parameters of a dtype share ``n`` flat
    buffers of the largest parameter's size. Other backends get plain arrays per parameter.
    """
    if xp is not np:
        return [tuple(xp.empty(shape, dtype=dt) for _ in range(n)) for shape, dt in zip(shapes, dtypes, strict=True)]
    sizes: dict[np.dtype, int] = {}
    for shape, dt in zip(shapes, dtypes, strict=True):
        sizes[dt] = max(sizes.get(dt, 0), math.prod(shape))
    # each row starts on a cache line, as the backend's other arrays
    flat = {dt: NUMPY.empty((n, -(-size * dt.itemsize // 64) * 64 // dt.itemsize), dt) for dt, size in sizes.items()}
    views = []
    for shape, dt in zip(shapes, dtypes, strict=True):
        buf = flat[dt]
        views.append(tuple(buf[k, :math.prod(shape)].reshape(shape) for k in range(n)))
    return views


def _configure_lr(self: Optimizer, *, lr: float) -> None:
    self.lr = lr


class Optimizer(ABC):
    """Base class: holds the parameters, the learning rate and per-parameter state.

    Subclasses set ``_hparam_names`` (the constructor's keyword arguments after ``params``),
    implement ``_update(i, param, grad)`` by calling their pure update function, and
    ``_state_names()`` (the per-parameter state arrays, each a list attribute).

    Parameters
    ----------
    params : iterable of Parameter
        The parameters to optimise, e.g. ``model.parameters()``. Materialised into a list.
    lr : float
        Learning rate, >= 0. Writable: ``optimizer.lr = 0.01``.

    Attributes
    ----------
    params : list of Parameter
    lr : float
    step_count : int
        Number of ``step()`` calls so far.
    backend : ffnn.backend.Backend
        Where the parameters and the state arrays live (the parameters' backend at
        construction; :meth:`to` moves the state). On NumPy the updates run in cache-sized
        chunks through ``numpy``; on CuPy each parameter's update is one fused kernel
        (:mod:`ffnn.backend.fused`); elsewhere the update functions run through the
        backend's ``xp``.
    """

    _hparam_names: tuple[str, ...] = ("lr",)
    _state_keys: tuple[str, ...] = ()
    """Every per-parameter state array the class can hold (some only for some hyper-parameters)."""
    _optional_state: tuple[str, ...] = ()
    """State arrays that a saved state may carry even when the hyper-parameters do not need them."""

    def __init__(self, params: Iterable[Parameter], lr: float) -> None:
        name = type(self).__name__
        self.params, backend = _param_list(params, name)
        self.lr = lr
        self.step_count = 0
        self._shapes = [tuple(p.value.shape) for p in self.params]
        self._dtypes = [backend.numpy_dtype(p.value.dtype) for p in self.params]
        self._use(backend)

    def _use(self, backend: Backend) -> None:
        """Compute on ``backend`` from now on: its namespace, fused kernels, scratch space."""
        self.backend = backend
        self._xp = backend.xp
        self._fused = fused.for_backend(backend)
        # a fused kernel needs no temporaries
        self._work = _scratch_views(self._shapes, self._dtypes, 0 if self._fused else 2, self._xp)
        self._parts_cache: dict[int, tuple[tuple[Array, ...], list[tuple[Array, ...]]]] = {}

    _DERIVED = ("_xp", "_fused", "_work", "_parts_cache")
    """What :meth:`_use` builds from the backend: left out of pickles and copies, rebuilt on load."""

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in self._DERIVED}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._use(self.backend)

    def to(self, backend: str | Backend) -> Optimizer:
        """Move the state arrays (velocities, moments...) to ``backend`` (a spec such as
        ``"torch"`` or a :class:`~ffnn.backend.Backend`); returns the optimizer.

        Call it with ``model.to(...)`` (in either order): a step checks that the parameters
        are on the optimizer's backend. A no-op when the state is already there.

        Examples
        --------
        >>> from ffnn.parameter import Parameter
        >>> opt = SGD([Parameter(np.zeros(2))], lr=0.1, momentum=0.9)
        >>> opt.to("numpy") is opt
        True
        """
        target = get_backend(backend)
        if target is self.backend:
            return self
        for key in self._state_keys:
            arrays = getattr(self, key, None)
            if arrays is not None:
                setattr(self, key, [target.asarray(self.backend.to_numpy(a)) for a in arrays])
        self._use(target)
        return self

    # -- hyper-parameters -------------------------------------------------
    @property
    def lr(self) -> float:
        """Learning rate (>= 0); schedules write it once per epoch."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = check_number(f"{type(self).__name__} lr", value, low=0.0)

    def hyperparameters(self) -> dict[str, Any]:
        """The constructor's keyword arguments as a dict of Python scalars."""
        return {k: getattr(self, k) for k in self._hparam_names}

    _configure: Callable[..., None] = _configure_lr
    """Validate and set every hyper-parameter of ``_hparam_names`` (all given, as keywords);
    subclasses with more hyper-parameters define their own."""

    # -- state ------------------------------------------------------------
    def _state_names(self) -> tuple[str, ...]:
        """The state arrays the current hyper-parameters use (a subset of ``_state_keys``)."""
        return ()

    def _allocate(self) -> None:
        """Allocate (as zeros) each state array of :meth:`_state_names` that does not exist yet."""
        for key in self._state_names():
            if getattr(self, key, None) is None:
                setattr(self, key, self._zeros())

    def _zeros(self, fill: float = 0.0) -> list[Array]:
        arrays = [self.backend.zeros(p.value.shape, p.value.dtype) for p in self.params]
        if fill:
            for a in arrays:
                a[...] = fill
        return arrays

    # -- the step ---------------------------------------------------------
    def step(self) -> None:
        """Apply ``param.grad`` to every parameter, updating ``param.value`` in place."""
        first = self.params[0].value
        if not isinstance(first, self.backend.array_type) or not self.backend.owns(first):
            self._moved_error(first)
        self.step_count += 1
        for i, p in enumerate(self.params):
            w, g = p.value, p.grad
            if w.shape != self._shapes[i] or g is None or g.shape != w.shape:
                self._shape_error(i, p)
            self._update(i, p, g)
        if self.step_count % _FLUSH_EVERY == 0:
            self._flush_subnormals()

    def _flush_subnormals(self) -> None:
        """Set the subnormal numbers in the state arrays to zero (every ``_FLUSH_EVERY`` steps).

        A running average whose parameter stops getting gradient (the weights of a dead ReLU
        unit) decays geometrically, ``v <- mu v``, below the smallest normal number, and then
        sticks: ``mu * k ulp`` rounds back to ``k ulp`` for small ``k``. x86 CPUs take a slow
        path for arithmetic on subnormals, so every later update of that parameter slowed
        down (an SGD step of 784-100-10 at batch 10 became 2.5x slower once its ReLUs had
        died). Values below ``finfo.tiny`` (1.2e-38 in float32) cannot move a weight, so they
        are dropped.
        """
        for name in self._state_names():
            for i, a in enumerate(getattr(self, name)):
                if self._fused is not None:
                    fused.flush_subnormals(self._fused, a)
                else:
                    flush_subnormals(a, self._work[i][0], xp=self._xp)

    def _moved_error(self, value: Any) -> None:
        now = backend_of(value)
        where = f"{now.name} arrays" if isinstance(value, now.array_type) else type(value).__name__
        raise ConfigError(f"{type(self).__name__}: the parameters are now {where}, but the optimizer "
                          f"was built on {self.backend.name}; call optimizer.to({now.name!r}) after "
                          "model.to(...), or build the optimizer after model.to(...)")

    def _shape_error(self, i: int, p: Parameter) -> None:
        self.step_count -= 1
        gshape = None if p.grad is None else getattr(p.grad, "shape", None)
        if p.value.shape != self._shapes[i]:
            raise ShapeError(f"{type(self).__name__}: parameter {p.name!r} changed shape from "
                             f"{self._shapes[i]} to {tuple(p.value.shape)} after the optimizer was "
                             "created; create a new optimizer")
        gshape = None if gshape is None else tuple(gshape)
        raise ShapeError(f"{type(self).__name__}: parameter {p.name!r} has value shape "
                         f"{tuple(p.value.shape)} but grad shape {gshape}; expected equal shapes")

    @abstractmethod
    def _update(self, i: int, p: Parameter, g: Array) -> None:
        """Apply the update rule to parameter ``i`` with gradient ``g`` (in place)."""

    def _parts(self, i: int, arrays: tuple[Array, ...]) -> list[tuple[Array, ...]]:
        """Parameter ``i``'s update arrays as matching cache-sized chunks (or whole, when small).

        The chunk views are built once and reused while the very same arrays come back
        (checked by identity, so a replaced ``param.grad`` or loaded state is picked up).
        Only NumPy is chunked: another backend's arrays are one part.
        """
        if self._xp is not np:
            return [arrays]
        cache = self.__dict__.setdefault("_parts_cache", {})
        hit = cache.get(i)
        if hit is not None and len(hit[0]) == len(arrays) and all(
                a is b for a, b in zip(hit[0], arrays, strict=True)):
            return hit[1]
        parts = _in_chunks(arrays) or [arrays]
        cache[i] = (arrays, parts)
        return parts

    def zero_grad(self) -> None:
        """Set every ``param.grad`` to zero in place (not needed between ffnn steps: backward
        replaces gradients; provided for code written for PyTorch)."""
        for p in self.params:
            p.grad[...] = 0

    # -- checkpoints ------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Return the optimizer's state as a plain dict.

        Keys: ``"optimizer"`` (the class name), every hyper-parameter (Python scalars; betas
        a tuple), ``"step_count"``, and one key per state array name holding a list of copies
        of NumPy arrays, one per parameter in ``params`` order, whatever the backend. Nothing
        needs pickle.
        """
        d: dict[str, Any] = {"optimizer": type(self).__name__}
        d.update(self.hyperparameters())
        d["step_count"] = self.step_count
        for name in self._state_names():
            d[name] = [self._host_copy(a) for a in getattr(self, name)]
        return d

    def _host_copy(self, a: Array) -> np.ndarray:
        host = self.backend.to_numpy(a)
        return host.copy() if host is a else host

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore hyper-parameters and state arrays from :meth:`state_dict` output, in place.

        Everything is validated before anything changes (on an error the optimizer is left as
        it was); arrays are cast to each parameter's dtype and must have its shape. A state
        array the saved hyper-parameters do not use (AMSGrad's maximum without ``amsgrad``)
        is refused.
        """
        name = type(self).__name__
        if not isinstance(state, dict):
            raise ConfigError(f"{name}.load_state_dict expects a dict, got {type(state).__name__}")
        got = state.get("optimizer", name)
        if got != name:
            raise ConfigError(f"{name}.load_state_dict got the state of a {got} optimizer")
        allowed = {"optimizer", "step_count", *self._hparam_names, *self._state_keys}
        unknown = sorted(set(state) - allowed)
        if unknown:
            raise ConfigError(f"{name}.load_state_dict got unknown keys {unknown}; expected "
                              f"some of {sorted(allowed)}")
        step_count = check_int(f"{name} step_count", state.get("step_count", self.step_count), low=0)
        old = self.hyperparameters()
        new = {**old, **{k: state[k] for k in self._hparam_names if k in state}}
        if isinstance(new.get("betas"), list):
            new["betas"] = tuple(new["betas"])
        try:
            self._configure(**new)
            arrays = self._check_state_arrays(state)
        except BaseException:
            self._configure(**old)
            raise
        self._allocate()
        for key, sources in arrays.items():
            if getattr(self, key, None) is None:
                setattr(self, key, self._zeros())
            for dst, src in zip(getattr(self, key), sources, strict=True):
                self.backend.copy_into(dst, src)
        self.step_count = step_count

    def _check_state_arrays(self, state: dict[str, Any]) -> dict[str, list[np.ndarray]]:
        """The state arrays of ``state`` the current hyper-parameters need, validated."""
        name = type(self).__name__
        needed = self._state_names() + tuple(k for k in self._optional_state
                                             if k in state and k not in self._state_names())
        extra = sorted(k for k in self._state_keys if k in state and k not in needed)
        if extra:
            raise ConfigError(f"{name}.load_state_dict: state {extra} is not used with "
                              f"{self.hyperparameters()}")
        checked: dict[str, list[np.ndarray]] = {}
        for key in needed:
            if key not in state:
                raise ConfigError(f"{name}.load_state_dict: missing state {key!r}")
            arrays = state[key]
            if not isinstance(arrays, (list, tuple)) or len(arrays) != len(self.params):
                raise ConfigError(f"{name}.load_state_dict: {key!r} must be a list of "
                                  f"{len(self.params)} arrays, got {type(arrays).__name__}"
                                  + (f" of length {len(arrays)}" if hasattr(arrays, "__len__") else ""))
            checked[key] = []
            for p, src in zip(self.params, arrays, strict=True):
                src = np.asarray(src)
                if src.shape != p.value.shape:
                    raise ShapeError(f"{name}.load_state_dict: {key!r} for parameter "
                                     f"{p.name!r} has shape {src.shape}, expected {p.value.shape}")
                if src.dtype.kind not in "biuf":
                    raise ConfigError(f"{name}.load_state_dict: {key!r} for parameter "
                                      f"{p.name!r} has dtype {src.dtype}, expected floats")
                checked[key].append(src)
        return checked

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent with momentum: ``v = momentum*v - lr*g; w = w + v``.

    For each parameter, with learning rate eta, momentum mu and weight decay lambda (the
    latter only for parameters with ``decay=True``):

    .. math::

        g &= \\partial E/\\partial w + \\lambda w \\\\
        v &\\leftarrow \\mu v - \\eta g \\\\
        w &\\leftarrow w + v \\qquad\\text{or, with Nesterov,}\\qquad
        w \\leftarrow w + \\mu v - \\eta g

    The velocity ``v`` starts at zero and has the parameter's shape and dtype. With
    ``momentum=0`` this is plain gradient descent, ``w -= lr*g``.

    Parameters
    ----------
    params : iterable of Parameter
        The parameters to optimise.
    lr : float
        Learning rate, >= 0.
    momentum : float
        In [0, 1). Writable (validated on set), e.g. by :class:`ffnn.schedules.MomentumSchedule`.
    nesterov : bool
        Nesterov's accelerated gradient; requires ``momentum > 0``.
    weight_decay : float
        L2 penalty coefficient lambda >= 0 for the penalty ``lambda/2 ||w||^2`` on weights.

    Notes
    -----
    This is the course's form (Nielsen ch. 3, Bishop 5.2.4): the velocity stores the
    update itself, learning rate included. ``torch.optim.SGD`` (with ``dampening=0``) keeps
    ``b = mu*b + g`` and steps ``w -= lr*b`` (Nesterov: ``w -= lr*(g + mu*b)``). With a
    constant learning rate ``v = -lr*b`` and the two give the same trajectory (to
    rounding). When the learning rate changes, they differ by design: here a new ``lr``
    scales only new gradients, whereas in PyTorch it immediately rescales the whole
    accumulated velocity. PyTorch's own SGD documentation notes the same difference from
    Sutskever et al. and other frameworks.

    Weight decay is applied only to parameters whose ``decay`` flag is True (weights),
    never to biases; ``torch.optim.SGD`` applies it to every parameter of its group.

    Examples
    --------
    >>> import numpy as np
    >>> from ffnn.parameter import Parameter
    >>> w = Parameter(np.array([1.0, 2.0]), name="weight")
    >>> opt = SGD([w], lr=0.1, momentum=0.9)
    >>> opt
    SGD(lr=0.1, momentum=0.9, nesterov=False, weight_decay=0.0)
    >>> w.grad[...] = [0.5, -1.0]
    >>> opt.step()
    >>> w.value                  # v = -0.1 * g
    array([0.95, 2.1 ])
    >>> opt.step()
    >>> w.value                  # v = 0.9 * v - 0.1 * g
    array([0.855, 2.29 ])
    """

    _hparam_names = ("lr", "momentum", "nesterov", "weight_decay")
    _state_keys = ("velocity",)

    def __init__(self, params: Iterable[Parameter], lr: float, momentum: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        self.nesterov = False
        self._configure(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
        self.velocity: list[Array] = self._zeros()

    def _configure(self, *, lr: float, momentum: float, nesterov: bool, weight_decay: float) -> None:
        nesterov = _check_bool("SGD", "nesterov", nesterov)
        momentum = check_number("SGD momentum", momentum, low=0.0, high=1.0, high_inclusive=False)
        if nesterov and momentum == 0.0:
            raise ConfigError(f"SGD nesterov=True requires momentum > 0, got momentum={momentum}")
        weight_decay = check_number("SGD weight_decay", weight_decay, low=0.0)
        self.lr = lr
        self.nesterov, self._momentum, self.weight_decay = nesterov, momentum, weight_decay

    @property
    def momentum(self) -> float:
        """Momentum in [0, 1); writable (validated)."""
        return self._momentum

    @momentum.setter
    def momentum(self, value: float) -> None:
        self._configure(lr=self.lr, momentum=value, nesterov=self.nesterov, weight_decay=self.weight_decay)

    def _state_names(self) -> tuple[str, ...]:
        return ("velocity",)

    def _update(self, i: int, p: Parameter, g: Array) -> None:
        lr, mu, nesterov, wd, decay = self._lr, self._momentum, self.nesterov, self.weight_decay, p.decay
        if self._fused is not None:
            fused.sgd_update(self._fused, p.value, g, self.velocity[i], lr=lr, momentum=mu, nesterov=nesterov,
                             weight_decay=wd, decay=decay)
            return
        for w, g_part, v, s1, s2 in self._parts(i, (p.value, g, self.velocity[i], *self._work[i])):
            sgd_update(w, g_part, v, lr=lr, momentum=mu, nesterov=nesterov, weight_decay=wd,
                       decay=decay, work=(s1, s2), xp=self._xp)


def _check_betas(owner: str, betas: Any) -> tuple[float, float]:
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ConfigError(f"{owner} betas must be a pair (beta1, beta2) in [0, 1), got {betas!r}")
    return (check_number(f"{owner} beta1", betas[0], low=0.0, high=1.0, high_inclusive=False),
            check_number(f"{owner} beta2", betas[1], low=0.0, high=1.0, high_inclusive=False))


def _check_bool(owner: str, name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"{owner} {name} must be True or False, got {value!r}")
    return bool(value)


class Adam(Optimizer):
    """Adam: ``w -= lr * m_hat / (sqrt(v_hat) + eps)``, as torch.optim.Adam.

    For each parameter, at step t = 1, 2, ... (weight decay lambda only where ``decay``):

    .. math::

        g &= \\partial E/\\partial w + \\lambda w \\\\
        m &\\leftarrow \\beta_1 m + (1-\\beta_1) g, \\qquad
        v \\leftarrow \\beta_2 v + (1-\\beta_2) g^2 \\\\
        \\hat m &= m / (1-\\beta_1^t), \\qquad \\hat v = v / (1-\\beta_2^t) \\\\
        w &\\leftarrow w - \\eta\\, \\hat m / (\\sqrt{\\hat v} + \\epsilon)

    With ``amsgrad=True``, ``v_max = max(v_max, v)`` replaces ``v`` in the denominator.
    The moments ``m``, ``v`` start at zero, with the parameter's shape and dtype.

    Parameters
    ----------
    params : iterable of Parameter
        The parameters to optimise.
    lr : float
        Learning rate, >= 0.
    betas : (float, float)
        Decay rates of the moment estimates, each in [0, 1).
    eps : float
        Added to the denominator after the bias correction (PyTorch's placement), >= 0.
    weight_decay : float
        L2 coefficient lambda >= 0 added to the gradient (coupled; see :class:`AdamW`).
    amsgrad : bool
        Use the AMSGrad variant.

    Notes
    -----
    Identical to ``torch.optim.Adam`` except that weight decay only touches parameters
    with ``decay=True`` (PyTorch applies it to every parameter of a group). The step count
    t is shared by all parameters (each receives a gradient at every step).

    Examples
    --------
    >>> import numpy as np
    >>> from ffnn.parameter import Parameter
    >>> w = Parameter(np.array([1.0, -1.0]))
    >>> opt = Adam([w], lr=0.1)
    >>> w.grad[...] = [0.2, -0.4]
    >>> opt.step()
    >>> w.value                  # the first step is lr * sign(g) (up to eps)
    array([ 0.9, -0.9])
    """

    _hparam_names = ("lr", "betas", "eps", "weight_decay", "amsgrad")
    _state_keys = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    _decoupled = False

    def __init__(self, params: Iterable[Parameter], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False) -> None:
        super().__init__(params, lr)
        self._configure(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
        self.exp_avg: list[Array] = self._zeros()
        self.exp_avg_sq: list[Array] = self._zeros()
        self.max_exp_avg_sq: list[Array] | None = self._zeros() if self.amsgrad else None

    def _configure(self, *, lr: float, betas: tuple[float, float], eps: float, weight_decay: float,
                   amsgrad: bool) -> None:
        name = type(self).__name__
        checked = (_check_betas(name, betas), check_number(f"{name} eps", eps, low=0.0),
                   check_number(f"{name} weight_decay", weight_decay, low=0.0), _check_bool(name, "amsgrad", amsgrad))
        self.lr = lr
        self.betas, self.eps, self.weight_decay, self.amsgrad = checked

    def _state_names(self) -> tuple[str, ...]:
        return ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if self.amsgrad else ())

    def _update(self, i: int, p: Parameter, g: Array) -> None:
        options: dict[str, Any] = dict(step=self.step_count, lr=self._lr, beta1=self.betas[0], beta2=self.betas[1],
                                       eps=self.eps, weight_decay=self.weight_decay, decay=p.decay,
                                       decoupled=self._decoupled)
        if self._fused is not None:
            fused.adam_update(self._fused, p.value, g, self.exp_avg[i], self.exp_avg_sq[i],
                              v_max=None if self.max_exp_avg_sq is None else self.max_exp_avg_sq[i], **options)
            return
        arrays = (p.value, g, self.exp_avg[i], self.exp_avg_sq[i], *self._work[i])
        if self.max_exp_avg_sq is not None:             # amsgrad
            arrays += (self.max_exp_avg_sq[i],)
        for w, g_part, m, v, s1, s2, *v_max in self._parts(i, arrays):
            adam_update(w, g_part, m, v, v_max=v_max[0] if v_max else None, work=(s1, s2), xp=self._xp,
                        **options)


class AdamW(Adam):
    """AdamW: Adam with decoupled weight decay, ``w -= lr*lambda*w`` before the Adam step.

    As torch.optim.AdamW: for parameters with ``decay=True``,
    ``w <- (1 - lr*lambda) w``, then the Adam update of :class:`Adam` with the *raw*
    gradient (no L2 term in ``g``, so the decay is not rescaled by the adaptive denominator).

    Parameters
    ----------
    params, lr, betas, eps, amsgrad
        As in :class:`Adam`.
    weight_decay : float
        Decoupled decay rate lambda >= 0 (default 0.01, as PyTorch).

    Notes
    -----
    Identical to ``torch.optim.AdamW`` except that decay only touches parameters with
    ``decay=True``.

    Examples
    --------
    >>> import numpy as np
    >>> from ffnn.parameter import Parameter
    >>> w = Parameter(np.array([2.0]))
    >>> opt = AdamW([w], lr=0.1, weight_decay=0.5)
    >>> w.grad[...] = [0.0]
    >>> opt.step()
    >>> w.value                  # (1 - 0.1*0.5) * 2; a zero gradient adds no Adam step
    array([1.9])
    """

    _decoupled = True

    def __init__(self, params: Iterable[Parameter], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.01, amsgrad: bool = False) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad)


class RMSprop(Optimizer):
    """RMSprop: ``w -= lr * g / (sqrt(s) + eps)`` with ``s`` a running mean of ``g**2``.

    As torch.optim.RMSprop, for each parameter (weight decay lambda only where ``decay``):

    .. math::

        g &= \\partial E/\\partial w + \\lambda w \\\\
        s &\\leftarrow \\alpha s + (1-\\alpha) g^2 \\\\
        r &= \\sqrt{s} + \\epsilon \\quad\\text{or, centered,}\\quad
        r = \\sqrt{s - \\bar g^2} + \\epsilon \\ \\text{with}\\
        \\bar g \\leftarrow \\alpha \\bar g + (1-\\alpha) g \\\\
        w &\\leftarrow w - \\eta\\, g / r \\quad\\text{or, with momentum,}\\quad
        b \\leftarrow \\mu b + g / r,\\ w \\leftarrow w - \\eta b

    Parameters
    ----------
    params : iterable of Parameter
        The parameters to optimise.
    lr : float
        Learning rate, >= 0.
    alpha : float
        Smoothing constant in [0, 1].
    eps : float
        Added to the root mean square, >= 0.
    momentum : float
        In [0, 1); writable (e.g. by :class:`ffnn.schedules.MomentumSchedule`).
    centered : bool
        Normalise by the estimated variance of the gradient.
    weight_decay : float
        L2 coefficient lambda >= 0 added to the gradient.

    Notes
    -----
    The momentum buffer follows PyTorch (it holds ``g/r`` without the learning rate),
    not the course's SGD convention. It is allocated the first time momentum is > 0.
    Weight decay only touches parameters with ``decay=True``.

    Examples
    --------
    >>> import numpy as np
    >>> from ffnn.parameter import Parameter
    >>> w = Parameter(np.array([1.0]))
    >>> opt = RMSprop([w], lr=0.01, alpha=0.75, eps=0.0)
    >>> w.grad[...] = [0.5]
    >>> opt.step()
    >>> w.value                  # 1 - 0.01 * 0.5 / sqrt(0.25 * 0.5**2)
    array([0.98])
    """

    _hparam_names = ("lr", "alpha", "eps", "momentum", "centered", "weight_decay")
    _state_keys = ("square_avg", "grad_avg", "momentum_buffer")

    def __init__(self, params: Iterable[Parameter], lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, momentum: float = 0.0, centered: bool = False,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        self.square_avg: list[Array] = self._zeros()
        self.grad_avg: list[Array] | None = None
        self.momentum_buffer: list[Array] | None = None
        self._configure(lr=lr, alpha=alpha, eps=eps, momentum=momentum, centered=centered,
                        weight_decay=weight_decay)
        self._allocate()

    def _configure(self, *, lr: float, alpha: float, eps: float, momentum: float, centered: bool,
                   weight_decay: float) -> None:
        checked = (check_number("RMSprop alpha", alpha, low=0.0, high=1.0), check_number("RMSprop eps", eps, low=0.0),
                   _check_bool("RMSprop", "centered", centered),
                   check_number("RMSprop weight_decay", weight_decay, low=0.0),
                   check_number("RMSprop momentum", momentum, low=0.0, high=1.0, high_inclusive=False))
        self.lr = lr
        self.alpha, self.eps, self.centered, self.weight_decay, self._momentum = checked

    @property
    def momentum(self) -> float:
        """Momentum in [0, 1); writable (validated)."""
        return self._momentum

    @momentum.setter
    def momentum(self, value: float) -> None:
        self._momentum = check_number("RMSprop momentum", value, low=0.0, high=1.0,
                                      high_inclusive=False)
        self._allocate()

    _optional_state = ("momentum_buffer",)

    def _state_names(self) -> tuple[str, ...]:
        # the momentum buffer is kept once allocated (a schedule may set momentum to 0 and back)
        return (("square_avg",) + (("grad_avg",) if self.centered else ())
                + (("momentum_buffer",) if self._momentum > 0.0 or self.momentum_buffer is not None else ()))

    def _update(self, i: int, p: Parameter, g: Array) -> None:
        options: dict[str, Any] = dict(
            lr=self._lr, alpha=self.alpha, eps=self.eps, momentum=self._momentum, centered=self.centered,
            weight_decay=self.weight_decay, decay=p.decay,
            grad_avg=self.grad_avg[i] if self.grad_avg is not None else None,
            momentum_buffer=self.momentum_buffer[i] if self.momentum_buffer is not None else None)
        if self._fused is not None:
            fused.rmsprop_update(self._fused, p.value, g, self.square_avg[i], **options)
        else:
            rmsprop_update(p.value, g, self.square_avg[i], work=self._work[i], xp=self._xp, **options)


class Adagrad(Optimizer):
    """Adagrad: ``w -= lr_t * g / (sqrt(G) + eps)`` with ``G`` the sum of all ``g**2``.

    As torch.optim.Adagrad, at step t = 1, 2, ... (weight decay lambda only where ``decay``):

    .. math::

        g &= \\partial E/\\partial w + \\lambda w \\\\
        \\eta_t &= \\eta / (1 + (t-1)\\,\\text{lr\\_decay}) \\\\
        G &\\leftarrow G + g^2 \\qquad (G_0 = \\text{initial\\_accumulator\\_value}) \\\\
        w &\\leftarrow w - \\eta_t\\, g / (\\sqrt{G} + \\epsilon)

    Parameters
    ----------
    params : iterable of Parameter
        The parameters to optimise.
    lr : float
        Learning rate, >= 0.
    lr_decay : float
        Learning-rate decay >= 0.
    eps : float
        Added to the denominator, >= 0.
    initial_accumulator_value : float
        Starting value of G, >= 0.
    weight_decay : float
        L2 coefficient lambda >= 0 added to the gradient.

    Notes
    -----
    Weight decay only touches parameters with ``decay=True``; otherwise identical to
    ``torch.optim.Adagrad`` (dense gradients).

    Examples
    --------
    >>> import numpy as np
    >>> from ffnn.parameter import Parameter
    >>> w = Parameter(np.array([1.0]))
    >>> opt = Adagrad([w], lr=0.5, eps=0.0)
    >>> w.grad[...] = [2.0]
    >>> opt.step()
    >>> w.value                  # 1 - 0.5 * 2 / sqrt(2**2)
    array([0.5])
    """

    _hparam_names = ("lr", "lr_decay", "eps", "initial_accumulator_value", "weight_decay")
    _state_keys = ("accumulator",)

    def __init__(self, params: Iterable[Parameter], lr: float = 1e-2, lr_decay: float = 0.0,
                 eps: float = 1e-10, initial_accumulator_value: float = 0.0,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        self._configure(lr=lr, lr_decay=lr_decay, eps=eps, initial_accumulator_value=initial_accumulator_value,
                        weight_decay=weight_decay)
        self.accumulator: list[Array] = self._zeros(self.initial_accumulator_value)

    def _configure(self, *, lr: float, lr_decay: float, eps: float, initial_accumulator_value: float,
                   weight_decay: float) -> None:
        checked = (check_number("Adagrad lr_decay", lr_decay, low=0.0), check_number("Adagrad eps", eps, low=0.0),
                   check_number("Adagrad initial_accumulator_value", initial_accumulator_value, low=0.0),
                   check_number("Adagrad weight_decay", weight_decay, low=0.0))
        self.lr = lr
        self.lr_decay, self.eps, self.initial_accumulator_value, self.weight_decay = checked

    def _state_names(self) -> tuple[str, ...]:
        return ("accumulator",)

    def _update(self, i: int, p: Parameter, g: Array) -> None:
        options: dict[str, Any] = dict(step=self.step_count, lr=self._lr, lr_decay=self.lr_decay, eps=self.eps,
                                       weight_decay=self.weight_decay, decay=p.decay)
        if self._fused is not None:
            fused.adagrad_update(self._fused, p.value, g, self.accumulator[i], **options)
        else:
            adagrad_update(p.value, g, self.accumulator[i], work=self._work[i], xp=self._xp, **options)


class Adadelta(Optimizer):
    """Adadelta: ``w -= lr * sqrt(u + eps) / sqrt(s + eps) * g``, per-weight step sizes from
    running means ``s`` of ``g**2`` and ``u`` of past squared updates (Zeiler 2012).

    As torch.optim.Adadelta (weight decay lambda only where ``decay``):

    .. math::

        g &= \\partial E/\\partial w + \\lambda w \\\\
        s &\\leftarrow \\rho s + (1-\\rho) g^2 \\\\
        \\Delta &= \\sqrt{u + \\epsilon}\\,/\\sqrt{s + \\epsilon}\\; g \\\\
        u &\\leftarrow \\rho u + (1-\\rho) \\Delta^2 \\\\
        w &\\leftarrow w - \\eta \\Delta

    Parameters
    ----------
    params : iterable of Parameter
        The parameters to optimise.
    lr : float
        Scale of the step, >= 0; 1.0 is the paper's method.
    rho : float
        Decay of both running means, in [0, 1].
    eps : float
        Added inside both square roots, >= 0; it sets the size of the first steps.
    weight_decay : float
        L2 coefficient lambda >= 0 added to the gradient.

    Notes
    -----
    PyTorch's defaults (``rho=0.9, eps=1e-6``); ConvNetJS's MNIST demo uses ``rho=0.95``.
    Weight decay only touches parameters with ``decay=True``.

    Examples
    --------
    >>> import numpy as np
    >>> from ffnn.parameter import Parameter
    >>> w = Parameter(np.array([1.0]))
    >>> opt = Adadelta([w], rho=0.0, eps=1e-4)
    >>> w.grad[...] = [2.0]
    >>> opt.step()
    >>> w.value.round(6)          # 1 - sqrt(1e-4) / sqrt(4 + 1e-4) * 2
    array([0.99])
    """

    _hparam_names = ("lr", "rho", "eps", "weight_decay")
    _state_keys = ("square_avg", "acc_delta")

    def __init__(self, params: Iterable[Parameter], lr: float = 1.0, rho: float = 0.9,
                 eps: float = 1e-6, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        self._configure(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay)
        self.square_avg: list[Array] = self._zeros()
        self.acc_delta: list[Array] = self._zeros()

    def _configure(self, *, lr: float, rho: float, eps: float, weight_decay: float) -> None:
        checked = (check_number("Adadelta rho", rho, low=0.0, high=1.0), check_number("Adadelta eps", eps, low=0.0),
                   check_number("Adadelta weight_decay", weight_decay, low=0.0))
        self.lr = lr
        self.rho, self.eps, self.weight_decay = checked

    def _state_names(self) -> tuple[str, ...]:
        return ("square_avg", "acc_delta")

    def _update(self, i: int, p: Parameter, g: Array) -> None:
        options: dict[str, Any] = dict(lr=self._lr, rho=self.rho, eps=self.eps, weight_decay=self.weight_decay,
                                       decay=p.decay)
        if self._fused is not None:
            fused.adadelta_update(self._fused, p.value, g, self.square_avg[i], self.acc_delta[i], **options)
        else:
            adadelta_update(p.value, g, self.square_avg[i], self.acc_delta[i], work=self._work[i], xp=self._xp,
                            **options)


def by_name(name: str, params: Iterable[Parameter], lr: float, momentum: float = 0.9,
            weight_decay: float = 0.0) -> Optimizer:
    """The optimizer for a catalogue name (:data:`ffnn.catalog.OPTIMIZERS`); kept for
    compatibility, see :func:`ffnn.catalog.optimizer`.

    >>> from ffnn.parameter import Parameter
    >>> by_name("nesterov", [Parameter(np.zeros(2))], lr=0.1)
    SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.0)
    """
    from .catalog import optimizer
    return optimizer(name, params, lr, momentum, weight_decay)


def __getattr__(name: str) -> Any:
    # NAMES moved to the catalogue (the one table of names); kept here too.
    if name == "NAMES":
        from .catalog import OPTIMIZERS
        return OPTIMIZERS.names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
