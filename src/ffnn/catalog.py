"""The catalogue: every name a user can type, in one table per kind, and what it builds.

============  ==============================================  ==========================================
table         names                                           read by
============  ==============================================  ==========================================
ACTIVATIONS   relu, tanh, sigmoid, leaky_relu, ... (aliases   ``mlp``, ``ffnn train --activation``, the
              logistic, linear)                               playground, the estimators
LOSSES        ce, mse, bce, robust-bce (short names)          ``ffnn train --loss``, the playground
OPTIMIZERS    sgd, momentum, nesterov, adam, adamw, rmsprop,  ``ffnn train --optimizer`` (with each one's
              adagrad, adadelta                               default learning rate), the playground, the
                                                              estimators' ``solver``
SCHEDULES     step, inverse-time, exponential, plateau,       ``ffnn train --schedule KIND:ARG:...``
              cosine, momentum
INITIALIZERS  gaussian (and gaussian:STD), xavier, he, ...    ``Linear(init=...)``, ``--init``
LAYERS        layer classes by class name                     :func:`ffnn.load` (model files)
LOSS_CLASSES  loss classes by class name                      the recipe and model metadata
============  ==============================================  ==========================================

Adding an optimizer is one class and one :class:`Entry` in :data:`OPTIMIZERS`: the command
line, the playground (its select box is built from ``/api/options``), the estimators and
the recipe all read this table. A layer written by a user becomes loadable from model files
with :func:`register_layer`.

>>> from ffnn import catalog
>>> catalog.OPTIMIZERS.names()
('sgd', 'momentum', 'nesterov', 'adam', 'adamw', 'rmsprop', 'adagrad', 'adadelta')
>>> catalog.OPTIMIZERS.entry("adam").default_lr
0.001
>>> type(catalog.activation("logistic")).__name__
'Sigmoid'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

from . import init as _init
from . import layers as L
from . import losses as _losses
from . import optim as _optim
from . import schedules as _schedules
from ._typing import Seed
from .errors import ConfigError
from .parameter import Parameter

__all__ = ["Entry", "Table", "ScheduleKind", "ACTIVATIONS", "LOSSES", "OPTIMIZERS", "SCHEDULES",
           "INITIALIZERS", "LAYERS", "LOSS_CLASSES", "activation", "loss", "optimizer", "schedules",
           "parse_schedule", "initializer", "register_layer", "register_loss", "options"]

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One name: what it denotes (``value``: a class, a function), how to build it, and help.

    ``build`` constructs the object (its arguments depend on the table); ``extra`` holds the
    table-specific facts a front end needs (an optimizer's default learning rate, whether it
    takes a momentum, a loss's target kind).
    """

    name: str
    value: T
    help: str = ""
    aliases: tuple[str, ...] = ()
    build: Callable[..., Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def default_lr(self) -> float | None:
        """Optimizers: the learning rate used when none is given."""
        value = self.extra.get("default_lr")
        return None if value is None else float(value)


class Table(Mapping[str, T]):
    """Names of one kind (``kind``: "activation", "optimizer", ...) mapped to their entries.

    As a mapping, ``table[name]`` is the entry's ``value`` and accepts aliases; iteration
    and ``len`` cover every accepted name. :meth:`names` lists the canonical names only (what
    a front end offers), :meth:`entry` returns the :class:`Entry` and names the choices in
    its :class:`~ffnn.ConfigError` when the name is unknown.
    """

    def __init__(self, kind: str, entries: Iterable[Entry[T]] = ()) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}
        self._lookup: dict[str, Entry[T]] = {}
        for e in entries:
            self.add(e)

    def add(self, entry: Entry[T], *, replace: bool = False) -> Entry[T]:
        """Add an entry; a name or alias already taken by another value is refused unless ``replace``."""
        for name in (entry.name, *entry.aliases):
            taken = self._lookup.get(name)
            if taken is not None and taken.value is not entry.value and not replace:
                raise ConfigError(f"{self.kind} name {name!r} is already taken by {taken.value!r}")
        self._entries[entry.name] = entry
        for name in (entry.name, *entry.aliases):
            self._lookup[name] = entry
        return entry

    def entry(self, name: str) -> Entry[T]:
        """The entry for a canonical name or an alias."""
        found = self._lookup.get(name) if isinstance(name, str) else None
        if found is None:
            raise ConfigError(f"unknown {self.kind} {name!r}; expected one of {', '.join(self.names())}")
        return found

    def names(self) -> tuple[str, ...]:
        """The canonical names, in catalogue order."""
        return tuple(self._entries)

    def entries(self) -> tuple[Entry[T], ...]:
        return tuple(self._entries.values())

    def __getitem__(self, name: str) -> T:
        found = self._lookup.get(name)
        if found is None:
            raise KeyError(name)
        return found.value

    def __iter__(self) -> Iterator[str]:
        return iter(self._lookup)

    def __len__(self) -> int:
        return len(self._lookup)

    def __repr__(self) -> str:
        return f"Table({self.kind!r}, {list(self.names())})"


