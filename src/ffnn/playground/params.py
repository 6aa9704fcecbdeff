"""Validation and bounds of every playground request parameter.

A session's configuration is a flat JSON object; :func:`validate_config` merges a partial
update into the current configuration and checks every field, raising :class:`ParamError`
(a :class:`ffnn.ConfigError`) whose message names the field, the value received and what
was expected. The server turns it into ``400 {"error": message}``.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from .. import catalog
from ..data.features import PLANE_FEATURES
from ..errors import ConfigError

__all__ = ["ParamError", "DEFAULTS", "LIMITS", "DATASETS", "CLASSIFICATION_SETS",
           "REGRESSION_SETS", "FEATURES",
           "REGULARIZATIONS", "validate_config", "parse_csv", "options"]


class ParamError(ConfigError):
    """A request parameter is missing, of the wrong type or out of bounds."""


CLASSIFICATION_SETS = ("circle", "xor", "gauss", "spiral")
REGRESSION_SETS = ("reg-plane", "reg-gauss")
DATASETS = CLASSIFICATION_SETS + REGRESSION_SETS + ("upload",)

FEATURES = PLANE_FEATURES
"""Input features computed from the 2-D point (x1, x2), in display order (``ffnn.data.features``)."""

REGULARIZATIONS = ("none", "l1", "l2")

# The activation, optimizer and loss choices are the catalogue's canonical names (aliases such
# as "logistic" left out), read when they are needed so that an entry added at run time shows.
_CHOICES = {"ACTIVATION_NAMES": lambda: catalog.ACTIVATIONS.names(), "OPTIMIZERS": lambda: catalog.OPTIMIZERS.names(),
            "LOSSES": lambda: catalog.LOSSES.names()}


def __getattr__(name: str) -> Any:
    if name in _CHOICES:
        return _CHOICES[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _regression_losses() -> tuple[str, ...]:
    return tuple(e.name for e in catalog.LOSSES.entries() if e.value.target_kind == "values")

LIMITS: dict[str, Any] = {
    "max_layers": 8,
    "max_neurons": 64,
    "n": (20, 2000),
    "noise": (0.0, 0.5),
    "test_fraction": (0.1, 0.9),
    "seed": (0, 2**31 - 1),
    "dropout": (0.0, 0.9),
    "lr": (1e-6, 1e6),
    "momentum": (0.0, 0.99),
    "batch_size": (1, 1000),
    "reg_rate": (0.0, 10.0),
    "upload_bytes": 1_000_000,
    "upload_points": 5000,
    "upload_min_points": 4,
}

DEFAULTS: dict[str, Any] = {
    "dataset": "circle",
    "n": 500,
    "noise": 0.0,
    "test_fraction": 0.5,
    "seed": 1,
    "features": ["x1", "x2"],
    "hidden": [4, 2],
    "activation": "tanh",
    "loss": "ce",
    "dropout": 0.0,
    "optimizer": "sgd",
    "lr": 0.03,
    "momentum": 0.9,
    "batch_size": 10,
    "regularization": "none",
    "reg_rate": 0.0,
}

# Changing one of these rebuilds the data and the network (epoch back to 0); the others
# only rebuild the optimizer and keep the trained weights.
RESET_KEYS = frozenset({"dataset", "n", "noise", "test_fraction", "seed", "features", "hidden",
                        "activation", "loss", "dropout"})


def _number(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ParamError(f"{name} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParamError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ParamError(f"{name} must be finite, got {value}")
    if not low <= value <= high:
        raise ParamError(f"{name} must be between {low:g} and {high:g}, got {value:g}")
    return value


def _integer(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise ParamError(f"{name} must be an integer, got {value!r}") from None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ParamError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if not low <= value <= high:
        raise ParamError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ParamError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


def _hidden(value: Any) -> list[int]:
    if isinstance(value, str):
        value = [v for v in value.replace(" ", "").split(",") if v != ""]
    if not isinstance(value, (list, tuple)):
        raise ParamError(f"hidden must be a list of layer sizes such as [8, 8], got {value!r}")
    if len(value) > LIMITS["max_layers"]:
        raise ParamError(f"hidden has {len(value)} layers; at most {LIMITS['max_layers']} "
                         "hidden layers are allowed")
    return [_integer(f"hidden layer {i + 1} size", v, 1, LIMITS["max_neurons"])
            for i, v in enumerate(value)]


def _features(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [v for v in value.split(",") if v != ""]
    if not isinstance(value, (list, tuple)):
        raise ParamError(f"features must be a list of names, got {value!r}")
    for v in value:
        if v not in FEATURES:
            raise ParamError(f"unknown feature {v!r}; expected some of {', '.join(FEATURES)}")
    if not value:
        raise ParamError("features: select at least one input feature")
    return [f for f in FEATURES if f in value]  # canonical order, no duplicates


_CHECKS = {
    "dataset": lambda v: _choice("dataset", v, DATASETS),
    "n": lambda v: _integer("n (number of points)", v, *LIMITS["n"]),
    "noise": lambda v: _number("noise", v, *LIMITS["noise"]),
    "test_fraction": lambda v: _number("test_fraction", v, *LIMITS["test_fraction"]),
    "seed": lambda v: _integer("seed", v, *LIMITS["seed"]),
    "features": _features,
    "hidden": _hidden,
    "activation": lambda v: _choice("activation", v, catalog.ACTIVATIONS.names()),
    "loss": lambda v: _choice("loss", v, catalog.LOSSES.names()),
    "dropout": lambda v: _number("dropout", v, *LIMITS["dropout"]),
    "optimizer": lambda v: _choice("optimizer", v, catalog.OPTIMIZERS.names()),
    "lr": lambda v: _number("learning rate (lr)", v, *LIMITS["lr"]),
    "momentum": lambda v: _number("momentum", v, *LIMITS["momentum"]),
    "batch_size": lambda v: _integer("batch_size", v, *LIMITS["batch_size"]),
    "regularization": lambda v: _choice("regularization", v, REGULARIZATIONS),
    "reg_rate": lambda v: _number("reg_rate (regularization rate)", v, *LIMITS["reg_rate"]),
}


def task_of(dataset: str, upload_task: str | None = None) -> str:
    """``"classification"`` or ``"regression"`` for a data set name."""
    if dataset == "upload":
        return upload_task or "classification"
    return "regression" if dataset in REGRESSION_SETS else "classification"


def validate_config(update: Any, base: dict[str, Any] | None = None, *,
                    upload_task: str | None = None) -> dict[str, Any]:
    """Return ``base`` (default :data:`DEFAULTS`) updated with the checked fields of ``update``.

    Unknown fields, bad types and out-of-range values raise :class:`ParamError`; so does a
    combination that cannot work (cross-entropy on a regression set).
    """
    if update is None:
        update = {}
    if not isinstance(update, dict):
        raise ParamError(f"expected a JSON object of settings, got {type(update).__name__}")
    unknown = sorted(set(update) - set(_CHECKS))
    if unknown:
        raise ParamError(f"unknown setting {', '.join(map(repr, unknown))}; known settings: "
                         f"{', '.join(_CHECKS)}")
    config = dict(DEFAULTS if base is None else base)
    config["features"] = list(config["features"])
    config["hidden"] = list(config["hidden"])
    for key, value in update.items():
        config[key] = _CHECKS[key](value)
    if task_of(config["dataset"], upload_task) == "regression" and config["loss"] not in _regression_losses():
        raise ParamError(f"loss {config['loss']!r} needs a classification data set; "
                         f"{config['dataset']!r} is a regression set, use loss 'mse'")
    if catalog.OPTIMIZERS.entry(config["optimizer"]).extra.get("momentum") and config["momentum"] <= 0:
        raise ParamError(f"optimizer {config['optimizer']!r} needs momentum > 0, "
                         f"got {config['momentum']:g}")
    return config


def parse_csv(text: str) -> tuple[np.ndarray, np.ndarray, str, list[str] | None]:
    """Parse an uploaded CSV of 2-D points ``x1,x2,label``.

    Returns ``(X, y, task, class_names)``: X float32 (n, 2); for exactly two distinct labels
    that are text (``cat``/``dog``) or integers, a classification set with y int64 in {0, 1}
    (the sorted labels) and their names, otherwise a regression set with y float32 (n, 1). An
    optional header row is skipped.
    """
    points: list[tuple[float, float]] = []
    labels: list[str] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        cells = [c.strip() for c in line.replace(";", ",").replace("\t", ",").split(",")]
        if len(cells) != 3:
            raise ParamError(f"CSV line {lineno}: expected 3 values x1,x2,label, got {len(cells)}: "
                             f"{line[:60]!r}")
        try:
            x1, x2 = float(cells[0]), float(cells[1])
        except ValueError:
            if not points and lineno == _first_line(text):
                continue  # a header row
            raise ParamError(f"CSV line {lineno}: values must be numbers (x1, x2; the label may be a class name), "
                             f"got {line[:60]!r}") from None
        if not (math.isfinite(x1) and math.isfinite(x2)) or not cells[2]:
            raise ParamError(f"CSV line {lineno}: values must be finite (and the label present), got {line[:60]!r}")
        points.append((x1, x2))
        labels.append(cells[2])
        if len(points) > LIMITS["upload_points"]:
            raise ParamError(f"CSV has more than {LIMITS['upload_points']} points; "
                             "upload at most that many")
    if len(points) < LIMITS["upload_min_points"]:
        raise ParamError(f"CSV has {len(points)} points; at least {LIMITS['upload_min_points']} "
                         "rows x1,x2,label are needed")
    X = np.asarray(points, dtype=np.float32)
    numbers = _as_numbers(labels)
    if numbers is None:                                  # text labels: classes by name
        names: np.ndarray = np.asarray(labels)
    elif bool(np.all(numbers == np.round(numbers))) and len(np.unique(numbers)) <= 10:
        names = numbers
    else:
        if not np.all(np.isfinite(numbers)):
            raise ParamError("CSV labels must be finite numbers or class names")
        return X, numbers.astype(np.float32)[:, None], "regression", None
    distinct = np.unique(names)
    shown = [f"{v:g}" if numbers is not None else str(v) for v in distinct]
    if len(distinct) != 2:
        raise ParamError(f"CSV labels: the playground classifies two classes, got "
                         f"{len(distinct)} distinct label(s) ({', '.join(shown[:10])})")
    y = (names == distinct[1]).astype(np.int64)
    return X, y, "classification", shown


def _as_numbers(labels: list[str]) -> np.ndarray | None:
    """The labels as float64 numbers, or None when any of them is text (a class name)."""
    try:
        return np.asarray([float(v) for v in labels], dtype=np.float64)
    except ValueError:
        return None


def _first_line(text: str) -> int:
    for lineno, line in enumerate(text.splitlines(), start=1):
        if line.strip() and not line.strip().startswith("#"):
            return lineno
    return 0


def options() -> dict[str, Any]:
    """Choices, bounds and defaults for the page (``GET /api/options``)."""
    return {
        "datasets": list(DATASETS), "classification": list(CLASSIFICATION_SETS),
        "regression": list(REGRESSION_SETS), "features": list(FEATURES),
        "activations": list(catalog.ACTIVATIONS.names()), "optimizers": list(catalog.OPTIMIZERS.names()),
        "losses": list(catalog.LOSSES.names()), "regularizations": list(REGULARIZATIONS),
        "labels": {"optimizers": {e.name: e.extra.get("label", e.name) for e in catalog.OPTIMIZERS.entries()},
                   "losses": {e.name: e.extra.get("label", e.name) for e in catalog.LOSSES.entries()}},
        "help": {kind: {row["name"]: row["help"] for row in rows} for kind, rows in catalog.options().items()},
        "momentum_optimizers": [e.name for e in catalog.OPTIMIZERS.entries() if e.extra.get("momentum")],
        "regression_losses": list(_regression_losses()),
        "limits": {k: list(v) if isinstance(v, tuple) else v for k, v in LIMITS.items()},
        "defaults": DEFAULTS,
    }
