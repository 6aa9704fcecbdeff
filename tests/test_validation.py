"""Bad input raises an FfnnError that is also a ValueError, naming what was got and expected."""

from __future__ import annotations

import numpy as np
import pytest

import ffnn
from ffnn import layers, losses
from ffnn.errors import ConfigError, FfnnError, LabelError, ShapeError


def _raises(exc_type, fn, *fragments):
    """Call fn, expect exc_type (an FfnnError and ValueError) whose message has every fragment."""
    with pytest.raises(exc_type) as info:
        fn()
    err = info.value
    assert isinstance(err, FfnnError) and isinstance(err, ValueError), type(err).__mro__
    msg = str(err)
    for fragment in fragments:
        assert fragment in msg, f"{fragment!r} not in the message {msg!r}"
    return err


# ----------------------------------------------------------------------------- shapes
def test_wrong_feature_count_names_both_numbers():
    layer = layers.Linear(5, 2)
    _raises(ShapeError, lambda: layer.forward(np.ones((3, 6), np.float32)), "Linear(5, 2)", "5", "6")


def test_wrong_feature_count_through_sequential():
    model = ffnn.Sequential([layers.Linear(5, 2), layers.ReLU()])
    _raises(ShapeError, lambda: model.forward(np.ones((3, 6))), "5", "6")


@pytest.mark.parametrize("x", [
    pytest.param(np.ones(5), id="1-D"),
    pytest.param(np.ones((2, 5, 1)), id="3-D"),
])
def test_not_a_batch(x):
    _raises(ShapeError, lambda: ffnn.Sequential([layers.Linear(5, 2)]).forward(x), str(x.shape))
    _raises(ShapeError, lambda: layers.Tanh().forward(x), str(x.shape))


@pytest.mark.parametrize("bad, shown", [
    pytest.param(np.nan, "nan", id="nan"),
    pytest.param(np.inf, "inf", id="inf"),
    pytest.param(-np.inf, "-inf", id="-inf"),
])
def test_non_finite_input_to_sequential(bad, shown):
    x = np.ones((4, 3))
    x[2, 1] = bad
    model = ffnn.Sequential([layers.Linear(3, 2)])
    _raises(ShapeError, lambda: model.forward(x), shown, "(2, 1)", "finite")
    _raises(ShapeError, lambda: model.predict(x), shown)


@pytest.mark.parametrize("x", [
    pytest.param("1,2,3", id="string"),
    pytest.param(np.array([["a", "b", "c"]]), id="string-array"),
    pytest.param(np.array([[None, 1, 2]], dtype=object), id="object-array"),
])
def test_non_numeric_input_to_sequential(x):
    _raises(ShapeError, lambda: ffnn.Sequential([layers.Linear(3, 2)]).forward(x), "numeric")


def test_integer_input_to_activation_is_rejected():
    _raises(ShapeError, lambda: layers.Sigmoid().forward(np.ones((2, 2), dtype=np.int64)), "int64")


def test_backward_before_forward():
    _raises(ShapeError, lambda: layers.Tanh().backward(np.ones((2, 2))), "Tanh", "before forward")
    _raises(ShapeError, lambda: layers.Linear(2, 2).backward(np.ones((2, 2))), "before forward")


@pytest.mark.parametrize("layer", [
    pytest.param(layers.Linear(3, 2), id="Linear"),
    pytest.param(layers.Tanh(), id="Tanh"),
    pytest.param(layers.PReLU(), id="PReLU"),
    pytest.param(layers.Softmax(), id="Softmax"),
])
def test_backward_with_a_gradient_of_the_wrong_shape(layer):
    out = layer.forward(np.ones((4, 3), np.float32))
    _raises(ShapeError, lambda: layer.backward(np.ones((5, 7), np.float32)), str(out.shape), "(5, 7)")


def test_prelu_wrong_feature_count():
    _raises(ShapeError, lambda: layers.PReLU(num_parameters=4).forward(np.ones((2, 3), np.float32)), "4", "3")


# ----------------------------------------------------------------------------- labels
def test_label_out_of_range():
    loss = losses.SoftmaxCrossEntropy()
    _raises(LabelError, lambda: loss.forward(np.zeros((3, 3)), np.array([0, 5, 1])), "5", "3")
    _raises(LabelError, lambda: loss.forward(np.zeros((3, 3)), np.array([0, -1, 1])), "-1", "[0, 3)")