# --- layers and activations ------------------------------------------------------------

LAYERS: Table[type[L.Layer]] = Table("layer type", (Entry(cls.__name__, cls, (cls.__doc__ or "").split("\n")[0])
                                                   for cls in (L.Linear, L.Sigmoid, L.Tanh, L.ReLU, L.LeakyReLU,
                                                               L.PReLU, L.RReLU, L.ELU, L.Softplus, L.Softsign,
                                                               L.Identity, L.Softmax, L.Dropout, L.BatchNorm,
                                                               L.LayerNorm)))
"""Layer classes by class name: the registry :func:`ffnn.load` resolves model files through."""


def register_layer(cls: type[L.Layer], name: str | None = None, *, replace: bool = False) -> type[L.Layer]:
    """Make a layer class (e.g. one of your own) loadable from model files; usable as a decorator.

    The class must subclass :class:`ffnn.layers.Layer` and rebuild from its ``config()``
    through ``from_config``. ``name`` defaults to the class name, the key stored in files.

    >>> from ffnn import layers
    >>> @register_layer
    ... class Cube(layers.Layer):
    ...     def forward(self, x):
    ...         self._x = x
    ...         return x ** 3
    ...     def backward(self, grad_out, input_grad=True):
    ...         return 3 * self._x ** 2 * grad_out
    >>> LAYERS["Cube"] is Cube
    True
    """
    if not (isinstance(cls, type) and issubclass(cls, L.Layer)):
        raise ConfigError(f"register_layer expects a subclass of ffnn.layers.Layer, got {cls!r}")
    LAYERS.add(Entry(name or cls.__name__, cls, (cls.__doc__ or "").split("\n")[0]), replace=replace)
    return cls


_HE = {"init": "he"}
"""The ReLU family's default initializer (He/MSRA); the others default to Xavier."""

ACTIVATIONS: Table[type[L.Layer]] = Table("activation", [
    Entry("relu", L.ReLU, "max(0, x)", build=lambda rng, dtype: L.ReLU(), extra=_HE),
    Entry("tanh", L.Tanh, "tanh(x)", build=lambda rng, dtype: L.Tanh()),
    Entry("sigmoid", L.Sigmoid, "1 / (1 + exp(-x))", ("logistic",), build=lambda rng, dtype: L.Sigmoid()),
    Entry("leaky_relu", L.LeakyReLU, "x if x > 0 else 0.01 x", build=lambda rng, dtype: L.LeakyReLU(), extra=_HE),
    Entry("prelu", L.PReLU, "x if x > 0 else a x, a learned (starts at 0.25)",
          build=lambda rng, dtype: L.PReLU(dtype=dtype), extra=_HE),
    Entry("rrelu", L.RReLU, "x if x >= 0 else a x, a ~ U(1/8, 1/3) in training",
          build=lambda rng, dtype: L.RReLU(rng=rng), extra=_HE),
    Entry("elu", L.ELU, "x if x > 0 else exp(x) - 1", build=lambda rng, dtype: L.ELU(), extra=_HE),
    Entry("softplus", L.Softplus, "log(1 + exp(x))", build=lambda rng, dtype: L.Softplus()),
    Entry("softsign", L.Softsign, "x / (1 + |x|)", build=lambda rng, dtype: L.Softsign()),
    Entry("identity", L.Identity, "x (a linear unit)", ("linear",), build=lambda rng, dtype: L.Identity()),
])
"""Hidden-unit activations by the lower-case names front ends accept (``extra["init"]``: the
default initializer of the layer before them, when not Xavier)."""


