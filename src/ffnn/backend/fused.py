"""Fused optimizer updates: one elementwise GPU kernel per update rule (CuPy).

On NumPy an update such as Adam's is a dozen passes over the arrays, run in cache-sized
chunks (:mod:`ffnn.optim`). On a GPU each pass is a kernel launch and a round trip through
device memory, so there the whole rule runs as one ``cupy.ElementwiseKernel``: every
element of ``w``, ``g`` and the state is read once and written once.

Each kernel's body is a short list of C statements in a restricted syntax,

- ``T name = expr;`` declares a local of the arrays' type ``T``;
- ``name = expr;`` writes an output (an array updated in place) or a local;
- ``expr`` uses names, ``+ - * /``, unary ``-``, parentheses, ``<`` and ``>=`` (0 or 1 in
  arithmetic) and the functions ``sqrt``, ``max`` and ``fabs``,

which is also Python once the type prefix and the ``;`` are dropped. The CuPy kernel is
built from these strings verbatim; :func:`emulate` runs the same strings on NumPy arrays
(a small translator over Python's ``ast``: nothing is ``eval``-ed), so the kernels are
tested on any machine against the NumPy update functions.

Every number that changes between steps (the learning rate, Adam's bias corrections) is a
kernel argument, so one compiled kernel serves every step. Numbers such as ``1 - beta1`` are
computed on the host in double precision and passed in, exactly as the NumPy update
functions pass a Python float to ``np.multiply``; the statements apply the operations in the
NumPy functions' order, so an emulated kernel agrees with them to the last bit (the GPU may
contract ``a * b + c`` into one fused multiply-add, a difference of one rounding).

The functions :func:`sgd_update`, :func:`adam_update`, :func:`rmsprop_update`,
:func:`adagrad_update`, :func:`adadelta_update` and :func:`flush_subnormals` take the same
arguments as their namesakes in :mod:`ffnn.optim`, plus ``run``: the kernel runner,
:func:`emulate` on NumPy arrays or the one :func:`for_backend` gives for CuPy.
"""

from __future__ import annotations

import ast
import functools
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .base import Backend
from .cupy_backend import CupyBackend

__all__ = ["Kernel", "KERNELS", "Runner", "emulate", "for_backend", "sgd_update", "adam_update",
           "rmsprop_update", "adagrad_update", "adadelta_update", "flush_subnormals"]

Runner = Callable[..., None]
"""``run(kernel_name, **arrays_and_scalars)``: runs one kernel of :data:`KERNELS` in place."""


@dataclass(frozen=True)
class Kernel:
    """One fused update: its arguments and its body (C statements, see the module's notes).

    Attributes
    ----------
    name : str
        The key in :data:`KERNELS` (``"adam_amsgrad_l2"``...).
    inputs : tuple of str
        Arrays read only (the gradient ``g``).
    scalars : tuple of str
        Numbers, converted to the arrays' dtype ``T``.
    outputs : tuple of str
        Arrays read and updated in place (the parameter ``w`` and the state).
    body : tuple of str
        The statements.
    """

    name: str
    inputs: tuple[str, ...]
    scalars: tuple[str, ...]
    outputs: tuple[str, ...]
    body: tuple[str, ...]

    @property
    def in_params(self) -> str:
        """CuPy's ``in_params``: ``"T g, T lr, ..."``."""
        return ", ".join(f"T {name}" for name in self.inputs + self.scalars)

    @property
    def out_params(self) -> str:
        """CuPy's ``out_params``: ``"T w, T v, ..."``."""
        return ", ".join(f"T {name}" for name in self.outputs)


# ---------------------------------------------------------------------------
# The kernels, composed from the rules' statements
# ---------------------------------------------------------------------------

_L2 = "T d = w * wd + g;"                 # g + lambda*w (the NumPy functions: w*lambda, then + g)
_RAW = "T d = g;"


def _kernel(name: str, l2: bool, scalars: tuple[str, ...], state: tuple[str, ...],
            body: tuple[str, ...], head: tuple[str, ...] = ()) -> Kernel:
    """A kernel over ``w``, ``g`` and ``state`` whose body sees the (decayed) gradient as ``d``."""
    return Kernel(name + ("_l2" if l2 else ""), ("g",), scalars + (("wd",) if l2 else ()),
                  ("w",) + state, head + ((_L2 if l2 else _RAW),) + body)


def _sgd(kind: str, l2: bool) -> Kernel:
    body = {"sgd": ("v = -lr * d;", "w = w + v;"),
            "sgd_momentum": ("v = v * mu - d * lr;", "w = w + v;"),
            "sgd_nesterov": ("T step = d * lr;", "v = v * mu - step;", "w = w - step + v * mu;")}[kind]
    return _kernel(kind, l2, ("lr",) if kind == "sgd" else ("lr", "mu"), ("v",), body)