def test_non_integer_labels():
    loss = losses.SoftmaxCrossEntropy()
    _raises(LabelError, lambda: loss.forward(np.zeros((3, 3)), np.array([0.0, 1.5, 2.0])), "1.5", "integer")
    _raises(LabelError, lambda: loss.forward(np.zeros((3, 3)), np.array([0.0, np.nan, 2.0])), "nan")
    _raises(LabelError, lambda: loss.forward(np.zeros((3, 3)), np.array(["a", "b", "c"])), "integer")
    _raises(LabelError, lambda: loss.forward(np.zeros((3, 3)), "abc"), "abc")


def test_integer_valued_float_labels_accepted():
    value = losses.SoftmaxCrossEntropy().forward(np.zeros((2, 3)), np.array([0.0, 2.0]))
    assert value == pytest.approx(np.log(3))


def test_cross_entropy_label_out_of_range():
    _raises(LabelError, lambda: losses.CrossEntropy().forward(np.full((2, 3), 1 / 3), np.array([3, 0])), "3")


def test_binary_targets_outside_unit_interval():
    _raises(LabelError, lambda: losses.BinaryCrossEntropy().forward(np.zeros((2, 1)), np.array([0.0, 2.0])),
            "2", "[0, 1]")
    _raises(LabelError, lambda: losses.RobustBinaryCrossEntropy().forward(np.zeros((2, 1)), np.array([0.0, 0.5])),
            "0.5")


def test_negative_probability_targets():
    t = np.array([[1.5, -0.5, 0.0]])
    _raises(LabelError, lambda: losses.SoftmaxCrossEntropy().forward(np.zeros((1, 3)), t), "-0.5")


MISMATCH_CASES = [
    pytest.param(losses.EuclideanLoss, np.zeros((4, 2)), np.zeros((3, 2)), id="Euclidean"),
    pytest.param(losses.SoftmaxCrossEntropy, np.zeros((4, 3)), np.array([0, 1, 2]), id="SoftmaxCE-labels"),
    pytest.param(losses.SoftmaxCrossEntropy, np.zeros((4, 3)), np.full((3, 3), 1 / 3), id="SoftmaxCE-probs"),
    pytest.param(losses.CrossEntropy, np.full((4, 3), 1 / 3), np.array([0, 1, 2]), id="CrossEntropy-labels"),
    pytest.param(losses.CrossEntropy, np.full((4, 3), 1 / 3), np.full((3, 3), 1 / 3), id="CrossEntropy-probs"),
    pytest.param(losses.BinaryCrossEntropy, np.zeros((4, 2)), np.zeros((3, 2)), id="BCE"),
    pytest.param(losses.BinaryCrossEntropy, np.zeros((4, 1)), np.zeros(3), id="BCE-1d"),
    pytest.param(losses.RobustBinaryCrossEntropy, np.zeros((4, 2)), np.zeros((3, 2)), id="RobustBCE"),
]


@pytest.mark.parametrize("loss_cls, output, target", MISMATCH_CASES)
def test_loss_batch_size_mismatch(loss_cls, output, target):
    _raises(ShapeError, lambda: loss_cls().forward(output, target), "4", "3")


@pytest.mark.parametrize("loss_cls", [pytest.param(c, id=c.__name__) for c in losses.LOSSES.values()])
def test_loss_rejects_non_float_output(loss_cls):
    _raises(ShapeError, lambda: loss_cls().forward(np.zeros((2, 2), dtype=np.int64), np.zeros((2, 2))), "int64")
    _raises(ShapeError, lambda: loss_cls().forward([[0.0, 1.0]], np.zeros((1, 2))), "list")


