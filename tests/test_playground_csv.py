"""The playground's CSV upload: numbers, integer classes and text class names."""
import numpy as np
import pytest

from ffnn.playground.params import ParamError, parse_csv


def _csv(labels: list[str], header: bool = True) -> str:
    rows = [f"{i * 0.5},{(i % 3) - 1},{label}" for i, label in enumerate(labels)]
    return ("x1,x2,label\n" if header else "") + "\n".join(rows) + "\n"


def test_text_labels_are_two_classes_in_sorted_order():
    X, y, task, names = parse_csv(_csv(["dog", "cat", "dog", "cat", "cat"]))
    assert task == "classification" and names == ["cat", "dog"]
    np.testing.assert_array_equal(y, [1, 0, 1, 0, 0])
    assert X.dtype == np.float32 and X.shape == (5, 2)


def test_integer_labels_stay_classes_and_fractions_are_regression():
    _, y, task, names = parse_csv(_csv(["3", "-1", "3", "-1"], header=False))
    assert (task, names) == ("classification", ["-1", "3"]) and y.tolist() == [1, 0, 1, 0]
    _, y, task, names = parse_csv(_csv(["0.5", "1.25", "2", "3"]))
    assert task == "regression" and names is None and y[:, 0].tolist() == [0.5, 1.25, 2.0, 3.0]


@pytest.mark.parametrize(("labels", "message"), [
    (["a", "b", "c", "a"], "two classes, got 3 distinct label(s) (a, b, c)"),
    (["a", "a", "a", "a"], "got 1 distinct label(s) (a)"),
    (["1.5", "nan", "2", "3"], "finite"),
])
def test_bad_labels_say_what_was_found(labels, message):
    with pytest.raises(ParamError, match=None) as caught:
        parse_csv(_csv(labels))
    assert message in str(caught.value)
