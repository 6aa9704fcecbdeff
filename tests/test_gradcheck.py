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


# ------------------------------------------------------- exact figures of the report
class Gain(layers.Layer):
    """y = a * x with one learned gain per feature; its gradient is deliberately
    ``factor * dE/da + offset`` so that the report's figures are known in advance."""

    seen: list[tuple[str, tuple[int, ...]]] = []   # class-level: shared with gradcheck's float64 copy

    def __init__(self, n=1, factor=1.0, offset=0.0, value=1.0, tag=""):
        super().__init__()
        self.tag = tag
        self.gain = ffnn.Parameter(np.full(n, value, dtype=np.float64), name="gain")
        self._start = self.gain.value.copy()
        self.factor, self.offset = factor, offset

    def parameters(self):
        return [self.gain]

    def forward(self, x):
        Gain.seen.append((self.tag, tuple(np.flatnonzero(self.gain.value != self._start))))
        self._x = x
        return x * self.gain.value

    def backward(self, grad_out, input_grad=True):
        self.gain.grad[...] = (grad_out * self._x).sum(axis=0) * self.factor + self.offset
        return grad_out * self.gain.value


def gain_net(**kwargs):
    """out = g * x with x = 3, t = 1 and g = 2: E = 1/2 (3g - 1)^2, dE/dg = 3 (3g - 1) = 15."""
    return ffnn.Sequential([Gain(**kwargs, value=2.0)]), np.array([[3.0]]), np.array([[1.0]])


def test_max_errors_are_the_known_values_for_a_gradient_twice_too_large():
    model, X, t = gain_net(factor=2.0)                       # analytic 30, numeric 15
    report = ffnn.gradcheck(model, losses.EuclideanLoss(), X, t)
    (entry,) = report.entries
    assert entry.name == "0.gain" and entry.shape == (1,) and entry.checked == 1 and not entry.ok
    # |a - n| = 15 and |a - n| / max(|a|, |n|) = 15 / 30
    assert entry.max_abs_error == pytest.approx(15.0, rel=1e-6)
    assert entry.max_rel_error == pytest.approx(0.5, rel=1e-6)
    assert report.max_relative_error == pytest.approx(0.5, rel=1e-6)
    assert report.max_absolute_error == pytest.approx(15.0, rel=1e-6)
    assert not report.ok and "FAIL" in str(report) and "NO" in str(report)


def test_relative_error_divides_by_the_larger_magnitude():
    model, X, t = gain_net(factor=0.25)                      # analytic 3.75, numeric 15
    report = ffnn.gradcheck(model, losses.EuclideanLoss(), X, t)
    assert report.max_absolute_error == pytest.approx(11.25, rel=1e-6)
    assert report.max_relative_error == pytest.approx(0.75, rel=1e-6)   # 11.25 / 15, not / 3.75


def test_default_tolerances_eps_and_their_report():
    params = __import__("inspect").signature(ffnn.gradcheck).parameters
    assert (params["eps"].default, params["rtol"].default, params["atol"].default) == (1e-6, 1e-5, 1e-8)
    assert params["max_elements"].default is None and params["check_input"].default is False
    model, X, t = gain_net()
    report = ffnn.gradcheck(model, losses.EuclideanLoss(), X, t)
    assert (report.eps, report.rtol, report.atol) == (1e-6, 1e-5, 1e-8)
    empty = ffnn.GradcheckReport()
    assert (empty.eps, empty.rtol, empty.atol, empty.entries, empty.kink_layers) == (1e-6, 1e-5, 1e-8, [], ())
    assert "eps=1e-06, float64; pass if |a-n| <= 1e-08 + 1e-05|n|: PASS" in str(report)
    assert report.ok and report.skipped == 0 and "skipped" not in str(report)


@pytest.mark.parametrize("factor, ok", [(1 + 3e-6, True), (1 + 3e-5, False)])
def test_the_default_relative_tolerance_is_1e_5(factor, ok):
    model, X, t = gain_net(factor=factor)
    assert ffnn.gradcheck(model, losses.EuclideanLoss(), X, t).ok is ok


@pytest.mark.parametrize("offset, ok", [(5e-9, True), (3e-8, False)])
def test_the_default_absolute_tolerance_is_1e_8(offset, ok):
    # x = 0: dE/dg = 0 exactly, so only the absolute tolerance can pass the offset
    model = ffnn.Sequential([Gain(offset=offset)])
    report = ffnn.gradcheck(model, losses.EuclideanLoss(), np.array([[0.0]]), np.array([[1.0]]))
    assert report.ok is ok
    assert report.max_absolute_error == pytest.approx(offset, rel=1e-6)
    # |a - 0| / max(|a|, |0|, atol): 5e-9 / 1e-8 and 3e-8 / 3e-8
    assert report.max_relative_error == pytest.approx(offset / max(offset, 1e-8), rel=1e-6)