# ----------------------------------------------------------------------------- hyper-parameters
CONFIG_CASES = [
    pytest.param(lambda: layers.Dropout("0.5"), ("'0.5'", "str", "p"), id="Dropout-str"),
    pytest.param(lambda: layers.Linear("3", 2), ("'3'", "in_features", "integer"), id="Linear-str"),
    pytest.param(lambda: layers.Linear(3, 2.0), ("2.0", "out_features", "integer"), id="Linear-float"),
    pytest.param(lambda: layers.Linear(True, 2), ("True", "in_features"), id="Linear-bool"),
    pytest.param(lambda: layers.Linear(0, 2), ("in_features", ">= 1", "0"), id="Linear-zero"),
    pytest.param(lambda: layers.LeakyReLU("a"), ("'a'", "negative_slope"), id="LeakyReLU-str"),
    pytest.param(lambda: layers.LeakyReLU(float("nan")), ("negative_slope", "nan"), id="LeakyReLU-nan"),
    pytest.param(lambda: layers.ELU(alpha=None), ("alpha", "None"), id="ELU-None"),
    pytest.param(lambda: layers.PReLU(num_parameters=2.5), ("num_parameters", "2.5"), id="PReLU-float"),
    pytest.param(lambda: layers.RReLU(lower=0.5, upper=0.1), ("upper", "0.1", "0.5"), id="RReLU-order"),
    pytest.param(lambda: layers.Linear(3, 2, dtype="int32"), ("int32", "float32", "float64"), id="Linear-int32"),
    pytest.param(lambda: layers.PReLU(dtype=np.int64), ("int64", "float32"), id="PReLU-int64"),
    pytest.param(lambda: layers.Linear(3, 2, dtype="banana"), ("banana",), id="Linear-banana"),
    pytest.param(lambda: layers.Linear(3, 2, dtype=np.float16), ("float16",), id="Linear-float16"),
    pytest.param(lambda: layers.Dropout(1), ("p", "1.0", "[0.0, 1.0)"), id="Dropout-p1"),
    pytest.param(lambda: layers.Dropout(-0.1), ("p", "-0.1"), id="Dropout-negative"),
    pytest.param(lambda: layers.Linear(3, 2, rng="seed"), ("'seed'", "Generator"), id="Linear-rng-str"),
    pytest.param(lambda: losses.RobustBinaryCrossEntropy(0.5), ("epsilon", "0.5", "[0.0, 0.5)"), id="Robust-eps-0.5"),
    pytest.param(lambda: losses.RobustBinaryCrossEntropy(-0.1), ("epsilon", "-0.1"), id="Robust-eps-negative"),
    pytest.param(lambda: losses.RobustBinaryCrossEntropy("0.1"), ("epsilon", "'0.1'"), id="Robust-eps-str"),
    pytest.param(lambda: losses.EuclideanLoss(reduction="avg"), ("'avg'", "'mean'", "'sum'"), id="reduction"),
    pytest.param(lambda: ffnn.Sequential([layers.Linear(2, 2)]).predict(np.ones((1, 2)), batch_size=0),
                 ("batch_size", "0"), id="predict-batch-size"),
]


@pytest.mark.parametrize("make, fragments", CONFIG_CASES)
def test_bad_hyper_parameter(make, fragments):
    err = _raises(ConfigError, make, *fragments)
    assert isinstance(err, TypeError)  # ConfigError also subclasses TypeError



# ----------------------------------------------------------------------------- class labels and delimiters
def test_class_labels_numbers_and_strings():
    from ffnn._validation import class_labels
    classes, codes = class_labels(np.array(["dog", "cat", "dog", "emu"]))
    assert classes.tolist() == ["cat", "dog", "emu"] and codes.tolist() == [1, 0, 1, 2]
    classes, codes = class_labels([5.0, -1.0, 5.0])
    assert classes.tolist() == [-1.0, 5.0] and codes.tolist() == [1, 0, 1]
    np.testing.assert_array_equal(classes[codes], [5.0, -1.0, 5.0])


@pytest.mark.parametrize("y, fragments", [
    (["cat", "cat"], ("at least 2 classes", "found 1", "cat")),
    ([[0, 1]], ("1-D",)),
    ([0.0, float("nan")], ("non-finite",)),
    (np.array([None, 1], dtype=object), ("numbers or strings",)),
])
def test_class_labels_refused(y, fragments):
    from ffnn._validation import class_labels
    _raises(LabelError, lambda: class_labels(y, "y"), *fragments)


@pytest.mark.parametrize("given, canonical", [(",", "comma"), (";", "semicolon"), ("\t", "tab"), ("\\t", "tab"),
                                              ("tab", "tab"), (" ", "whitespace"), ("space", "whitespace"),
                                              ("|", "pipe"), (":", ":")])
def test_check_delimiter(given, canonical):
    from ffnn._validation import check_delimiter
    assert check_delimiter(given) == canonical


@pytest.mark.parametrize("bad", ["", "ab", ".", "-", "1", "e", '"', "\n", 3, None])
def test_check_delimiter_refused(bad):
    from ffnn._validation import check_delimiter
    _raises(ConfigError, lambda: check_delimiter(bad), "delimiter", repr(bad))
