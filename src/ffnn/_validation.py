"""Checks of inputs and hyper-parameters.

Every check raises an :class:`ffnn.FfnnError` subclass whose message names the value
received and what was expected. Nothing here uses ``assert``.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np

from .errors import ConfigError, LabelError, ShapeError

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    return f"{value!r} ({type(value).__name__})"


def check_number(name: str, value: Any, *, low: float | None = None, high: float | None = None,
                 low_inclusive: bool = True, high_inclusive: bool = True) -> float:
    """Return ``value`` as a float after checking it is a finite real number in range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name} must be a real number, got {_describe(value)}")
    value = float(value)
    if not np.isfinite(value):
        raise ConfigError(f"{name} must be finite, got {value}")
    if low is not None and (value < low or (value == low and not low_inclusive)):
        raise ConfigError(f"{name} must be {'>=' if low_inclusive else '>'} {low}, got {value}"
                          + _range_hint(low, high, low_inclusive, high_inclusive))
    if high is not None and (value > high or (value == high and not high_inclusive)):
        raise ConfigError(f"{name} must be {'<=' if high_inclusive else '<'} {high}, got {value}"
                          + _range_hint(low, high, low_inclusive, high_inclusive))
    return value


def _range_hint(low, high, low_inc, high_inc) -> str:
    if low is None or high is None:
        return ""
    return f" (expected a value in {'[' if low_inc else '('}{low}, {high}{']' if high_inc else ')'})"