def test_an_exact_gradient_passes_with_zero_tolerances():
    # every value is a short binary fraction: both differences and the derivative are exact
    model = ffnn.Sequential([Gain(value=1.5)])
    report = ffnn.gradcheck(model, losses.EuclideanLoss(), np.array([[1.0]]), np.array([[1.0]]),
                            eps=2.0 ** -20, rtol=0.0, atol=0.0)
    assert report.max_absolute_error == 0.0 and report.max_relative_error == 0.0
    assert report.ok, str(report)                            # |a - n| <= 0 + 0 |n| holds with equality


@pytest.mark.parametrize("n, max_elements", [(20, 19), (12, 6)])
def test_sampled_elements_are_distinct_and_each_perturbed_both_ways(n, max_elements):
    model = ffnn.Sequential([Gain(n=n)])
    X = np.random.default_rng(0).standard_normal((4, n))
    Gain.seen.clear()
    report = ffnn.gradcheck(model, losses.EuclideanLoss(), X, np.zeros((4, n)), max_elements=max_elements)
    moved = [s for _, s in Gain.seen if s]
    assert all(len(s) == 1 for s in moved)                   # one element at a time
    assert len(moved) == 2 * max_elements                    # + eps and - eps for each
    assert len({s[0] for s in moved}) == max_elements        # drawn without replacement
    assert report.entries[0].checked == max_elements and report.ok


def test_a_zero_gradient_with_zero_atol_has_zero_relative_error():
    # x = 0: analytic and numeric dE/dg are both exactly 0; 0/0 used to give NaN and a RuntimeWarning
    report = ffnn.gradcheck(ffnn.Sequential([Gain()]), losses.EuclideanLoss(), np.array([[0.0]]),
                            np.array([[1.0]]), atol=0.0)
    assert report.max_relative_error == 0.0 and report.max_absolute_error == 0.0 and report.ok


def moved_elements(tag):
    return sorted({s[0] for t, s in Gain.seen if t == tag and s})


def test_elements_are_drawn_only_where_there_are_more_than_max_elements():
    # "a" holds exactly max_elements: all of it is checked and nothing is drawn for it; the
    # Linear's weight (15) and bias (5) and then "b" (5) each take the next draw of the
    # generator made from rng (0 by default)
    model = ffnn.Sequential([Gain(n=3, tag="a"), layers.Linear(3, 5, rng=0, dtype=np.float64), Gain(n=5, tag="b")])
    X = np.random.default_rng(0).standard_normal((4, 3))
    for kwargs, seed in [({}, 0), ({"rng": 5}, 5)]:
        Gain.seen.clear()
        report = ffnn.gradcheck(model, losses.EuclideanLoss(), X, np.zeros((4, 5)), max_elements=3, **kwargs)
        assert [e.checked for e in report.entries] == [3, 3, 3, 3] and report.ok
        gen = np.random.default_rng(seed)
        gen.choice(15, 3, replace=False), gen.choice(5, 3, replace=False)
        assert moved_elements("a") == [0, 1, 2]
        assert moved_elements("b") == sorted(gen.choice(5, 3, replace=False))


def test_the_report_table_exactly():
    from ffnn.gradcheck import GradcheckEntry
    report = ffnn.GradcheckReport(
        entries=[GradcheckEntry("0.weight", (4, 3), 12, 1.5e-3, 2.5e-1, False, 2),
                 GradcheckEntry("2.b", (4,), 4, 0.0, 0.0, True)],
        kink_layers=("layer 1 (ReLU)", "layer 3 (ReLU)"))
    assert str(report) == "\n".join([
        "parameter         shape  checked  at kink  max abs err  max rel err  ok",
        "-----------------------------------------------------------------------",
        "0.weight         (4, 3)       12        2    1.500e-03    2.500e-01  NO",
        "2.b                (4,)        4        0    0.000e+00    0.000e+00  yes",
        "2 entries skipped at kinks: their ±eps step crosses the corner of layer 1 (ReLU), layer 3 (ReLU) "
        "(a central difference there is not the derivative)",
        "central differences, eps=1e-06, float64; pass if |a-n| <= 1e-08 + 1e-05|n|: FAIL"])
    assert report.skipped == 2 and not report.ok
    assert report.max_absolute_error == 1.5e-3 and report.max_relative_error == 2.5e-1
    passing = ffnn.GradcheckReport(entries=[GradcheckEntry("a_long_parameter_name", (2,), 2, 0.0, 0.0, True)],
                                   eps=2e-6, rtol=3e-4, atol=0.0)
    assert str(passing) == "\n".join([
        "parameter                     shape  checked  at kink  max abs err  max rel err  ok",
        "-----------------------------------------------------------------------------------",
        "a_long_parameter_name          (2,)        2        0    0.000e+00    0.000e+00  yes",
        "central differences, eps=2e-06, float64; pass if |a-n| <= 0 + 0.0003|n|: PASS"])


