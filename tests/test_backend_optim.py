"""The optimizers on every backend, and the fused GPU kernels.

- On PyTorch tensors and on ``array_api_strict`` arrays (its second device, so an array made
  on the default device by mistake is an error) every optimizer and variant follows the
  NumPy trajectory (float64 to 1e-12, float32 to 1e-6).
- ``state_dict`` is NumPy whatever the backend: a checkpoint moves between backends and the
  run continues identically.
- The CuPy kernels of :mod:`ffnn.backend.fused`, run by the emulator on NumPy arrays, equal
  the NumPy update functions bit for bit (the same operations in the same order), alone and
  inside the optimizers (the emulator standing in for CuPy).
- Mixed backends and parameters moved after the optimizer was built are clear errors.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import ffnn.backend
from ffnn import optim
from ffnn.backend import fused
from ffnn.errors import ConfigError
from ffnn.parameter import Parameter

SPECS = ["torch", "array-api-strict:device1"]
REQUIRES = {"torch": ("torch", "array_api_compat"), "array-api-strict:device1": ("array_api_strict",),
            "array-api-strict": ("array_api_strict",)}
TOLERANCE = {np.float32: 1e-6, np.float64: 1e-12}

VARIANTS: dict[str, Callable[[list[Parameter]], optim.Optimizer]] = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.1),
    "sgd-decay": lambda ps: optim.SGD(ps, lr=0.1, weight_decay=0.05),
    "sgd-momentum": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
    "sgd-momentum-decay": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.05),
    "sgd-nesterov": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    "sgd-nesterov-decay": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.05),
    "adam": lambda ps: optim.Adam(ps, lr=0.01),
    "adam-decay": lambda ps: optim.Adam(ps, lr=0.01, weight_decay=0.1),
    "adam-amsgrad": lambda ps: optim.Adam(ps, lr=0.01, amsgrad=True),
    "adam-amsgrad-decay": lambda ps: optim.Adam(ps, lr=0.01, betas=(0.8, 0.9), weight_decay=0.1, amsgrad=True),
    "adamw": lambda ps: optim.AdamW(ps, lr=0.01, weight_decay=0.1),
    "adamw-amsgrad": lambda ps: optim.AdamW(ps, lr=0.01, weight_decay=0.1, amsgrad=True),
    "rmsprop": lambda ps: optim.RMSprop(ps, lr=0.01),
    "rmsprop-decay": lambda ps: optim.RMSprop(ps, lr=0.01, weight_decay=0.1),
    "rmsprop-centered": lambda ps: optim.RMSprop(ps, lr=0.01, alpha=0.9, centered=True),
    "rmsprop-momentum": lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.9),
    "rmsprop-centered-momentum-decay": lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True,
                                                                weight_decay=0.1),
    "adagrad": lambda ps: optim.Adagrad(ps, lr=0.1),
    "adagrad-decay": lambda ps: optim.Adagrad(ps, lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1,
                                              weight_decay=0.1),
    "adadelta": lambda ps: optim.Adadelta(ps),
    "adadelta-decay": lambda ps: optim.Adadelta(ps, lr=0.5, rho=0.95, weight_decay=0.1),
}
"""Every optimizer class with each hyper-parameter that changes its arithmetic."""


def _backend(spec: str) -> ffnn.backend.Backend:
    for module in REQUIRES[spec]:
        pytest.importorskip(module)
    return ffnn.backend.get(spec)


def _params(backend: ffnn.backend.Backend, dtype: type, seed: int = 0) -> list[Parameter]:
    """A weight (takes weight decay) and a bias (does not), on ``backend``."""
    rng = np.random.default_rng(seed)
    return [Parameter(backend.asarray(rng.normal(size=(3, 4)).astype(dtype)), name="weight"),
            Parameter(backend.asarray(rng.normal(size=4).astype(dtype)), name="bias", decay=False)]


def _gradients(steps: int, dtype: type, seed: int = 1) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [[rng.normal(size=(3, 4)).astype(dtype), rng.normal(size=4).astype(dtype)] for _ in range(steps)]


def _train(opt: optim.Optimizer, gradients: list[list[np.ndarray]]) -> None:
    """Step ``opt`` with ``gradients`` written into each ``p.grad`` on the optimizer's backend."""
    for grads in gradients:
        for p, g in zip(opt.params, grads, strict=True):
            p.grad = opt.backend.asarray(g)
        opt.step()