def _adam(decoupled: bool, amsgrad: bool, l2: bool) -> Kernel:
    head = ("w = w * shrink;",) if decoupled else ()
    denominator = (("v_max = max(v_max, v);", "T denom = sqrt(v_max) / bc2_sqrt + eps;") if amsgrad
                   else ("T denom = sqrt(v) / bc2_sqrt + eps;",))
    body = ("m = m * beta1 + d * one_minus_beta1;",
            "v = v * beta2 + d * d * one_minus_beta2;",
            *denominator,
            "w = w - m / denom * step_size;")
    scalars = (("shrink",) if decoupled else ()) + (
        "beta1", "one_minus_beta1", "beta2", "one_minus_beta2", "bc2_sqrt", "eps", "step_size")
    name = ("adamw" if decoupled else "adam") + ("_amsgrad" if amsgrad else "")
    return _kernel(name, l2, scalars, ("m", "v") + (("v_max",) if amsgrad else ()), body, head)


def _rmsprop(centered: bool, momentum: bool, l2: bool) -> Kernel:
    root = (("grad_avg = grad_avg * alpha + d * one_minus_alpha;",
             "T r = sqrt(square_avg - grad_avg * grad_avg) + eps;") if centered
            else ("T r = sqrt(square_avg) + eps;",))
    step = (("momentum_buffer = momentum_buffer * momentum + d / r;", "w = w - momentum_buffer * lr;")
            if momentum else ("w = w - d / r * lr;",))
    body = ("square_avg = square_avg * alpha + d * d * one_minus_alpha;", *root, *step)
    scalars = ("alpha", "one_minus_alpha", "eps", "lr") + (("momentum",) if momentum else ())
    state = ("square_avg",) + (("grad_avg",) if centered else ()) + (("momentum_buffer",) if momentum else ())
    name = "rmsprop" + ("_centered" if centered else "") + ("_momentum" if momentum else "")
    return _kernel(name, l2, scalars, state, body)


def _adagrad(l2: bool) -> Kernel:
    body = ("accumulator = accumulator + d * d;", "w = w - d / (sqrt(accumulator) + eps) * clr;")
    return _kernel("adagrad", l2, ("eps", "clr"), ("accumulator",), body)


def _adadelta(l2: bool) -> Kernel:
    body = ("square_avg = square_avg * rho + d * d * one_minus_rho;",
            "T delta = d / sqrt(square_avg + eps) * sqrt(acc_delta + eps);",
            "acc_delta = acc_delta * rho + delta * delta * one_minus_rho;",
            "w = w - delta * lr;")
    return _kernel("adadelta", l2, ("rho", "one_minus_rho", "eps", "lr"), ("square_avg", "acc_delta"), body)


_FLUSH = Kernel("flush_subnormals", (), ("tiny",), ("a",), ("a = a * (fabs(a) >= tiny);",))


def _all_kernels() -> dict[str, Kernel]:
    flags = (False, True)
    kernels = [_FLUSH]
    for l2 in flags:
        kernels += [_sgd(kind, l2) for kind in ("sgd", "sgd_momentum", "sgd_nesterov")]
        kernels += [_adam(False, amsgrad, l2) for amsgrad in flags]
        kernels += [_rmsprop(centered, momentum, l2) for centered in flags for momentum in flags]
        kernels += [_adagrad(l2), _adadelta(l2)]
    kernels += [_adam(True, amsgrad, False) for amsgrad in flags]     # AdamW: decay outside g
    return {k.name: k for k in kernels}


KERNELS: dict[str, Kernel] = _all_kernels()
"""Every kernel by name: ``sgd``, ``sgd_momentum``, ``sgd_nesterov``, ``adam``,
``adam_amsgrad``, ``adamw``, ``adamw_amsgrad``, ``rmsprop[_centered][_momentum]``,
``adagrad``, ``adadelta`` (each but AdamW's also with the L2 term, suffix ``_l2``) and
``flush_subnormals``."""


# ---------------------------------------------------------------------------
# The update rules, through a runner
# ---------------------------------------------------------------------------

def _l2_term(decay: bool, weight_decay: float) -> tuple[str, dict[str, float]]:
    """The kernel-name suffix and scalar of the L2 term ``g + wd*w`` (none where it is 0 or off)."""
    return ("_l2", {"wd": weight_decay}) if decay and weight_decay != 0.0 else ("", {})


def sgd_update(run: Runner, w: Any, g: Any, v: Any, *, lr: float, momentum: float = 0.0,
               nesterov: bool = False, weight_decay: float = 0.0, decay: bool = True) -> None:
    """:func:`ffnn.optim.sgd_update` as one kernel: ``v = mu v - lr g; w = w + v``."""
    suffix, wd = _l2_term(decay, weight_decay)
    if momentum == 0.0:
        run("sgd" + suffix, w=w, g=g, v=v, lr=lr, **wd)
    else:
        run(("sgd_nesterov" if nesterov else "sgd_momentum") + suffix, w=w, g=g, v=v, lr=lr, mu=momentum, **wd)