def activation(name: str, *, rng: Seed = None, dtype: Any = np.float32) -> L.Layer:
    """A new activation layer for ``name`` (``rng`` for RReLU's slopes, ``dtype`` for PReLU's)."""
    build = ACTIVATIONS.entry(name).build
    assert build is not None
    layer: L.Layer = build(rng, dtype)
    return layer


# --- losses ----------------------------------------------------------------------------

LOSS_CLASSES: Table[type[_losses.Loss]] = Table("loss class", (Entry(cls.__name__, cls) for cls in (
    _losses.EuclideanLoss, _losses.SoftmaxCrossEntropy, _losses.CrossEntropy, _losses.BinaryCrossEntropy,
    _losses.RobustBinaryCrossEntropy)))
"""Loss classes by class name."""


def register_loss(cls: type[_losses.Loss], name: str | None = None, *, replace: bool = False) -> type[_losses.Loss]:
    """Add a loss class (e.g. one of your own) to :data:`LOSS_CLASSES`; usable as a decorator."""
    if not (isinstance(cls, type) and issubclass(cls, _losses.Loss)):
        raise ConfigError(f"register_loss expects a subclass of ffnn.losses.Loss, got {cls!r}")
    LOSS_CLASSES.add(Entry(name or cls.__name__, cls), replace=replace)
    return cls


LOSSES: Table[type[_losses.Loss]] = Table("loss", [
    Entry("ce", _losses.SoftmaxCrossEntropy, "softmax cross-entropy on the logits (class labels)",
          ("cross-entropy",), build=_losses.SoftmaxCrossEntropy, extra={"label": "Softmax + cross-entropy"}),
    Entry("mse", _losses.EuclideanLoss, "sum of squares 1/2 ||y - t||^2 (regression, or one-hot classes)",
          ("sum-of-squares",), build=_losses.EuclideanLoss, extra={"label": "Squared error"}),
    Entry("bce", _losses.BinaryCrossEntropy, "binary cross-entropy on logits (one output per binary label)",
          ("binary-cross-entropy",), build=_losses.BinaryCrossEntropy,
          extra={"label": "Sigmoid + binary cross-entropy"}),
    Entry("robust-bce", _losses.RobustBinaryCrossEntropy,
          "binary cross-entropy for labels flipped with probability 0.1 (label noise)",
          build=_losses.RobustBinaryCrossEntropy, extra={"label": "Robust binary cross-entropy (10% flips)"}),
])
"""Loss functions by their short names, as ``ffnn train --loss`` takes them."""


def loss(name: str) -> _losses.Loss:
    """A new loss for a short name (``"ce"``, ``"mse"``, ``"bce"``, ``"robust-bce"``)."""
    build = LOSSES.entry(name).build
    assert build is not None
    made: _losses.Loss = build()
    return made


# --- optimizers ------------------------------------------------------------------------

def _sgd(params: Iterable[Parameter], lr: float, momentum: float, weight_decay: float) -> _optim.Optimizer:
    return _optim.SGD(params, lr, weight_decay=weight_decay)