def _host(opt: optim.Optimizer) -> list[np.ndarray]:
    """The parameter values and every state array, as NumPy arrays."""
    state = opt.state_dict()
    return ([opt.backend.to_numpy(p.value) for p in opt.params]
            + [a for name in opt._state_names() for a in state[name]])


def _assert_close(got: list[np.ndarray], expected: list[np.ndarray], dtype: type) -> None:
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert g.dtype == e.dtype == np.dtype(dtype)
        np.testing.assert_allclose(g, e, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])


# ---------------------------------------------------------------------------
# (a) every backend follows the NumPy trajectory
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_ten_steps_on_a_backend_follow_the_numpy_trajectory(spec, variant, dtype):
    backend = _backend(spec)
    gradients = _gradients(10, dtype)
    reference = VARIANTS[variant](_params(ffnn.backend.NUMPY, dtype))
    opt = VARIANTS[variant](_params(backend, dtype))
    assert opt.backend is backend and reference.backend is ffnn.backend.NUMPY
    _train(reference, gradients)
    _train(opt, gradients)
    for p in opt.params:
        assert type(p.value) is backend.array_type and backend.owns(p.value)
    for name in opt._state_names():
        assert all(type(a) is backend.array_type and backend.owns(a) for a in getattr(opt, name))
    _assert_close(_host(opt), _host(reference), dtype)


@pytest.mark.parametrize("spec", SPECS)
def test_a_momentum_switched_on_later_allocates_its_buffer_on_the_backend(spec, dtype):
    backend = _backend(spec)
    gradients = _gradients(6, dtype)
    runs = []
    for b in (ffnn.backend.NUMPY, backend):
        opt = optim.RMSprop(_params(b, dtype), lr=0.01)
        _train(opt, gradients[:3])
        opt.momentum = 0.9                         # a momentum schedule: the buffer appears now
        _train(opt, gradients[3:])
        runs.append(_host(opt))
    assert type(opt.momentum_buffer[0]) is backend.array_type
    _assert_close(runs[1], runs[0], dtype)


@pytest.mark.parametrize("spec", SPECS)
def test_subnormal_flush_on_a_backend(spec, dtype):
    backend = _backend(spec)
    tiny = np.finfo(dtype).tiny
    values = np.array([tiny / 4, tiny, -tiny / 2, 1.0, -0.0, np.inf, np.nan], dtype=dtype)
    a = backend.asarray(values)
    optim.flush_subnormals(a, backend.asarray(np.empty_like(values)), xp=backend.xp)
    expected = values.copy()
    optim.flush_subnormals(expected, np.empty_like(values))
    np.testing.assert_array_equal(backend.to_numpy(a), expected)
    np.testing.assert_array_equal(expected, np.array([0.0, tiny, 0.0, 1.0, 0.0, np.inf, np.nan], dtype))


@pytest.mark.parametrize("spec", SPECS)
def test_the_periodic_flush_runs_on_the_backend(spec):
    backend = _backend(spec)
    gradients = _gradients(optim._FLUSH_EVERY, np.float32)
    gradients[0] = [np.full_like(g, 1e-30) for g in gradients[0]]     # velocities decay into subnormals
    runs = []
    for b in (ffnn.backend.NUMPY, backend):
        opt = optim.SGD(_params(b, np.float32), lr=1.0, momentum=0.1)
        _train(opt, gradients[:1] + [[np.zeros_like(g) for g in gradients[0]]] * (optim._FLUSH_EVERY - 1))
        runs.append(_host(opt))
    assert not any(a.any() for a in runs[0][2:])                          # flushed to exact zeros
    _assert_close(runs[1], runs[0], np.float32)


@pytest.mark.parametrize("spec", SPECS)
def test_zero_grad_on_a_backend(spec):
    backend = _backend(spec)
    params = _params(backend, np.float64)
    for p in params:
        p.grad = backend.asarray(np.ones(tuple(p.shape)))
    grads = [p.grad for p in params]
    optim.SGD(params, lr=0.1).zero_grad()
    assert all(p.grad is g and not backend.to_numpy(g).any() for p, g in zip(params, grads, strict=True))


