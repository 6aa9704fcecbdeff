"""The run recipe: one typed specification of a training run, and the one pipeline that runs it.

A :class:`Recipe` holds every option of ``ffnn train``, in five groups:

- data: ``data`` (a name or a .csv/.npz path), ``target``, ``delimiter``, ``n``, ``noise``,
  ``test_fraction``, ``features`` (derived plane inputs), ``preprocess``;
- architecture: ``hidden`` ("256", "100,50", "0" for none), ``activation`` (one, or one per
  hidden layer), ``dropout``, ``init``, ``dtype``, ``norm`` (batch or layer normalization
  after each hidden Linear), ``backend`` (where it computes: :mod:`ffnn.backend`);
- loss: ``loss`` (a short name of :data:`ffnn.catalog.LOSSES`), ``label_smoothing``;
- optimizer and schedule: ``optimizer``, ``lr`` (None: the optimizer's default),
  ``momentum``, ``weight_decay``, ``schedule`` (``KIND:ARG:...`` joined with ``+``);
- training: ``epochs``, ``batch_size``, ``val_fraction``, ``early_stopping``, ``seed``,
  ``clip_grad_norm`` (clipping by the global gradient norm), ``shift`` (random image shifts
  of up to that many pixels, :class:`ffnn.augment.RandomShift`).

It is validated once, when it is made (a bad value raises :class:`~ffnn.ConfigError` naming
the option and the value), and round-trips through TOML and JSON. ``ffnn train`` builds one
from its options and ``--config`` file, the playground builds one from its controls (its
"export" is :meth:`Recipe.to_command`), a model file's metadata keeps the one it was trained
from, and a resumed run reads it back from its run state.

:meth:`Recipe.prepare` is the pipeline every front end shares: load the data, derive the
features, fit the input scaling on the training split, build the targets the loss takes,
the network, the loss, the optimizer and the schedules, and the model's metadata
(:func:`run_metadata`, checked on load by :func:`check_metadata`).

>>> recipe = Recipe(data="xor", hidden="8", activation="tanh", epochs=3, seed=1)
>>> Recipe.from_toml(recipe.to_toml()) == recipe
True
>>> run = recipe.prepare()
>>> run.model.in_features, run.model.out_features, type(run.loss).__name__
(2, 2, 'SoftmaxCrossEntropy')
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import shlex
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from . import catalog
from ._validation import check_class_count, check_delimiter
from .errors import ConfigError, ModelFileError

if TYPE_CHECKING:
    from .callbacks import Callback
    from .data import Dataset
    from .distributed import DataParallel
    from .history import History
    from .losses import Loss
    from .model import Sequential
    from .optim import Optimizer
    from .train import Augment, StepSchedule, Trainer

__all__ = ["Recipe", "Run", "PREPROCESS", "SCHEMA_VERSION", "run_metadata", "check_metadata"]

PREPROCESS = ("auto", "none", "minmax", "standard")
"""Input scaling: auto (none for images, standard otherwise), none, minmax, standard."""

SCHEMA_VERSION = 2
"""Version of the model-metadata keys ffnn writes (:func:`run_metadata`); files without a
``schema`` key (version 1) use the same keys without ``schema``, ``source`` and ``recipe``."""


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _integer(name: str, value: Any, low: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"option {name}: expected an integer, got {_describe(value)}")
    if low is not None and value < low:
        raise ConfigError(f"option {name}: expected an integer >= {low}, got {value}")
    return int(value)


def _number(name: str, value: Any, low: float | None = None, high: float | None = None, *,
            low_open: bool = False, high_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"option {name}: expected a number, got {_describe(value)}")
    value = float(value)
    bad = (not math.isfinite(value) or (low is not None and (value < low or (low_open and value == low)))
           or (high is not None and (value > high or (high_open and value == high))))
    if bad:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        span = f"in {lo}{low if low is not None else '-inf'}, {high if high is not None else 'inf'}{hi}"
        raise ConfigError(f"option {name}: expected a number {span}, got {value}")
    return value


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"option {name}: expected a string, got {_describe(value)}")
    return value


def _names(name: str, value: Any) -> str:
    """A comma-separated list given as a string or a list of strings, as one canonical string."""
    if isinstance(value, (list, tuple)):
        if not all(isinstance(v, str) for v in value):
            raise ConfigError(f"option {name}: expected names, got {value!r}")
        value = ",".join(value)
    return ",".join(part.strip() for part in _text(name, value).split(","))


def _hidden(value: Any) -> str:
    """Hidden sizes as a canonical string: "256", "100,50", or "0" for no hidden layer."""
    if isinstance(value, bool):
        raise ConfigError(f"option hidden: expected layer sizes such as 100 or 100,50, got {value!r}")
    if isinstance(value, numbers.Integral):
        value = str(value)
    elif isinstance(value, (list, tuple)):
        value = ",".join(str(v) for v in value) or "0"
    text = _text("hidden", value).strip()
    if text in ("", "0", "none"):
        return "0"
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise ConfigError(f"option hidden: expected comma-separated layer sizes such as 100 or 100,50; "
                          f"got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise ConfigError(f"option hidden: layer sizes must be positive integers, got {text!r}")
    return ",".join(map(str, sizes))


@dataclass
class Recipe:
    """A training run: data, architecture, loss, optimizer, schedule and training options.

    Every field is an option of ``ffnn train`` (``batch_size`` is ``--batch-size``) and a key
    of its ``--config`` TOML file. Values are checked when the recipe is made.
    """

    # data
    data: str = "mnist-5k"
    target: str | None = None
    delimiter: str | None = None
    n: int | None = None
    noise: float | None = None
    test_fraction: float | None = None
    features: str | None = None
    preprocess: str = "auto"
    # architecture
    hidden: str = "256"
    activation: str = "relu"
    dropout: float = 0.0
    init: str | None = None
    dtype: str = "float32"
    norm: str | None = None
    backend: str = "numpy"
    # loss, optimizer, schedule
    loss: str = "ce"
    label_smoothing: float = 0.0
    optimizer: str = "momentum"
    lr: float | None = None
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str | None = None
    # training
    epochs: int = 15
    batch_size: int = 64
    val_fraction: float = 0.1
    early_stopping: int | None = None
    seed: int = 0
    clip_grad_norm: float | None = None
    shift: int = 0

    def __post_init__(self) -> None:
        for f in fields(Recipe):
            value = getattr(self, f.name)
            if value is None and f.name in _OPTIONAL:
                continue
            setattr(self, f.name, _CHECKS[f.name](value))
        self._check_combinations()

    def _check_combinations(self) -> None:
        n_hidden = len(self.hidden_sizes)
        acts = self.activation.split(",")
        if len(acts) > 1 and len(acts) != n_hidden:
            raise ConfigError(f"option activation: {len(acts)} activations for {n_hidden} hidden layers; "
                              "give one, or one per hidden layer")
        entry = catalog.OPTIMIZERS.entry(self.optimizer)
        if entry.extra.get("momentum") and self.momentum <= 0:
            raise ConfigError(f"optimizer {self.optimizer!r} needs momentum > 0, got {self.momentum:g}")
        if self.label_smoothing > 0 and "label_smoothing" not in catalog.loss(self.loss).config():
            raise ConfigError(f"option label_smoothing applies to the softmax cross-entropy (loss ce), "
                              f"not to loss {self.loss!r}")
        if self.schedule:
            # build the schedules over a one-parameter optimizer of the same kind: every value and
            # combination (a momentum schedule on Adam) is checked now, before any data is loaded
            from .parameter import Parameter
            probe = catalog.optimizer(self.optimizer, [Parameter(np.zeros(1))], self.lr, self.momentum,
                                      self.weight_decay)
            catalog.schedules(self.schedule, probe, self.epochs)

    # -- derived values -----------------------------------------------------------
    @property
    def hidden_sizes(self) -> list[int]:
        """The hidden layer sizes as integers (empty for "0")."""
        return [] if self.hidden == "0" else [int(s) for s in self.hidden.split(",")]

    @property
    def activations(self) -> str | list[str]:
        """One activation name, or one per hidden layer."""
        parts = self.activation.split(",")
        return parts[0] if len(parts) == 1 else parts

    @property
    def feature_names(self) -> list[str] | None:
        return None if not self.features else self.features.split(",")

    def data_options(self) -> dict[str, Any]:
        """The options :func:`ffnn.data.load` takes besides the seed (those that are set)."""
        return {k: getattr(self, k) for k in _DATA_OPTIONS if getattr(self, k) is not None}

    def learning_rate(self, task: str) -> float:
        """``lr``, or the optimizer's default (a fifth of it for regression, whose unbounded
        targets make the first epochs less stable)."""
        if self.lr is not None:
            return self.lr
        default = catalog.OPTIMIZERS.entry(self.optimizer).default_lr or 0.01
        return default / (5 if task == "regression" else 1)

    # -- round trips ----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Every option as a plain dict (JSON-serializable)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def options(cls, values: Mapping[str, Any], *, source: str = "recipe") -> dict[str, Any]:
        """The options of a mapping by field name (``batch-size`` and ``batch_size`` both work),
        not yet checked; an unknown key raises :class:`~ffnn.ConfigError` naming the known ones."""
        if not isinstance(values, Mapping):
            raise ConfigError(f"{source}: expected a table of options, got {type(values).__name__}")
        known = {f.name for f in fields(cls)}
        options = {}
        for key, value in values.items():
            name = str(key).replace("-", "_")
            if name not in known:
                raise ConfigError(f"{source}: unknown option {key!r}; known: {', '.join(sorted(known))}")
            options[name] = value
        return options

    @classmethod
    def toml_options(cls, text: str, *, source: str = "TOML") -> dict[str, Any]:
        """:meth:`options` of TOML text: top-level options or a ``[train]`` table."""
        doc = read_toml(text, source)
        return cls.options(doc.get("train", doc), source=source)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], *, source: str = "recipe") -> Self:
        """A recipe from a mapping of options (see :meth:`options`), checked."""
        return cls(**cls.options(values, source=source))

    def to_toml(self) -> str:
        """The options as a TOML ``[train]`` table (unset options left out)."""
        lines = ["[train]"]
        for key, value in self.to_dict().items():
            if value is not None:
                lines.append(f"{key} = {_toml_value(value)}")
        return "\n".join(lines) + "\n"

    @classmethod
    def from_toml(cls, text: str, *, source: str = "TOML") -> Self:
        """A recipe from TOML text: top-level options or a ``[train]`` table."""
        return cls(**cls.toml_options(text, source=source))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_json(cls, text: str, *, source: str = "JSON") -> Self:
        try:
            values = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{source}: not valid JSON: {exc}") from None
        return cls.from_dict(values, source=source)

    def replace(self, **changes: Any) -> Self:
        """A copy with some options changed (checked again)."""
        return dataclasses.replace(self, **changes)

    def to_command(self) -> str:
        """The ``ffnn train`` command line that runs this recipe."""
        optimizer = catalog.OPTIMIZERS.entry(self.optimizer)
        args = ["ffnn", "train", "--data", self.data]
        for key in ("target", "delimiter", "n", "noise", "test_fraction", "features"):
            if getattr(self, key) is not None:
                args += [_flag(key), _arg(getattr(self, key))]
        args += ["--hidden", self.hidden, "--activation", self.activation, "--loss", self.loss,
                 "--optimizer", self.optimizer]
        if self.lr is not None:
            args += ["--lr", _arg(self.lr)]
        if optimizer.extra.get("momentum") or self.momentum != Recipe.__dataclass_fields__["momentum"].default:
            args += ["--momentum", _arg(self.momentum)]
        args += ["--batch-size", str(self.batch_size)]
        for key in ("weight_decay", "dropout", "label_smoothing", "shift"):
            if getattr(self, key) > 0:
                args += [_flag(key), _arg(getattr(self, key))]
        for key in ("schedule", "init", "early_stopping", "norm", "clip_grad_norm"):
            if getattr(self, key) is not None:
                args += [_flag(key), _arg(getattr(self, key))]
        args += ["--preprocess", self.preprocess, "--val-fraction", _arg(self.val_fraction),
                 "--seed", str(self.seed), "--epochs", str(self.epochs)]
        if self.dtype != "float32":
            args += ["--dtype", self.dtype]
        if self.backend != "numpy":
            args += ["--backend", self.backend]
        return " ".join(shlex.quote(a) for a in args)

    # -- the pipeline -----------------------------------------------------------------
    def load_data(self) -> Dataset:
        """The data set this recipe names, with its options and seed."""
        from . import data
        return data.load(self.data, seed=self.seed, **self.data_options())

    def prepare(self, dataset: Dataset | None = None, *, source: str = "ffnn") -> Run:
        """Build everything a run needs from ``dataset`` (default: :meth:`load_data`)."""
        from .backend import get as get_backend
        from .builder import check_memory, memory_estimate, mlp
        from .data.features import plane_features

        backend = get_backend(self.backend)        # a missing library or device: said before any data load
        dataset = self.load_data() if dataset is None else dataset
        raw_train = raw_test = None
        names = self.feature_names
        if names:
            if dataset.n_features != 2:
                raise ConfigError(f"option features applies to 2-D data, but {dataset.name!r} has "
                                  f"{dataset.n_features} features")
            raw_train, raw_test = dataset.X_train, dataset.X_test
            dataset = dataclasses.replace(dataset, X_train=plane_features(dataset.X_train, names),
                                          X_test=plane_features(dataset.X_test, names))
        loss = catalog.loss(self.loss)
        if self.label_smoothing > 0:
            loss = type(loss)(**{**loss.config(), "label_smoothing": self.label_smoothing})
        if self.shift > 0 and dataset.image_shape is None:
            raise ConfigError(f"option shift moves images, but {dataset.name!r} is not an image data set")
        if dataset.task == "classification":
            check_class_count(dataset.n_classes or 0, dataset.class_names, f"training a classifier on {dataset.name!r}")
        if dataset.task == "regression" and loss.target_kind != "values":
            raise ConfigError(f"--loss {self.loss} needs class labels, but this data set is a regression task; "
                              "use --loss mse")
        scaler = _make_scaler(self.preprocess, dataset)
        X_train = scaler.transform(dataset.X_train) if scaler else dataset.X_train
        X_test = scaler.transform(dataset.X_test) if scaler else dataset.X_test
        dtype = np.dtype(self.dtype)
        sizes = [dataset.n_features, *self.hidden_sizes, _output_size(loss, dataset)]
        # before anything is allocated: parameters, gradients, at most two optimizer slots
        # (Adam's moments), and the activations of a training or an evaluation batch (4096 rows)
        rows = max(self.batch_size, min(4096, len(X_train) + len(X_test)))
        check_memory(memory_estimate(sizes, dtype, batch_size=rows, optimizer_slots=2, dropout=self.dropout > 0),
                     f"the network {'-'.join(map(str, sizes))} ({dtype.name}, batch size {self.batch_size})")
        model = mlp([dataset.n_features, *self.hidden_sizes, _output_size(loss, dataset)], self.activations,
                    dropout=self.dropout, init=self.init, dtype=dtype, seed=self.seed, norm=self.norm)
        model.to(backend)                       # before the optimizer: its state is made there
        model.metadata.update(run_metadata(self, dataset, loss, scaler, source=source))
        lr = self.learning_rate(dataset.task)
        optimizer = catalog.optimizer(self.optimizer, model.parameters(), lr, self.momentum, self.weight_decay)
        schedules = catalog.schedules(self.schedule, optimizer, self.epochs)
        augment = None
        if self.shift > 0:
            from .augment import RandomShift
            assert dataset.image_shape is not None
            augment = RandomShift(self.shift, dataset.image_shape)
        return Run(self, dataset, raw_train, raw_test, scaler, X_train, _targets(loss, dataset, dataset.y_train, dtype),
                   X_test, model, loss, optimizer, list(schedules), lr, augment)


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def _arg(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def read_toml(text: str, source: str = "TOML") -> dict[str, Any]:
    """The tables of TOML ``text``; invalid TOML is a :class:`ConfigError` naming ``source``."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)                   # Python writes inf, -inf and nan as TOML does
    return json.dumps(value)             # a TOML basic string is a JSON string


