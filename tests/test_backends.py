"""The backend matrix: every layer, loss and the engine on PyTorch (CPU tensors) and on
array_api_strict's second fake device give NumPy's numbers.

Each test runs the same computation on the NumPy backend and on a backend under test and
compares the two, float64 to ~1e-12 and float32 to ~1e-5 (training runs: 1e-10, the rounding
of the two libraries' matrix products adds up over the steps). ``"array-api-strict:device1"``
catches mixed devices: an array created on array_api_strict's default device by mistake cannot
be combined with the model's arrays, and cannot be read by NumPy either.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the torch backend needs PyTorch")
array_api_strict = pytest.importorskip("array_api_strict", reason="the matrix runs on array_api_strict's device1")

import ffnn  # noqa: E402
from ffnn import backend as ffnn_backend  # noqa: E402
from ffnn import layers, losses, optim  # noqa: E402
from ffnn.augment import RandomShift  # noqa: E402
from ffnn.callbacks import EarlyStopping, L1Penalty  # noqa: E402
from ffnn.errors import ConfigError, ShapeError, TrainingDivergedError  # noqa: E402
from reference import compare_with_torch, to_torch  # noqa: E402
from test_layers import CASES, _torch_cases  # noqa: E402
from test_losses import LOSS_CASES  # noqa: E402

BACKENDS = ["torch", "array-api-strict:device1"]
backends = pytest.mark.parametrize("spec", BACKENDS)


# ----------------------------------------------------------------------------- helpers
def _tol(dtype: Any) -> dict[str, float]:
    """The tolerances of one computation compared across backends."""
    return dict(rtol=1e-12, atol=1e-12) if np.dtype(dtype) == np.float64 else dict(rtol=1e-5, atol=1e-6)


def _host(b: ffnn_backend.Backend, a: Any, what: str, dtype: Any = None) -> np.ndarray:
    """``a`` read back from ``b`` after checking it is one of ``b``'s arrays on its device
    (and of ``dtype``): a NumPy array or one on another device is named, not compared."""
    assert type(a) is b.array_type, f"{what}: a {type(a).__name__}, expected a {b.array_type.__name__} of {b.name}"
    assert b.owns(a), f"{what}: on {a.device}, not on the {b.name} device"
    if dtype is not None:
        assert b.numpy_dtype(a.dtype) == np.dtype(dtype), f"{what}: dtype {a.dtype}, expected {np.dtype(dtype)}"
    return b.to_numpy(a)


def _close(b: ffnn_backend.Backend, got: Any, expected: np.ndarray, what: str, dtype: Any) -> None:
    np.testing.assert_allclose(_host(b, got, what, dtype), expected, **_tol(dtype), err_msg=what)


def _make_layer(case: Any, dtype: Any) -> layers.Layer:
    """The layer of a ``test_layers`` case in ``dtype`` (PReLU with distinct slopes, so a mixed-up
    index shows)."""
    kwargs = dict(case.kwargs)
    if "dtype" in inspect.signature(case.cls.__init__).parameters:
        kwargs["dtype"] = dtype
    layer = case.cls(**kwargs)
    if isinstance(layer, layers.PReLU):
        layer.slope.value[...] = np.linspace(0.05, 0.4, layer.slope.value.size)
    return layer


class _HostParameter:
    """A backend parameter seen from the host, for ``compare_with_torch`` (which reads NumPy)."""

    def __init__(self, b: ffnn_backend.Backend, p: ffnn.Parameter) -> None:
        self._b, self._p = b, p

    @property
    def value(self) -> np.ndarray:
        return self._b.to_numpy(self._p.value)

    @property
    def grad(self) -> np.ndarray:
        return self._b.to_numpy(self._p.grad)


def _state_equal(a: dict[str, np.ndarray], b: dict[str, np.ndarray], **tol: float) -> None:
    assert list(a) == list(b)
    for key in a:
        assert isinstance(a[key], np.ndarray) and isinstance(b[key], np.ndarray), key
        if tol:
            np.testing.assert_allclose(a[key], b[key], err_msg=key, **tol)
        else:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


# ----------------------------------------------------------------------------- 1. layers
@backends
@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_layer_equals_numpy_in_train_and_eval_mode(case, spec, dtype):
    """Forward, dE/dx and every parameter gradient, twice in training mode (Dropout and RReLU
    draw new masks: the same ones, drawn on the host) and once in evaluation mode (BatchNorm
    with the running statistics both have gathered), equal NumPy's; outputs are the backend's
    arrays, on its device, in the layer's dtype; BatchNorm's running statistics agree."""
    b = ffnn_backend.get(spec)
    ref, dev = _make_layer(case, dtype), _make_layer(case, dtype).to(spec)
    assert dev.backend is b
    gen = np.random.default_rng(0)
    for step, training in (("train 1", True), ("train 2", True), ("eval", False)):
        ref.train(training)
        dev.train(training)
        x = gen.standard_normal((7, case.in_features)).astype(dtype)
        y_ref = np.array(ref.forward(x))
        y = dev.forward(b.asarray(x))
        assert tuple(y.shape) == (7, case.out_features)
        _close(b, y, y_ref, f"{case.id} {step}: forward", dtype)
        g = gen.standard_normal(y_ref.shape).astype(dtype)
        dx_ref = np.array(ref.backward(g))
        _close(b, dev.backward(b.asarray(g)), dx_ref, f"{case.id} {step}: dE/dx", dtype)
        for p, q in zip(dev.parameters(), ref.parameters(), strict=True):
            _close(b, p.value, q.value, f"{case.id} {step}: {p.name}", dtype)
            _close(b, p.grad, q.grad, f"{case.id} {step}: d{p.name}", dtype)
        assert dev.extra_state().get("rng") == ref.extra_state().get("rng")   # Dropout, RReLU: in step
        if isinstance(ref, layers.BatchNorm):
            for name in ("running_mean", "running_var"):
                _close(b, getattr(dev, name), getattr(ref, name), f"{case.id} {step}: {name}", dtype)


@backends
@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_layer_contract_on_the_backend(case, spec, dtype):
    """The checks of ``layer_contract`` that concern arrays, on backend arrays: gradients are
    replaced, not accumulated; evaluation is deterministic; the buffers NumPy reuses between
    calls are reused on the backend too; backward before forward is a ShapeError naming it;
    ``to`` is idempotent and the layer's config and parameter count do not change."""
    b = ffnn_backend.get(spec)
    ref, dev = _make_layer(case, dtype), _make_layer(case, dtype)
    config = dev.config()
    assert dev.to(spec) is dev and dev.to(b) is dev and dev.config() == config
    assert len(dev.parameters()) == case.n_params
    for p in dev.parameters():
        _host(b, p.value, p.name, dtype)
        _host(b, p.grad, f"{p.name}.grad", dtype)
    gen = np.random.default_rng(1)
    x = gen.standard_normal((6, case.in_features)).astype(dtype)
    g = b.asarray(gen.standard_normal((6, case.out_features)).astype(dtype))
    with pytest.raises(ShapeError, match=rf"^{case.cls.__name__}\.backward called before forward$"):
        dev.backward(g)

    xb = b.asarray(x)
    dev.eval()
    ref.eval()
    first = b.to_numpy(dev.forward(xb))
    np.testing.assert_array_equal(b.to_numpy(dev.forward(xb)), first, err_msg="evaluation is not deterministic")
    dev.train()
    ref.train()
    dev.forward(xb)
    dx = b.to_numpy(dev.backward(g))
    grads = [b.to_numpy(p.grad) for p in dev.parameters()]
    for p in dev.parameters():
        p.grad[...] = 1e3                              # junk: backward must overwrite, not add
    np.testing.assert_array_equal(b.to_numpy(dev.backward(g)), dx, err_msg="a second backward changed dE/dx")
    for p, before in zip(dev.parameters(), grads, strict=True):
        np.testing.assert_array_equal(b.to_numpy(p.grad), before, err_msg=f"{p.name}.grad not replaced")

    reuse_ref = ref.forward(x) is ref.forward(x)        # same input, same shape: the same buffer?
    assert (dev.forward(xb) is dev.forward(xb)) == reuse_ref, "forward reuses its buffer on one backend only"
    gh = b.to_numpy(g)
    reuse_ref = ref.backward(gh) is ref.backward(gh)
    assert (dev.backward(g) is dev.backward(g)) == reuse_ref, "backward reuses its buffer on one backend only"


