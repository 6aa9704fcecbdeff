"""Callbacks: everything the training engine does besides stepping.

The engine (:class:`ffnn.Trainer`) only iterates minibatches and steps the optimizer; the
rest hooks into it here. Each hook is called on every callback in order:

==================  ==========================================================================
hook                when
==================  ==========================================================================
on_train_begin()    once, before the first batch of :meth:`Trainer.fit`
on_epoch_begin(e)   before the batches of epoch ``e`` run in this process (also when a resumed
                    run continues an epoch started before)
on_before_step(b)   after the backward pass of batch ``b``, before ``optimizer.step()``: the
                    gradients are in ``param.grad`` (regularizers, clipping)
on_batch_end(b, l)  after the step; ``l = {"batch": b, "loss": E}``
on_interrupt()      Ctrl-C: after the current batch, before the partial epoch is recorded
on_epoch_end(e, l)  ``l`` is the epoch's record (loss, accuracy, val_loss, ..., lr, seconds)
on_train_end()      once, when :meth:`Trainer.fit` ends (normally, early or interrupted)
==================  ==========================================================================

A callback sees ``self.trainer``, ``self.model`` and ``self.history``, and stops training
after the current epoch by setting ``self.stop_training = True``. One with state worth
keeping across a crash implements ``state_dict()`` / ``load_state_dict()`` (JSON values and
NumPy arrays); checkpoints save it.

The built-in callbacks, in the order the engine runs them: :class:`DivergenceGuard`, the
:class:`~ffnn.History`, :class:`ScheduleStepper`, the caller's callbacks (an
:class:`L1Penalty`, say), :class:`EarlyStopping`, :class:`ProgressBar`, :class:`EpochPrinter`,
and :class:`ffnn.checkpoint.Checkpointer`.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from ._validation import check_choice, check_int, check_number
from .backend import of as backend_of
from .errors import ConfigError, TrainingDivergedError

if TYPE_CHECKING:
    from .history import History
    from .losses import Loss
    from .model import Sequential
    from .train import Trainer

__all__ = ["Callback", "CallbackList", "DivergenceGuard", "ScheduleStepper", "EarlyStopping", "ProgressBar",
           "EpochPrinter", "L1Penalty", "GradientClipping"]

HOOKS = ("on_train_begin", "on_epoch_begin", "on_before_step", "on_batch_end", "on_interrupt", "on_epoch_end",
         "on_train_end")


class Callback:
    """Hooks called by the training engine (see the module docstring for when).

    ``logs`` is the epoch's record (``on_epoch_end``) or ``{"batch": i, "loss": E}``
    (``on_batch_end``). ``self.trainer``, ``self.model`` and ``self.history`` are set
    before ``on_train_begin``. Set ``stop_training = True`` to stop after the current epoch.
    """

    trainer: Trainer
    model: Sequential
    history: History
    stop_training: bool = False

    def on_train_begin(self) -> None: ...
    def on_epoch_begin(self, epoch: int) -> None: ...
    def on_before_step(self, batch: int) -> None: ...
    def on_batch_end(self, batch: int, logs: dict[str, float]) -> None: ...
    def on_interrupt(self) -> None: ...
    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None: ...
    def on_train_end(self) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        """State to checkpoint: JSON values and NumPy arrays, nested in dicts (empty by default)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output."""


def _overrides(callback: Callback, hook: str) -> bool:
    return getattr(type(callback), hook, None) is not getattr(Callback, hook)


class CallbackList:
    """Calls a hook on every callback that defines it, in order (hooks left as the base
    class's no-ops are skipped, so an unused hook costs nothing per batch)."""

    def __init__(self, callbacks: Iterable[Callback]) -> None:
        self.callbacks = list(callbacks)
        self._bound: dict[str, list[Callable[..., None]]] = {
            hook: [getattr(cb, hook) for cb in self.callbacks if _overrides(cb, hook)] for hook in HOOKS}

    def attach(self, trainer: Trainer) -> None:
        for cb in self.callbacks:
            cb.trainer, cb.model, cb.history, cb.stop_training = trainer, trainer.model, trainer.history, False

    def has(self, hook: str) -> bool:
        return bool(self._bound[hook])

    def __iter__(self) -> Iterator[Callback]:
        return iter(self.callbacks)

    @property
    def stop_training(self) -> bool:
        return any(cb.stop_training for cb in self.callbacks)

    def on_train_begin(self) -> None:
        for f in self._bound["on_train_begin"]:
            f()

    def on_epoch_begin(self, epoch: int) -> None:
        for f in self._bound["on_epoch_begin"]:
            f(epoch)

    def on_before_step(self, batch: int) -> None:
        for f in self._bound["on_before_step"]:
            f(batch)

    def on_batch_end(self, batch: int, logs: dict[str, float]) -> None:
        for f in self._bound["on_batch_end"]:
            f(batch, logs)

    def on_interrupt(self) -> None:
        for f in self._bound["on_interrupt"]:
            f()

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        for f in self._bound["on_epoch_end"]:
            f(epoch, logs)

    def on_train_end(self) -> None:
        for f in self._bound["on_train_end"]:
            f()


class DivergenceGuard(Callback):
    """Stops a diverging run: a non-finite batch loss, or weights that stop being finite.

    It keeps a copy of the trained values (the weights, and any other parameter the optimizer
    updates), the optimizer's state and the schedules' state at the start of each epoch (the
    last state known to be finite); on divergence it puts all of them back and raises
    :class:`~ffnn.TrainingDivergedError` naming the epoch, the batch and the first layer (or
    parameter) that blew up. The engine skips the update of a batch whose loss is not finite,
    so the culprit is diagnosed on the weights that produced it. Weights are checked once per
    epoch (a pass over every parameter); a weight that turns infinite behind a saturating unit
    (tanh(inf) = 1) is caught at the end of that epoch.
    """

    def __init__(self) -> None:
        self._snapshot: dict[str, Any] | None = None
        self._where = "the start of training"
        self._last_batch = 0

    def on_epoch_begin(self, epoch: int) -> None:
        trainer = self.trainer
        self._snapshot = trainer.snapshot()
        self._where = (f"the start of epoch {epoch}" if trainer.batch == 0
                       else f"batch {trainer.batch} of epoch {epoch}, where this run resumed")

    def on_batch_end(self, batch: int, logs: dict[str, float]) -> None:
        self._last_batch = batch
        if self.trainer.backend.deferred:     # on a GPU the loss is read once per epoch, not per step
            return
        if not math.isfinite(logs["loss"]):
            self._diverged(self.trainer.epoch + 1, batch, f"the loss is {logs['loss']}")

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        finite = self.trainer.backend.all_finite
        if not math.isfinite(logs["loss"]):
            self._diverged(epoch, self._last_batch, f"the epoch's loss is {logs['loss']}")
        if not all(finite(p.value) for p in self.trainer.parameters):
            self._diverged(epoch, self._last_batch, "a parameter is no longer finite")

    def _diverged(self, epoch: int, batch: int, what: str) -> None:
        trainer = self.trainer
        finite = trainer.backend.all_finite
        outside = [p for p in trainer.parameters if not finite(p.value)
                   and all(p is not q for q in self.model.parameters())]
        culprit = (f"the parameter {outside[0].name!r} (outside the model)" if outside
                   else diagnose(self.model, trainer.last_batch, trainer.loss))
        if self._snapshot is not None:
            trainer.restore(self._snapshot)
        raise TrainingDivergedError(
            f"training diverged at epoch {epoch}, batch {batch}: {what}; first to blow up: {culprit}. "
            f"The weights, the optimizer's state and the schedules were rolled back to {self._where}, "
            f"the last state known to be finite. Try a smaller learning rate (it is {trainer.optimizer.lr:g}).",
            epoch=epoch, batch=batch, layer=culprit)


def diagnose(model: Sequential, xb: Any, loss: Loss) -> str:
    """Name the first layer whose parameters, output or gradient is non-finite.

    When everything is finite but the loss is not, the outputs are so large that the loss
    overflowed: name the last layer and its largest output.
    """
    backend = model.backend
    finite = backend.all_finite
    for i, layer in enumerate(model.layers):
        for p in layer.parameters():
            if not finite(p.value):
                return f"the {p.name} of layer {i} ({layer!r})"
    if xb is None:
        return "unknown (no batch was seen)"
    x = xb
    with np.errstate(all="ignore"):
        for i, layer in enumerate(model.layers):
            x = layer.forward(x)
            if not finite(x):
                return f"the output of layer {i} ({layer!r})"
    for i, layer in enumerate(model.layers):
        for p in layer.parameters():
            if not finite(p.grad):
                return f"the {p.name} gradient of layer {i} ({layer!r})"
    last = len(model.layers) - 1
    return (f"the output of layer {last} ({model.layers[last]!r}), up to {np.abs(backend.to_numpy(x)).max():.3g}, "
            f"which overflows {loss!r}")


class ScheduleStepper(Callback):
    """Steps each of the trainer's schedules once per epoch with the held-out loss (the
    training loss when there is no held-out data)."""

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        metric = logs.get("val_loss", logs["loss"])
        for schedule in self.trainer.schedules:
            schedule.step(metric)


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    Parameters
    ----------
    patience : int
        Epochs without improvement to wait.
    min_delta : float
        Smallest decrease of the monitored loss that counts as an improvement.
    restore_best : bool
        At the end, put back the weights of the best epoch, and each layer's extra state
        (BatchNorm's running statistics) as it was then.
    monitor : str
        A history key; default ``"val_loss"``, falling back to ``"loss"`` when there is no
        held-out data.
    mode : "min" or "max"
        Whether the monitored value should decrease (a loss) or increase (a score).
    rule : "keras" or "sklearn"
        What counts. ``"keras"``: an epoch improves when it beats the best by more than
        ``min_delta``, and the best is the last such value. ``"sklearn"`` (scikit-learn's
        MLP): an epoch improves when it is at least ``min_delta`` better than the best,
        and the best (and its weights) follows every strictly better value.
    reduce_lr : float or None
        When patience runs out, divide the optimizer's learning rate by this and wait
        again instead of stopping, until the rate is at most ``min_lr`` (scikit-learn's
        ``learning_rate="adaptive"`` is ``reduce_lr=5, min_lr=1e-6``).
    min_lr : float
    reset : bool
        Start afresh (best, count, best weights) at each ``on_train_begin``; False keeps
        them across calls of :meth:`Trainer.fit` (warm starts, ``partial_fit``).
    """

    def __init__(self, patience: int = 5, min_delta: float = 0.0, restore_best: bool = True,
                 monitor: str = "val_loss", *, mode: str = "min", rule: str = "keras",
                 reduce_lr: float | None = None, min_lr: float = 0.0, reset: bool = True) -> None:
        self.patience = check_int("patience", patience, low=0)
        self.min_delta = check_number("min_delta", min_delta, low=0.0)
        self.restore_best = bool(restore_best)
        self.monitor = monitor
        self.mode = check_choice("mode", mode, ("min", "max"))
        self.rule = check_choice("rule", rule, ("keras", "sklearn"))
        self.reduce_lr = None if reduce_lr is None else check_number("reduce_lr", reduce_lr, low=1.0,
                                                                     low_inclusive=False)
        self.min_lr = check_number("min_lr", min_lr, low=0.0)
        self.reset = bool(reset)
        self.best: float = math.inf if self.mode == "min" else -math.inf
        self.best_epoch: int | None = None
        self.best_state: dict[str, np.ndarray] | None = None
        self.best_layers: list[Any] | None = None
        self._wait = 0

    def on_train_begin(self) -> None:
        if self.reset:
            self.best, self.best_epoch, self.best_state, self._wait = math.inf if self.mode == "min" else -math.inf, \
                None, None, 0
            self.best_layers = None
        self.stop_training = False

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        key = self.monitor if self.monitor in logs else "loss"
        sign = 1.0 if self.mode == "min" else -1.0     # compare sign * value: smaller is better
        value, best = sign * logs[key], sign * self.best
        if self.rule == "keras":
            improved = better = value < best - self.min_delta
        else:
            improved, better = value <= best - self.min_delta, value < best
        self._wait = 0 if improved else self._wait + 1
        if better:
            self.best, self.best_epoch = logs[key], epoch
            if self.restore_best:
                self.best_state = self.model.state()
                self.best_layers = [layer.extra_state() for layer in self.model.layers]
        if not improved and self._wait >= self.patience:
            optimizer = self.trainer.optimizer
            if self.reduce_lr is not None and optimizer.lr > self.min_lr:
                optimizer.lr = optimizer.lr / self.reduce_lr
                self._wait = 0
            else:
                self.stop_training = True
                self.history.stopped_early = True

    def restore(self) -> None:
        """Put the best weights back (if recorded)."""
        if self.restore_best and self.best_state is not None:
            self.model.load_state(self.best_state)
            if self.best_layers is not None:          # None: a checkpoint written before they were kept
                for layer, extra in zip(self.model.layers, self.best_layers, strict=True):
                    layer.load_extra_state(extra)
            self.history.best_epoch = self.best_epoch

    def on_train_end(self) -> None:
        self.restore()

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self._wait,
                "stop_training": self.stop_training, "best_state": self.best_state, "best_layers": self.best_layers}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        best, best_epoch, wait = state.get("best"), state.get("best_epoch"), state.get("wait")
        best_state = state.get("best_state")
        if not isinstance(best, (int, float)) or isinstance(best, bool) or math.isnan(best):
            raise ConfigError(f"EarlyStopping state: best must be a number, got {best!r}")
        if best_epoch is not None and (isinstance(best_epoch, bool) or not isinstance(best_epoch, int)):
            raise ConfigError(f"EarlyStopping state: best_epoch must be an integer, got {best_epoch!r}")
        wait = check_int("EarlyStopping state wait", wait, low=0)
        if best_state is not None:
            if not isinstance(best_state, dict):
                raise ConfigError("EarlyStopping state: best_state must map parameter names to arrays")
            self.model.check_state(best_state)
        best_layers = state.get("best_layers")
        n_layers = len(self.model.layers)
        if best_layers is not None and (not isinstance(best_layers, list) or len(best_layers) != n_layers):
            raise ConfigError(f"EarlyStopping state: best_layers must hold one extra state per layer "
                              f"({n_layers}), got {best_layers!r:.80}")
        self.best_layers = best_layers
        self.best, self.best_epoch, self._wait = float(best), best_epoch, wait
        self.stop_training = bool(state.get("stop_training", False))
        self.best_state = None if best_state is None else {k: np.array(v) for k, v in best_state.items()}


class ProgressBar(Callback):
    """A tqdm progress bar over each epoch's batches, on standard error (needs tqdm)."""

    def __init__(self) -> None:
        self._bar: Any = None

    def on_epoch_begin(self, epoch: int) -> None:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return
        trainer = self.trainer
        self._bar = tqdm(total=trainer.batches_per_epoch, initial=trainer.batch, unit="batch", leave=False,
                         desc=f"epoch {epoch}/{trainer.epochs_planned or '?'}", file=sys.stderr, dynamic_ncols=True)

    def on_batch_end(self, batch: int, logs: dict[str, float]) -> None:
        if self._bar is not None:
            self._bar.update(1)
            if batch % 16 == 0:
                self._bar.set_postfix(loss=f"{logs['loss']:.4f}", refresh=False)

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def on_interrupt(self) -> None:
        self._close()

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        self._close()

    def on_train_end(self) -> None:
        self._close()


def want_progress(progress: bool | None) -> bool:
    """Whether a progress bar makes sense: asked for (or None) and on a terminal or in a notebook."""
    if progress is None or progress is True:
        if "ipykernel" in sys.modules:
            return True
        return bool(progress) and hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
    return False


class EpochPrinter(Callback):
    """Prints one line per epoch (``key=value`` of the record) with ``print_fn`` (standard error)."""

    def __init__(self, print_fn: Callable[[str], None] | None = None) -> None:
        self.print_fn = print_fn

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        line = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in logs.items())
        if self.print_fn is None:
            print(line, file=sys.stderr)
        else:
            self.print_fn(line)


class L1Penalty(Callback):
    """The L1 penalty ``rate * sum |w|`` on weights (``param.decay``): adds ``rate * sign(w)``
    to each weight's gradient before the step (TensorFlow Playground's "L1 regularization").

    Its subgradient at w = 0 is taken as 0. Biases and PReLU slopes are not penalised.
    """

    def __init__(self, rate: float) -> None:
        self.rate = check_number("L1 rate", rate, low=0.0)

    def on_before_step(self, batch: int) -> None:
        if self.rate == 0.0:
            return
        for p in self.model.parameters():
            if p.decay:
                p.grad += self.rate * self.model.backend.xp.sign(p.value)


class GradientClipping(Callback):
    """Clip the gradients by their global norm before each step, as
    ``torch.nn.utils.clip_grad_norm_(parameters, max_norm)``.

    With ``g`` all the gradients of the trainer's parameters as one vector and
    ``||g|| = sqrt(sum_p sum_i g_pi^2)``: when ``c = max_norm / (||g|| + 1e-6) < 1`` every
    gradient is multiplied by ``c``, so the step keeps its direction and its gradient norm is
    at most ``max_norm``; otherwise the gradients are left alone. A non-finite norm leaves them
    alone too (the divergence guard reports it). ``Trainer(clip_grad_norm=...)`` adds one after
    the caller's callbacks (after an :class:`L1Penalty`, so the penalty is clipped too).

    Attributes
    ----------
    last_norm : float
        ``||g||`` of the last batch, before clipping.
    """

    def __init__(self, max_norm: float) -> None:
        self.max_norm = check_number("clip_grad_norm", max_norm, low=0.0, low_inclusive=False)
        self.last_norm = math.nan

    def on_before_step(self, batch: int) -> None:
        grads = [p.grad for p in self.trainer.parameters]
        xp = np if type(grads[0]) is np.ndarray else backend_of(grads[0]).xp
        if xp is not np:
            self._clip_on_device(xp, grads)
            return
        norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))
        self.last_norm = norm
        coef = self.max_norm / (norm + 1e-6)
        if coef < 1.0:
            for g in grads:
                g *= g.dtype.type(coef)

    def _clip_on_device(self, xp: Any, grads: list[Any]) -> None:
        """The same clipping without reading the norm back: ``c = min(1, max_norm / (||g|| + 1e-6))``
        (1 when not finite) is a 0-d device array (so is :attr:`last_norm`)."""
        norm = xp.sqrt(sum(xp.sum(g * g) for g in grads))
        coef = xp.minimum(self.max_norm / (norm + 1e-6), 1.0)
        coef = xp.where(xp.isfinite(coef), coef, 1.0)
        self.last_norm = norm
        for g in grads:
            g *= coef
