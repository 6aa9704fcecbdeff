"""Layers: the contract, central differences, PyTorch reference, randomness, stability, init."""

from __future__ import annotations

import inspect
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

import ffnn
from ffnn import init, layers, losses
from ffnn.errors import ConfigError, ShapeError
from layer_contract import check_layer_contract
from reference import compare_with_torch, to_torch

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # the reference tests skip; the rest runs
    torch = F = None


@dataclass
class Case:
    cls: type
    kwargs: dict[str, Any] = field(default_factory=dict)
    in_features: int = 5
    out_features: int = 5
    n_params: int = 0
    id: str = ""


CASES = [
    Case(layers.Linear, dict(in_features=5, out_features=4, rng=0), 5, 4, 2, "Linear"),
    Case(layers.Linear, dict(in_features=5, out_features=3, bias=False, rng=0), 5, 3, 1, "Linear-nobias"),
    Case(layers.Sigmoid, id="Sigmoid"),
    Case(layers.Tanh, id="Tanh"),
    Case(layers.ReLU, id="ReLU"),
    Case(layers.LeakyReLU, dict(negative_slope=0.1), id="LeakyReLU-0.1"),
    Case(layers.PReLU, n_params=1, id="PReLU-shared"),
    Case(layers.PReLU, dict(num_parameters=5, init=0.1), n_params=1, id="PReLU-5"),
    Case(layers.RReLU, dict(rng=0), id="RReLU"),
    Case(layers.ELU, dict(alpha=0.7), id="ELU-0.7"),
    Case(layers.Softplus, id="Softplus"),
    Case(layers.Softsign, id="Softsign"),
    Case(layers.Identity, id="Identity"),
    Case(layers.Softmax, id="Softmax"),
    Case(layers.Dropout, dict(p=0.3, rng=0), id="Dropout-0.3"),
    Case(layers.BatchNorm, dict(num_features=5), n_params=2, id="BatchNorm"),
    Case(layers.BatchNorm, dict(num_features=5, affine=False, momentum=0.5), id="BatchNorm-noaffine"),
    Case(layers.LayerNorm, dict(num_features=5), n_params=2, id="LayerNorm"),
]
CASE_PARAMS = [pytest.param(c, id=c.id) for c in CASES]


def test_every_registered_layer_has_a_case():
    assert {c.cls.__name__ for c in CASES} == set(layers.LAYERS)


# ----------------------------------------------------------------------------- the contract
@pytest.mark.parametrize("case", CASE_PARAMS)
def test_layer_contract(case, dtype, tmp_path):
    check_layer_contract(case.cls, case.kwargs, in_features=case.in_features,
                         out_features=case.out_features, n_params=case.n_params,
                         dtype=dtype, tmp_path=tmp_path)


def test_linear_with_callable_init_config_rebuilds():
    """Layer docstring: ``type(layer)(**layer.config())`` rebuilds it, whatever the init."""
    layer = layers.Linear(3, 2, init=init.gaussian(0.1), rng=0)
    rebuilt = layers.Linear(**layer.config())
    assert (rebuilt.in_features, rebuilt.out_features) == (3, 2)


def test_linear_with_lambda_init_config_rebuilds():
    layer = layers.Linear(3, 2, init=lambda shape, rng, dtype: np.ones(shape, dtype), rng=0)
    layers.Linear(**layer.config())


# ----------------------------------------------------------------------------- finite differences
def _input_away_from_kinks(gen, shape, dtype=np.float64):
    x = gen.standard_normal(shape)
    x[np.abs(x) < 0.05] += 0.2  # ReLU-type kinks at 0 are further than eps away
    return x.astype(dtype)


def _fresh_randomness(layer, seed=123):
    """Give Dropout/RReLU the same random draws on every forward (for finite differences)."""
    if hasattr(layer, "rng"):
        layer.rng = np.random.default_rng(seed)


def layer_finite_differences(layer, x, eps=1e-6, seed=1):
    """Central differences of ``sum(layer(x) * R)`` w.r.t. x and every parameter, vs backward.

    Returns a list of (name, analytic, numeric).
    """
    gen = np.random.default_rng(seed)
    _fresh_randomness(layer)
    R = gen.standard_normal(np.shape(layer.forward(x)))

    def f() -> float:
        _fresh_randomness(layer)
        return float(np.sum(layer.forward(x) * R))

    f()
    dx = np.array(layer.backward(R.copy()))
    analytic = [("input", x, dx)] + [(p.name, p.value, p.grad.copy()) for p in layer.parameters()]
    results = []
    for name, value, grad in analytic:
        numeric = np.empty(value.shape)
        flat, num = value.reshape(-1), numeric.reshape(-1)
        for i in range(flat.size):
            saved = flat[i]
            flat[i] = saved + eps
            plus = f()
            flat[i] = saved - eps
            minus = f()
            flat[i] = saved
            num[i] = (plus - minus) / (2 * eps)
        results.append((name, grad, numeric))
    return results


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("case", CASE_PARAMS)
def test_layer_central_differences_float64(case, mode):
    kwargs = dict(case.kwargs)
    if "dtype" in inspect.signature(case.cls.__init__).parameters:
        kwargs["dtype"] = np.float64
    layer = case.cls(**kwargs)
    if isinstance(layer, layers.PReLU):  # distinct slopes, so a mixed-up index shows
        layer.slope.value[...] = np.linspace(0.05, 0.4, layer.slope.value.size)
    layer.train(mode == "train")
    x = _input_away_from_kinks(np.random.default_rng(0), (4, case.in_features))
    for name, analytic, numeric in layer_finite_differences(layer, x):
        assert analytic.shape == numeric.shape
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8,
                                   err_msg=f"{case.id} ({mode}): d/d{name}")


