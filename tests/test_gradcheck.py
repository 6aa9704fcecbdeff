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


# ------------------------------------------------------------------------- kinks
def dead_relu_net(activation=layers.ReLU):
    """Zero weights and biases in the first layer: every pre-activation of the first
    activation is exactly 0, on its corner (like the dead layer with zero biases that
    ffnn gradcheck used to FAIL)."""
    first = layers.Linear(3, 4, rng=0, dtype=np.float64)
    first.weight.value[...] = 0.0
    first.bias.value[...] = 0.0
    model = ffnn.Sequential([first, activation(), layers.Linear(4, 4, rng=1, dtype=np.float64), activation(),
                             layers.Linear(4, 2, rng=2, dtype=np.float64)])
    X = np.abs(np.random.default_rng(0).standard_normal((6, 3)))
    return model, X, np.array([0, 1, 1, 0, 1, 0])


@pytest.mark.parametrize("activation", [layers.ReLU, layers.LeakyReLU, layers.PReLU, layers.RReLU,
                                        lambda: layers.ELU(alpha=0.5)], ids=["relu", "leaky", "prelu", "rrelu", "elu"])
def test_inputs_on_a_kink_are_skipped_and_reported_not_failed(activation):
    model, X, y = dead_relu_net(activation)
    report = ffnn.gradcheck(model, losses.SoftmaxCrossEntropy(), X, y, check_input=True)
    assert report.ok, str(report)
    assert report.skipped > 0
    text = str(report)
    assert f"{report.skipped} entries skipped at kinks" in text and "PASS" in text
    assert "layer 1" in text


def test_without_the_kink_protocol_the_same_net_is_a_false_fail():
    class PlainReLU(layers.Layer):       # a user's ReLU that does not declare its corner
        def forward(self, x):
            self._x = x
            return np.maximum(x, 0.0)

        def backward(self, grad_out):
            return grad_out * (self._x > 0)

    model, X, y = dead_relu_net(PlainReLU)
    report = ffnn.gradcheck(model, losses.SoftmaxCrossEntropy(), X, y)
    assert not report.ok and report.skipped == 0


def test_a_users_layer_declaring_kinks_is_handled_by_protocol():
    class Hinge(layers.Layer):           # not a ReLU subclass: y = max(x, 1), corner at 1
        kinks = (1.0,)

        def forward(self, x):
            self._x = x
            return np.maximum(x, 1.0)

        def backward(self, grad_out):
            return grad_out * (self._x > 1.0)

    first = layers.Linear(3, 4, rng=0, dtype=np.float64)
    first.weight.value[...] = 0.0
    first.bias.value[...] = 1.0                              # every input of Hinge exactly at its corner
    model = ffnn.Sequential([first, Hinge(), layers.Linear(4, 2, rng=1, dtype=np.float64)])
    X, y = data()
    report = ffnn.gradcheck(model, losses.SoftmaxCrossEntropy(), X, y)
    assert report.ok and report.skipped > 0, str(report)
    assert "Hinge" in str(report)


def test_a_wrong_gradient_still_fails_next_to_kinks():
    class WrongReLU(layers.ReLU):        # declares the corner, but its slope is 2 instead of 1
        def backward(self, grad_out, input_grad=True):
            return 2.0 * super().backward(grad_out)

    model, X, y = dead_relu_net(WrongReLU)
    model.layers[0].weight.value[...] = np.random.default_rng(3).standard_normal((4, 3))
    model.layers[0].bias.value[...] = 0.3                    # off the corners again
    model.layers[2].bias.value[...] = 0.3
    report = ffnn.gradcheck(model, losses.SoftmaxCrossEntropy(), X, y)
    assert not report.ok, str(report)
    assert "FAIL" in str(report)


def test_kinks_are_declared_where_the_derivative_jumps():
    for layer in (layers.ReLU(), layers.LeakyReLU(), layers.PReLU(), layers.RReLU(), layers.ELU(alpha=0.5)):
        assert layer.kinks == (0.0,), type(layer).__name__
    for layer in (layers.ELU(), layers.Tanh(), layers.Sigmoid(), layers.Softplus(), layers.Softsign(),
                  layers.Identity(), layers.Linear(2, 2)):
        assert layer.kinks == (), type(layer).__name__     # ELU(alpha=1) and Softsign: the slope is continuous


def test_cli_gradcheck_relu_passes(capsys):
    from ffnn.cli import main
    assert main(["gradcheck", "--hidden", "5,4", "--activation", "relu"]) == 0
    assert "PASS" in capsys.readouterr().out
