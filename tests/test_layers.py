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