# ---------------------------------------------------------------------------
# (b) checkpoints are NumPy and move between backends
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("variant", ["sgd-nesterov-decay", "adam-amsgrad-decay", "rmsprop-centered-momentum-decay",
                                     "adagrad-decay", "adadelta-decay"])
@pytest.mark.parametrize("direction", ["torch-to-numpy", "numpy-to-torch"])
def test_state_dict_moves_between_torch_and_numpy(variant, direction):
    torch = _backend("torch")
    source_backend, target_backend = ((torch, ffnn.backend.NUMPY) if direction == "torch-to-numpy"
                                      else (ffnn.backend.NUMPY, torch))
    gradients = _gradients(8, np.float64)
    source = VARIANTS[variant](_params(source_backend, np.float64))
    _train(source, gradients[:4])
    state = source.state_dict()
    arrays = [a for value in state.values() if isinstance(value, list) for a in value]
    assert arrays and all(type(a) is np.ndarray for a in arrays)
    target_params = _params(target_backend, np.float64)
    for p, q in zip(target_params, source.params, strict=True):
        target_backend.copy_into(p.value, source_backend.to_numpy(q.value))
    target = VARIANTS[variant](target_params)
    target.load_state_dict(state)
    assert target.step_count == 4
    for name in target._state_names():
        assert all(type(a) is target_backend.array_type for a in getattr(target, name))
    _train(source, gradients[4:])
    _train(target, gradients[4:])
    _assert_close(_host(target), _host(source), np.float64)


def test_state_dict_copies_the_numpy_state():
    opt = VARIANTS["adam"](_params(ffnn.backend.NUMPY, np.float64))
    _train(opt, _gradients(1, np.float64))
    saved = opt.state_dict()
    assert saved["exp_avg"][0] is not opt.exp_avg[0]
    np.testing.assert_array_equal(saved["exp_avg"][0], opt.exp_avg[0])


@pytest.mark.parametrize("spec", ["numpy", *SPECS])
@pytest.mark.parametrize("duplicate", ["pickle", "deepcopy"])
def test_a_copied_optimizer_rebuilds_its_namespace_and_scratch(spec, duplicate):
    import copy
    import pickle
    backend = _backend(spec) if spec != "numpy" else ffnn.backend.NUMPY
    gradients = _gradients(4, np.float64)
    opt = VARIANTS["adam-amsgrad-decay"](_params(backend, np.float64))
    _train(opt, gradients[:2])
    twin = pickle.loads(pickle.dumps(opt)) if duplicate == "pickle" else copy.deepcopy(opt)
    assert twin.backend is backend and twin._xp is backend.xp
    assert twin._work[0][0] is not opt._work[0][0]
    _train(opt, gradients[2:])
    _train(twin, gradients[2:])
    np.testing.assert_array_equal(np.concatenate([a.ravel() for a in _host(twin)]),
                                  np.concatenate([a.ravel() for a in _host(opt)]))


@pytest.mark.parametrize("variant", ["sgd-momentum", "adam-amsgrad", "rmsprop-centered-momentum-decay"])
def test_optimizer_to_moves_the_state_and_continues(variant):
    torch = _backend("torch")
    gradients = _gradients(8, np.float64)
    reference = VARIANTS[variant](_params(ffnn.backend.NUMPY, np.float64))
    _train(reference, gradients)
    params = _params(ffnn.backend.NUMPY, np.float64)
    opt = VARIANTS[variant](params)
    _train(opt, gradients[:4])
    for p in params:                                   # what model.to("torch") does to them
        p.value, p.grad = torch.asarray(p.value), torch.asarray(p.grad)
    assert opt.to("torch") is opt and opt.backend is torch
    state = [getattr(opt, name) for name in opt._state_names()]
    assert all(type(a) is torch.array_type for arrays in state for a in arrays)
    assert opt.to(torch) is opt
    assert [getattr(opt, name) for name in opt._state_names()] == state           # a no-op: the same arrays
    _train(opt, gradients[4:])
    _assert_close(_host(opt), _host(reference), np.float64)