GRADCHECK_HIDDEN = [c for c in CASES if c.cls is not layers.Linear]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in GRADCHECK_HIDDEN])
def test_gradcheck_whole_net_with_each_layer(case):
    hidden = case.cls(**case.kwargs)
    model = ffnn.Sequential([layers.Linear(4, 5, rng=0, dtype=np.float64), hidden,
                             layers.Linear(5, 3, rng=1, dtype=np.float64)])
    gen = np.random.default_rng(2)
    X = gen.standard_normal((6, 4))
    y = gen.integers(0, 3, 6)
    report = ffnn.gradcheck(model, losses.SoftmaxCrossEntropy(), X, y, check_input=True)
    assert report.ok, str(report)


# ----------------------------------------------------------------------------- PyTorch reference
def _torch_cases():
    """(id, make ffnn layer (float64), torch function of (x, *param tensors), param names)."""
    return [
        ("Linear", lambda: layers.Linear(5, 4, rng=0, dtype=np.float64),
         lambda x, w, b: F.linear(x, w, b), ("weight", "bias")),
        ("Linear-nobias", lambda: layers.Linear(5, 3, bias=False, rng=0, dtype=np.float64),
         lambda x, w: F.linear(x, w), ("weight",)),
        ("Sigmoid", layers.Sigmoid, lambda x: torch.sigmoid(x), ()),
        ("Tanh", layers.Tanh, lambda x: torch.tanh(x), ()),
        ("ReLU", layers.ReLU, lambda x: torch.relu(x), ()),
        ("LeakyReLU-0.1", lambda: layers.LeakyReLU(0.1), lambda x: F.leaky_relu(x, 0.1), ()),
        ("PReLU-shared", lambda: layers.PReLU(dtype=np.float64), lambda x, a: F.prelu(x, a), ("slope",)),
        ("PReLU-5", lambda: _prelu5(), lambda x, a: F.prelu(x, a), ("slope",)),
        ("RReLU-eval", lambda: layers.RReLU(0.1, 0.3, rng=0).eval(),
         lambda x: F.rrelu(x, 0.1, 0.3, training=False), ()),
        ("ELU-0.7", lambda: layers.ELU(alpha=0.7), lambda x: F.elu(x, alpha=0.7), ()),
        ("ELU-1", layers.ELU, lambda x: F.elu(x), ()),
        ("Softplus", layers.Softplus, lambda x: F.softplus(x), ()),
        ("Softsign", layers.Softsign, lambda x: F.softsign(x), ()),
        ("Identity", layers.Identity, lambda x: x * 1.0, ()),
        ("Softmax", layers.Softmax, lambda x: torch.softmax(x, dim=1), ()),
        ("Dropout-eval", lambda: layers.Dropout(0.3, rng=0).eval(),
         lambda x: F.dropout(x, 0.3, training=False), ()),
    ]


def _prelu5():
    layer = layers.PReLU(num_parameters=5, dtype=np.float64)
    layer.slope.value[...] = [0.05, 0.1, 0.2, 0.3, -0.2]
    return layer


TORCH_CASE_IDS = [c[0] for c in _torch_cases()]


@pytest.mark.requires_torch
@pytest.mark.parametrize("case_id", TORCH_CASE_IDS)
def test_layer_matches_torch_float64(case_id):
    _, make, torch_fn, pnames = next(c for c in _torch_cases() if c[0] == case_id)
    layer = make()
    x = _input_away_from_kinks(np.random.default_rng(0), (6, 5)) * 3  # |x| < 15: softplus threshold
    assert np.abs(x).max() < 15
    by_name = {p.name: p for p in layer.parameters()}
    params = {n: (by_name[n], to_torch(by_name[n].value, requires_grad=True)) for n in pnames}
    tensors = [t for _, t in params.values()]
    compare_with_torch(layer.forward, layer.backward, lambda xt: torch_fn(xt, *tensors), [x], params)


@pytest.mark.requires_torch
def test_linear_matches_torch_nn_linear_with_copied_weights():
    layer = layers.Linear(5, 4, rng=0, dtype=np.float64)
    ref = torch.nn.Linear(5, 4).double()
    with torch.no_grad():  # same (out, in) layout: copied unchanged, no transpose
        ref.weight.copy_(torch.from_numpy(layer.weight.value))
        ref.bias.copy_(torch.from_numpy(layer.bias.value))
    x = np.random.default_rng(0).standard_normal((6, 5))
    compare_with_torch(layer.forward, layer.backward, ref, [x],
                       {"weight": (layer.weight, ref.weight), "bias": (layer.bias, ref.bias)})