def _backend_name(value: Any) -> str:
    """A backend name of :mod:`ffnn.backend` (checked for its form here; whether the library and
    the device are there is checked when the run is prepared)."""
    from .backend import SPECS
    text = _text("backend", value).strip().lower()
    library = text.split(":", 1)[0]
    if text not in SPECS and library not in ("torch", "cupy", "array-api-strict"):
        raise ConfigError(f"option backend must be one of {', '.join(SPECS)} (a device may follow, "
                          f"e.g. torch:cuda:1), got {value!r}")
    return text


def _choice(name: str, choices: Callable[[], Iterable[str]]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        allowed = tuple(choices())
        if not isinstance(value, str) or value not in allowed:
            raise ConfigError(f"option {name}: expected one of {', '.join(allowed)}; got {value!r}")
        return value
    return check


def _activation(value: Any) -> str:
    text = _names("activation", value)
    for part in text.split(","):
        catalog.ACTIVATIONS.entry(part)
    return text


def _features(value: Any) -> str:
    from .data.features import check_feature_names
    text = _names("features", value)
    return ",".join(check_feature_names(text.split(",")))


def _init(value: Any) -> str:
    catalog.initializer(_text("init", value))
    return str(value)


def _schedule(value: Any) -> str:
    text = _text("schedule", value).strip()
    catalog.parse_schedule(text)
    return text


_DATA_OPTIONS = ("n", "noise", "test_fraction", "target", "delimiter")
"""The recipe's options that :func:`ffnn.data.load` takes (:meth:`Recipe.data_options`)."""


_OPTIONAL = {"target", "delimiter", "n", "noise", "test_fraction", "features", "init", "lr", "schedule",
             "early_stopping", "norm", "clip_grad_norm"}

_CHECKS: dict[str, Callable[[Any], Any]] = {
    "data": lambda v: _text("data", v),
    "target": lambda v: _text("target", v),
    "delimiter": lambda v: check_delimiter(v, "option delimiter"),
    "n": lambda v: _integer("n", v, low=1),
    "noise": lambda v: _number("noise", v, low=0.0),
    "test_fraction": lambda v: _number("test_fraction", v, 0.0, 1.0, low_open=True, high_open=True),
    "features": _features,
    "preprocess": _choice("preprocess", lambda: PREPROCESS),
    "hidden": _hidden,
    "activation": _activation,
    "dropout": lambda v: _number("dropout", v, 0.0, 1.0, high_open=True),
    "init": _init,
    "dtype": _choice("dtype", lambda: ("float32", "float64")),
    "loss": _choice("loss", lambda: catalog.LOSSES.names()),
    "optimizer": _choice("optimizer", lambda: catalog.OPTIMIZERS.names()),
    "lr": lambda v: _number("lr", v, low=0.0, low_open=True),
    "momentum": lambda v: _number("momentum", v, 0.0, 1.0, high_open=True),
    "weight_decay": lambda v: _number("weight_decay", v, low=0.0),
    "schedule": _schedule,
    "epochs": lambda v: _integer("epochs", v, low=0),
    "batch_size": lambda v: _integer("batch_size", v, low=1),
    "val_fraction": lambda v: _number("val_fraction", v, 0.0, 1.0, high_open=True),
    "early_stopping": lambda v: _integer("early_stopping", v, low=1),
    "seed": lambda v: _integer("seed", v, low=0),
    "norm": _choice("norm", lambda: ("batch", "layer")),
    "backend": _backend_name,
    "label_smoothing": lambda v: _number("label_smoothing", v, 0.0, 1.0),
    "clip_grad_norm": lambda v: _number("clip_grad_norm", v, low=0.0, low_open=True),
    "shift": lambda v: _integer("shift", v, low=0),
}


@dataclass
class Run:
    """What :meth:`Recipe.prepare` builds: the data (after features and scaling), the targets
    the loss takes, the model (with its metadata), the loss, the optimizer and the schedules."""

    recipe: Recipe
    dataset: Dataset
    raw_X_train: np.ndarray | None
    raw_X_test: np.ndarray | None
    scaler: Any
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    model: Sequential
    loss: Loss
    optimizer: Optimizer
    schedules: list[StepSchedule] = field(default_factory=list)
    lr: float = 0.0
    augment: Augment | None = None

    def targets(self, y: np.ndarray) -> np.ndarray:
        """Labels of this data set as the loss takes them (e.g. the test split's)."""
        return _targets(self.loss, self.dataset, y, self.model.dtype or np.dtype(self.recipe.dtype))

    def trainer(self, callbacks: Iterable[Callback] = (), *, progress: bool | None = False,
                distributed: DataParallel | bool | None = None) -> Trainer:
        """The engine for this run (batch size, seed, early stopping from the recipe); ``distributed``
        trains data-parallel over MPI (:mod:`ffnn.distributed`)."""
        from .train import Trainer
        return Trainer(self.model, self.loss, self.optimizer, schedules=self.schedules, callbacks=callbacks,
                       early_stopping=self.recipe.early_stopping, batch_size=self.recipe.batch_size,
                       seed=self.recipe.seed, progress=progress, distributed=distributed,
                       clip_grad_norm=self.recipe.clip_grad_norm, augment=self.augment)

    def fit(self, trainer: Trainer, *, checkpoint: str | Path | None = None,
            checkpoint_every: int | None = None) -> History:
        """Train with ``trainer`` for the recipe's epochs, holding out its ``val_fraction``."""
        validation = self.recipe.val_fraction if self.recipe.val_fraction > 0 else None
        return trainer.fit(self.X_train, self.y_train, self.recipe.epochs, validation=validation,
                           checkpoint=checkpoint, checkpoint_every=checkpoint_every)


def _make_scaler(kind: str, dataset: Dataset) -> Any:
    from .data import MinMaxScaler, StandardScaler
    if kind == "auto":
        kind = "none" if dataset.image_shape is not None else "standard"
    if kind == "none":
        return None
    return (MinMaxScaler() if kind == "minmax" else StandardScaler()).fit(dataset.X_train)


def _targets(loss: Loss, dataset: Dataset, y: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """What the loss compares the output with: labels, one-hot rows, binary values or real values."""
    from .data import one_hot
    if dataset.task != "classification":
        return y.astype(dtype)
    if loss.target_kind == "classes":
        return y
    if loss.target_kind == "binary" and dataset.n_classes == 2:
        return y.astype(dtype)
    assert dataset.n_classes is not None
    return one_hot(y, dataset.n_classes, dtype=dtype)


def _output_size(loss: Loss, dataset: Dataset) -> int:
    if dataset.task == "classification":
        assert dataset.n_classes is not None
        return 1 if loss.target_kind == "binary" and dataset.n_classes == 2 else dataset.n_classes
    return 1 if dataset.y_train.ndim == 1 else int(dataset.y_train.shape[1])


def run_metadata(recipe: Recipe, dataset: Dataset, loss: Loss, scaler: Any, *, source: str = "ffnn",
                 extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The metadata a model trained from ``recipe`` carries (schema :data:`SCHEMA_VERSION`).

    Keys: ``schema``, ``source``, ``task``, ``n_classes``, ``class_names``, ``loss``,
    ``output`` (what the outputs are: ``logits`` for cross-entropy, ``scores`` for
    squared error on one-hot classes, ``value`` for regression), ``image_shape``,
    ``preprocessing``, ``features``, ``n_features`` (raw input columns), ``data`` and
    ``data_options`` (to reload the same split), and ``recipe``.
    """
    classification = dataset.task == "classification"
    output = "value" if not classification else ("scores" if loss.target_kind == "values" else "logits")
    names = recipe.feature_names
    meta = {
        "schema": SCHEMA_VERSION, "source": source, "task": dataset.task, "n_classes": dataset.n_classes,
        "class_names": list(dataset.class_names) if dataset.class_names else None, "loss": recipe.loss,
        "output": output, "image_shape": list(dataset.image_shape) if dataset.image_shape else None,
        "preprocessing": scaler.to_dict() if scaler else None, "features": names,
        "n_features": 2 if names else dataset.n_features, "data": recipe.data,
        "data_options": {**recipe.data_options(), "seed": recipe.seed}, "recipe": recipe.to_dict(),
    }
    meta.update(extra or {})
    return meta


def _list_of(kind: type, value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, kind) and not isinstance(v, bool) for v in value)


_METADATA_TYPES: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "schema": ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "source": ("a string", lambda v: isinstance(v, str)),
    "task": ("'classification' or 'regression'", lambda v: v in ("classification", "regression")),
    "n_classes": ("a positive integer", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1),
    "class_names": ("a list of strings", lambda v: _list_of(str, v)),
    "loss": ("a string", lambda v: isinstance(v, str)),
    "output": ("a string", lambda v: isinstance(v, str)),
    "image_shape": ("a list of two positive integers", lambda v: _list_of(int, v) and len(v) == 2 and min(v) >= 1),
    "preprocessing": ("an object", lambda v: isinstance(v, dict)),
    "features": ("a list of feature names", lambda v: _list_of(str, v)),
    "n_features": ("a positive integer", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1),
    "data": ("a string", lambda v: isinstance(v, str)),
    "data_options": ("an object of data options (" + ", ".join(_DATA_OPTIONS) + ", seed)", lambda v: _data_options(v)),
    "recipe": ("an object", lambda v: isinstance(v, dict)),
    "epoch": ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
}


def _data_options(value: Any) -> bool:
    """Whether ``value`` is what ``data_options`` holds: recipe data options and a seed, each valid."""
    if not isinstance(value, dict) or not set(value) <= {*_DATA_OPTIONS, "seed"}:
        return False
    try:
        for key, v in value.items():
            if v is not None:
                _CHECKS[key](v)
    except ConfigError:
        return False
    return True


def check_metadata(metadata: Mapping[str, Any]) -> None:
    """Check the metadata keys ffnn reads; other keys are the user's and are left alone.

    A key may be absent or null; when present it must have its documented type, and the
    ``recipe`` must be a valid :class:`Recipe`. Raises :class:`~ffnn.ModelFileError`.
    """
    schema = metadata.get("schema", 1)
    if not isinstance(schema, int) or isinstance(schema, bool) or schema < 1:
        raise ModelFileError(f"metadata 'schema' must be a positive integer, got {schema!r}")
    if schema > SCHEMA_VERSION:
        raise ModelFileError(f"the metadata uses schema {schema}, written by a newer ffnn "
                             f"(this one reads schema {SCHEMA_VERSION} and older)")
    for key, (expected, ok) in _METADATA_TYPES.items():
        value = metadata.get(key)
        if value is not None and not ok(value):
            raise ModelFileError(f"metadata {key!r} must be {expected}, got {value!r:.100}")
    names, n = metadata.get("class_names"), metadata.get("n_classes")
    if names is not None and n is not None and len(names) != n:
        raise ModelFileError(f"metadata lists {len(names)} class names for {n} classes")
    if metadata.get("preprocessing") is not None:
        from .data import scaler_from_dict
        scaler_from_dict(metadata["preprocessing"])
    if metadata.get("features") is not None:
        from .data.features import check_feature_names
        try:
            check_feature_names(metadata["features"])
        except ConfigError as exc:
            raise ModelFileError(f"metadata 'features': {exc}") from None
    if metadata.get("recipe") is not None:
        try:
            Recipe.from_dict(metadata["recipe"], source="metadata 'recipe'")
        except ConfigError as exc:
            raise ModelFileError(str(exc)) from None