# ---------------------------------------------------------------------------
# (c) the fused kernels, emulated, are the NumPy update functions
# ---------------------------------------------------------------------------

def _random_state(rng: np.random.Generator, dtype: type, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    # running squares positive, and above the squared running mean (centered RMSprop's variance)
    scale = {"grad_avg": 0.1}
    return {name: (0.5 + rng.random(64) if name in ("v", "v_max", "square_avg", "acc_delta", "accumulator")
                   else scale.get(name, 1.0) * rng.normal(size=64)).astype(dtype) for name in names}


RULES: dict[str, tuple[tuple[str, ...], list[dict[str, Any]]]] = {
    "sgd": (("v",), [dict(lr=0.1), dict(lr=0.1, momentum=0.9), dict(lr=0.1, momentum=0.9, nesterov=True),
                     dict(lr=0.1, momentum=0.9, weight_decay=0.05), dict(lr=0.1, weight_decay=0.05, decay=False),
                     dict(lr=0.3, momentum=0.5, nesterov=True, weight_decay=0.05)]),
    "adam": (("m", "v"), [dict(lr=0.01), dict(lr=0.01, weight_decay=0.1), dict(lr=0.01, amsgrad=True),
                          dict(lr=0.01, beta1=0.8, beta2=0.95, eps=1e-6, weight_decay=0.1, amsgrad=True),
                          dict(lr=0.01, weight_decay=0.1, decoupled=True),
                          dict(lr=0.01, weight_decay=0.1, decoupled=True, amsgrad=True),
                          dict(lr=0.01, weight_decay=0.1, decoupled=True, decay=False)]),
    "rmsprop": (("square_avg",), [dict(lr=0.01), dict(lr=0.01, weight_decay=0.1), dict(lr=0.01, centered=True),
                                  dict(lr=0.01, momentum=0.9), dict(lr=0.01, alpha=0.9, centered=True, momentum=0.5,
                                                                     weight_decay=0.1)]),
    "adagrad": (("accumulator",), [dict(lr=0.1), dict(lr=0.1, lr_decay=0.01, eps=1e-6, weight_decay=0.1)]),
    "adadelta": (("square_avg", "acc_delta"), [dict(), dict(lr=0.5, rho=0.95, eps=1e-4, weight_decay=0.1)]),
}


def _rule_cases() -> list[Any]:
    return [pytest.param(rule, options, id=f"{rule}-{'-'.join(f'{k}={v}' for k, v in options.items()) or 'defaults'}")
            for rule, (_, variants) in RULES.items() for options in variants]


def _apply(module: Any, rule: str, arrays: dict[str, np.ndarray], options: dict[str, Any], step: int,
           **extra: Any) -> None:
    """One step of ``rule`` with ``module``'s update function (ffnn.optim or ffnn.backend.fused)."""
    options = dict(options)
    amsgrad = options.pop("amsgrad", False)
    state = {k: v for k, v in arrays.items() if k not in ("w", "g", "v_max", "grad_avg", "momentum_buffer")}
    if rule == "adam":
        options.update(step=step, v_max=arrays["v_max"] if amsgrad else None)
    if rule == "adagrad":
        options["step"] = step
    if rule == "rmsprop":
        options.update(grad_avg=arrays["grad_avg"], momentum_buffer=arrays["momentum_buffer"])
    getattr(module, f"{rule}_update")(*extra.values(), arrays["w"], arrays["g"], *state.values(), **options)


@pytest.mark.parametrize("rule, options", _rule_cases())
def test_emulated_kernel_equals_the_numpy_update_function(rule, options, dtype):
    rng = np.random.default_rng(3)
    names = ("w", "g") + RULES[rule][0] + (("v_max",) if rule == "adam" else ()) + (
        ("grad_avg", "momentum_buffer") if rule == "rmsprop" else ())
    expected = _random_state(rng, dtype, names)
    got = {k: v.copy() for k, v in expected.items()}
    for step in range(1, 6):                                   # the bias corrections change every step
        expected["g"][...] = got["g"][...] = rng.normal(size=64).astype(dtype)
        _apply(optim, rule, expected, options, step)
        _apply(fused, rule, got, options, step, run=fused.emulate)
        for name in names:
            np.testing.assert_array_equal(got[name], expected[name], err_msg=f"{name} at step {step}")
    assert all(a.dtype == np.dtype(dtype) for a in got.values())


def test_emulated_flush_equals_flush_subnormals(dtype):
    info = np.finfo(dtype)
    expected = np.array([info.tiny / 2, -info.smallest_subnormal, info.tiny, -info.tiny, 0.0, -0.0, 1.5,
                         np.inf, -np.inf, np.nan] * 10, dtype=dtype)
    got = expected.copy()
    optim.flush_subnormals(expected, np.empty_like(expected))
    fused.flush_subnormals(fused.emulate, got)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(expected))


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_optimizers_through_the_emulated_kernels_equal_numpy(variant, dtype, monkeypatch):
    gradients = _gradients(optim._FLUSH_EVERY + 2, dtype)     # the periodic flush runs once
    reference = VARIANTS[variant](_params(ffnn.backend.NUMPY, dtype))
    monkeypatch.setattr(fused, "for_backend", lambda backend: fused.emulate)      # the emulator plays CuPy
    opt = VARIANTS[variant](_params(ffnn.backend.NUMPY, dtype))
    assert opt._fused is fused.emulate and opt._work == [(), ()]                   # no scratch space
    _train(reference, gradients)
    _train(opt, gradients)
    for got, expected in zip(_host(opt), _host(reference), strict=True):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("name", sorted(fused.KERNELS))