# ----------------------------------------------------------------------------- randomness
@pytest.mark.parametrize("dt", [np.float32, np.float64], ids=["float32", "float64"])
def test_rrelu_training_uses_the_slopes_it_drew(dt):
    lower, upper = 0.1, 0.3
    layer = layers.RReLU(lower, upper, rng=0)
    gen = np.random.default_rng(1)
    x = _input_away_from_kinks(gen, (200, 50), dt)
    out = np.array(layer.forward(x))
    assert out.dtype == dt
    factor = out / x
    neg = x < 0
    np.testing.assert_array_equal(out[~neg], x[~neg])
    assert factor[neg].min() >= lower * (1 - 1e-6) and factor[neg].max() <= upper * (1 + 1e-6)
    assert len(np.unique(factor[neg])) > neg.sum() // 2, "slopes must be drawn per element"
    assert abs(factor[neg].mean() - (lower + upper) / 2) < 0.01
    g = gen.standard_normal(x.shape).astype(dt)
    dx = np.array(layer.backward(g))
    np.testing.assert_allclose(dx, g * factor, rtol=1e-5 if dt == np.float32 else 1e-12)
    # fresh slopes on the next forward; the same seed reproduces them bit for bit
    assert not np.array_equal(np.array(layer.forward(x)), out)
    np.testing.assert_array_equal(layers.RReLU(lower, upper, rng=0).forward(x), out)


@pytest.mark.parametrize("dt", [np.float32, np.float64], ids=["float32", "float64"])
def test_dropout_mask_semantics(dt):
    p = 0.3
    layer = layers.Dropout(p, rng=0)
    x = np.ones((1000, 100), dtype=dt)
    out = np.array(layer.forward(x))
    assert out.dtype == dt
    scale = dt(1 / (1 - p))
    assert set(np.unique(out).tolist()) <= {0.0, float(scale)}
    zeros = out == 0
    assert abs(zeros.mean() - p) < 0.01  # 7 standard deviations for 1e5 draws
    assert abs(out.mean() - 1.0) < 0.02  # inverted dropout keeps the expectation
    g = np.random.default_rng(1).standard_normal(x.shape).astype(dt)
    dx = np.array(layer.backward(g))
    np.testing.assert_array_equal(dx, g * out)  # same mask, same 1/(1-p)
    assert not np.array_equal(np.array(layer.forward(x)), out)  # a new mask each forward
    np.testing.assert_array_equal(layers.Dropout(p, rng=0).forward(x), out)  # seeded
    layer.eval()
    np.testing.assert_array_equal(layer.forward(x), x)
    np.testing.assert_array_equal(layer.backward(g), g)


def test_dropout_p0_is_identity_in_training():
    x = np.random.default_rng(0).standard_normal((5, 4))
    layer = layers.Dropout(0.0, rng=0)
    np.testing.assert_array_equal(layer.forward(x), x)


