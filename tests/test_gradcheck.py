"""ffnn.gradcheck: passes correct nets, catches wrong backward passes, leaves the model alone."""

from __future__ import annotations

import numpy as np
import pytest

import ffnn
from ffnn import layers, losses
from ffnn.errors import ConfigError


def net(dtype=np.float32, hidden=None):
    return ffnn.Sequential([layers.Linear(3, 4, rng=0, dtype=dtype), hidden or layers.Tanh(),
                            layers.Linear(4, 2, rng=1, dtype=dtype)])


def data(n=5, seed=0):
    gen = np.random.default_rng(seed)
    return gen.standard_normal((n, 3)), gen.integers(0, 2, n)


class BrokenTanh(layers.Tanh):
    """Tanh with a wrong derivative: (1 - y) instead of (1 - y^2)."""

    def backward(self, grad_out):
        return grad_out * (1.0 - self._y)


def _broken_tanh_backward(self, grad_out):
    return grad_out * (1.0 - self._y)


@pytest.fixture
def tanh_broken_in_place(monkeypatch):
    """Break the registered Tanh itself, so the detection is tested independently of how
    gradcheck copies the model (see test_broken_layer_is_not_ok for a user subclass)."""
    monkeypatch.setattr(layers.Tanh, "backward", _broken_tanh_backward)


class Square(layers.Layer):
    """A user's own correct layer: y = x^2, dy/dx = 2x."""

    def forward(self, x):
        self._x = x
        return x * x

    def backward(self, grad_out):
        return 2.0 * self._x * grad_out


LOSS_CASES = [
    pytest.param(lambda: losses.SoftmaxCrossEntropy(), lambda g, n: g.integers(0, 2, n), id="softmax-ce"),
    pytest.param(lambda: losses.EuclideanLoss(), lambda g, n: g.standard_normal((n, 2)), id="euclidean"),
    pytest.param(lambda: losses.BinaryCrossEntropy(), lambda g, n: g.integers(0, 2, (n, 2)).astype(float),
                 id="bce"),
    pytest.param(lambda: losses.RobustBinaryCrossEntropy(0.1), lambda g, n: g.integers(0, 2, (n, 2)).astype(float),
                 id="robust-bce"),
]