def test_kernel_bodies_are_c_and_python_of_the_restricted_syntax(name):
    import ast
    kernel = fused.KERNELS[name]
    assert kernel.in_params == ", ".join(f"T {n}" for n in kernel.inputs + kernel.scalars)
    assert kernel.out_params == ", ".join(f"T {n}" for n in kernel.outputs)
    known, written, used = set(kernel.inputs + kernel.scalars + kernel.outputs), set(), set()
    for statement in kernel.body:
        assert statement.endswith(";") and statement.count(";") == 1
        python = ast.parse(statement.removeprefix("T ").removesuffix(";"))    # valid Python without them
        (assign,) = python.body
        read = {n.id for n in ast.walk(assign.value) if isinstance(n, ast.Name)} - {"sqrt", "max", "fabs"}
        assert read <= known, f"{statement!r} reads {read - known} before it is declared"
        used |= read
        target = assign.targets[0].id
        if statement.startswith("T "):
            assert target not in known                        # a new local, not a redeclaration
            known.add(target)
        else:
            assert target in kernel.outputs
            written.add(target)
    assert written == set(kernel.outputs)                     # every output is written
    assert set(kernel.inputs + kernel.scalars) <= used        # and every argument read


def test_the_restricted_syntax_refuses_anything_else():
    with pytest.raises(ValueError, match="not a kernel statement"):
        fused._parse("w = w + 1")                             # no ';'
    with pytest.raises(ValueError, match="restricted syntax"):
        fused._evaluate(fused._parse("T x = w ** 2;")[2], {"w": np.ones(2)})
    with pytest.raises(ValueError, match="restricted syntax"):
        fused._evaluate(fused._parse("T x = exp(w);")[2], {"w": np.ones(2)})


def test_emulate_checks_its_arguments():
    w, g, v = np.zeros(3), np.zeros(3), np.zeros(3)
    with pytest.raises(TypeError, match=r"missing \['v'\], unknown \['mu'\]"):
        fused.emulate("sgd", w=w, g=g, lr=0.1, mu=0.9)
    with pytest.raises(TypeError, match="g is float32"):
        fused.emulate("sgd", w=w, g=g.astype(np.float32), v=v, lr=0.1)


class _DeviceArray(np.ndarray):
    """A NumPy array with a CuPy-like ``device`` context."""

    device = contextlib.nullcontext()


