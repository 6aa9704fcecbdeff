"""Learning-rate and momentum schedules, applied once per epoch from outside the optimizer.

A schedule only *writes* ``optimizer.lr`` (or ``optimizer.momentum``); the optimizer
knows nothing about it. Call ``schedule.step(metric)`` once at the end of each epoch
(:class:`ReduceLROnPlateau` needs the held-out loss as ``metric``; the others ignore it).

The epoch counter ``t`` starts at 0, where the value is the optimizer's learning rate at
construction (the *base* lr); after the k-th ``step()`` call, ``t = k`` and the value for
epoch ``k`` has been written. The closed-form schedules compute ``lr(t)`` from ``t`` and
the base lr (they do not compound the optimizer's current value), so ``lr_at(t)`` gives
the whole curve without stepping. The results equal PyTorch's recursive schedulers to
rounding.

Examples
--------
>>> import numpy as np
>>> from ffnn.parameter import Parameter
>>> from ffnn.optim import SGD
>>> opt = SGD([Parameter(np.zeros(3))], lr=0.1, momentum=0.9)
>>> schedule = StepLR(opt, step_size=2)          # halve every 2 epochs
>>> for epoch in range(4):
...     # ... train one epoch with opt ...
...     lr = schedule.step()
>>> [schedule.lr_at(t) for t in range(5)], opt.lr
([0.1, 0.1, 0.05, 0.05, 0.025], 0.025)
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np

from ._validation import check_choice, check_int, check_number
from .errors import ConfigError

__all__ = [
    "Schedule",
    "StepLR",
    "InverseTimeLR",
    "ExponentialLR",
    "CosineLR",
    "LambdaLR",
    "ReduceLROnPlateau",
    "MomentumSchedule",
    "LinearWarmup",
]


def _no_hyperparameters(self: Schedule, **hparams: Any) -> None:
    if hparams:
        raise ConfigError(f"{type(self).__name__} takes no hyper-parameters, got {sorted(hparams)}")


class Schedule(ABC):
    """Base class: writes ``optimizer.<attribute>`` once per epoch.

    Subclasses define ``value_at(t)`` (the value for epoch ``t``) or override ``step``.

    Parameters
    ----------
    optimizer : Optimizer
        Any object with a writable ``lr`` (or ``momentum`` for :class:`MomentumSchedule`).

    Attributes
    ----------
    optimizer : Optimizer
    epoch : int
        The epoch counter t: 0 at construction, +1 per ``step()``.
    value : float
        The value last written to the optimizer (``last_lr`` for learning-rate schedules).
    """

    attribute = "lr"
    _hparam_names: tuple[str, ...] = ()

    def __init__(self, optimizer: Any) -> None:
        name = type(self).__name__
        if not hasattr(optimizer, self.attribute):
            raise ConfigError(f"{name} needs an optimizer with a {self.attribute!r} attribute, "
                              f"got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.epoch = 0
        self.value = float(getattr(optimizer, self.attribute))

    @property
    def last_epoch(self) -> int:
        """Alias of ``epoch`` (PyTorch's name)."""
        return self.epoch

    def _write(self, value: float) -> float:
        setattr(self.optimizer, self.attribute, value)
        self.value = float(getattr(self.optimizer, self.attribute))
        return self.value

    @abstractmethod
    def step(self, metric: float | None = None) -> float:
        """Advance to the next epoch, write its value to the optimizer and return it.

        ``metric`` (e.g. the validation loss) is ignored except by
        :class:`ReduceLROnPlateau`; it is accepted so that a training loop can call every
        schedule the same way.
        """

    def state_dict(self) -> dict[str, Any]:
        """The schedule's state as a plain dict of Python scalars (JSON-serialisable)."""
        d: dict[str, Any] = {"schedule": type(self).__name__, "epoch": self.epoch,
                             "value": self.value}
        d.update({k: getattr(self, k) for k in self._hparam_names})
        return d

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict` output (does not write the optimizer: restore the
        optimizer's own state too)."""
        name = type(self).__name__
        if not isinstance(state, dict):
            raise ConfigError(f"{name}.load_state_dict expects a dict, got {type(state).__name__}")
        if state.get("schedule", name) != name:
            raise ConfigError(f"{name}.load_state_dict got the state of a {state['schedule']}")
        allowed = {"schedule", "epoch", "value", *self._hparam_names, *self._extra_state}
        unknown = sorted(set(state) - allowed)
        if unknown:
            raise ConfigError(f"{name}.load_state_dict got unknown keys {unknown}; expected "
                              f"some of {sorted(allowed)}")
        epoch = check_int(f"{name} epoch", state.get("epoch", self.epoch), low=0)
        value = check_number(f"{name} value", state.get("value", self.value))
        old = {k: getattr(self, k) for k in self._hparam_names}
        try:
            self._configure(**{**old, **{k: state[k] for k in self._hparam_names if k in state}})
            self._load_extra(state)
        except BaseException:
            self._configure(**old)
            raise
        self.epoch, self.value = epoch, value

    _configure: Callable[..., None] = _no_hyperparameters
    """Validate and set the hyper-parameters of ``_hparam_names`` (all given, as keywords);
    writes nothing to the optimizer."""

    _extra_state: tuple[str, ...] = ()

    def _load_extra(self, state: dict[str, Any]) -> None:  # noqa: B027  (a hook: most schedules keep no more)
        """Validate and restore the state beyond the hyper-parameters (all or nothing)."""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._hparam_names)
        return f"{type(self).__name__}({args}, epoch={self.epoch})"


class _ClosedForm(Schedule):
    """A schedule whose value is a formula of the epoch: ``step`` writes ``value_at(t)``."""

    @abstractmethod
    def value_at(self, t: int) -> float:
        """The value written to the optimizer at epoch ``t``."""

    def step(self, metric: float | None = None) -> float:
        self.epoch += 1
        return self._write(self.value_at(self.epoch))


class _LRSchedule(_ClosedForm):
    """A closed-form learning-rate schedule ``lr(t)`` of the base lr."""

    @property
    def last_lr(self) -> float:
        """The learning rate last written to the optimizer."""
        return self.value

    def lr_at(self, t: int) -> float:
        """The learning rate for epoch ``t`` (>= 0), without changing anything."""
        return self.value_at(check_int(f"{type(self).__name__}.lr_at t", t, low=0))


class StepLR(_LRSchedule):
    """Step decay: ``lr(t) = base_lr * gamma ** floor(t / step_size)``.

    With the default ``gamma=0.5`` the learning rate halves every ``step_size`` epochs.

    Parameters
    ----------
    optimizer : Optimizer
        Its current ``lr`` becomes ``base_lr``.
    step_size : int
        Epochs between decays, >= 1.
    gamma : float
        Multiplicative factor > 0.

    Notes
    -----
    Equals ``torch.optim.lr_scheduler.StepLR`` (which multiplies ``lr`` by ``gamma`` at each
    boundary) up to rounding.

    Examples
    --------
    >>> import numpy as np
    >>> from ffnn.parameter import Parameter
    >>> from ffnn.optim import SGD
    >>> s = StepLR(SGD([Parameter(np.zeros(1))], lr=1.0), step_size=3, gamma=0.1)
    >>> [round(s.lr_at(t), 6) for t in range(7)]
    [1.0, 1.0, 1.0, 0.1, 0.1, 0.1, 0.01]
    """

    _hparam_names = ("base_lr", "step_size", "gamma")

    def __init__(self, optimizer: Any, step_size: int, gamma: float = 0.5) -> None:
        super().__init__(optimizer)
        self._configure(base_lr=self.value, step_size=step_size, gamma=gamma)

    def _configure(self, *, base_lr: float, step_size: int, gamma: float) -> None:
        checked = (check_number("StepLR base_lr", base_lr, low=0.0), check_int("StepLR step_size", step_size, low=1),
                   check_number("StepLR gamma", gamma, low=0.0, low_inclusive=False))
        self.base_lr, self.step_size, self.gamma = checked

    def value_at(self, t: int) -> float:
        return self.base_lr * self.gamma ** (t // self.step_size)


class InverseTimeLR(_LRSchedule):
    """Inverse-time decay: ``lr(t) = a / (b + t)`` (the course's schedule).

    The constructor writes ``lr = a / b`` to the optimizer at once (epoch 0), replacing the
    optimizer's learning rate. Robbins-Monro conditions hold: sum lr = inf, sum lr^2 < inf.

    Parameters
    ----------
    optimizer : Optimizer
    a : float
        Numerator > 0.
    b : float
        Offset > 0 (so the first learning rate ``a/b`` is finite).

    Examples
    --------
    >>> import numpy as np
    >>> from ffnn.parameter import Parameter
    >>> from ffnn.optim import SGD
    >>> opt = SGD([Parameter(np.zeros(1))], lr=0.5)
    >>> s = InverseTimeLR(opt, a=1.0, b=4.0)
    >>> opt.lr, s.step(), s.step()
    (0.25, 0.2, 0.16666666666666666)
    """

    _hparam_names = ("a", "b")

    def __init__(self, optimizer: Any, a: float, b: float) -> None:
        super().__init__(optimizer)
        self._configure(a=a, b=b)
        self._write(self.value_at(0))

    def _configure(self, *, a: float, b: float) -> None:
        checked = (check_number("InverseTimeLR a", a, low=0.0, low_inclusive=False),
                   check_number("InverseTimeLR b", b, low=0.0, low_inclusive=False))
        self.a, self.b = checked

    def value_at(self, t: int) -> float:
        return self.a / (self.b + t)


class ExponentialLR(_LRSchedule):
    """Exponential decay: ``lr(t) = base_lr * gamma ** t``.

    Parameters
    ----------
    optimizer : Optimizer
        Its current ``lr`` becomes ``base_lr``.
    gamma : float
        Factor per epoch, > 0 (usually < 1).

    Notes
    -----
    Equals ``torch.optim.lr_scheduler.ExponentialLR`` up to rounding.

    Examples
    --------
    >>> import numpy as np
    >>> from ffnn.parameter import Parameter
    >>> from ffnn.optim import SGD
    >>> s = ExponentialLR(SGD([Parameter(np.zeros(1))], lr=1.0), gamma=0.5)
    >>> [s.lr_at(t) for t in range(4)]
    [1.0, 0.5, 0.25, 0.125]
    """

    _hparam_names = ("base_lr", "gamma")

    def __init__(self, optimizer: Any, gamma: float) -> None:
        super().__init__(optimizer)
        self._configure(base_lr=self.value, gamma=gamma)

    def _configure(self, *, base_lr: float, gamma: float) -> None:
        checked = (check_number("ExponentialLR base_lr", base_lr, low=0.0),
                   check_number("ExponentialLR gamma", gamma, low=0.0, low_inclusive=False))
        self.base_lr, self.gamma = checked

    def value_at(self, t: int) -> float:
        return self.base_lr * self.gamma ** t


class CosineLR(_LRSchedule):
    """Cosine annealing: ``lr(t) = min_lr + (base_lr - min_lr) * (1 + cos(pi t / t_max)) / 2``.

    The curve runs from ``base_lr`` at t = 0 to ``min_lr`` at ``t = t_max`` and stays at
    ``min_lr`` afterwards (t is clamped at ``t_max``; no warm restarts).

    Parameters
    ----------
    optimizer : Optimizer
        Its current ``lr`` becomes ``base_lr``.
    t_max : int
        Epochs of the half cosine, >= 1.
    min_lr : float
        Final learning rate, >= 0.

    Notes
    -----
    Equals ``torch.optim.lr_scheduler.CosineAnnealingLR(T_max=t_max, eta_min=min_lr)`` for
    ``t <= t_max``, up to rounding; past ``t_max`` PyTorch's curve rises again, ours stays
    at ``min_lr``.

    Examples
    --------
    >>> import numpy as np
    >>> from ffnn.parameter import Parameter
    >>> from ffnn.optim import SGD
    >>> s = CosineLR(SGD([Parameter(np.zeros(1))], lr=1.0), t_max=4)
    >>> [round(s.lr_at(t), 4) for t in range(6)]
    [1.0, 0.8536, 0.5, 0.1464, 0.0, 0.0]
    """

    _hparam_names = ("base_lr", "t_max", "min_lr")

    def __init__(self, optimizer: Any, t_max: int, min_lr: float = 0.0) -> None:
        super().__init__(optimizer)
        self._configure(base_lr=self.value, t_max=t_max, min_lr=min_lr)

    def _configure(self, *, base_lr: float, t_max: int, min_lr: float) -> None:
        checked = (check_number("CosineLR base_lr", base_lr, low=0.0), check_int("CosineLR t_max", t_max, low=1),
                   check_number("CosineLR min_lr", min_lr, low=0.0))
        self.base_lr, self.t_max, self.min_lr = checked

    def value_at(self, t: int) -> float:
        t = min(t, self.t_max)
        return self.min_lr + (self.base_lr - self.min_lr) * (1.0 + math.cos(math.pi * t / self.t_max)) / 2.0


class LambdaLR(_LRSchedule):
    """A user-defined factor: ``lr(t) = base_lr * fn(t)``.

    Parameters
    ----------
    optimizer : Optimizer
        Its current ``lr`` becomes ``base_lr``.
    fn : callable int -> float
        Multiplier for epoch t; must return a finite number >= 0. It is not saved by
        :meth:`state_dict` (re-create the schedule with the same ``fn``).

    Examples
    --------
    >>> import numpy as np
    >>> from ffnn.parameter import Parameter
    >>> from ffnn.optim import SGD
    >>> s = LambdaLR(SGD([Parameter(np.zeros(1))], lr=0.1), lambda t: 1.0 / (1 + t))
    >>> s.step()
    0.05
    """

    _hparam_names = ("base_lr",)

    def __init__(self, optimizer: Any, fn: Callable[[int], float]) -> None:
        super().__init__(optimizer)
        if not callable(fn):
            raise ConfigError(f"LambdaLR fn must be callable, got {type(fn).__name__}")
        self._configure(base_lr=self.value)
        self.fn = fn

    def _configure(self, *, base_lr: float) -> None:
        self.base_lr = check_number("LambdaLR base_lr", base_lr, low=0.0)

    def value_at(self, t: int) -> float:
        factor = check_number(f"LambdaLR fn({t})", self.fn(t), low=0.0)
        return self.base_lr * factor


def _metric_value(owner: str, metric: Any) -> float:
    if metric is None:
        raise ConfigError(f"{owner}.step needs the monitored metric (e.g. the validation "
                          "loss: schedule.step(val_loss)), got None")
    if isinstance(metric, np.ndarray) and metric.size == 1:
        metric = metric.item()
    if isinstance(metric, bool) or not isinstance(metric, numbers.Real):
        raise ConfigError(f"{owner}.step expects a real-valued metric, got {metric!r} "
                          f"({type(metric).__name__})")
    metric = float(metric)
    if not math.isfinite(metric):
        raise ConfigError(f"{owner}.step got a non-finite metric {metric}; expected a finite "
                          "loss (training may have diverged)")
    return metric


class ReduceLROnPlateau(Schedule):
    """Multiply the learning rate by ``factor`` when the monitored metric stops improving.

    At each ``step(metric)``: the metric *improves* when (mode ``"min"``)
    ``metric < best * (1 - threshold)`` (``threshold_mode="rel"``) or
    ``metric < best - threshold`` (``"abs"``); mode ``"max"`` mirrors these
    (``metric > best * (1 + threshold)`` / ``metric > best + threshold``). After more than
    ``patience`` epochs in a row without improvement, ``lr <- max(lr * factor, min_lr)``
    (skipped if that changes lr by no more than ``eps``), then ``cooldown`` epochs pass
    in which bad epochs are not counted.

    Parameters
    ----------
    optimizer : Optimizer
        Its ``lr`` is read and reduced in place.
    factor : float
        In (0, 1).
    threshold : float
        Minimum significant improvement, >= 0.
    patience : int
        Epochs without improvement tolerated before reducing, >= 0.
    mode : {"min", "max"}
        Whether the metric should decrease (a loss) or increase (an accuracy).
    threshold_mode : {"rel", "abs"}
        Relative or absolute threshold.
    min_lr : float
        Lower bound of the learning rate, >= 0.
    cooldown : int
        Epochs after a reduction during which bad epochs are ignored, >= 0.
    eps : float
        Minimal change of lr that is applied, >= 0.

    Notes
    -----
    Same semantics as ``torch.optim.lr_scheduler.ReduceLROnPlateau`` for the same
    arguments; only the defaults differ (``factor=0.5, patience=0`` here; PyTorch uses
    ``factor=0.1, patience=10``). It reduces the optimizer's *current* lr, so it can follow
    a manual change of ``optimizer.lr``. ``step(None)`` or a non-finite metric raises
    :class:`~ffnn.errors.ConfigError`.

    Examples
    --------
    >>> import numpy as np
    >>> from ffnn.parameter import Parameter
    >>> from ffnn.optim import SGD
    >>> opt = SGD([Parameter(np.zeros(1))], lr=0.1)
    >>> s = ReduceLROnPlateau(opt, factor=0.5, patience=1)
    >>> [s.step(loss) for loss in [1.0, 0.8, 0.8, 0.8, 0.7]]
    [0.1, 0.1, 0.1, 0.05, 0.05]
    """

    _hparam_names = ("factor", "threshold", "patience", "mode", "threshold_mode", "min_lr",
                     "cooldown", "eps")
    _extra_state = ("best", "num_bad_epochs", "cooldown_counter")

    def __init__(self, optimizer: Any, factor: float = 0.5, threshold: float = 1e-4,
                 patience: int = 0, mode: str = "min", threshold_mode: str = "rel",
                 min_lr: float = 0.0, cooldown: int = 0, eps: float = 1e-8) -> None:
        super().__init__(optimizer)
        self._configure(factor=factor, threshold=threshold, patience=patience, mode=mode,
                        threshold_mode=threshold_mode, min_lr=min_lr, cooldown=cooldown, eps=eps)
        self.best = math.inf if self.mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def _configure(self, *, factor: float, threshold: float, patience: int, mode: str, threshold_mode: str,
                   min_lr: float, cooldown: int, eps: float) -> None:
        name = "ReduceLROnPlateau"
        checked = (check_number(f"{name} factor", factor, low=0.0, high=1.0, low_inclusive=False,
                                high_inclusive=False),
                   check_number(f"{name} threshold", threshold, low=0.0),
                   check_int(f"{name} patience", patience, low=0),
                   check_choice(f"{name} mode", mode, ("min", "max")),
                   check_choice(f"{name} threshold_mode", threshold_mode, ("rel", "abs")),
                   check_number(f"{name} min_lr", min_lr, low=0.0), check_int(f"{name} cooldown", cooldown, low=0),
                   check_number(f"{name} eps", eps, low=0.0))
        (self.factor, self.threshold, self.patience, self.mode, self.threshold_mode, self.min_lr, self.cooldown,
         self.eps) = checked

    @property
    def last_lr(self) -> float:
        """The optimizer's learning rate after the last ``step``."""
        return self.value

    def is_better(self, metric: float, best: float) -> bool:
        """Whether ``metric`` is a significant improvement over ``best``."""
        if self.mode == "min":
            if self.threshold_mode == "rel":
                return metric < best * (1.0 - self.threshold)
            return metric < best - self.threshold
        if self.threshold_mode == "rel":
            return metric > best * (1.0 + self.threshold)
        return metric > best + self.threshold

    def step(self, metric: float | None = None) -> float:
        """Record the epoch's ``metric`` (e.g. the validation loss); reduce lr if it has
        not improved for more than ``patience`` epochs. Returns the learning rate."""
        current = _metric_value(type(self).__name__, metric)
        self.epoch += 1
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0          # bad epochs in cooldown do not count
        lr = float(self.optimizer.lr)
        if self.num_bad_epochs > self.patience:
            new_lr = max(lr * self.factor, self.min_lr)
            if lr - new_lr > self.eps:
                lr = self._write(new_lr)
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self.value = lr
        return lr

    def state_dict(self) -> dict[str, Any]:
        d = super().state_dict()
        d.update(best=self.best, num_bad_epochs=self.num_bad_epochs,
                 cooldown_counter=self.cooldown_counter)
        return d

    def _load_extra(self, state: dict[str, Any]) -> None:
        best = state.get("best", self.best)
        if isinstance(best, bool) or not isinstance(best, numbers.Real) or math.isnan(best):
            raise ConfigError(f"ReduceLROnPlateau best must be a number, got {best!r}")
        counters = [check_int(f"ReduceLROnPlateau {k}", state.get(k, getattr(self, k)), low=0)
                    for k in ("num_bad_epochs", "cooldown_counter")]
        self.best = float(best)
        self.num_bad_epochs, self.cooldown_counter = counters


class MomentumSchedule(_ClosedForm):
    """Momentum ``start`` for epochs ``t < after``, then ``end``.

    The course's recipe: "momentum 0.5 until training stabilises, then 0.9". The
    constructor writes the epoch-0 value (``start``, or ``end`` when ``after == 0``) to
    ``optimizer.momentum``; each ``step()`` writes the value of the next epoch.

    Parameters
    ----------
    optimizer : SGD or RMSprop
        An optimizer with a writable ``momentum`` attribute.
    start, end : float
        Momentum before and from epoch ``after`` on, each in [0, 1).
    after : int
        First epoch using ``end``, >= 0.

    Examples
    --------
    >>> import numpy as np
    >>> from ffnn.parameter import Parameter
    >>> from ffnn.optim import SGD
    >>> opt = SGD([Parameter(np.zeros(1))], lr=0.1)
    >>> s = MomentumSchedule(opt, start=0.5, end=0.9, after=2)
    >>> opt.momentum, [s.step() for _ in range(3)]
    (0.5, [0.5, 0.9, 0.9])
    """

    attribute = "momentum"
    _hparam_names = ("start", "end", "after")

    def __init__(self, optimizer: Any, start: float = 0.5, end: float = 0.9,
                 after: int = 5) -> None:
        if not hasattr(optimizer, "momentum"):
            raise ConfigError(f"MomentumSchedule needs an optimizer with a momentum attribute "
                              f"(SGD or RMSprop); {type(optimizer).__name__} has none")
        super().__init__(optimizer)
        self._configure(start=start, end=end, after=after)
        self._write(self.value_at(0))

    def _configure(self, *, start: float, end: float, after: int) -> None:
        name = "MomentumSchedule"
        checked = (check_number(f"{name} start", start, low=0.0, high=1.0, high_inclusive=False),
                   check_number(f"{name} end", end, low=0.0, high=1.0, high_inclusive=False),
                   check_int(f"{name} after", after, low=0))
        self.start, self.end, self.after = checked

    @property
    def last_momentum(self) -> float:
        """The momentum last written to the optimizer."""
        return self.value

    def value_at(self, t: int) -> float:
        """The momentum for epoch ``t``."""
        return self.start if t < self.after else self.end


class LinearWarmup(Schedule):
    """Linear learning-rate warm-up over the first ``epochs`` epochs, then another schedule.

    ``lr(t) = base_lr * (s + (1 - s) t / W)`` for ``t < W = epochs`` (``s = start_factor``),
    ``lr(W) = base_lr``, and from there on the schedule ``then`` runs from its own epoch 0:
    ``lr(W + k) = then.lr(k)`` (``base_lr`` for good without one). ``base_lr`` is the
    optimizer's learning rate when ``then`` was made (its epoch-0 value).

    Parameters
    ----------
    optimizer : Optimizer
    epochs : int
        ``W``, epochs of warm-up, >= 1.
    start_factor : float or None
        ``s`` in (0, 1]; None is ``1 / (W + 1)``, so that ``lr(t) = base_lr (t + 1) / (W + 1)``.
    then : learning-rate schedule or None
        The schedule after the warm-up (any one that writes ``optimizer.lr``: cosine, step,
        plateau, ...), made over the same optimizer. It is not stepped during the warm-up.

    Notes
    -----
    Equals ``torch.optim.lr_scheduler.SequentialLR(optimizer, [LinearLR(optimizer,
    start_factor=s, total_iters=W), then], milestones=[W])`` up to rounding; for a cosine
    over a run of ``T`` epochs give it ``t_max = T - W`` (``--schedule warmup:W+cosine`` does).

    Examples
    --------
    >>> import numpy as np
    >>> from ffnn.parameter import Parameter
    >>> from ffnn.optim import SGD
    >>> opt = SGD([Parameter(np.zeros(1))], lr=1.0)
    >>> s = LinearWarmup(opt, epochs=3, then=CosineLR(opt, t_max=2))
    >>> [opt.lr] + [s.step() for _ in range(5)]
    [0.25, 0.5, 0.75, 1.0, 0.5, 0.0]
    """

    _hparam_names = ("base_lr", "epochs", "start_factor")
    _extra_state = ("then",)

    def __init__(self, optimizer: Any, epochs: int, start_factor: float | None = None,
                 then: Schedule | None = None) -> None:
        if then is not None and (getattr(then, "optimizer", None) is not optimizer or then.attribute != "lr"):
            raise ConfigError("LinearWarmup then= must be a learning-rate schedule over the same optimizer, "
                              f"got {type(then).__name__}")
        super().__init__(optimizer)
        epochs = check_int("LinearWarmup epochs", epochs, low=1)
        self.then = then
        self._configure(base_lr=then.value if then is not None else self.value, epochs=epochs,
                        start_factor=1.0 / (epochs + 1) if start_factor is None else start_factor)
        self._write(self.value_at(0))

    def _configure(self, *, base_lr: float, epochs: int, start_factor: float) -> None:
        checked = (check_number("LinearWarmup base_lr", base_lr, low=0.0),
                   check_int("LinearWarmup epochs", epochs, low=1),
                   check_number("LinearWarmup start_factor", start_factor, low=0.0, high=1.0, low_inclusive=False))
        self.base_lr, self.epochs, self.start_factor = checked

    @property
    def last_lr(self) -> float:
        """The learning rate last written to the optimizer."""
        return self.value

    def value_at(self, t: int) -> float:
        """The warm-up's learning rate for epoch ``t`` (``base_lr`` from ``t = epochs`` on)."""
        t = min(check_int("LinearWarmup t", t, low=0), self.epochs)
        return self.base_lr * (self.start_factor + (1.0 - self.start_factor) * t / self.epochs)

    def step(self, metric: float | None = None) -> float:
        self.epoch += 1
        if self.then is None or self.epoch <= self.epochs:
            return self._write(self.value_at(self.epoch))
        self.value = float(self.then.step(metric))
        return self.value

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "then": None if self.then is None else self.then.state_dict()}

    def _load_extra(self, state: dict[str, Any]) -> None:
        saved: Any = state.get("then")      # checked by the schedule's own load_state_dict
        if (saved is None) != (self.then is None):
            raise ConfigError("LinearWarmup state: the saved schedule after the warm-up does not match this one's "
                              f"({type(self.then).__name__ if self.then is not None else 'none'})")
        if self.then is not None:
            self.then.load_state_dict(saved)