def check_int(name: str, value: Any, *, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as an int after checking it is an integer (not a bool) in range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"{name} must be an integer, got {_describe(value)}")
    value = int(value)
    if low is not None and value < low:
        raise ConfigError(f"{name} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ConfigError(f"{name} must be <= {high}, got {value}")
    return value


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """Check that ``value`` is one of ``choices`` (strings)."""
    choices = list(choices)
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def check_dtype(dtype: Any) -> np.dtype:
    """Return the NumPy dtype for ``dtype``; only float32 and float64 are accepted."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise ConfigError(f"dtype must be float32 or float64, got {dtype!r}") from exc
    if dt not in FLOAT_DTYPES:
        raise ConfigError(f"dtype must be float32 or float64, got {dt}")
    return dt


def as_float_array(x: Any, name: str = "input", *, dtype: Any = None, ndim: int | None = None,
                   finite: bool = True) -> np.ndarray:
    """Convert ``x`` to a floating-point array, rejecting strings, objects and non-finite values.

    float32 and float64 arrays keep their dtype unless ``dtype`` is given; integer and
    boolean arrays become ``dtype`` or float64.
    """
    if isinstance(x, (str, bytes)):
        raise ShapeError(f"{name} must be a numeric array, got the string {x!r}")
    arr = np.asarray(x) if not isinstance(x, np.ndarray) else x
    if arr.dtype.kind not in "biuf":
        raise ShapeError(f"{name} must be a numeric array, got dtype {arr.dtype}"
                         + (f" (first element {arr.flat[0]!r})" if arr.size else ""))
    if dtype is not None:
        arr = arr.astype(check_dtype(dtype), copy=False)
    elif arr.dtype not in FLOAT_DTYPES:
        arr = arr.astype(np.float64)
    if ndim is not None and arr.ndim != ndim:
        raise ShapeError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    if finite and not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ShapeError(f"{name} contains a non-finite value {arr[tuple(bad)]} at index "
                         f"{tuple(int(i) for i in bad)}; expected finite numbers")
    return arr


def check_2d(x: Any, owner: str, array_type: Any = np.ndarray) -> None:
    """Check that ``x`` is a batch: a 2-D array (n_samples, n_features) of ``array_type``
    (a backend's array type, :mod:`ffnn.backend`; NumPy's by default)."""
    if not isinstance(x, array_type):
        kind = "a NumPy array" if array_type is np.ndarray else f"an array of type {array_type.__name__}"
        raise ShapeError(f"{owner} expects {kind}, got {_describe(x)}")
    if x.ndim != 2:
        raise ShapeError(f"{owner} expects a 2-D batch of shape (n_samples, n_features), "
                         f"got shape {tuple(x.shape)}")


def check_features(x: Any, expected: int, owner: str, array_type: Any = np.ndarray) -> None:
    """Check the feature count of a batch ``x`` (an array of ``array_type``)."""
    check_2d(x, owner, array_type)
    if x.shape[1] != expected:
        raise ShapeError(f"{owner} expects {expected} input features, got {x.shape[1]}")


def check_same_length(a: np.ndarray, b: np.ndarray, what_a: str = "X", what_b: str = "y") -> None:
    if len(a) != len(b):
        raise ShapeError(f"{what_a} and {what_b} must have the same number of samples, "
                         f"got {len(a)} and {len(b)}")


def check_labels(y: Any, n_classes: int, owner: str = "labels") -> np.ndarray:
    """Return integer class labels as an ``intp`` array after checking they lie in [0, n_classes)."""
    if isinstance(y, (str, bytes)):
        raise LabelError(f"{owner} must be integer class labels, got the string {y!r}")
    y = np.asarray(y)
    if y.ndim != 1:
        raise LabelError(f"{owner} must be a 1-D array of class labels, got shape {y.shape}")
    if y.dtype.kind == "f":
        if not np.isfinite(y).all() or not np.all(y == np.round(y)):
            bad = y[~(np.isfinite(y) & (y == np.round(np.nan_to_num(y))))][0]
            raise LabelError(f"{owner} must be integers in [0, {n_classes}), got the non-integer {bad}")
    elif y.dtype.kind not in "biu":
        raise LabelError(f"{owner} must be integers in [0, {n_classes}), got dtype {y.dtype}")
    if y.size:
        lo, hi = y.min(), y.max()
        if lo < 0 or hi >= n_classes:
            bad = lo if lo < 0 else hi
            raise LabelError(f"{owner} must be in [0, {n_classes}) for {n_classes} classes, got {bad:g}")
    return y.astype(np.intp, copy=False)


def class_labels(y: Any, owner: str = "labels", *, min_classes: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """``(classes, codes)``: the distinct labels in sorted order and each sample's index among them.

    Labels may be numbers or strings (``classes[codes]`` gives ``y`` back). Fewer than
    ``min_classes`` distinct labels raise :class:`LabelError` naming the labels found.
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise LabelError(f"{owner} must be a 1-D array of class labels, got shape {y.shape}")
    if y.dtype.kind not in "biufUS":
        raise LabelError(f"{owner} must be numbers or strings, got dtype {y.dtype}")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise LabelError(f"{owner} contains a non-finite label; expected numbers or strings")
    classes, codes = np.unique(y, return_inverse=True)
    check_class_count(len(classes), classes, owner, min_classes=min_classes)
    return classes, codes.reshape(-1).astype(np.intp)


def check_class_count(n_classes: int, names: Any = None, owner: str = "classification",
                      *, min_classes: int = 2) -> None:
    """Raise :class:`LabelError` when there are fewer than ``min_classes`` classes (naming them)."""
    if n_classes < min_classes:
        found = "" if names is None or not len(names) else ": " + ", ".join(map(str, list(names)[:5]))
        raise LabelError(f"{owner} needs at least {min_classes} classes, found {n_classes}{found}")


DELIMITERS = {"comma": ",", "semicolon": ";", "tab": "\t", "pipe": "|", "whitespace": " "}
"""Named CSV delimiters; ``whitespace`` splits on any run of spaces and tabs."""


def check_delimiter(value: Any, name: str = "delimiter") -> str:
    """The canonical form of a CSV delimiter: a name of :data:`DELIMITERS` (``";"`` gives
    ``"semicolon"``, ``"\\t"`` gives ``"tab"``, ``" "`` gives ``"whitespace"``) or another single
    character that cannot be part of a number or a quoted cell."""
    if isinstance(value, str):
        text = {"\\t": "\t", "space": " ", "\\s": " "}.get(value, value)
        if text in DELIMITERS:
            return text
        names = {char: key for key, char in DELIMITERS.items()}
        if text in names:
            return names[text]
        if len(text) == 1 and not (text.isalnum() or text in "\"'.+-\r\n"):
            return text
    raise ConfigError(f"{name} must be one character or one of {', '.join(DELIMITERS)}; got {value!r}")


def make_rng(seed: Any) -> np.random.Generator:
    """Return a Generator from None, an int or a Generator (which is used as is)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return np.random.default_rng(int(seed))
    raise ConfigError(f"seed/rng must be None, an int or a numpy.random.Generator, got {_describe(seed)}")


def generator_state(rng: np.random.Generator) -> dict[str, Any]:
    """The position of ``rng`` as JSON-serializable values (``bit_generator.state``, arrays as lists)."""
    return _jsonable(rng.bit_generator.state)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.integer):
        return int(value)
    return value


def set_generator_state(rng: np.random.Generator, state: Any, owner: str = "random generator") -> None:
    """Put ``rng`` back at a position from :func:`generator_state` (in place)."""
    if not isinstance(state, dict):
        raise ConfigError(f"{owner}: expected a saved generator state (a dict), got {_describe(state)}")
    name = type(rng.bit_generator).__name__
    if state.get("bit_generator") != name:
        raise ConfigError(f"{owner}: the saved state is of a {state.get('bit_generator')!r} generator, "
                          f"this one is {name!r}")
    try:
        rng.bit_generator.state = state
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        raise ConfigError(f"{owner}: the saved state is not valid for {name}: {exc}") from None