def _momentum(nesterov: bool) -> Callable[..., _optim.Optimizer]:
    def build(params: Iterable[Parameter], lr: float, momentum: float, weight_decay: float) -> _optim.Optimizer:
        if momentum <= 0:
            raise ConfigError(f"optimizer {'nesterov' if nesterov else 'momentum'!r} needs momentum > 0, "
                              f"got {momentum:g}")
        return _optim.SGD(params, lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
    return build


def _plain(cls: Callable[..., _optim.Optimizer]) -> Callable[..., _optim.Optimizer]:
    def build(params: Iterable[Parameter], lr: float, momentum: float, weight_decay: float) -> _optim.Optimizer:
        return cls(params, lr, weight_decay=weight_decay)
    return build


OPTIMIZERS: Table[type[_optim.Optimizer]] = Table("optimizer", [
    Entry("sgd", _optim.SGD, "plain gradient descent: w -= lr g", build=_sgd,
          extra={"default_lr": 0.1, "label": "SGD"}),
    Entry("momentum", _optim.SGD, "SGD with momentum: v = m v - lr g; w += v", build=_momentum(False),
          extra={"default_lr": 0.05, "momentum": True, "label": "Momentum"}),
    Entry("nesterov", _optim.SGD, "SGD with Nesterov momentum", build=_momentum(True),
          extra={"default_lr": 0.05, "momentum": True, "label": "Nesterov"}),
    Entry("adam", _optim.Adam, "Adam (Kingma & Ba), as torch.optim.Adam", build=_plain(_optim.Adam),
          extra={"default_lr": 1e-3, "label": "Adam"}),
    Entry("adamw", _optim.AdamW, "Adam with decoupled weight decay, as torch.optim.AdamW",
          build=_plain(_optim.AdamW), extra={"default_lr": 1e-3, "label": "AdamW"}),
    Entry("rmsprop", _optim.RMSprop, "RMSprop, as torch.optim.RMSprop", build=_plain(_optim.RMSprop),
          extra={"default_lr": 1e-3, "label": "RMSprop"}),
    Entry("adagrad", _optim.Adagrad, "Adagrad, as torch.optim.Adagrad", build=_plain(_optim.Adagrad),
          extra={"default_lr": 0.05, "label": "Adagrad"}),
    Entry("adadelta", _optim.Adadelta, "Adadelta (Zeiler), as torch.optim.Adadelta", build=_plain(_optim.Adadelta),
          extra={"default_lr": 1.0, "label": "Adadelta"}),
])
"""Optimizers by name, each with its default learning rate (``extra["default_lr"]``) and
whether it takes the ``momentum`` option (``extra["momentum"]``)."""


def optimizer(name: str, params: Iterable[Parameter], lr: float | None = None, momentum: float = 0.9,
              weight_decay: float = 0.0) -> _optim.Optimizer:
    """A new optimizer for ``name`` over ``params``; ``lr=None`` takes the name's default.

    "sgd" is plain SGD, "momentum" and "nesterov" are :class:`~ffnn.optim.SGD` with
    ``momentum``; the others are their classes with default constants and ``weight_decay``.

    >>> import numpy as np
    >>> optimizer("nesterov", [Parameter(np.zeros(2))], lr=0.1)
    SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.0)
    """
    entry = OPTIMIZERS.entry(name)
    assert entry.build is not None
    made: _optim.Optimizer = entry.build(params, entry.default_lr if lr is None else lr, momentum, weight_decay)
    return made


# --- learning-rate and momentum schedules ----------------------------------------------

@dataclass(frozen=True)
class ScheduleKind:
    """How ``KIND:ARG:ARG`` builds a schedule: its class, its arguments in order (name and
    type), how many are required, and which one defaults to the number of epochs."""

    cls: type[_schedules.Schedule]
    args: tuple[tuple[str, type], ...]
    required: int
    epochs_arg: str | None = None

    def usage(self, kind: str) -> str:
        parts = [kind] + [f"{'[' if i >= self.required else ''}{name.upper()}" for i, (name, _) in enumerate(self.args)]
        closing = "]" * max(0, len(self.args) - self.required)
        return ":".join(parts) + closing


SCHEDULES: Table[ScheduleKind] = Table("schedule", [
    Entry("step", ScheduleKind(_schedules.StepLR, (("step_size", int), ("gamma", float)), 1),
          "lr times GAMMA (0.5) every STEP_SIZE epochs"),
    Entry("inverse-time", ScheduleKind(_schedules.InverseTimeLR, (("a", float), ("b", float)), 2),
          "lr = A / (B + epoch)"),
    Entry("exponential", ScheduleKind(_schedules.ExponentialLR, (("gamma", float),), 1),
          "lr times GAMMA every epoch"),
    Entry("plateau", ScheduleKind(_schedules.ReduceLROnPlateau, (("factor", float), ("patience", int)), 0),
          "lr times FACTOR (0.5) when the held-out loss stops improving for PATIENCE (0) epochs"),
    Entry("cosine", ScheduleKind(_schedules.CosineLR, (), 0, epochs_arg="t_max"),
          "cosine annealing from lr to 0 over all the epochs"),
    Entry("momentum", ScheduleKind(_schedules.MomentumSchedule, (("start", float), ("end", float), ("after", int)),
                                   3), "momentum START until epoch AFTER, then END"),
    Entry("warmup", ScheduleKind(_schedules.LinearWarmup, (("epochs", int), ("start_factor", float)), 1),
          "lr rising linearly over the first EPOCHS epochs (from lr/(EPOCHS+1), or lr*START_FACTOR), then the "
          "other lr schedule (e.g. warmup:2+cosine)"),
])
"""Schedules by kind, as ``--schedule KIND:ARG:ARG`` takes them (join several with ``+``)."""


def parse_schedule(spec: str | None) -> list[tuple[str, dict[str, Any]]]:
    """Check a ``--schedule`` spec and return ``[(kind, keyword arguments), ...]``.

    >>> parse_schedule("step:5:0.5+momentum:0.5:0.9:3")
    [('step', {'step_size': 5, 'gamma': 0.5}), ('momentum', {'start': 0.5, 'end': 0.9, 'after': 3})]
    """
    if spec is None or str(spec).strip() == "":
        return []
    if not isinstance(spec, str):
        raise ConfigError(f"schedule must be a string such as 'step:5:0.5', got {spec!r}")
    usage = ", ".join(e.value.usage(e.name) for e in SCHEDULES.entries())
    result = []
    for part in spec.split("+"):
        kind, *args = part.strip().split(":")
        if kind not in SCHEDULES:
            raise ConfigError(f"unknown schedule {part!r}; expected {usage} (join several with +)")
        shape = SCHEDULES[kind]
        if not shape.required <= len(args) <= len(shape.args):
            raise ConfigError(f"schedule {part!r}: expected {shape.usage(kind)}")
        kwargs: dict[str, Any] = {}
        for (name, kind_of), text in zip(shape.args, args, strict=False):
            try:
                kwargs[name] = kind_of(text)
            except ValueError:
                expected = "an integer" if kind_of is int else "a number"
                raise ConfigError(f"schedule {part!r}: {name.upper()} must be {expected}, got {text!r}") from None
        result.append((kind, kwargs))
    return result


def schedules(spec: str | None, optimizer: _optim.Optimizer, epochs: int) -> list[_schedules.Schedule]:
    """The schedules of a ``--schedule`` spec over ``optimizer``, in order.

    ``cosine`` without ``T_MAX`` anneals over ``epochs`` (over the epochs after the warm-up
    with ``warmup:W``). ``warmup`` wraps the spec's learning-rate schedule (at most one), which
    starts when the warm-up ends (:class:`ffnn.schedules.LinearWarmup`).
    """
    parsed = parse_schedule(spec)
    warmups = [kwargs for kind, kwargs in parsed if kind == "warmup"]
    if len(warmups) > 1:
        raise ConfigError(f"schedule {spec!r}: give at most one warmup")
    warm = warmups[0]["epochs"] if warmups else 0
    made = []
    for kind, kwargs in parsed:
        if kind == "warmup":
            continue
        shape = SCHEDULES[kind]
        if shape.epochs_arg and shape.epochs_arg not in kwargs:
            kwargs[shape.epochs_arg] = max(int(epochs) - warm, 1)
        made.append(shape.cls(optimizer, **kwargs))
    if not warmups:
        return made
    lr_schedules = [s for s in made if s.attribute == "lr"]
    if len(lr_schedules) > 1:
        raise ConfigError(f"schedule {spec!r}: warmup composes with one learning-rate schedule, got "
                          f"{len(lr_schedules)}")
    then = lr_schedules[0] if lr_schedules else None
    warmup = _schedules.LinearWarmup(optimizer, then=then, **warmups[0])
    return [warmup if s is then else s for s in made] if then is not None else [warmup, *made]


# --- initializers ----------------------------------------------------------------------

INITIALIZERS: Table[_init.Initializer] = Table("init", [
    Entry("gaussian", _init.gaussian(0.01), "N(0, 0.01^2); gaussian:STD for another std"),
    Entry("xavier", _init.xavier_uniform, "U(-a, a), a = sqrt(6 / (fan_in + fan_out))", ("xavier_uniform",)),
    Entry("xavier_normal", _init.xavier_normal, "N(0, 2 / (fan_in + fan_out))"),
    Entry("he", _init.he_normal, "N(0, 2 / fan_in) (MSRA)", ("he_normal", "msra")),
    Entry("he_uniform", _init.he_uniform, "U(-a, a), a = sqrt(6 / fan_in)"),
    Entry("zeros", _init.zeros, "all zeros"),
])
"""Weight initializers by name (``"gaussian:STD"`` chooses the standard deviation)."""

_GAUSSIAN_STD = re.compile(r"^gaussian(?::([0-9.eE+-]+)|\(std=([0-9.eE+-]+)\))$")
"""``gaussian:STD`` or ``gaussian(std=STD)``."""


def initializer(init: str | _init.Initializer) -> _init.Initializer:
    """The initializer for a name in :data:`INITIALIZERS`, ``"gaussian:STD"``, or a callable
    ``f(shape, rng, dtype)`` (returned as is)."""
    if callable(init):
        return init
    if isinstance(init, str) and init in INITIALIZERS:
        return INITIALIZERS[init]
    match = _GAUSSIAN_STD.match(init) if isinstance(init, str) else None
    if match:
        try:
            return _init.gaussian(float(match.group(1) or match.group(2)))
        except ValueError:
            pass
    raise ConfigError(f"init must be one of {', '.join(map(repr, INITIALIZERS))}, 'gaussian:STD' or a callable "
                      f"f(shape, rng, dtype); got {init!r}")


def options() -> dict[str, Any]:
    """Every table's canonical names with their help, as JSON (the playground's ``/api/options``)."""
    def describe(table: Table[Any]) -> list[dict[str, Any]]:
        rows = []
        for e in table.entries():
            row: dict[str, Any] = {"name": e.name, "help": e.help}
            row.update({k: v for k, v in e.extra.items()})
            rows.append(row)
        return rows
    described = {"activations": describe(ACTIVATIONS), "optimizers": describe(OPTIMIZERS),
                 "schedules": describe(SCHEDULES), "initializers": describe(INITIALIZERS)}
    described["losses"] = [dict(row, targets=LOSSES[row["name"]].target_kind) for row in describe(LOSSES)]
    return described