@pytest.mark.parametrize("make_loss, make_target", LOSS_CASES)
@pytest.mark.parametrize("model_dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_correct_net_is_ok(make_loss, make_target, model_dtype):
    X, _ = data()
    y = make_target(np.random.default_rng(1), len(X))
    report = ffnn.gradcheck(net(model_dtype), make_loss(), X, y, check_input=True)
    assert report.ok, str(report)
    assert report.max_relative_error < 1e-6
    assert "PASS" in str(report)


def test_correct_net_with_dropout_and_rrelu_is_ok():
    model = ffnn.Sequential([layers.Linear(3, 4, rng=0), layers.RReLU(rng=0), layers.Dropout(0.5, rng=0),
                             layers.Linear(4, 2, rng=1)])
    X, y = data()
    assert ffnn.gradcheck(model, losses.SoftmaxCrossEntropy(), X, y).ok


def test_broken_layer_is_not_ok():
    """STYLE rule 10: users verify their own layers with ffnn.gradcheck."""
    X, y = data()
    report = ffnn.gradcheck(net(hidden=BrokenTanh()), losses.SoftmaxCrossEntropy(), X, y)
    assert not report.ok
    bad = {e.name for e in report.entries if not e.ok}
    assert "0.weight" in bad  # the wrong derivative corrupts everything below the layer
    assert next(e for e in report.entries if e.name == "2.weight").ok  # above it is fine
    text = str(report)
    assert "NO" in text and "FAIL" in text
    assert report.max_relative_error > 1e-2


def test_wrong_backward_detected(tanh_broken_in_place):
    X, y = data()
    report = ffnn.gradcheck(net(), losses.SoftmaxCrossEntropy(), X, y)
    assert not report.ok
    assert {e.name for e in report.entries if not e.ok} >= {"0.weight"}
    assert next(e for e in report.entries if e.name == "2.weight").ok
    text = str(report)
    assert "NO" in text and "FAIL" in text
    assert report.max_relative_error > 1e-2


def test_broken_layer_named_like_a_builtin_is_not_ok():
    """A custom subclass that happens to share a registered name must be checked, not replaced."""
    Tanh = type("Tanh", (BrokenTanh,), {})
    X, y = data()
    report = ffnn.gradcheck(net(hidden=Tanh()), losses.SoftmaxCrossEntropy(), X, y)
    assert not report.ok, str(report)


def test_users_own_correct_layer_is_ok():
    X, y = data()
    report = ffnn.gradcheck(net(hidden=Square()), losses.SoftmaxCrossEntropy(), X, y, check_input=True)
    assert report.ok, str(report)


def test_report_table_names_every_parameter():
    X, y = data()
    model = net()
    report = ffnn.gradcheck(model, losses.SoftmaxCrossEntropy(), X, y)
    names = [e.name for e in report.entries]
    assert names == [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    text = str(report)
    for e in report.entries:
        assert e.name in text and str(e.shape) in text
    assert "eps=1e-06" in text


def test_max_relative_error_property(tanh_broken_in_place):
    X, y = data()
    report = ffnn.gradcheck(net(), losses.SoftmaxCrossEntropy(), X, y)
    assert report.max_relative_error == max(e.max_rel_error for e in report.entries)
    assert report.max_absolute_error == max(e.max_abs_error for e in report.entries)
    assert ffnn.GradcheckReport().max_relative_error == 0.0 and ffnn.GradcheckReport().ok


def test_check_input_adds_an_input_entry():
    X, y = data(n=6)
    without = ffnn.gradcheck(net(), losses.SoftmaxCrossEntropy(), X, y)
    assert "input" not in [e.name for e in without.entries]
    report = ffnn.gradcheck(net(), losses.SoftmaxCrossEntropy(), X, y, check_input=True)
    entry = report.entries[-1]
    assert entry.name == "input" and entry.shape == X.shape and entry.checked == X.size and entry.ok


def test_check_input_catches_a_wrong_input_gradient(monkeypatch):
    model = ffnn.Sequential([layers.Tanh(), layers.Linear(3, 2, rng=0)])
    X, y = data()
    assert ffnn.gradcheck(model, losses.SoftmaxCrossEntropy(), X, y, check_input=True).ok
    original = layers.Linear.backward

    def doubled_dx(self, grad_out, input_grad=True):
        dx = original(self, grad_out, input_grad)
        return None if dx is None else dx * 2.0

    monkeypatch.setattr(layers.Linear, "backward", doubled_dx)
    report = ffnn.gradcheck(model, losses.SoftmaxCrossEntropy(), X, y, check_input=True)
    assert not report.ok and [e.name for e in report.entries if not e.ok] == ["input"]


@pytest.mark.parametrize("max_elements", [1, 3, 100])
def test_max_elements_samples(max_elements):
    X, y = data()
    model = net()
    report = ffnn.gradcheck(model, losses.SoftmaxCrossEntropy(), X, y, max_elements=max_elements,
                            check_input=True)
    sizes = [p.size for p in model.parameters()] + [X.size]
    assert [e.checked for e in report.entries] == [min(max_elements, s) for s in sizes]
    assert report.ok


def test_max_elements_sampling_is_seeded(tanh_broken_in_place):
    X, y = data()
    a = ffnn.gradcheck(net(), losses.SoftmaxCrossEntropy(), X, y, max_elements=2, rng=3)
    b = ffnn.gradcheck(net(), losses.SoftmaxCrossEntropy(), X, y, max_elements=2, rng=3)
    assert a == b


def test_model_unchanged_by_gradcheck():
    model = net(np.float32, hidden=layers.Dropout(0.5, rng=0))
    assert model.training
    before = model.state()
    X, y = data()
    ffnn.gradcheck(model, losses.SoftmaxCrossEntropy(), X, y, check_input=True)
    assert model.dtype == np.float32 and model.training and all(layer.training for layer in model)
    for name, p in model.named_parameters():
        assert p.value.dtype == np.float32
        np.testing.assert_array_equal(p.value, before[name], err_msg=name)
    assert X.dtype == np.float64


def test_float32_input_accepted():
    X, y = data()
    assert ffnn.gradcheck(net(), losses.SoftmaxCrossEntropy(), X.astype(np.float32), y).ok


@pytest.mark.parametrize("eps", [0.0, -1e-6, "1e-6"])
def test_bad_eps_raises_config_error(eps):
    X, y = data()
    with pytest.raises(ConfigError):
        ffnn.gradcheck(net(), losses.SoftmaxCrossEntropy(), X, y, eps=eps)