def adam_update(run: Runner, w: Any, g: Any, m: Any, v: Any, *, step: int, lr: float,
                beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                weight_decay: float = 0.0, decay: bool = True, decoupled: bool = False,
                v_max: Any = None) -> None:
    """:func:`ffnn.optim.adam_update` (Adam, AdamW, AMSGrad) as one kernel.

    ``w -= step_size * m / (sqrt(v) / bc2_sqrt + eps)`` with ``step_size = lr / (1 - beta1**t)``
    and ``bc2_sqrt = sqrt(1 - beta2**t)`` computed here, once per step.
    """
    if decoupled and decay and weight_decay != 0.0:
        name, suffix, extra = "adamw", "", {"shrink": 1.0 - lr * weight_decay}
    else:
        name, (suffix, extra) = "adam", _l2_term(decay, weight_decay)
    name += "_amsgrad" if v_max is not None else ""
    arrays = {"w": w, "g": g, "m": m, "v": v} | ({"v_max": v_max} if v_max is not None else {})
    run(name + suffix, **arrays, **extra, beta1=beta1, one_minus_beta1=1.0 - beta1, beta2=beta2,
        one_minus_beta2=1.0 - beta2, bc2_sqrt=(1.0 - beta2 ** step) ** 0.5, eps=eps,
        step_size=lr / (1.0 - beta1 ** step))


def rmsprop_update(run: Runner, w: Any, g: Any, square_avg: Any, *, lr: float, alpha: float = 0.99,
                   eps: float = 1e-8, momentum: float = 0.0, centered: bool = False,
                   weight_decay: float = 0.0, decay: bool = True, grad_avg: Any = None,
                   momentum_buffer: Any = None) -> None:
    """:func:`ffnn.optim.rmsprop_update` (plain, centered, with momentum) as one kernel."""
    suffix, scalars = _l2_term(decay, weight_decay)
    arrays = {"w": w, "g": g, "square_avg": square_avg}
    if centered:
        arrays["grad_avg"] = grad_avg
    name = "rmsprop" + ("_centered" if centered else "")
    if momentum > 0.0:
        name += "_momentum"
        arrays["momentum_buffer"] = momentum_buffer
        scalars["momentum"] = momentum
    run(name + suffix, **arrays, **scalars, alpha=alpha, one_minus_alpha=1.0 - alpha, eps=eps, lr=lr)


def adagrad_update(run: Runner, w: Any, g: Any, accumulator: Any, *, step: int, lr: float,
                   lr_decay: float = 0.0, eps: float = 1e-10, weight_decay: float = 0.0,
                   decay: bool = True) -> None:
    """:func:`ffnn.optim.adagrad_update` as one kernel (``clr = lr / (1 + (t-1) lr_decay)`` here)."""
    suffix, wd = _l2_term(decay, weight_decay)
    run("adagrad" + suffix, w=w, g=g, accumulator=accumulator, **wd, eps=eps,
        clr=lr / (1.0 + (step - 1) * lr_decay))


def adadelta_update(run: Runner, w: Any, g: Any, square_avg: Any, acc_delta: Any, *, lr: float = 1.0,
                    rho: float = 0.9, eps: float = 1e-6, weight_decay: float = 0.0,
                    decay: bool = True) -> None:
    """:func:`ffnn.optim.adadelta_update` as one kernel."""
    suffix, wd = _l2_term(decay, weight_decay)
    run("adadelta" + suffix, w=w, g=g, square_avg=square_avg, acc_delta=acc_delta, **wd, rho=rho,
        one_minus_rho=1.0 - rho, eps=eps, lr=lr)


def flush_subnormals(run: Runner, a: Any) -> None:
    """:func:`ffnn.optim.flush_subnormals` as one kernel: ``a <- a [|a| >= tiny]``."""
    run("flush_subnormals", a=a, tiny=float(np.finfo(a.dtype).tiny))


# ---------------------------------------------------------------------------
# Runners: the emulator (NumPy) and CuPy
# ---------------------------------------------------------------------------