def test_the_report_carries_the_tolerances_it_was_checked_with():
    model, X, t = gain_net()
    report = ffnn.gradcheck(model, losses.EuclideanLoss(), X, t, eps=2e-6, rtol=3e-4, atol=4e-9)
    assert (report.eps, report.rtol, report.atol) == (2e-6, 3e-4, 4e-9)
    assert "eps=2e-06, float64; pass if |a-n| <= 4e-09 + 0.0003|n|: PASS" in str(report)


def test_a_step_that_crosses_a_corner_on_one_side_only_is_skipped():
    # every pre-activation of the ReLU is 0.3 eps: the -eps step crosses the corner, +eps does not
    model, X, y = dead_relu_net()
    model.layers[0].bias.value[...] = 0.3e-6
    report = ffnn.gradcheck(model, losses.SoftmaxCrossEntropy(), X, y)
    assert report.ok, str(report)
    first_bias = next(e for e in report.entries if e.name == "0.bias")
    assert first_bias.skipped == 4 and first_bias.checked == 0
    assert report.kink_layers[0] == "layer 1 (ReLU)"


@pytest.mark.parametrize("kwargs, error, message", [
    ({"eps": 0.0}, ConfigError, "eps must be > 0.0, got 0.0"),
    ({"max_elements": 0}, ConfigError, "max_elements must be >= 1, got 0"),
    ({"max_elements": 2.0}, ConfigError, "max_elements must be an integer"),
])
def test_bad_options_are_named(kwargs, error, message):
    X, y = data()
    with pytest.raises(error, match=message):
        ffnn.gradcheck(net(), losses.SoftmaxCrossEntropy(), X, y, **kwargs)


def test_the_input_must_be_a_2d_batch():
    from ffnn.errors import ShapeError
    with pytest.raises(ShapeError, match=r"^X must be 2-D, got shape \(3,\)"):
        ffnn.gradcheck(net(), losses.SoftmaxCrossEntropy(), np.zeros(3), np.array([0]))


def test_a_float32_input_is_checked_in_float64():
    # a float32 input could not take a 1e-6 step: its spacing near 1 is 1.2e-7
    X, y = data()
    report = ffnn.gradcheck(net(), losses.SoftmaxCrossEntropy(), X.astype(np.float32), y, check_input=True)
    assert report.ok, str(report)
    assert report.max_relative_error < 1e-6


class PickLoss(losses.Loss):
    """A user's loss that indexes by its labels: E = -mean_n output[n, y_n] (integer labels only)."""

    target_kind = "classes"

    def forward(self, output, target):
        n = len(output)
        self._grad = np.zeros_like(output)
        self._grad[np.arange(n), target] = -1.0 / n
        return float(-output[np.arange(n), target].mean())


@pytest.mark.parametrize("as_list", [False, True])
def test_integer_labels_reach_the_loss_as_integers(as_list):
    X, y = data()
    report = ffnn.gradcheck(net(), PickLoss(), X, list(y) if as_list else y, check_input=True)
    assert report.ok, str(report)


class DtypeSpyLoss(losses.EuclideanLoss):
    seen: list = []

    def forward(self, output, target, sample_weight=None):
        DtypeSpyLoss.seen.append((output.dtype, np.asarray(target).dtype))
        return super().forward(output, target, sample_weight)


@pytest.mark.parametrize("model_dtype", [np.float32, np.float64])
def test_the_loss_sees_a_float64_output_and_float64_targets(model_dtype):
    X, _ = data()
    DtypeSpyLoss.seen.clear()
    assert ffnn.gradcheck(net(model_dtype), DtypeSpyLoss(), X, np.zeros((5, 2), np.float32)).ok
    assert set(DtypeSpyLoss.seen) == {(np.dtype(np.float64), np.dtype(np.float64))}


def test_a_layer_may_declare_no_kinks_as_none():
    class NoneKinks(layers.Tanh):
        kinks = None

    X, y = data()
    assert ffnn.gradcheck(net(hidden=NoneKinks()), losses.SoftmaxCrossEntropy(), X, y).ok