# ----------------------------------------------------------------------------- stability
@contextmanager
def no_float_trouble():
    """Overflow, invalid operations and division by zero raise; so does any warning.

    Underflow is allowed: exp(-1e4) flushing to exactly 0 *is* the exact limit we want.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
            yield


@pytest.mark.parametrize("dt", [np.float32, np.float64], ids=["float32", "float64"])
def test_sigmoid_and_softplus_exact_limits_at_1e4(dt):
    x = np.array([[-1e4, 1e4, 0.0]], dtype=dt)
    g = np.ones_like(x)
    with no_float_trouble():
        sig = layers.Sigmoid()
        y = np.array(sig.forward(x))
        np.testing.assert_array_equal(y, np.array([[0.0, 1.0, 0.5]], dtype=dt))
        np.testing.assert_array_equal(sig.backward(g), np.array([[0.0, 0.0, 0.25]], dtype=dt))
        sp = layers.Softplus()
        y = np.array(sp.forward(x))
        np.testing.assert_array_equal(y, np.array([[0.0, 1e4, np.log(2)]], dtype=dt))
        np.testing.assert_array_equal(sp.backward(g), np.array([[0.0, 1.0, 0.5]], dtype=dt))
        assert y.dtype == dt


@pytest.mark.parametrize("dt", [np.float32, np.float64], ids=["float32", "float64"])
def test_softmax_huge_logits_finite(dt):
    x = np.array([[1e4, 0.0, -1e4], [1e4, 1e4, -1e4]], dtype=dt)
    with no_float_trouble():
        sm = layers.Softmax()
        y = np.array(sm.forward(x))
        np.testing.assert_allclose(y, [[1, 0, 0], [0.5, 0.5, 0]], atol=1e-7)
        assert y.dtype == dt
        dx = np.array(sm.backward(np.ones_like(x)))
        assert np.isfinite(dx).all()


@pytest.mark.parametrize("dt", [np.float32, np.float64], ids=["float32", "float64"])
def test_other_activations_finite_at_extremes(dt):
    x = np.array([[-1e4, 1e4, -50.0, 50.0]], dtype=dt)
    for layer in (layers.Tanh(), layers.ELU(0.5), layers.Softsign(), layers.LeakyReLU(), layers.ReLU()):
        with no_float_trouble():
            y = np.array(layer.forward(x))
            dx = np.array(layer.backward(np.ones_like(x)))
        assert np.isfinite(y).all() and np.isfinite(dx).all(), type(layer).__name__
    with no_float_trouble():
        np.testing.assert_allclose(layers.ELU(0.5).forward(x)[0, :2], [-0.5, 1e4])


# ----------------------------------------------------------------------------- initializers
SHAPE = (400, 300)  # (fan_out, fan_in)
FAN_OUT, FAN_IN = SHAPE
STD_FORMULAS = {
    "gaussian": 0.01,
    "xavier": np.sqrt(2 / (FAN_IN + FAN_OUT)),
    "xavier_uniform": np.sqrt(2 / (FAN_IN + FAN_OUT)),
    "xavier_normal": np.sqrt(2 / (FAN_IN + FAN_OUT)),
    "he": np.sqrt(2 / FAN_IN),
    "he_normal": np.sqrt(2 / FAN_IN),
    "msra": np.sqrt(2 / FAN_IN),
    "he_uniform": np.sqrt(2 / FAN_IN),
}
UNIFORM_LIMITS = {"xavier": np.sqrt(6 / (FAN_IN + FAN_OUT)), "xavier_uniform": np.sqrt(6 / (FAN_IN + FAN_OUT)),
                  "he_uniform": np.sqrt(6 / FAN_IN)}


@pytest.mark.parametrize("name", list(STD_FORMULAS))
def test_initializer_std_matches_formula(name, dtype):
    w = init.get(name)(SHAPE, np.random.default_rng(0), dtype)
    assert w.shape == SHAPE and w.dtype == dtype
    std = STD_FORMULAS[name]
    assert abs(w.std() / std - 1) < 0.03, f"{name}: std {w.std():.5g}, formula {std:.5g}"
    assert abs(w.mean()) < 0.05 * std
    if name in UNIFORM_LIMITS:
        a = UNIFORM_LIMITS[name]
        assert np.abs(w).max() <= a and np.abs(w).max() > 0.99 * a


def test_zeros_initializer(dtype):
    w = init.zeros(SHAPE, np.random.default_rng(0), dtype)
    assert w.dtype == dtype and not w.any()


def test_gaussian_custom_std():
    w = init.gaussian(0.5)(SHAPE, np.random.default_rng(0), np.float64)
    assert abs(w.std() / 0.5 - 1) < 0.03


def test_gaussian_default_std_dtype_and_bad_std(dtype):
    w = init.gaussian()(SHAPE, np.random.default_rng(0), dtype)
    assert w.dtype == dtype and abs(w.std() / 0.01 - 1) < 0.03
    assert init.gaussian(0.0)(SHAPE, np.random.default_rng(0), dtype).std() == 0.0   # std >= 0
    with pytest.raises(ConfigError) as info:
        init.gaussian(-1.0)
    assert str(info.value) == "std must be >= 0.0, got -1.0"


def test_one_dimensional_shape_has_fan_in_and_fan_out_equal_to_its_length():
    gen = np.random.default_rng(0)
    n = 20000
    assert abs(init.he_normal((n,), gen, np.float64).std() / np.sqrt(2 / n) - 1) < 0.03
    assert abs(init.xavier_normal((n,), gen, np.float64).std() / np.sqrt(1 / n) - 1) < 0.03


def test_init_names_and_unknown_attribute():
    from ffnn.catalog import INITIALIZERS
    assert tuple(INITIALIZERS) == init.NAMES and "he" in init.NAMES
    with pytest.raises(AttributeError) as info:
        init.bogus  # noqa: B018
    assert str(info.value) == "module 'ffnn.init' has no attribute 'bogus'"


TORCH_INIT = {
    "xavier_uniform": ("xavier_uniform_", {}),
    "xavier_normal": ("xavier_normal_", {}),
    "he_normal": ("kaiming_normal_", dict(mode="fan_in", nonlinearity="relu")),
    "he_uniform": ("kaiming_uniform_", dict(mode="fan_in", nonlinearity="relu")),
}


@pytest.mark.requires_torch
@pytest.mark.parametrize("name", list(TORCH_INIT))
def test_initializer_matches_torch_nn_init(name):
    fn, kwargs = TORCH_INIT[name]
    torch.manual_seed(0)
    t = torch.empty(SHAPE, dtype=torch.float64)
    getattr(torch.nn.init, fn)(t, **kwargs)
    w = init.get(name)(SHAPE, np.random.default_rng(0), np.float64)
    t_std = float(t.std())
    assert abs(w.std() / t_std - 1) < 0.03, f"{name}: ffnn std {w.std():.5g}, torch {t_std:.5g}"
    if name.endswith("uniform"):
        assert abs(np.abs(w).max() / float(t.abs().max()) - 1) < 0.01


@pytest.mark.parametrize("name", list(init.NAMES))
def test_linear_accepts_init_name(name):
    layer = layers.Linear(FAN_IN, FAN_OUT, init=name, rng=0, dtype=np.float64)
    w = layer.weight.value
    if name == "zeros":
        assert not w.any()
    else:
        assert abs(w.std() / STD_FORMULAS[name] - 1) < 0.03
    assert not layer.bias.value.any()
    assert layer.config()["init"] == name


def test_linear_accepts_callable_init():
    calls = []

    def ones(shape, rng, dtype):
        calls.append((shape, dtype))
        return np.ones(shape, dtype)

    layer = layers.Linear(3, 2, init=ones, rng=0, dtype=np.float64)
    assert calls == [((2, 3), np.dtype(np.float64))]
    np.testing.assert_array_equal(layer.weight.value, np.ones((2, 3)))


def test_linear_unknown_init_name_raises_config_error():
    with pytest.raises(ConfigError, match="bogus") as info:
        layers.Linear(3, 2, init="bogus")
    assert isinstance(info.value, ValueError)
    assert "xavier" in str(info.value)  # says what is expected


def test_init_returning_wrong_shape_raises_shape_error():
    with pytest.raises(ShapeError, match=r"\(2, 3\)"):
        layers.Linear(3, 2, init=lambda shape, rng, dtype: np.zeros((3, 2), dtype))


def test_linear_same_seed_same_weights_different_seed_different():
    a, b, c = (layers.Linear(4, 3, rng=s) for s in (7, 7, 8))
    np.testing.assert_array_equal(a.weight.value, b.weight.value)
    assert not np.array_equal(a.weight.value, c.weight.value)
    gen = np.random.default_rng(7)
    np.testing.assert_array_equal(layers.Linear(4, 3, rng=gen).weight.value, a.weight.value)


# ----------------------------------------------------------------------------- kinks
# Central differences cannot see the derivative chosen at a kink, so x = 0 is fed exactly.
# The convention is PyTorch's: ReLU'(0) = 0, LeakyReLU'(0) = PReLU'(0) = the negative slope,
# ELU'(0) = alpha; RReLU keeps its documented x >= 0 side (slope 1 at 0).

KINK_X = np.array([[0.0, -1.0, 2.0]])


def _grad_at(layer, x=KINK_X):
    y = layer.forward(x)
    assert y[0, 0] == 0.0                      # every one of them is 0 at 0
    return layer.backward(np.ones_like(x))


def test_derivative_at_the_kink():
    np.testing.assert_array_equal(_grad_at(layers.ReLU()), [[0.0, 0.0, 1.0]])
    np.testing.assert_array_equal(_grad_at(layers.LeakyReLU(0.1)), [[0.1, 0.1, 1.0]])
    prelu = layers.PReLU(dtype=np.float64)
    np.testing.assert_array_equal(_grad_at(prelu), [[0.25, 0.25, 1.0]])    # default slope 0.25
    np.testing.assert_array_equal(prelu.slope.grad, [-1.0])                # min(0, x): 0 at the kink
    np.testing.assert_allclose(_grad_at(layers.ELU(alpha=0.5)), [[0.5, 0.5 * np.exp(-1.0), 1.0]], rtol=1e-15)
    rrelu = layers.RReLU(lower=0.1, upper=0.2, rng=0)
    grad = _grad_at(rrelu)
    assert grad[0, 0] == 1.0 and grad[0, 2] == 1.0 and 0.1 <= grad[0, 1] <= 0.2
    rrelu.train(False)
    np.testing.assert_allclose(_grad_at(rrelu), [[1.0, 0.15, 1.0]], rtol=1e-15)


def test_prelu_default_slope_is_a_quarter():
    layer = layers.PReLU()
    assert layer.init == 0.25 and layer.config()["init"] == 0.25
    np.testing.assert_array_equal(layer.slope.value, np.array([0.25], np.float32))
    np.testing.assert_array_equal(layer.forward(np.array([[-4.0, 4.0]], np.float32)), [[-1.0, 4.0]])


@pytest.mark.requires_torch
def test_derivative_at_the_kink_matches_torch():
    x = torch.tensor(KINK_X, requires_grad=True)
    cases = [(layers.ReLU(), F.relu), (layers.LeakyReLU(0.1), lambda t: F.leaky_relu(t, 0.1)),
             (layers.ELU(alpha=0.5), lambda t: F.elu(t, alpha=0.5)),
             (layers.PReLU(dtype=np.float64), lambda t: F.prelu(t, torch.tensor([0.25], dtype=torch.float64)))]
    for ours, theirs in cases:
        x.grad = None
        theirs(x).sum().backward()
        np.testing.assert_allclose(_grad_at(ours), x.grad.numpy(), rtol=1e-15, err_msg=type(ours).__name__)


# ----------------------------------------------------------------------------- exact messages,
# buffers, dtypes and defaults: what the contract test leaves open, value by value.

def _error(kind, fn, message):
    with pytest.raises(kind) as info:
        fn()
    assert str(info.value) == message


LAYER_MESSAGES = [
    (ConfigError, lambda: layers.Linear(0, 2), "in_features must be >= 1, got 0"),
    (ConfigError, lambda: layers.Linear(2, 0), "out_features must be >= 1, got 0"),
    (ShapeError, lambda: layers.Linear(3, 2).forward(np.ones(3)),
     "Linear(3, 2) expects a 2-D batch of shape (n_samples, n_features), got shape (3,)"),
    (ShapeError, lambda: layers.Linear(3, 2).forward(np.ones((2, 4))), "Linear(3, 2) expects 3 input features, got 4"),
    (ShapeError, lambda: layers.Linear(3, 2).forward(np.ones((2, 3, 3))),
     "Linear(3, 2) expects a 2-D batch of shape (n_samples, n_features), got shape (2, 3, 3)"),
    (ShapeError, lambda: layers.Linear(3, 2).forward([[1.0, 2.0, 3.0]]),
     "Linear(3, 2) expects a NumPy array, got [[1.0, 2.0, 3.0]] (list)"),
    (ShapeError, lambda: layers.Linear(3, 2).output_features(4),
     "Linear(3, 2) expects 3 input features, but the layer before it outputs 4"),
    (ShapeError, lambda: layers.Linear(3, 2).backward(np.ones((1, 2))), "Linear.backward called before forward"),
    (ShapeError, lambda: layers.Sigmoid().backward(np.ones((1, 2))), "Sigmoid.backward called before forward"),
    (ShapeError, lambda: layers.Sigmoid().forward(np.ones(3)),
     "Sigmoid expects a 2-D batch of shape (n_samples, n_features), got shape (3,)"),
    (ShapeError, lambda: layers.Tanh().forward(np.ones((1, 2, 2))),
     "Tanh expects a 2-D batch of shape (n_samples, n_features), got shape (1, 2, 2)"),
    (ShapeError, lambda: layers.ReLU().forward([[1.0]]), "ReLU expects a NumPy array, got [[1.0]] (list)"),
    (ShapeError, lambda: layers.ReLU().forward(np.ones((2, 2), dtype=np.int64)),
     "ReLU expects a floating-point array, got dtype int64"),
    (ConfigError, lambda: layers.Sigmoid().load_extra_state({"b": 1, "a": 2}),
     "Sigmoid keeps no extra state, got keys ['a', 'b']"),
    (ConfigError, lambda: layers.LeakyReLU("a"), "negative_slope must be a real number, got 'a' (str)"),
    (ConfigError, lambda: layers.PReLU(0), "num_parameters must be >= 1, got 0"),
    (ConfigError, lambda: layers.PReLU(init="a"), "init must be a real number, got 'a' (str)"),
    (ShapeError, lambda: layers.PReLU().forward(np.ones(3)),
     "PReLU expects a 2-D batch of shape (n_samples, n_features), got shape (3,)"),
    (ShapeError, lambda: layers.PReLU(3).forward(np.ones((1, 2))),
     "PReLU(num_parameters=3) expects 3 input features, got 2"),
    (ShapeError, lambda: layers.PReLU(3).output_features(2),
     "PReLU(num_parameters=3) expects 1 or 2 slopes for 2 input features"),
    (ConfigError, lambda: layers.RReLU(lower=-0.5), "lower must be >= 0.0, got -0.5"),
    (ConfigError, lambda: layers.RReLU(lower=0.5, upper=0.25), "upper must be >= 0.5, got 0.25"),
    (ConfigError, lambda: layers.RReLU().load_extra_state({}),
     "RReLU rng: expected a saved generator state (a dict), got None (NoneType)"),
    (ConfigError, lambda: layers.ELU(alpha=-0.5), "alpha must be >= 0.0, got -0.5"),
    (ConfigError, lambda: layers.Dropout(1.0), "p must be < 1.0, got 1.0 (expected a value in [0.0, 1.0))"),
    (ConfigError, lambda: layers.Dropout(-0.5), "p must be >= 0.0, got -0.5 (expected a value in [0.0, 1.0))"),
    (ConfigError, lambda: layers.Dropout().load_extra_state({}),
     "Dropout rng: expected a saved generator state (a dict), got None (NoneType)"),
    (ConfigError, lambda: layers.BatchNorm(0), "num_features must be >= 1, got 0"),
    (ConfigError, lambda: layers.LayerNorm(2, eps=0.0), "eps must be > 0.0, got 0.0"),
    (ConfigError, lambda: layers.BatchNorm(2, momentum=0.0),
     "momentum must be > 0.0, got 0.0 (expected a value in (0.0, 1.0])"),
    (ConfigError, lambda: layers.BatchNorm(2, momentum=1.5),
     "momentum must be <= 1.0, got 1.5 (expected a value in (0.0, 1.0])"),
    (ConfigError, lambda: layers.BatchNorm(2, running_mean=["a", "b"]),
     "BatchNorm running_mean must be 2 numbers, got ['a', 'b']"),
    (ConfigError, lambda: layers.BatchNorm(2, running_var=[1.0, -0.5]), "BatchNorm running_var must be >= 0"),
    (ShapeError, lambda: layers.BatchNorm(2).forward(np.ones((1, 2))),
     "BatchNorm in training mode needs more than 1 sample per batch, got 1 "
     "(use batches of 2 or more, or model.eval())"),
    (ShapeError, lambda: layers.BatchNorm(3).forward(np.ones((2, 2))), "BatchNorm(3) expects 3 input features, got 2"),
    (ShapeError, lambda: layers.LayerNorm(3).output_features(2),
     "LayerNorm(3) expects 3 input features, but the layer before it outputs 2"),
]


@pytest.mark.parametrize("kind, make, message", LAYER_MESSAGES, ids=[m[:50] for _, _, m in LAYER_MESSAGES])
def test_layer_message_is_exact(kind, make, message):
    _error(kind, make, message)


def test_gradient_of_the_wrong_shape_is_named():
    layer = layers.Sigmoid()
    layer.forward(np.zeros((2, 3)))
    _error(ShapeError, lambda: layer.backward(np.ones((3, 2))),
           "Sigmoid.backward expects a gradient of shape (2, 3) (the shape of its last output), got (3, 2)")
    _error(ShapeError, lambda: layer.backward([[1.0]]),
           "Sigmoid.backward expects a gradient of shape (2, 3) (the shape of its last output), got list")


def test_smallest_sizes_and_closed_ends_are_accepted():
    assert layers.Linear(1, 1).forward(np.ones((1, 1), np.float32)).shape == (1, 1)
    assert layers.BatchNorm(1).parameters()[0].shape == (1,)
    layers.BatchNorm(2, momentum=1.0, running_var=[0.0, 0.0])        # a variance of 0 is a variance
    layers.Dropout(0.0)
    layers.RReLU(lower=0.0, upper=0.0)
    layers.ELU(alpha=0.0)


@pytest.mark.parametrize("make", [lambda: layers.Linear(3, 3, rng=0), layers.Sigmoid, layers.Tanh, layers.ReLU],
                         ids=["Linear", "Sigmoid", "Tanh", "ReLU"])
def test_output_and_input_gradient_reuse_the_layers_buffers(make):
    # documented on Layer._buffer: an array owned by the layer, reused while shape and dtype stay the same
    layer = make()
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    y1 = layer.forward(x)
    first = y1.copy()
    assert layer.forward(x) is y1
    np.testing.assert_array_equal(y1, first)
    g = np.ones_like(y1)
    dx1 = layer.backward(g)
    assert layer.backward(g) is dx1
    assert layer.forward(x[:2]) is not y1                         # a new shape: a new buffer


def test_call_is_forward_and_eval_is_train_false():
    layer = layers.Tanh()
    x = np.array([[0.5, -0.5]])
    np.testing.assert_array_equal(layer(x), np.tanh(x))
    assert layer.eval() is layer and layer.training is False
    assert layer.train() is layer and layer.training is True


def test_pickle_drops_buffers_and_caches():
    import pickle
    layer = layers.Sigmoid()
    layer.forward(np.zeros((2, 3)))
    restored = pickle.loads(pickle.dumps(layer))
    assert restored._buffers == {} and restored._y is None
    assert layer._y is not None                                  # the original keeps its cache
    _error(ShapeError, lambda: restored.backward(np.ones((2, 3))), "Sigmoid.backward called before forward")
    linear = layers.Linear(2, 2, rng=0)
    copy = pickle.loads(pickle.dumps(linear))
    np.testing.assert_array_equal(copy.weight.value, linear.weight.value)
    assert copy._buffers == {} and copy._x is None


def test_linear_parameters_decay_flags_and_initializer_dtype():
    seen = []

    def record(shape, rng, dtype):
        seen.append(dtype)
        return np.ones(shape, dtype)

    layer = layers.Linear(3, 2, init=record, dtype=np.float32)
    assert seen == [np.dtype(np.float32)] and layer.weight.value.dtype == np.float32
    assert layer.weight.decay is True and layer.bias.decay is False
    assert layers.PReLU().slope.decay is False
    norm = layers.BatchNorm(2)
    assert norm.weight.decay is False and norm.bias.decay is False and norm.in_features == 2
    assert layers.LayerNorm(2, affine=False).parameters() == [] and len(layers.LayerNorm(2).parameters()) == 2


def test_float64_input_to_a_float32_layer_is_rounded_first():
    # the layer computes in its own dtype: a float64 batch gives the same bits as its float32 rounding
    gen = np.random.default_rng(0)
    x64 = gen.standard_normal((5, 3))
    x32 = x64.astype(np.float32)
    for make in (lambda: layers.Linear(3, 3, rng=1), lambda: layers.PReLU(3),
                 lambda: layers.BatchNorm(3), lambda: layers.LayerNorm(3)):
        a, b = make(), make()
        ya, yb = a.forward(x64), b.forward(x32)
        assert ya.dtype == np.float32
        np.testing.assert_array_equal(ya, yb)
        if isinstance(a, layers.PReLU):     # its dE/dx takes grad_out's dtype; the others convert it
            continue
        g64 = gen.standard_normal(ya.shape)
        dxa, dxb = a.backward(g64), b.backward(g64.astype(np.float32))
        assert dxa.dtype == np.float32
        np.testing.assert_array_equal(dxa, dxb)
        for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
            np.testing.assert_array_equal(pa.grad, pb.grad)


def test_sigmoid_computes_in_the_input_dtype():
    from ffnn._math import sigmoid
    x = np.random.default_rng(0).standard_normal((50, 40)).astype(np.float32) * 4
    np.testing.assert_array_equal(layers.Sigmoid().forward(x), sigmoid(x))


def test_linear_repr_config_and_from_config():
    assert repr(layers.Linear(3, 2, bias=False, dtype=np.float64)) == "Linear(3, 2, bias=False, dtype=float64)"
    assert repr(layers.Linear(3, 2)) == "Linear(3, 2, dtype=float32)"
    rebuilt = layers.Linear.from_config({"in_features": 3, "out_features": 2})
    assert rebuilt.config()["init"] == "xavier" and not rebuilt.weight.value.any()   # no random draw
    assert layers.Linear.from_config({**rebuilt.config(), "init": init.gaussian(0.5)}).init == "gaussian(std=0.5)"
    assert layers.Linear(3, 2, init=init.gaussian(0.5)).init == "gaussian(std=0.5)"
    assert layers.Linear(3, 2, init=lambda s, r, d: np.zeros(s, d)).init == "xavier"   # unnamed callables
    nameless = type("Init", (), {"__call__": lambda self, s, r, d: np.zeros(s, d)})()
    assert layers.Linear(3, 2, init=nameless).init == "xavier"
    assert repr(layers.RReLU(0.25, 0.5)) == "RReLU(lower=0.25, upper=0.5)"
    assert repr(layers.BatchNorm(3, affine=False)) == \
        "BatchNorm(3, momentum=0.1, eps=1e-05, affine=False, dtype=float32)"
    assert repr(layers.BatchNorm(3)) == "BatchNorm(3, momentum=0.1, eps=1e-05, dtype=float32)"


def test_layer_defaults():
    assert layers.LeakyReLU().negative_slope == 0.01
    np.testing.assert_array_equal(layers.LeakyReLU().forward(np.array([[-1.0]])), [[-0.01]])
    assert layers.Dropout().p == 0.5
    assert layers.LayerNorm(3).eps == 1e-5


def test_elu_does_not_overflow_for_large_inputs():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = layers.ELU(alpha=0.5).forward(np.array([[1000.0, -1000.0]]))
    np.testing.assert_array_equal(y, [[1000.0, -0.5]])


def test_rrelu_extra_state_round_trip():
    a, b = layers.RReLU(rng=1), layers.RReLU(rng=2)
    x = -np.ones((3, 4))
    a.forward(x)
    b.load_extra_state(a.extra_state())
    np.testing.assert_array_equal(a.forward(x), b.forward(x))
    assert set(a.extra_state()) == {"rng"}


def test_dropout_draws_in_the_input_dtype_and_keeps_a_draw_equal_to_p():
    x = np.ones((2, 5), np.float32)
    draws = np.random.default_rng(3).random((2, 5), dtype=np.float32)
    y = layers.Dropout(0.5, rng=3).forward(x)
    np.testing.assert_array_equal(y, (draws >= 0.5) * np.float32(2.0))
    p = float(draws[0, 0])                                       # a draw exactly at p is kept (u >= p)
    y = layers.Dropout(p, rng=3).forward(x)
    assert y[0, 0] == np.float32(1 / (1 - p))


def test_dropout_with_p_zero_draws_nothing():
    layer = layers.Dropout(0.0, rng=0)
    before = layer.extra_state()
    x = np.ones((2, 2))
    assert layer.forward(x) is x
    assert layer.extra_state() == before


def test_batchnorm_statistics_dtype_and_reset():
    layer = layers.BatchNorm(2, running_mean=[1, 2], running_var=[3, 4], dtype=np.float32)
    assert layer.running_mean.dtype == np.float32 and layer.running_var.dtype == np.float32
    assert layers.BatchNorm(2, dtype=np.float64).running_var.dtype == np.float64
    layer.load_extra_state({"running_mean": [0.5, 0.5], "running_var": [2, 2]})
    assert layer.running_var.dtype == np.float32 and layer.running_var.tolist() == [2.0, 2.0]
    layer.load_extra_state({"running_mean": None, "running_var": None})        # back to the initial values
    assert layer.running_mean.tolist() == [0.0, 0.0] and layer.running_var.tolist() == [1.0, 1.0]
    _error(ShapeError, lambda: layer.load_extra_state({"running_mean": [1.0], "running_var": [1.0, 1.0]}),
           "BatchNorm running_mean must have shape (2,), got (1,)")
    _error(ConfigError, lambda: layer.load_extra_state({"running_mean": [0.0, 0.0], "running_var": [-1.0, 1.0]}),
           "BatchNorm running_var must be >= 0")


def test_batchnorm_running_statistics_follow_the_layer_dtype():
    layer = layers.BatchNorm(2, dtype=np.float64)
    layer.dtype = np.dtype(np.float32)                         # what model.astype does to the layer
    layer.forward(np.ones((3, 2), np.float32))
    assert layer.running_mean.dtype == np.float32 and layer.running_var.dtype == np.float32


def test_layers_module_names():
    from ffnn import catalog
    assert layers.ACTIVATIONS is catalog.ACTIVATIONS and layers.LAYERS is catalog.LAYERS
    with pytest.raises(AttributeError) as info:
        layers.bogus  # noqa: B018
    assert str(info.value) == "module 'ffnn.layers' has no attribute 'bogus'"


def test_float_array_subclass_is_accepted():
    class Batch(np.ndarray):
        pass

    x = np.array([[0.0, 1.0]]).view(Batch)
    for layer in (layers.Sigmoid(), layers.Dropout(0.5, rng=0).eval()):
        assert layer.forward(x).shape == (1, 2)


def test_softmax_shifts_each_row_by_its_own_max():
    y = layers.Softmax().forward(np.array([[1000.0, 0.0], [0.0, 1.0]]))
    np.testing.assert_allclose(y, [[1.0, 0.0], [1 / (1 + np.e), np.e / (1 + np.e)]], rtol=1e-15, atol=1e-300)


def test_normalization_without_affine_has_no_weight_or_bias():
    for layer in (layers.LayerNorm(2, affine=False), layers.BatchNorm(2, affine=False)):
        assert layer.weight is None and layer.bias is None and layer.parameters() == []


def test_batchnorm_default_statistics_take_the_layer_dtype():
    layer = layers.BatchNorm(2)
    assert layer.running_mean.dtype == np.float32 and layer.running_var.dtype == np.float32
    layer.load_extra_state({"running_mean": None, "running_var": None})
    assert layer.running_mean.dtype == np.float32 and layer.running_var.dtype == np.float32