def _arguments(kernel: Kernel, arguments: dict[str, Any]) -> tuple[list[Any], np.dtype]:
    """The kernel's arguments in declaration order (scalars in the arrays' dtype) and that dtype."""
    declared = kernel.inputs + kernel.scalars + kernel.outputs
    missing = [name for name in declared if name not in arguments]
    unknown = sorted(set(arguments) - set(declared))
    if missing or unknown:
        raise TypeError(f"kernel {kernel.name!r} takes {', '.join(declared)}; "
                        f"missing {missing}, unknown {unknown}")
    arrays = kernel.inputs + kernel.outputs
    dtype = np.dtype(arguments[kernel.outputs[0]].dtype)
    for name in arrays:
        a = arguments[name]
        if a.dtype != dtype or a.shape != arguments[kernel.outputs[0]].shape:
            raise TypeError(f"kernel {kernel.name!r}: {name} is {a.dtype} {tuple(a.shape)}, expected "
                            f"{dtype} {tuple(arguments[kernel.outputs[0]].shape)} like {kernel.outputs[0]}")
    scalar = dtype.type
    return [scalar(arguments[n]) if n in kernel.scalars else arguments[n] for n in declared], dtype


_STATEMENT = re.compile(r"(T )?([a-z][a-z0-9_]*) = ([^;]+);")
_OPERATORS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_COMPARISONS: dict[type, Callable[[Any, Any], Any]] = {ast.Lt: operator.lt, ast.GtE: operator.ge}
_FUNCTIONS: dict[str, Callable[..., Any]] = {"sqrt": np.sqrt, "max": np.maximum, "fabs": np.abs}


@functools.cache
def _parse(statement: str) -> tuple[bool, str, ast.expr]:
    """``(declares, target, expression)`` of one statement of the restricted syntax."""
    match = _STATEMENT.fullmatch(statement)
    if match is None:
        raise ValueError(f"not a kernel statement ('T name = expr;' or 'name = expr;'): {statement!r}")
    return match.group(1) is not None, match.group(2), ast.parse(match.group(3), mode="eval").body


def _evaluate(node: ast.expr, env: dict[str, Any]) -> Any:
    """The value of a restricted expression, with NumPy's elementwise functions."""
    if isinstance(node, ast.Name):
        return env[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_evaluate(node.left, env), _evaluate(node.right, env))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_evaluate(node.operand, env)
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARISONS:
        return _COMPARISONS[type(node.ops[0])](_evaluate(node.left, env), _evaluate(node.comparators[0], env))
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS
            and not node.keywords):
        return _FUNCTIONS[node.func.id](*(_evaluate(arg, env) for arg in node.args))
    raise ValueError(f"not in the kernels' restricted syntax: {ast.unparse(node)!r}")


def emulate(kernel_name: str, **arguments: Any) -> None:
    """Run kernel ``kernel_name`` of :data:`KERNELS` on NumPy arrays, in place.

    The statements run in order, each over whole arrays (elementwise, so the same as the
    GPU's one thread per element); scalars are converted to the arrays' dtype as CuPy
    converts them. ``max`` is :func:`numpy.maximum` (it propagates NaN; CUDA's ``max``
    returns the other operand).

    Examples
    --------
    >>> w, g, v = np.array([1.0, 2.0]), np.array([0.5, -1.0]), np.zeros(2)
    >>> emulate("sgd_momentum", w=w, g=g, v=v, lr=0.1, mu=0.9)
    >>> w, v
    (array([0.95, 2.1 ]), array([-0.05,  0.1 ]))
    """
    kernel = KERNELS[kernel_name]
    values, _ = _arguments(kernel, arguments)
    env = dict(zip(kernel.inputs + kernel.scalars + kernel.outputs, values, strict=True))
    for statement in kernel.body:
        declares, target, expression = _parse(statement)
        value = _evaluate(expression, env)
        if declares:
            env[target] = np.array(value, copy=True)     # a C local is a copy, never an alias
        else:
            env[target][...] = value


class _CupyRunner:
    """Runs :data:`KERNELS` on CuPy arrays, on the arrays' device; each kernel is built at its
    first use, once per dtype."""

    def __init__(self, cupy: Any) -> None:
        self._cupy = cupy
        self._built: dict[tuple[str, np.dtype], Any] = {}

    def __call__(self, kernel_name: str, **arguments: Any) -> None:
        kernel = KERNELS[kernel_name]
        values, dtype = _arguments(kernel, arguments)
        built = self._built.get((kernel_name, dtype))
        if built is None:
            built = self._cupy.ElementwiseKernel(kernel.in_params, kernel.out_params, "\n".join(kernel.body),
                                                 name=f"ffnn_{kernel_name}")
            self._built[kernel_name, dtype] = built
        with arguments[kernel.outputs[0]].device:
            built(*values)


@functools.cache
def _cupy_runner(cupy: Any) -> _CupyRunner:
    return _CupyRunner(cupy)


def for_backend(backend: Backend) -> Runner | None:
    """The fused-kernel runner for ``backend``, or None where the updates run through ``xp``.

    Only CuPy has fused kernels (a deferred backend: every pass over device memory costs).
    """
    if backend.deferred and isinstance(backend, CupyBackend):
        return _cupy_runner(backend.cupy)
    return None