@backends
def test_dropout_and_rrelu_draw_the_same_masks_as_numpy_step_after_step(spec):
    """Drawn on the host from the layer's generator: after a few forwards the generators stay in
    step, and evaluation draws nothing."""
    b = ffnn_backend.get(spec)
    x = np.random.default_rng(0).standard_normal((50, 20))
    for make in (lambda: layers.Dropout(0.4, rng=3), lambda: layers.RReLU(0.1, 0.3, rng=3)):
        ref, dev = make(), make().to(spec)
        for _ in range(3):
            np.testing.assert_array_equal(b.to_numpy(dev.forward(b.asarray(x))), ref.forward(x))
        assert dev.extra_state() == ref.extra_state()
        before = dev.extra_state()
        dev.eval().forward(b.asarray(x))
        assert dev.extra_state() == before


# ----------------------------------------------------------------------------- 2. PyTorch reference
def _normalized(layer: layers.Layer) -> layers.Layer:
    """A float64 normalization layer with distinct gamma and beta (and, for BatchNorm, running
    statistics), so that a mixed-up index shows."""
    gen = np.random.default_rng(3)
    layer.weight.value[...] = gen.uniform(0.5, 1.5, 5)
    layer.bias.value[...] = gen.standard_normal(5)
    if isinstance(layer, layers.BatchNorm):
        layer.load_extra_state({"running_mean": gen.standard_normal(5).tolist(),
                                "running_var": gen.uniform(0.5, 2.0, 5).tolist()})
    return layer


def _reference_cases() -> list[tuple[str, Any, Any, tuple[str, ...]]]:
    """``test_layers``' PyTorch cases and the normalization layers: (id, make the float64 layer,
    torch function of (x, *parameter tensors), parameter names)."""
    F = torch.nn.functional
    stats = _normalized(layers.BatchNorm(5, dtype=np.float64))
    mean, var = (torch.from_numpy(np.array(v)) for v in stats.extra_state().values())
    return [*_torch_cases(),
            ("BatchNorm-train", lambda: _normalized(layers.BatchNorm(5, dtype=np.float64)),
             lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True, eps=1e-5), ("weight", "bias")),
            ("BatchNorm-eval", lambda: _normalized(layers.BatchNorm(5, dtype=np.float64)).eval(),
             lambda x, w, b: F.batch_norm(x, mean, var, w, b, training=False, eps=1e-5), ("weight", "bias")),
            ("LayerNorm", lambda: _normalized(layers.LayerNorm(5, eps=1e-4, dtype=np.float64)),
             lambda x, w, b: F.layer_norm(x, (5,), w, b, eps=1e-4), ("weight", "bias"))]


@backends
@pytest.mark.parametrize("case_id", [c[0] for c in _reference_cases()])
def test_layer_on_the_backend_matches_torch_float64(case_id, spec):
    """``tests/reference.py`` on a layer moved to the backend: output and every gradient equal
    torch.nn's."""
    _, make, torch_fn, pnames = next(c for c in _reference_cases() if c[0] == case_id)
    layer = make()
    host_values = {p.name: p.value.copy() for p in layer.parameters()}
    layer.to(spec)
    b = layer.backend
    x = np.random.default_rng(0).standard_normal((6, 5)) * 3
    by_name = {p.name: p for p in layer.parameters()}
    params = {n: (_HostParameter(b, by_name[n]), to_torch(host_values[n], requires_grad=True)) for n in pnames}
    tensors = [t for _, t in params.values()]
    compare_with_torch(lambda xh: b.to_numpy(layer.forward(b.asarray(xh))),
                       lambda R: b.to_numpy(layer.backward(b.asarray(R))),
                       lambda xt: torch_fn(xt, *tensors), [x], params)


@backends
def test_batchnorm_running_statistics_on_the_backend_follow_torch(spec):
    ours = layers.BatchNorm(5, momentum=0.3, eps=1e-3, dtype=np.float64).to(spec)
    b = ours.backend
    theirs = torch.nn.BatchNorm1d(5, momentum=0.3, eps=1e-3).double()
    for seed, n in enumerate([6, 2, 9]):
        x = np.random.default_rng(seed).standard_normal((n, 5)) * 2 + 0.5
        ours.forward(b.asarray(x))
        theirs(to_torch(x))
    for name in ("running_mean", "running_var"):
        np.testing.assert_allclose(_host(b, getattr(ours, name), name, np.float64),
                                   getattr(theirs, name).numpy(), rtol=1e-12, atol=1e-14)