class _FakeCupy:
    """Enough of CuPy to check the runner: each ElementwiseKernel names its positional arguments
    from its parameter strings and runs the emulator."""

    def __init__(self) -> None:
        self.built: list[tuple[str, str, str, str]] = []

    def ElementwiseKernel(self, in_params: str, out_params: str, body: str, name: str) -> Any:  # noqa: N802
        self.built.append((in_params, out_params, body, name))
        names = [p.split()[1] for p in f"{in_params}, {out_params}".split(", ")]

        def call(*args: Any) -> None:
            assert all(type(a) is not float for a in args)          # scalars arrive in the arrays' dtype
            fused.emulate(name.removeprefix("ffnn_"), **dict(zip(names, args, strict=True)))
        return call


def test_cupy_runner_builds_each_kernel_once_per_dtype_and_passes_arguments_in_order(dtype):
    cupy = _FakeCupy()
    run = fused._CupyRunner(cupy)
    rng = np.random.default_rng(4)
    expected = _random_state(rng, dtype, ("w", "g", "m", "v", "v_max"))
    got = {k: v.copy().view(_DeviceArray) for k, v in expected.items()}
    for step in (1, 2, 3):
        options = dict(lr=0.01, weight_decay=0.1, amsgrad=True)
        _apply(optim, "adam", expected, options, step)
        _apply(fused, "adam", got, options, step, run=run)
    for name, a in expected.items():
        np.testing.assert_array_equal(np.asarray(got[name]), a)
    kernel = fused.KERNELS["adam_amsgrad_l2"]
    assert cupy.built == [(kernel.in_params, kernel.out_params, "\n".join(kernel.body), "ffnn_adam_amsgrad_l2")]


@pytest.mark.parametrize("spec", ["numpy", *SPECS])
def test_only_cupy_has_fused_kernels(spec):
    backend = _backend(spec) if spec != "numpy" else ffnn.backend.NUMPY
    assert fused.for_backend(backend) is None
    assert optim.Adam(_params(backend, np.float32))._fused is None


# ---------------------------------------------------------------------------
# (d) the errors
# ---------------------------------------------------------------------------

def test_parameters_of_two_backends_are_refused():
    torch = _backend("torch")
    params = [_params(ffnn.backend.NUMPY, np.float64)[0], _params(torch, np.float64)[1]]
    with pytest.raises(ConfigError) as info:
        optim.Adam(params)
    assert str(info.value) == ("Adam: parameter 'bias' at position 1 is a torch:cpu array but parameter 'weight' "
                               "at position 0 is a numpy array; an optimizer's parameters share one backend "
                               "(model.to(...) moves them all)")


def test_a_non_floating_backend_array_is_named():
    torch = _backend("torch")
    with pytest.raises(ConfigError) as info:
        optim.SGD([Parameter(torch.asarray(np.zeros(2, dtype=np.int64)), name="w")], lr=0.1)
    assert str(info.value) == ("SGD: parameter 'w' at position 0 must hold a floating-point torch:cpu array, "
                               "got dtype torch.int64")


def test_parameters_moved_after_the_optimizer_was_built_fail_clearly():
    torch = _backend("torch")
    params = _params(ffnn.backend.NUMPY, np.float64)
    opt = optim.SGD(params, lr=0.1, momentum=0.9)
    for p in params:
        p.value, p.grad = torch.asarray(p.value), torch.asarray(p.grad)
    with pytest.raises(ConfigError) as info:
        opt.step()
    assert str(info.value) == ("SGD: the parameters are now torch:cpu arrays, but the optimizer was built on "
                               "numpy; call optimizer.to('torch:cpu') after model.to(...), or build the "
                               "optimizer after model.to(...)")
    assert opt.step_count == 0
    opt.to("torch")
    opt.step()
    assert opt.step_count == 1


def test_parameters_moved_to_another_device_of_the_same_library_fail_clearly():
    device1 = _backend("array-api-strict:device1")
    default = _backend("array-api-strict")
    params = _params(default, np.float64)
    opt = optim.Adam(params)
    for p in params:
        p.value, p.grad = device1.asarray(default.to_numpy(p.value)), device1.asarray(default.to_numpy(p.grad))
    with pytest.raises(ConfigError, match=r"now array-api-strict:device1 arrays, but the optimizer was built on "
                                          r"array-api-strict; call optimizer.to\('array-api-strict:device1'\)"):
        opt.step()