@backends
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("case_id", [c[0] for c in LOSS_CASES])
def test_loss_on_the_backend_matches_torch_float64(case_id, reduction, spec):
    _, make, out_fn, target_fn, torch_fn = next(c for c in LOSS_CASES if c[0] == case_id)
    gen = np.random.default_rng(0)
    y, t = out_fn(gen), target_fn(gen)
    loss = make(reduction).to(spec)
    b = loss.backend

    def forward(a: np.ndarray, target: np.ndarray) -> float:
        value = loss.forward(b.asarray(a), b.asarray(target))
        assert isinstance(value, float)
        return value

    compare_with_torch(forward, lambda R: R * b.to_numpy(loss.backward()),
                       lambda a, target: torch_fn(a, target, reduction), [y, t], differentiable=[True, False])


# ----------------------------------------------------------------------------- 3. losses
N, K = 6, 4


def _loss_cases() -> list[tuple[str, Any, Any, Any, Any]]:
    """(id, make loss, output(gen), target(gen), sample weights(gen) or None)."""
    logits = lambda g: g.standard_normal((N, K)) * 2          # noqa: E731
    probs = lambda g: g.dirichlet(np.ones(K), N)              # noqa: E731
    unit = lambda g: g.uniform(0.05, 0.95, (N, K))            # noqa: E731
    labels = lambda g: g.integers(0, K, N)                    # noqa: E731
    binary = lambda g: g.integers(0, 2, (N, K)).astype(np.float64)  # noqa: E731
    weights = lambda g: g.uniform(0.0, 2.0, N)                # noqa: E731
    return [
        ("SoftmaxCE-labels", losses.SoftmaxCrossEntropy, logits, labels, None),
        ("SoftmaxCE-labels-sum", lambda: losses.SoftmaxCrossEntropy("sum"), logits, labels, None),
        ("SoftmaxCE-probs", losses.SoftmaxCrossEntropy, logits, probs, None),
        ("SoftmaxCE-smoothing", lambda: losses.SoftmaxCrossEntropy(label_smoothing=0.1), logits, labels, None),
        ("SoftmaxCE-smoothing-probs", lambda: losses.SoftmaxCrossEntropy(label_smoothing=0.2), logits, probs, None),
        ("SoftmaxCE-weights", losses.SoftmaxCrossEntropy, logits, labels, weights),
        ("SoftmaxCE-probs-weights-sum", lambda: losses.SoftmaxCrossEntropy("sum"), logits, probs, weights),
        ("Euclidean", losses.EuclideanLoss, logits, logits, None),
        ("Euclidean-weights", losses.EuclideanLoss, logits, logits, weights),
        ("CrossEntropy-labels", losses.CrossEntropy, probs, labels, None),
        ("CrossEntropy-probs", lambda: losses.CrossEntropy("sum"), probs, probs, None),
        ("BCE-logits", losses.BinaryCrossEntropy, logits, binary, None),
        ("BCE-logits-soft-weights", losses.BinaryCrossEntropy, logits, unit, weights),
        ("BCE-probs", lambda: losses.BinaryCrossEntropy(from_logits=False), unit, binary, None),
        ("BCE-probs-weights", lambda: losses.BinaryCrossEntropy(from_logits=False), unit, binary, weights),
        ("RobustBCE-logits", lambda: losses.RobustBinaryCrossEntropy(0.1), logits, binary, None),
        ("RobustBCE-logits-weights", lambda: losses.RobustBinaryCrossEntropy(0.1), logits, binary, weights),
        ("RobustBCE-probs", lambda: losses.RobustBinaryCrossEntropy(0.2, from_logits=False), unit, binary, None),
        ("RobustBCE-eps0", lambda: losses.RobustBinaryCrossEntropy(0.0), logits, binary, None),
    ]


LOSS_IDS = [c[0] for c in _loss_cases()]


def test_every_loss_class_is_in_the_matrix():
    assert {type(c[1]()).__name__ for c in _loss_cases()} == set(losses.LOSSES)


def _loss_inputs(case_id: str, dtype: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray | None]:
    """The loss maker, output, targets and sample weights (or None) of a case, in ``dtype``."""
    _, make, out_fn, target_fn, weight_fn = next(c for c in _loss_cases() if c[0] == case_id)
    gen = np.random.default_rng(2)
    y = out_fn(gen).astype(dtype)
    t = target_fn(gen)
    t = t if t.dtype.kind in "iu" else t.astype(dtype)
    return make, y, t, None if weight_fn is None else weight_fn(gen).astype(dtype)


@backends
@pytest.mark.parametrize("targets", ["host", "backend"])
@pytest.mark.parametrize("case_id", LOSS_IDS)
def test_loss_equals_numpy(case_id, targets, spec, dtype):
    """forward (a Python float: these backends are not deferred) and backward (the backend's
    array in the output's dtype) equal NumPy's, with the targets and the sample weights given on
    the host or as the backend's arrays."""
    make, y, t, w = _loss_inputs(case_id, dtype)
    b = ffnn_backend.get(spec)
    ref = make()
    value_ref = ref.forward(y, t) if w is None else ref.forward(y, t, sample_weight=w)
    dev = make().to(spec)
    assert dev.backend is b
    put = (lambda a: a) if targets == "host" else b.asarray
    yb = b.asarray(y)
    value = dev.forward(yb, put(t)) if w is None else dev.forward(yb, put(t), sample_weight=put(w))
    assert isinstance(value, float)
    np.testing.assert_allclose(value, value_ref, **_tol(dtype))
    _close(b, dev.backward(), np.array(ref.backward()), f"{case_id}: dE/dy", dtype)


@backends
@pytest.mark.parametrize("targets", ["host", "backend"])
@pytest.mark.parametrize("case_id", LOSS_IDS)
def test_count_correct_equals_numpy(case_id, targets, spec, dtype):
    """count_correct of the backend's output against host targets or the backend's targets."""
    make, y, t, _ = _loss_inputs(case_id, dtype)
    b = ffnn_backend.get(spec)
    expected = make().count_correct(y, t)
    dev = make().to(spec)
    correct = dev.count_correct(b.asarray(y), t if targets == "host" else b.asarray(t))
    if expected is None:
        assert correct is None
    else:
        assert float(correct) == expected


@backends
def test_loss_to_round_trip_and_errors_name_the_backend(spec):
    b = ffnn_backend.get(spec)
    loss = losses.SoftmaxCrossEntropy()
    assert loss.to(spec) is loss and loss.backend is b and loss.to(b) is loss
    with pytest.raises(ShapeError, match="backward called before forward"):
        loss.backward()
    with pytest.raises(ShapeError, match=b.name):      # a NumPy output given to a loss on the backend
        loss.forward(np.zeros((2, 3)), np.array([0, 1]))
    y = np.random.default_rng(0).standard_normal((3, 3))
    value = loss.forward(b.asarray(y), np.array([0, 2, 1]))
    assert loss.to("numpy").forward(y, np.array([0, 2, 1])) == pytest.approx(value, rel=1e-12)


# ----------------------------------------------------------------------------- 4. the engine
def _data(n: int = 120, d: int = 8, k: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    gen = np.random.default_rng(seed)
    X = gen.standard_normal((n, d))
    y = (X[:, 0] + X[:, 1] > 0).astype(np.intp) + (X[:, 2] > 0.5)
    return X, np.minimum(y, k - 1)


def _net(kind: str, dtype: Any = np.float64) -> ffnn.Sequential:
    if kind == "mlp":
        return ffnn.mlp([8, 16, 3], activation="tanh", seed=0, dtype=dtype)
    if kind == "bn-dropout":
        # no bias before BatchNorm: its gradient would be rounding noise, different on each backend
        return ffnn.Sequential([layers.Linear(8, 12, bias=False, rng=0, dtype=dtype),
                                layers.BatchNorm(12, dtype=dtype), layers.ReLU(), layers.Dropout(0.3, rng=1),
                                layers.Linear(12, 3, rng=2, dtype=dtype)])
    assert kind == "image"                           # 6x6 "images": RandomShift moves them
    return ffnn.Sequential([layers.Linear(36, 10, rng=0, dtype=dtype), layers.ELU(),
                            layers.Linear(10, 3, rng=1, dtype=dtype)])


def _optimizer(name: str, model: ffnn.Sequential) -> optim.Optimizer:
    if name == "sgd":
        return optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return optim.Adam(model.parameters(), lr=0.01)


RUNS = {
    "sgd-momentum": dict(net="mlp", opt="sgd"),
    "adam": dict(net="mlp", opt="adam"),
    "sgd-validation": dict(net="mlp", opt="sgd", validation=0.25),
    "adam-sample-weight": dict(net="mlp", opt="adam", weights=True),
    "bn-dropout-validation": dict(net="bn-dropout", opt="sgd", validation=0.2),
    "random-shift": dict(net="image", opt="adam", shift=True),
    "l1-clipping-full-batch": dict(net="mlp", opt="sgd", l1=True, batch_size=None),
    "euclidean-regression": dict(net="mlp", opt="adam", loss="mse", validation=0.25),
    "bce-multilabel-weights": dict(net="bn-dropout", opt="adam", loss="bce", weights=True),
    "float32-bn-dropout": dict(net="bn-dropout", opt="adam", validation=0.2, dtype=np.float32),
}
TRAIN_TOL = dict(rtol=1e-10, atol=1e-10)
TRAIN_TOL32 = dict(rtol=1e-4, atol=1e-5)
LOSSES = {"softmax": losses.SoftmaxCrossEntropy, "mse": losses.EuclideanLoss, "bce": losses.BinaryCrossEntropy}


def _run(spec: str, net: str, opt: str, epochs: int = 4, validation: float | None = None, weights: bool = False,
         shift: bool = False, l1: bool = False, batch_size: int | None = 16, loss: str = "softmax",
         dtype: Any = np.float64) -> tuple[ffnn.Sequential, ffnn.Trainer]:
    """A few epochs of training on ``spec``; with ``l1``, an L1 penalty and gradient clipping."""
    model = _net(net, dtype).to(spec)
    if shift:
        X = np.random.default_rng(5).uniform(0, 1, (90, 36))
        y = (X[:, :18].sum(axis=1) > X[:, 18:].sum(axis=1)).astype(np.intp)
    else:
        X, y = _data()
    if loss == "mse":
        y = np.tanh(X[:, :3] * 2)
    elif loss == "bce":
        y = (X[:, :3] > 0).astype(np.float64)
    sample_weight = np.random.default_rng(7).uniform(0.2, 2.0, len(X)) if weights else None
    trainer = ffnn.Trainer(model, LOSSES[loss](), _optimizer(opt, model), batch_size=batch_size, seed=1,
                           augment=RandomShift(1, image_shape=(6, 6)) if shift else None,
                           callbacks=[L1Penalty(1e-3)] if l1 else (), clip_grad_norm=0.5 if l1 else None)
    trainer.fit(X, y, epochs=epochs, validation=validation, sample_weight=sample_weight)
    return model, trainer


def _same_history(got: ffnn.History, expected: ffnn.History, rel: float = 1e-10) -> None:
    assert len(got.records) == len(expected.records)
    for r, s in zip(got.records, expected.records, strict=True):
        assert set(r) == set(s)
        for key in set(r) - {"seconds"}:
            assert r[key] == pytest.approx(s[key], rel=rel, abs=rel / 100), key


@backends
@pytest.mark.parametrize("run", list(RUNS))
def test_fit_gives_the_numpy_runs_weights_and_history(run, spec):
    model_ref, trainer_ref = _run("numpy", **RUNS[run])
    model, trainer = _run(spec, **RUNS[run])
    assert model.backend is ffnn_backend.get(spec) and trainer.backend is model.backend
    assert trainer.loss.backend is model.backend and trainer.optimizer.backend is model.backend
    single = RUNS[run].get("dtype") == np.float32
    tol = TRAIN_TOL32 if single else TRAIN_TOL
    _state_equal(model.state(), model_ref.state(), **tol)
    _same_history(trainer.history, trainer_ref.history, rel=tol["rtol"])
    for a, c in zip(model.layers, model_ref.layers, strict=True):
        assert a.extra_state().keys() == c.extra_state().keys()
        for key, value in a.extra_state().items():
            if key != "rng":
                np.testing.assert_allclose(value, c.extra_state()[key], **tol)
            else:
                assert value == c.extra_state()[key]


@backends
def test_trainer_step_on_host_batches_equals_numpy(spec):
    """``Trainer.step`` takes host batches (checked, then moved) and returns the batch's loss."""
    X, y = _data(n=40)
    models = [_net("bn-dropout"), _net("bn-dropout").to(spec)]
    trainers = [ffnn.Trainer(m, losses.SoftmaxCrossEntropy(), _optimizer("adam", m), seed=0) for m in models]
    for start in (0, 10, 20):
        values = [t.step(X[start:start + 10], y[start:start + 10]) for t in trainers]
        assert isinstance(values[1], float) and values[1] == pytest.approx(values[0], rel=1e-12)
    _state_equal(models[1].state(), models[0].state(), **TRAIN_TOL)


@backends
def test_evaluate_and_predict_equal_numpy(spec):
    X, y = _data(n=50)
    loss = losses.SoftmaxCrossEntropy()
    model_ref = _net("bn-dropout")
    model_ref.layers[1].load_extra_state({"running_mean": list(np.linspace(-1, 1, 12)),
                                          "running_var": list(np.linspace(0.5, 2, 12))})
    model = model_ref.copy().to(spec)
    expected = ffnn.evaluate(model_ref, losses.SoftmaxCrossEntropy(), X, y, batch_size=16)
    got = ffnn.evaluate(model, loss, X, y, batch_size=16)
    assert loss.backend is model.backend
    assert got.keys() == expected.keys()
    for key in got:
        assert got[key] == pytest.approx(expected[key], rel=1e-12), key
    predicted = model.predict(X, batch_size=16)
    assert isinstance(predicted, np.ndarray)
    np.testing.assert_allclose(predicted, model_ref.predict(X), **_tol(np.float64))
    assert model.training is True


@backends
@pytest.mark.parametrize("into", ["numpy", "same backend"])
def test_checkpoint_taken_on_the_backend_continues_elsewhere(into, spec, tmp_path):
    """A state_dict taken mid-run (after epoch 2, and mid-epoch 3) holds NumPy arrays only; a
    fresh NumPy trainer that loads it, or a fresh trainer on the backend that resumes from the
    checkpoint file, ends where an uninterrupted NumPy run ends."""
    X, y = _data()

    def trainer(on: str) -> ffnn.Trainer:
        model = _net("bn-dropout").to(on)
        return ffnn.Trainer(model, losses.SoftmaxCrossEntropy(), _optimizer("adam", model), batch_size=16, seed=3)

    whole = trainer("numpy")
    whole.fit(X, y, epochs=4)
    first = trainer(spec)
    first.fit(X, y, epochs=2)
    first.run_epoch(X, y, deadline=0.0)                # one batch of epoch 3, then a pause
    state = first.state_dict()
    assert state["position"]["batch"] == 1
    _all_numpy(state)
    if into == "numpy":
        resumed = trainer("numpy")
        resumed.load_state_dict(state)
    else:
        path = first.save_checkpoint(tmp_path / "run.ckpt")
        resumed = trainer(spec)
        resumed.resume(path)
    resumed.fit(X, y, epochs=4)
    _state_equal(resumed.model.state(), whole.model.state(), **TRAIN_TOL)
    _same_history(resumed.history, whole.history)


def _all_numpy(value: Any, where: str = "state") -> None:
    """Every array in a nested state is a NumPy array (a file can hold it; any backend loads it)."""
    if isinstance(value, dict):
        for k, v in value.items():
            _all_numpy(v, f"{where}[{k!r}]")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _all_numpy(v, f"{where}[{i}]")
    else:
        assert value is None or isinstance(value, (np.ndarray, np.generic, int, float, str, bool)), \
            f"{where} is a {type(value).__name__}"


def _same_nested(got: Any, expected: Any, where: str = "state") -> None:
    """Two nested states (dicts, lists, arrays, numbers) hold equal values."""
    assert type(got) is type(expected), f"{where}: {type(got).__name__} != {type(expected).__name__}"
    if isinstance(got, dict):
        assert got.keys() == expected.keys(), where
        for k in got:
            _same_nested(got[k], expected[k], f"{where}[{k!r}]")
    elif isinstance(got, (list, tuple)):
        assert len(got) == len(expected), where
        for i, (a, e) in enumerate(zip(got, expected, strict=True)):
            _same_nested(a, e, f"{where}[{i}]")
    elif isinstance(got, np.ndarray):
        np.testing.assert_array_equal(got, expected, err_msg=where)
    else:
        assert got == expected, where


@backends
def test_early_stopping_restores_the_best_weights_on_the_backend(spec):
    """No epoch after the first improves by 1e9: the run stops after 1 + patience epochs and
    puts back the weights of epoch 1, the weights of a one-epoch run."""
    X, y = _data()

    def run(on: str, epochs: int, stopper: EarlyStopping | None) -> tuple[ffnn.Sequential, ffnn.Trainer]:
        model = _net("mlp").to(on)
        trainer = ffnn.Trainer(model, losses.SoftmaxCrossEntropy(), _optimizer("sgd", model), batch_size=16,
                               seed=1, early_stopping=stopper)
        trainer.fit(X, y, epochs=epochs, validation=0.25)
        return model, trainer

    stopper = EarlyStopping(patience=2, min_delta=1e9)
    model, trainer = run(spec, 10, stopper)
    assert trainer.epoch == 3 and stopper.best_epoch == 1
    one_epoch, _ = run("numpy", 1, None)
    _state_equal(model.state(), one_epoch.state(), **TRAIN_TOL)
    three_epochs, _ = run("numpy", 3, None)
    assert not np.allclose(model.state()["0.weight"], three_epochs.state()["0.weight"])


@backends
def test_divergence_guard_rolls_back_on_the_backend(spec):
    """A huge learning rate: the loss overflows in epoch 1; the error names the same batch and
    layer as on NumPy, and the weights and the optimizer's state are those of the epoch's start."""
    X = np.random.default_rng(0).standard_normal((120, 8))

    def diverge(on: str) -> tuple[str, ffnn.Sequential]:
        model = ffnn.mlp([8, 16, 1], activation="relu", seed=0, dtype=np.float64).to(on)
        start = model.state()
        optimizer = optim.SGD(model.parameters(), lr=1e3, momentum=0.9)
        trainer = ffnn.Trainer(model, losses.EuclideanLoss(), optimizer, batch_size=16, seed=1)
        before = optimizer.state_dict()
        with pytest.raises(TrainingDivergedError, match="training diverged at epoch 1") as info:
            trainer.fit(X, X[:, :1] * 3, epochs=3)
        _state_equal(model.state(), start)
        _all_numpy(optimizer.state_dict())
        _same_nested(optimizer.state_dict(), before)
        return str(info.value), model

    message, model = diverge(spec)
    assert message == diverge("numpy")[0]
    assert model.backend is ffnn_backend.get(spec)


# ----------------------------------------------------------------------------- 5. moving models
def _bn_net_with_statistics() -> ffnn.Sequential:
    model = _net("bn-dropout")
    model.layers[1].load_extra_state({"running_mean": list(np.linspace(-1, 1, 12)),
                                      "running_var": list(np.linspace(0.5, 2, 12))})
    model.layers[3].rng.random(5)                       # the generator has moved from its seed
    return model


def test_to_round_trip_keeps_every_value_bit_for_bit():
    model = _bn_net_with_statistics()
    state, extra = model.state(), [layer.extra_state() for layer in model.layers]
    assert model.backend is ffnn_backend.NUMPY
    for spec in ("torch", "array-api-strict:device1", "numpy"):
        assert model.to(spec) is model and model.backend is ffnn_backend.get(spec)
        for p in model.parameters():
            assert type(p.value) is model.backend.array_type and type(p.grad) is model.backend.array_type
        _state_equal(model.state(), state)
        assert [layer.extra_state() for layer in model.layers] == extra
    assert all(isinstance(p.value, np.ndarray) for p in model.parameters())
    assert isinstance(model.layers[1].running_mean, np.ndarray)


@backends
def test_forward_takes_host_or_backend_arrays_and_state_is_numpy(spec):
    model_ref = _bn_net_with_statistics().eval()
    model = model_ref.copy().to(spec)
    b = model.backend
    X = np.random.default_rng(0).standard_normal((5, 8))
    expected = model_ref.forward(X)
    for given in (X, X.tolist(), b.asarray(X)):
        _close(b, model.forward(given), expected, f"forward of a {type(given).__name__}", np.float64)
    single = X.astype(np.float32)                          # converted to the model's float64
    _close(b, model.forward(b.asarray(single)), model_ref.forward(single), "forward of float32", np.float64)
    out = model.forward(b.asarray(X))
    assert out is not model.forward(b.asarray(X))          # the caller's copy, not a layer's buffer
    _close(b, model.backward(b.asarray(np.ones((5, 3)))), model_ref.backward(np.ones((5, 3))), "dE/dx", np.float64)
    assert model.dtype == np.float64
    assert all(isinstance(v, np.ndarray) for v in model.state().values())
    with pytest.raises(ShapeError, match="2-D"):
        model.forward(b.asarray(X[0]))


@backends
def test_a_backend_model_describes_itself_as_on_numpy(spec):
    """repr, parameter counts, shapes and dtype read the same on every backend."""
    model_ref = _net("bn-dropout")
    model = _net("bn-dropout").to(spec)
    assert repr(model) == repr(model_ref)
    assert model.num_parameters() == model_ref.num_parameters()
    assert (model.in_features, model.out_features, model.dtype) == (8, 3, np.float64)
    for p, q in zip(model.parameters(), model_ref.parameters(), strict=True):
        assert (p.size, tuple(p.shape)) == (q.size, q.shape)


BAD_INPUTS = {
    "nan": np.full((2, 8), np.nan),
    "width": np.ones((2, 7)),
    "1-D": np.ones(8),
    "strings": np.full((2, 8), "a"),
}


BAD_CASES = [(bad, "host") for bad in BAD_INPUTS] + [("width", "backend"), ("1-D", "backend")]


@backends
@pytest.mark.parametrize("bad, given", BAD_CASES)
def test_a_bad_input_gets_numpys_error(bad, given, spec):
    """The same ShapeError, word for word, as on NumPy, for a host array (validated, then
    moved) and for a float array of the backend's own (its shape checked; its values are the
    caller's: not scanned)."""
    x = BAD_INPUTS[bad]
    model = _net("mlp").to(spec)
    if given == "backend":
        x = model.backend.asarray(x)
    with pytest.raises(ShapeError) as expected:
        _net("mlp").forward(BAD_INPUTS[bad])
    with pytest.raises(ShapeError) as info:
        model.forward(x)
    assert str(info.value) == str(expected.value)


@backends
def test_fit_moves_the_data_once_not_per_batch(spec, monkeypatch):
    """Host-to-backend copies during fit do not grow with the number of batches: the data move
    once, each epoch's order once, and batches are gathered on the backend."""
    X, y = _data()
    b = ffnn_backend.get(spec)
    real = b.asarray
    moved: list[tuple[int, ...]] = []

    def counting(a: Any, dtype: Any = None) -> Any:
        moved.append(tuple(np.shape(a)))
        return real(a, dtype)

    def copies(batch_size: int) -> list[tuple[int, ...]]:
        model = _net("mlp").to(spec)
        trainer = ffnn.Trainer(model, losses.SoftmaxCrossEntropy(), _optimizer("adam", model),
                               batch_size=batch_size, seed=1)
        moved.clear()
        monkeypatch.setattr(b, "asarray", counting)
        trainer.fit(X, y, epochs=3)
        monkeypatch.undo()
        return list(moved)

    few, many = copies(60), copies(8)
    assert few == many
    assert many.count(X.shape) == 1 and many.count((len(X),)) == 1 + 3     # y, and one order per epoch


@backends
def test_copy_and_astype_of_a_backend_model(spec):
    model_ref = _bn_net_with_statistics().eval()
    model = model_ref.copy().to(spec)
    b = model.backend
    clone = model.copy()
    assert clone.backend is b
    _state_equal(clone.state(), model.state())
    clone.parameters()[0].value[...] = 0.0                # independent arrays
    assert np.abs(model.state()["0.weight"]).max() > 0
    X = np.random.default_rng(0).standard_normal((5, 8))
    single = model.astype(np.float32)
    assert single.backend is b and single.dtype == np.float32 and model.dtype == np.float64
    for p in single.parameters():
        _host(b, p.value, p.name, np.float32)
        _host(b, p.grad, p.name, np.float32)
    _close(b, single.forward(X), model_ref.astype(np.float32).forward(X.astype(np.float32)), "float32 forward",
           np.float32)


@backends
def test_save_and_load_a_backend_model(spec, tmp_path):
    model_ref = _bn_net_with_statistics().eval()
    model = model_ref.copy().to(spec)
    model.metadata["classes"] = ["a", "b", "c"]
    path = ffnn.save(model, tmp_path / "net.ffnn")
    loaded = ffnn.load(path)
    assert loaded.backend is ffnn_backend.NUMPY and loaded.metadata == model.metadata
    _state_equal(loaded.state(), model_ref.state())
    assert [layer.config() for layer in loaded.layers] == [layer.config() for layer in model_ref.layers]
    X = np.random.default_rng(0).standard_normal((5, 8))
    np.testing.assert_array_equal(loaded.eval().forward(X), model_ref.forward(X))
    _close(loaded.to(spec).backend, loaded.forward(X), model_ref.forward(X), "loaded then moved", np.float64)


# ----------------------------------------------------------------------------- 6. errors
def test_unknown_backend_lists_the_names():
    for bad in ("tensorflow", "gpu"):
        with pytest.raises(ConfigError) as info:
            ffnn.Sequential([layers.Linear(2, 2)]).to(bad)
        assert repr(bad) in str(info.value)
        for name in ("numpy", "torch", "cupy", "array-api-strict"):
            assert name in str(info.value)
    with pytest.raises(ConfigError, match="a backend is a name"):
        ffnn_backend.get(3)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_torch_cuda_without_cuda_is_a_config_error():
    model = ffnn.Sequential([layers.Linear(2, 2)])
    with pytest.raises(ConfigError, match="no CUDA"):
        model.to("torch:cuda")
    assert model.backend is ffnn_backend.NUMPY


def test_cupy_without_cupy_names_the_package():
    try:
        import cupy  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("CuPy is installed")
    with pytest.raises(ConfigError, match=r"cupy backend needs CuPy.*pip install cupy"):
        ffnn.Sequential([layers.Linear(2, 2)]).to("cupy")


class NumpyOnlyLayer(layers.Layer):
    """A user's layer written with NumPy (``array_api`` is False)."""

    def forward(self, x: Any) -> Any:
        self._x = x
        return np.tanh(x)

    def backward(self, grad_out: Any, input_grad: bool = True) -> Any:
        return grad_out * (1 - np.tanh(self._x) ** 2)


@backends
def test_a_numpy_only_layer_stops_the_move_before_anything_moves(spec):
    model = ffnn.Sequential([layers.Linear(3, 4, rng=0), layers.BatchNorm(4), NumpyOnlyLayer(), layers.Linear(4, 2)])
    state = model.state()
    with pytest.raises(ConfigError, match=r"layer 2 \(NumpyOnlyLayer\) computes with NumPy only"):
        model.to(spec)
    assert model.backend is ffnn_backend.NUMPY
    assert all(layer.backend is ffnn_backend.NUMPY for layer in model.layers)
    assert all(type(p.value) is np.ndarray for p in model.parameters())
    assert type(model.layers[1].running_mean) is np.ndarray
    _state_equal(model.state(), state)
    with pytest.raises(ConfigError, match="NumpyOnlyLayer computes with NumPy only"):
        NumpyOnlyLayer().to(spec)


def test_an_array_on_another_device_is_refused():
    """The model lives on device1; an array made on array_api_strict's default device cannot
    be combined with its weights."""
    model = _net("mlp").to("array-api-strict:device1")
    X = np.random.default_rng(0).standard_normal((4, 8))
    elsewhere = array_api_strict.asarray(X)
    assert elsewhere.device != model.parameters()[0].value.device
    with pytest.raises((ValueError, ShapeError), match="device"):
        model.forward(elsewhere)
    loss = losses.SoftmaxCrossEntropy().to("array-api-strict:device1")
    out = model.forward(X)
    with pytest.raises((ValueError, ShapeError), match="device"):
        loss.forward(out, array_api_strict.asarray(np.array([0, 1, 2, 0])))


@backends
def test_an_optimizer_built_before_the_move_says_so_when_stepped(spec):
    X, y = _data(n=32)
    model = _net("mlp")
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model.to(spec)
    name = model.backend.name
    with pytest.raises(ConfigError, match=rf"SGD: the parameters are now {name} arrays, but the optimizer was "
                                          rf"built on numpy; call optimizer.to\('{name}'\)"):
        optimizer.step()
    # the Trainer moves it (as ``optimizer.to(model.backend)`` would): the run is NumPy's
    ffnn.Trainer(model, losses.SoftmaxCrossEntropy(), optimizer, batch_size=8, seed=0).fit(X, y, epochs=2)
    assert optimizer.backend is model.backend
    reference = _net("mlp")
    ffnn.Trainer(reference, losses.SoftmaxCrossEntropy(), optim.SGD(reference.parameters(), lr=0.1, momentum=0.9),
                 batch_size=8, seed=0).fit(X, y, epochs=2)
    _state_equal(model.state(), reference.state(), **TRAIN_TOL)


# --- the command line ---------------------------------------------------------------------

def test_ffnn_train_backend_trains_there_and_writes_the_same_run(tmp_path, capsys):
    from ffnn.cli import main
    common = ["train", "--data", "xor", "--hidden", "8", "--epochs", "3", "--batch-size", "4", "--dtype", "float64"]
    assert main([*common, "--out", str(tmp_path / "np")]) == 0
    assert main([*common, "--backend", "torch", "--out", str(tmp_path / "torch")]) == 0
    on_numpy, on_torch = ffnn.load(tmp_path / "np" / "model.ffnn"), ffnn.load(tmp_path / "torch" / "model.ffnn")
    assert on_torch.backend.name == "numpy"                       # model files are NumPy everywhere
    assert on_torch.metadata["recipe"]["backend"] == "torch"
    for a, b in zip(on_numpy.parameters(), on_torch.parameters(), strict=True):
        np.testing.assert_allclose(a.value, b.value, rtol=0, atol=1e-10)
    import pandas as pd
    histories = [pd.read_csv(tmp_path / name / "history.csv") for name in ("np", "torch")]
    assert list(histories[0].columns) == list(histories[1].columns)
    np.testing.assert_allclose(histories[0]["loss"], histories[1]["loss"], rtol=1e-10)


@pytest.mark.parametrize("name, message", [
    ("cuda", "option backend must be one of numpy, torch"),
    ("torch:cuda", "PyTorch sees no CUDA device here"),
])
def test_ffnn_train_bad_backend_is_one_line_and_exit_2(name, message, tmp_path, capsys):
    from ffnn.cli import main
    assert main(["train", "--data", "xor", "--epochs", "1", "--backend", name, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert not (tmp_path / "run").exists() and not list(tmp_path.glob(".run*"))   # no run, no state left behind


# --- a deferred backend (a GPU's behaviour, on the CPU) ------------------------------------

@pytest.fixture
def deferred(monkeypatch):
    """PyTorch CPU tensors with the backend marked ``deferred``, as on a GPU: the engine must
    keep the loss and the counts on the device and read them once per epoch."""
    from ffnn.backend.torch_backend import TorchBackend
    backend = TorchBackend("cpu")
    backend.deferred = True
    backend.name = "torch:cpu-deferred"
    monkeypatch.setitem(ffnn_backend._CACHE, backend.name, backend)   # copies find it by name
    return backend


def _host_reads(monkeypatch) -> list[str]:
    """Count every way a tensor's value can come back to Python."""
    reads: list[str] = []
    for name in ("item", "tolist", "numpy", "__float__", "__int__", "__bool__", "__index__"):
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _name=name, _original=original, **kwargs):
            reads.append(_name)
            return _original(self, *args, **kwargs)
        monkeypatch.setattr(torch.Tensor, name, counted)
    return reads


def _deferred_trainer(spec_or_backend, clip=None, lr=0.1):
    model = ffnn.mlp([8, 16, 3], activation="tanh", seed=0, dtype=np.float64).to(spec_or_backend)
    optimizer = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    return ffnn.Trainer(model, losses.SoftmaxCrossEntropy(), optimizer, batch_size=10, seed=1, clip_grad_norm=clip)


def test_a_deferred_step_reads_nothing_back_and_an_epoch_reads_once(deferred, monkeypatch):
    X, y = _data()
    trainer = _deferred_trainer(deferred, clip=1.0)
    trainer.fit(X, y, epochs=1)                              # warm: buffers, bound data
    xb, yb = trainer._data.on_device[0][:10, ...], trainer._data.on_device[1][:10]
    reads = _host_reads(monkeypatch)
    for b in range(5):
        value, correct = trainer._step(xb, yb, b)
    assert reads == [] and isinstance(value, torch.Tensor) and isinstance(correct, torch.Tensor)
    trainer.fit(X, y, epochs=2)                             # 12 batches
    assert 0 < len(reads) < 12, reads                        # the epoch's totals and the guard's checks


def test_a_deferred_run_equals_numpy(deferred):
    X, y = _data()
    runs = {}
    for key, on in (("numpy", "numpy"), ("deferred", deferred)):
        trainer = _deferred_trainer(on, clip=0.5)
        history = trainer.fit(X, y, epochs=3, validation=0.2)
        records = [{k: r[k] for k in ("loss", "accuracy", "val_loss")} for r in history.records]
        runs[key] = (trainer.model.state(), records, trainer.callbacks.callbacks)
    _state_equal(runs["deferred"][0], runs["numpy"][0], rtol=0, atol=1e-10)
    for a, b in zip(runs["deferred"][1], runs["numpy"][1], strict=True):
        assert a == pytest.approx(b, rel=1e-10)
    clip = next(cb for cb in runs["deferred"][2] if type(cb).__name__ == "GradientClipping")
    assert isinstance(clip.last_norm, torch.Tensor)          # the clipping scale stayed on the device


def test_a_deferred_run_that_diverges_is_caught_at_the_epochs_end(deferred):
    """The loss is not read per batch: the guard finds the blow-up at the end of the epoch (the
    epoch's loss, the weights) and rolls back to the epoch's start, as on NumPy."""
    X = np.random.default_rng(0).standard_normal((120, 8))
    model = ffnn.mlp([8, 16, 1], activation="relu", seed=0, dtype=np.float64).to(deferred)
    start = model.state()
    trainer = ffnn.Trainer(model, losses.EuclideanLoss(), optim.SGD(model.parameters(), lr=1e3, momentum=0.9),
                           batch_size=16, seed=1)
    with pytest.raises(TrainingDivergedError, match="training diverged at epoch 1, batch 7: the epoch's loss is"):
        trainer.fit(X, X[:, :1] * 3, epochs=3)
    _state_equal(model.state(), start)


# --- central finite differences on the backend ---------------------------------------------

@backends
@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_every_layer_passes_gradcheck_on_the_backend(case, spec):
    """``ffnn.gradcheck`` of a small net around the layer, computed on the backend in float64
    (the backend's own kernels against central differences), input gradient included."""
    layer = _make_layer(case, np.float64)
    net = ffnn.Sequential([layers.Linear(4, case.in_features, rng=0, dtype=np.float64), layer,
                           layers.Linear(case.out_features, 3, rng=1, dtype=np.float64)]).to(spec)
    X = np.random.default_rng(2).normal(size=(6, 4))
    report = ffnn.gradcheck(net, losses.SoftmaxCrossEntropy(), X, np.array([0, 1, 2, 0, 1, 2]), check_input=True)
    assert report.ok, report
    assert net.backend is ffnn_backend.get(spec) and sum(e.checked for e in report.entries) > 0


class _WrongCube(layers.Layer):
    """``y = x^3`` with a wrong derivative (``2 x^2`` instead of ``3 x^2``), written for every backend."""

    array_api = True

    def forward(self, x):
        self._x = x
        return x * x * x

    def backward(self, grad_out, input_grad=True):
        return 2.0 * self._x * self._x * grad_out


@backends
def test_gradcheck_on_the_backend_finds_a_wrong_gradient(spec):
    net = ffnn.Sequential([layers.Linear(3, 4, rng=0, dtype=np.float64), _WrongCube(),
                           layers.Linear(4, 2, rng=1, dtype=np.float64)]).to(spec)
    loss = losses.SoftmaxCrossEntropy()
    report = ffnn.gradcheck(net, loss, np.random.default_rng(0).normal(size=(5, 3)), np.array([0, 1, 0, 1, 1]))
    assert not report.ok
    assert [e.name for e in report.entries if not e.ok] == ["0.weight", "0.bias"]   # below the wrong layer
    assert loss.backend is ffnn_backend.NUMPY                    # the caller's loss was not moved


@backends
@pytest.mark.parametrize("run", ["sgd", "bn-dropout"])
def test_data_kept_on_the_host_give_the_same_run_and_move_batch_by_batch(run, spec, monkeypatch):
    """``Trainer(device_data=False)``: the inputs stay on the host and each batch is staged to the
    backend (data larger than the device's memory); the run is the NumPy run, and no copy of
    the whole input matrix is made."""
    X, y = _data()
    b = ffnn_backend.get(spec)
    real_asarray, real_stage = b.asarray, b.stage
    moved: list[tuple[int, ...]] = []
    staged: list[tuple[int, ...]] = []
    monkeypatch.setattr(b, "asarray", lambda a, dtype=None: (moved.append(np.shape(a)), real_asarray(a, dtype))[1])
    monkeypatch.setattr(b, "stage", lambda batch: (staged.append(batch.shape), real_stage(batch))[1])
    histories, states = [], []
    for on, device_data in (("numpy", True), (spec, False)):
        model = _net("bn-dropout" if run == "bn-dropout" else "mlp").to(on)
        trainer = ffnn.Trainer(model, losses.SoftmaxCrossEntropy(), _optimizer("sgd", model), batch_size=25, seed=3,
                               device_data=device_data)
        histories.append([r["loss"] for r in trainer.fit(X, y, epochs=2, validation=0.2).records])
        states.append(model.state())
    np.testing.assert_allclose(histories[1], histories[0], rtol=1e-10)
    _state_equal(states[1], states[0], rtol=0, atol=1e-10)
    assert (96, 8) not in moved                                     # the 96 training inputs never moved whole
    assert staged == ([(25, 8)] * 3 + [(21, 8)]) * 2                # 3 x 25 + 21 rows per epoch, batch by batch
