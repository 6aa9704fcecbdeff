"""The engine: the one training loop of ffnn (:class:`Trainer`), and :func:`fit` over it.

One epoch of minibatch stochastic gradient descent::

    for each minibatch (X_b, T_b) of a fresh permutation of the training set:
        Y_b = model.forward(X_b)                 # forward pass
        E   = loss.forward(Y_b, T_b)             # mean loss of the batch
        model.backward(loss.backward())          # delta recursion: every param.grad
        callbacks.on_before_step()               # e.g. an L1 penalty on the gradients
        optimizer.step()                         # w <- w + update(grad)
        callbacks.on_batch_end()                 # divergence guard, progress, checkpoints
    evaluate on the held-out set; callbacks.on_epoch_end(): history, schedules, early stopping

Everything but the loop is a callback (:mod:`ffnn.callbacks`): the divergence guard (a
non-finite loss or weights roll back the weights, the optimizer and the schedules and raise
:class:`~ffnn.TrainingDivergedError`), the :class:`~ffnn.History`, the schedules, early
stopping, the progress bar, per-epoch lines and checkpoints. Ctrl-C stops cleanly after the
current batch (a second Ctrl-C aborts at once).

The trainer keeps its position (epoch, batch, this epoch's sample order) and every piece of
state that decides the rest of a run: :meth:`Trainer.state_dict` and
:func:`ffnn.checkpoint.save_checkpoint` capture it, and a run resumed from a checkpoint ends
with the same weights, bit for bit, as one that was never interrupted.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Protocol, cast

import numpy as np
from numpy.typing import ArrayLike

from ._typing import Seed
from ._validation import as_float_array, check_int, check_number, generator_state, make_rng, set_generator_state
from .backend import NUMPY
from .callbacks import (
    Callback,
    CallbackList,
    DivergenceGuard,
    EarlyStopping,
    EpochPrinter,
    GradientClipping,
    ProgressBar,
    ScheduleStepper,
    want_progress,
)
from .errors import ConfigError, ShapeError
from .history import History
from .losses import Loss
from .model import Sequential
from .optim import Optimizer
from .parameter import Parameter
from .sampling import BatchGatherer, epoch_order, train_test_split

if TYPE_CHECKING:
    from .distributed import DataParallel

__all__ = ["Trainer", "TrainerState", "fit", "evaluate", "History", "Callback", "EarlyStopping", "StepSchedule"]


class StepSchedule(Protocol):
    """Anything stepped once per epoch with the monitored loss (every :mod:`ffnn.schedules` class)."""

    def step(self, metric: float | None = None) -> object: ...


Validation = tuple[ArrayLike, ArrayLike] | float | None
Augment = Callable[[np.ndarray, np.random.Generator], np.ndarray]
"""A random transform of a training batch: ``f(batch, rng) -> batch`` of the same shape."""
"""Held-out data: a pair ``(X_val, y_val)``, a fraction in (0, 1) of the training data, or None."""

TrainerState = dict[str, object]
"""What :meth:`Trainer.state_dict` returns: JSON values and NumPy arrays under the keys
``format``, ``version``, ``position`` (epoch, batch, order, running totals, rng),
``rng_start``, ``model``, ``layers``, ``optimizer``, ``schedules``, ``history``,
``callbacks`` and ``data`` (a fingerprint of the training data)."""


class _InterruptFlag:
    """Turns Ctrl-C during training into a flag checked after each batch (main thread only)."""

    def __init__(self, active: bool = True) -> None:
        self.raised = False
        self._active = active
        self._previous: Any = None

    def __enter__(self) -> _InterruptFlag:
        if self._active and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.raised:                  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        self.raised = True
        print("\nInterrupted: stopping after the current batch (Ctrl-C again to abort).", file=sys.stderr)

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


@dataclass
class _Data:
    """Training (and held-out) data, validated and converted once, with the batch gatherer."""

    X: np.ndarray
    y: np.ndarray
    X_val: np.ndarray | None
    y_val: np.ndarray | None
    gather: BatchGatherer
    source: tuple[object, object, object]
    weights: np.ndarray | None = None
    on_device: tuple[Any, Any, Any] | None = None
    """``(X, y, weights)`` copied once to a backend other than NumPy."""


def _check_targets(loss: Loss, model: Sequential, y: Any, n: int, what: str) -> np.ndarray:
    if isinstance(y, (str, bytes)):
        raise ShapeError(f"{what} must be an array of targets, got the string {y!r}")
    y = np.asarray(y)
    if y.ndim == 0 or len(y) != n:
        got = "a scalar" if y.ndim == 0 else str(len(y))
        raise ShapeError(f"X and {what} must have the same number of samples, got {n} and {got}")
    return loss.check_targets(y, model.out_features, model.dtype, what)


def _check_parts(model: Any, loss: Any, optimizer: Any) -> None:
    if not isinstance(model, Sequential):
        raise ConfigError(f"training expects an ffnn.Sequential model, got {type(model).__name__}")
    if not isinstance(loss, Loss):
        raise ConfigError("training expects an ffnn loss (a subclass of ffnn.losses.Loss, e.g. "
                          f"losses.SoftmaxCrossEntropy()), got {type(loss).__name__}")
    if not isinstance(optimizer, Optimizer):
        raise ConfigError("training expects an ffnn optimizer built over model.parameters() (e.g. "
                          f"optim.SGD(model.parameters(), lr=0.1)), got {type(optimizer).__name__}")


class Trainer:
    """The training engine: owns the model, loss, optimizer, schedules, callbacks and randomness.

    Parameters
    ----------
    model, loss, optimizer
        The network, its loss layer and an optimizer built over ``model.parameters()``.
    schedules : schedule or sequence of schedules
        Each is stepped once per epoch with the held-out loss (the training loss without
        held-out data), e.g. ``StepLR``, ``ReduceLROnPlateau``, ``MomentumSchedule``.
    callbacks : iterable of Callback
    early_stopping : None, int (patience) or EarlyStopping
    batch_size : int or None
        Samples per step; ``None`` is full-batch gradient descent, ``1`` online SGD.
    shuffle : bool
        A new permutation of the samples every epoch (from ``seed``); False keeps the order.
    seed : int, Generator or None
        Randomness of the shuffling and of a held-out fraction.
    progress : bool or None
        A progress bar on a terminal or in a notebook (needs tqdm).
    verbose : bool
        Print one line per epoch.
    distributed : True, a data-parallel backend or None
        Train data-parallel over MPI (:mod:`ffnn.distributed`): each rank takes its share of
        every batch and one Allreduce sums the gradients; only rank 0 prints and checkpoints.
    clip_grad_norm : float or None
        Clip the gradients by their global norm before each step
        (:class:`~ffnn.callbacks.GradientClipping`, as ``torch.nn.utils.clip_grad_norm_``).
    augment : callable ``f(batch, rng) -> batch`` or None
        A random transform of every training batch before its forward pass (e.g.
        :class:`ffnn.augment.RandomShift`), drawing from the trainer's generator: reproducible
        from ``seed`` and kept by checkpoints. Held-out data and evaluation are not augmented.
    device_data : bool
        On a backend other than NumPy (``model.to(...)``): copy the training inputs to the
        device once (True, the default) or keep them on the host and copy each batch (False:
        for data larger than the device's memory; on a CUDA device through pinned staging
        buffers, asynchronously). The labels are copied once either way. With ``augment`` the
        inputs stay on the host (the transform runs there).

    Attributes
    ----------
    epoch : int
        Epochs completed.
    batch : int
        Batches done in the current epoch (0 between epochs).
    history : History

    Examples
    --------
    >>> import numpy as np
    >>> from ffnn import losses, mlp, optim
    >>> X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    >>> y = np.array([0, 1, 1, 0])
    >>> net = mlp([2, 8, 2], "tanh", seed=0)
    >>> trainer = Trainer(net, losses.SoftmaxCrossEntropy(), optim.SGD(net.parameters(), lr=0.5, momentum=0.9),
    ...                   batch_size=None, seed=0)
    >>> history = trainer.fit(X, y, epochs=200)
    >>> history["accuracy"][-1], trainer.epoch
    (1.0, 200)
    """

    def __init__(self, model: Sequential, loss: Loss, optimizer: Optimizer, *,
                 schedules: StepSchedule | Sequence[StepSchedule] | None = None,
                 callbacks: Iterable[Callback] = (), early_stopping: int | EarlyStopping | None = None,
                 batch_size: int | None = 128, shuffle: bool = True, seed: Seed = None,
                 progress: bool | None = False, verbose: bool = False,
                 distributed: DataParallel | bool | None = None, clip_grad_norm: float | None = None,
                 augment: Augment | None = None, device_data: bool = True) -> None:
        _check_parts(model, loss, optimizer)
        if augment is not None and not callable(augment):
            raise ConfigError(f"augment must be a callable f(batch, rng) -> batch (e.g. ffnn.augment.RandomShift(2)), "
                              f"got {type(augment).__name__}")
        self.augment = augment
        self._clipping = [] if clip_grad_norm is None else [GradientClipping(clip_grad_norm)]
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.backend = model.backend
        """The network's backend: the loss and the optimizer compute there too (moved here), and
        the data are copied there once when bound."""
        self._deferred = self.backend.deferred    # a GPU: no number is read back per step
        self.device_data = bool(device_data)
        loss.to(self.backend)
        move = getattr(optimizer, "to", None)
        if move is not None:
            move(self.backend)
        model_params = model.parameters()
        known = {id(p) for p in model_params}
        self._parameters = model_params + [p for p in optimizer.params if id(p) not in known]
        self._n_model_parameters = len(model_params)
        if schedules is None:
            self.schedules: list[StepSchedule] = []
        elif isinstance(schedules, Sequence):
            self.schedules = list(schedules)
        else:
            self.schedules = [schedules]
        self.batch_size = None if batch_size is None else check_int("batch_size", batch_size, low=1)
        self.shuffle = bool(shuffle)
        self.rng = make_rng(seed)
        self._rng_start = generator_state(self.rng)
        self.history = History()
        stopper = None
        if early_stopping is not None:
            stopper = early_stopping if isinstance(early_stopping, EarlyStopping) else EarlyStopping(early_stopping)
        self._user_callbacks = [*callbacks, *([stopper] if stopper else [])]
        self._progress, self._verbose = progress, verbose
        from .distributed import data_parallel
        self.distributed = data_parallel(distributed)
        self._root = self.distributed is None or self.distributed.rank == 0
        if self.distributed is not None and augment is not None:
            raise ConfigError("augment is not supported with distributed training (each rank would draw "
                              "its own transforms from the shared seed)")
        if self.distributed is not None and self.backend is not NUMPY:
            raise ConfigError(f"distributed training runs on the numpy backend; this model is on {self.backend.name}")
        self.callbacks = self._callback_list(())
        self.epoch = 0
        self.batch = 0
        self.epochs_planned: int | None = None
        self.last_batch: np.ndarray | None = None
        self._order: np.ndarray | None = None
        self._loss_sum, self._correct, self._seen, self._seconds = 0.0, 0.0, 0, 0.0
        self._last_loss = math.nan
        self._data: _Data | None = None
        self._loaded_data: dict[str, Any] | None = None     # the data fingerprint of a state loaded before any data
        self._data_weights: ArrayLike | None = None
        self.last_weights: np.ndarray | None = None
        self._interrupt = _InterruptFlag(active=False)
        self._partial_record = False

    def _callback_list(self, extra: Iterable[Callback]) -> CallbackList:
        built: list[Callback] = [DivergenceGuard(), self.history, ScheduleStepper(), *self._user_callbacks,
                                 *self._clipping]
        if want_progress(self._progress) and self._root:
            built.append(ProgressBar())
        if self._verbose and self._root:
            built.append(EpochPrinter())
        built += list(extra)
        callbacks = CallbackList(built)
        callbacks.attach(self)
        return callbacks

    # -- data -------------------------------------------------------------------
    def _bind(self, X: ArrayLike, y: ArrayLike, validation: Validation = None,
              sample_weight: ArrayLike | None = None) -> _Data:
        """Validate and convert the data once; reused while the same arrays come back."""
        source = (X, y, validation)
        if (self._data is not None and _same_source(self._data.source, source)
                and self._data_weights is sample_weight):
            return self._data
        model, loss = self.model, self.loss
        X_arr = as_float_array(X, "X", dtype=model.dtype, ndim=2)
        y_arr = _check_targets(loss, model, y, len(X_arr), "y")
        if len(X_arr) == 0:
            raise ShapeError("X has no samples")
        w_arr = None
        if sample_weight is not None:
            if self.distributed is not None:
                raise ConfigError("sample_weight is not supported with distributed training")
            w_arr = _check_weights(loss, sample_weight, len(X_arr), model.dtype)
        X_val = y_val = None
        if isinstance(validation, (float, int)) and not isinstance(validation, bool):
            fraction = check_number("validation fraction", validation, low=0.0, high=1.0,
                                    low_inclusive=False, high_inclusive=False)
            labels = y_arr.ndim == 1 and y_arr.dtype.kind in "iu"
            train, val = train_test_split(len(X_arr), fraction, self.rng, stratify=y_arr if labels else None)
            if len(val) < 1 or len(train) < 1:
                raise ConfigError(f"validation fraction {fraction} of {len(X_arr)} samples leaves {len(val)} "
                                  f"held-out and {len(train)} training samples; expected at least 1 of each")
            X_arr, y_arr, X_val, y_val = X_arr[train], y_arr[train], X_arr[val], y_arr[val]
            w_arr = None if w_arr is None else w_arr[train]
        elif validation is not None:
            if not isinstance(validation, (tuple, list)) or len(validation) != 2:
                raise ConfigError("validation must be None, a fraction in (0, 1) or a pair (X_val, y_val); "
                                  f"got {type(validation).__name__}")
            X_val = as_float_array(validation[0], "X_val", dtype=model.dtype, ndim=2)
            y_val = _check_targets(loss, model, validation[1], len(X_val), "y_val")
        n = len(X_arr)
        bs = n if self.batch_size is None else min(self.batch_size, n)
        backend = self.backend
        if backend is NUMPY:
            self._data = _Data(X_arr, y_arr, X_val, y_val, BatchGatherer(X_arr, bs), source, w_arr)
        else:                         # the labels move to the device once, the inputs once or per batch
            inputs_there = self.device_data and self.augment is None
            on_device = (backend.asarray(X_arr) if inputs_there else None, backend.asarray(y_arr),
                         None if w_arr is None else backend.asarray(w_arr))
            gather = BatchGatherer(on_device[0], bs, backend=backend) if inputs_there else BatchGatherer(X_arr, bs)
            self._data = _Data(X_arr, y_arr, X_val, y_val, gather, source, w_arr, on_device)
        self._data_weights = sample_weight
        loaded, self._loaded_data = self._loaded_data, None
        if loaded is None or loaded != _fingerprint(self._data):
            self._order = None            # new data, new order; a loaded mid-epoch order is kept for its own data
        return self._data

    @property
    def batches_per_epoch(self) -> int:
        """Minibatches per epoch of the bound training data (the last one keeps the remainder)."""
        if self._data is None:
            return 0
        n = len(self._data.X)
        return -(-n // self._batch_size(n))

    def _batch_size(self, n: int) -> int:
        return n if self.batch_size is None else min(self.batch_size, n)

    # -- one step ---------------------------------------------------------------
    def step(self, xb: ArrayLike, yb: ArrayLike) -> float:
        """One optimization step on a batch: forward, loss, backward, ``optimizer.step()``.

        Returns the batch's loss. The ``on_before_step`` callbacks run between the backward
        pass and the update; the epoch position is not advanced. A non-finite loss skips
        the update (and is returned).
        """
        x = as_float_array(xb, "xb", dtype=self.model.dtype, ndim=2)
        t = _check_targets(self.loss, self.model, yb, len(x), "yb")
        if self.backend is not NUMPY:
            t = self.backend.asarray(t)
        self.model.train()
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            loss, _ = self._step(x, t, self.batch)
        return loss

    def _step(self, xb: np.ndarray, yb: np.ndarray, batch: int,
              wb: np.ndarray | None = None) -> tuple[float, float | None]:
        model, loss, shared = self.model, self.loss, self.distributed
        if self.augment is not None:          # a new random transform of the training batch (on the host)
            xb = self.augment(xb, self.rng)
        if self.backend is not NUMPY and type(xb) is np.ndarray:
            xb = self.backend.stage(xb)       # a host batch (augmented, or the data stay on the host)
        self.last_batch, self.last_weights = xb, wb
        value, correct = 0.0, (0.0 if loss.classification else None)
        if shared is None or len(xb):         # a rank's share of a tiny batch may be empty
            out = model._forward(xb)
            value = loss.forward(out, yb) if wb is None else loss.forward(out, yb, sample_weight=wb)  # type: ignore[call-arg]
            if shared is None and not self._deferred and not math.isfinite(value):
                return value, None
            correct = loss.count_correct(out, yb) if loss.classification else None
            model._backward(loss.backward(), input_grad=False)
        if shared is not None:                # the whole batch's gradient, loss and count: one Allreduce
            value, correct = shared.allreduce_gradients(self.parameters, value, correct, len(xb), loss.reduction)
            if not math.isfinite(value):
                return value, None
        self.callbacks.on_before_step(batch)
        self.optimizer.step()
        return value, correct

    # -- epochs -----------------------------------------------------------------
    def run_epoch(self, X: ArrayLike, y: ArrayLike, *, validation: Validation = None,
                  deadline: float | None = None, sample_weight: ArrayLike | None = None) -> dict[str, float] | None:
        """Train on ``(X, y)`` until the current epoch ends; return its record.

        With ``deadline`` (a :func:`time.perf_counter` time) the epoch may pause after any
        batch once the deadline has passed: None is returned and the next call continues the
        same epoch at the next batch (the playground trains in time slices this way).
        ``sample_weight`` is as in :meth:`fit`.
        """
        self._bind(X, y, validation, sample_weight)
        if self.epochs_planned is None:
            self.epochs_planned = self.epoch + 1
        self.model.train()
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self._run_epoch(deadline)

    def _run_epoch(self, deadline: float | None) -> dict[str, float] | None:
        data = self._data
        assert data is not None
        n = len(data.X)
        bs = self._batch_size(n)
        if self._order is None:
            self._order = epoch_order(n, self.shuffle, self.rng)
            self.batch, self._loss_sum, self._correct, self._seen, self._seconds = 0, 0.0, 0.0, 0, 0.0
        epoch = self.epoch + 1
        callbacks, loss, gather, y, order = self.callbacks, self.loss, data.gather, data.y, self._order
        weights = data.weights
        if data.on_device is not None:    # this epoch's order moves to the device once
            device = self.backend
            order = device.asarray(order)
            y, weights = data.on_device[1], data.on_device[2]
            take = device.xp.take
        mean = loss.reduction == "mean"
        report = callbacks.has("on_batch_end")
        callbacks.on_epoch_begin(epoch)
        t0 = time.perf_counter()
        for b in range(self.batch, -(-n // bs)):
            if data.on_device is None:
                idx = order[b * bs:(b + 1) * bs]
                mine = idx if self.distributed is None else self.distributed.shard(idx)
                value, correct = self._step(gather(mine), y[mine], b, None if weights is None else weights[mine])
                size = len(idx)
            else:
                size = min(bs, n - b * bs)
                idx = order[b * bs:b * bs + size]
                xb = gather(idx) if data.on_device[0] is not None else gather(self._order[b * bs:b * bs + size])
                value, correct = self._step(xb, take(y, idx, axis=0), b,
                                            None if weights is None else take(weights, idx, axis=0))
            self._last_loss = value
            self._loss_sum += value * size if mean else value
            if correct is not None:
                self._correct += correct
            self._seen += size
            self.batch = b + 1
            if report:
                callbacks.on_batch_end(b, {"batch": b, "loss": value})
            if self._interrupt.raised:
                self._seconds += time.perf_counter() - t0
                callbacks.on_interrupt()
                return self._finish_epoch(epoch, partial=True)
            if deadline is not None and time.perf_counter() >= deadline and self.batch < -(-n // bs):
                self._seconds += time.perf_counter() - t0
                return None
        self._seconds += time.perf_counter() - t0
        return self._finish_epoch(epoch)

    def _read_totals(self) -> None:
        """Read the epoch's running totals back from the device (once per epoch: a step never waits)."""
        self._loss_sum, self._correct = float(self._loss_sum), float(self._correct)
        self._last_loss = float(self._last_loss)

    def _finish_epoch(self, epoch: int, partial: bool = False) -> dict[str, float]:
        data = self._data
        assert data is not None
        t0 = time.perf_counter()
        self._read_totals()
        mean = self.loss.reduction == "mean"
        # one batch (full-batch descent): its loss exactly, not value * n / n (unless the epoch was
        # resumed after that batch: then only the running totals are known)
        one = self.batch == 1 and not math.isnan(self._last_loss)
        loss = self._last_loss if one else self._loss_sum / self._seen if mean else self._loss_sum
        record: dict[str, float] = {"epoch": epoch, "loss": loss}
        if self.loss.classification:
            record["accuracy"] = self._correct / self._seen
        if data.X_val is not None and data.y_val is not None:
            held_out = evaluate(self.model, self.loss, data.X_val, data.y_val)
            record.update({f"val_{k}": v for k, v in held_out.items()})
        record["lr"] = float(self.optimizer.lr)
        momentum = getattr(self.optimizer, "momentum", None)
        if momentum is not None:
            record["momentum"] = float(momentum)
        record["seconds"] = self._seconds + time.perf_counter() - t0
        if partial:                       # the position stays mid-epoch: a resumed run continues it
            record["partial"] = 1.0       # marked, so that no one takes it for a whole epoch
            self.history.interrupted = True
            self._partial_record = True
        else:
            self.epoch, self.batch, self._order = epoch, 0, None
        self.callbacks.on_epoch_end(epoch, record)
        return record

    def fit(self, X: ArrayLike, y: ArrayLike, epochs: int = 10, *, validation: Validation = None,
            checkpoint: str | Path | None = None, checkpoint_every: int | None = None,
            sample_weight: ArrayLike | None = None) -> History:
        """Train until ``epochs`` epochs are complete in total; return the :class:`History`.

        With ``checkpoint`` (a file path) the state is written there atomically at the end of
        every epoch (and every ``checkpoint_every`` batches, and on Ctrl-C); when the file
        already exists, training resumes from it first and ends with the same weights, bit
        for bit, as an uninterrupted run.

        ``sample_weight`` (n_samples,) weights each sample's loss: a batch's loss is the
        weighted mean ``sum w_n E^(n) / sum w_n`` (its gradient likewise); the loss must take
        ``forward(output, target, sample_weight=...)``. The batch's weights are
        :attr:`last_weights` while it is stepped. A held-out fraction splits them too; the
        held-out loss is unweighted.
        """
        from .checkpoint import Checkpointer, read_checkpoint

        epochs = check_int("epochs", epochs, low=0)
        state = read_checkpoint(checkpoint) if checkpoint is not None and Path(checkpoint).exists() else None
        if state is not None:             # the held-out split is drawn as the interrupted run drew it
            set_generator_state(self.rng, state["rng_start"], "checkpoint rng_start")
        self._bind(X, y, validation, sample_weight)
        extra = [] if checkpoint is None or not self._root else [Checkpointer(checkpoint, every=checkpoint_every)]
        self.callbacks = self._callback_list(extra)
        self.epochs_planned = epochs
        self.model.train()
        self.callbacks.on_train_begin()
        if state is not None:
            self.load_state_dict(state)
        elif self._partial_record:        # continuing in memory after Ctrl-C: the partial record goes
            self.history.records.pop()
            self.history.interrupted = self._partial_record = False
        if self.distributed is not None:      # every rank starts from rank 0's weights
            self.distributed.broadcast_parameters(self.parameters)
        self._interrupt = _InterruptFlag()
        try:
            with self._interrupt, np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                while self.epoch < epochs and not self.callbacks.stop_training:
                    self._run_epoch(None)
                    if self._interrupt.raised:
                        # Ctrl-C after the last batch (during the held-out evaluation or a
                        # checkpoint): the epoch is complete, the run is not
                        self.history.interrupted = self.history.interrupted or self.epoch < epochs
                        break
        finally:
            self._interrupt = _InterruptFlag(active=False)
        self.callbacks.on_train_end()
        return self.history

    # -- state --------------------------------------------------------------------
    @property
    def parameters(self) -> list[Parameter]:
        """Everything training changes: the model's parameters, then any other parameter the
        optimizer updates (a learned noise level of a user's loss, say)."""
        return self._parameters

    def _extra_parameters(self) -> list[Parameter]:
        return self._parameters[self._n_model_parameters:]

    def snapshot(self) -> TrainerState:
        """Copies of the trained values (:attr:`parameters`), of each layer's extra state
        (BatchNorm's running statistics) and of the optimizer's and the schedules' state: what
        the divergence guard puts back."""
        copy = self.backend.copy
        return {"values": [copy(p.value) for p in self.parameters],
                "layers": [layer.extra_state() for layer in self.model.layers],
                "optimizer": self.optimizer.state_dict(), "schedules": [_schedule_state(s) for s in self.schedules]}

    def restore(self, snapshot: Mapping[str, object]) -> None:
        """Put back a :meth:`snapshot` (the divergence guard's rollback); the epoch in progress
        starts over at its next batch with a new order."""
        snapshot = cast(dict[str, Any], snapshot)
        for p, value in zip(self.parameters, snapshot["values"], strict=True):
            self.backend.copy_into(p.value, value)
        for layer, extra in zip(self.model.layers, snapshot["layers"], strict=True):
            layer.load_extra_state(extra)
        self.optimizer.load_state_dict(snapshot["optimizer"])
        for schedule, saved in zip(self.schedules, snapshot["schedules"], strict=True):
            if saved is not None:
                _load_schedule_state(schedule, saved)
        self.batch, self._order = 0, None

    def _position(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "batch": self.batch,
                "order": None if self._order is None else self._order.copy(),
                "loss_sum": float(self._loss_sum), "correct": float(self._correct), "seen": self._seen,
                "rng": generator_state(self.rng)}

    def _set_position(self, position: dict[str, Any]) -> None:
        self.epoch, self.batch = position["epoch"], position["batch"]
        self._order = None if position["order"] is None else np.array(position["order"], dtype=np.intp)
        self._loss_sum, self._correct, self._seen = position["loss_sum"], position["correct"], position["seen"]
        self._last_loss = math.nan                 # not saved: the epoch's loss comes from the totals
        set_generator_state(self.rng, position["rng"], "trainer rng")

    def state_dict(self) -> TrainerState:
        """Everything that decides the rest of the run: JSON values and NumPy arrays.

        The weights, the optimizer's state, each schedule's state, every random generator
        (the trainer's and each layer's), the position (epoch, batch, this epoch's order and
        running totals), the history and each callback's state (early stopping's best), and
        a fingerprint of the training data.
        """
        data = self._data
        return {
            "format": "ffnn-training", "version": 1,
            "position": self._position(), "rng_start": self._rng_start,
            "model": self.model.state(),
            "extra_parameters": [self.backend.to_numpy(p.value) for p in self._extra_parameters()],
            "layers": [layer.extra_state() for layer in self.model.layers],
            "optimizer": self.optimizer.state_dict(),
            "schedules": [_schedule_state(s) for s in self.schedules],
            "history": self.history.state_dict(),
            "callbacks": [{"type": type(cb).__name__, "state": cb.state_dict()} for cb in self._user_callbacks],
            "data": None if data is None else _fingerprint(data),
        }

    def load_state_dict(self, state: Mapping[str, object]) -> None:
        """Restore :meth:`state_dict` output; everything is checked first, nothing is half-loaded."""
        state = cast(dict[str, Any], state)
        if not isinstance(state, dict) or state.get("format") != "ffnn-training":
            raise ConfigError("Trainer.load_state_dict expects the output of Trainer.state_dict()")
        if state.get("version") != 1:
            raise ConfigError(f"training state version {state.get('version')!r} is not supported (this ffnn reads 1)")
        data = self._data
        if data is not None and state.get("data") is not None and state["data"] != _fingerprint(data):
            raise ConfigError("the checkpoint was made with other training data "
                              f"({state['data']}); this run has {_fingerprint(data)}")
        saved_callbacks = state.get("callbacks", [])
        kinds = [c.get("type") if isinstance(c, dict) else None for c in saved_callbacks]
        expected = [type(cb).__name__ for cb in self._user_callbacks]
        if kinds != expected:
            raise ConfigError(f"the checkpoint holds the state of callbacks {kinds}; this run has {expected}")
        if len(state.get("schedules", [])) != len(self.schedules):
            raise ConfigError(f"the checkpoint holds {len(state.get('schedules', []))} schedules, "
                              f"this run has {len(self.schedules)}")
        layers = state.get("layers", [])
        if len(layers) != len(self.model.layers):
            raise ConfigError(f"the checkpoint holds {len(layers)} layers, this model has {len(self.model.layers)}")
        self.model.check_state(state["model"])
        extra = state.get("extra_parameters", [])
        if not isinstance(extra, list) or [np.shape(v) for v in extra] != [p.shape for p in self._extra_parameters()]:
            raise ConfigError("the checkpoint's parameters outside the model do not match this optimizer's "
                              f"({[p.name for p in self._extra_parameters()]})")
        before = cast(dict[str, Any], self.state_dict())
        try:
            self._apply(state, _checked_position(state["position"], data))
        except BaseException:
            self._apply(before, before["position"])
            raise
        self._rng_start = state["rng_start"]
        self._partial_record = False
        self._loaded_data = state.get("data")      # a later binding keeps the loaded order only for this data

    def _apply(self, state: dict[str, Any], position: dict[str, Any]) -> None:
        self.model.load_state(state["model"])
        for p, value in zip(self._extra_parameters(), state.get("extra_parameters", []), strict=True):
            self.backend.copy_into(p.value, value)
        for layer, extra in zip(self.model.layers, state["layers"], strict=True):
            layer.load_extra_state(extra)
        self.optimizer.load_state_dict(state["optimizer"])
        for schedule, saved in zip(self.schedules, state.get("schedules", []), strict=True):
            if saved is not None:
                _load_schedule_state(schedule, saved)
        self.history.load_state_dict(state["history"])
        for cb, saved in zip(self._user_callbacks, state.get("callbacks", []), strict=True):  # optional, as checked
            cb.load_state_dict(saved["state"])
        self._set_position(position)

    def save_checkpoint(self, path: str | Path) -> Path:
        """Write the training state to ``path`` atomically (see :mod:`ffnn.checkpoint`)."""
        from .checkpoint import save_checkpoint
        return save_checkpoint(self, path)

    def resume(self, path: str | Path) -> None:
        """Load the training state of a checkpoint written by :meth:`save_checkpoint`."""
        from .checkpoint import read_checkpoint
        self.load_state_dict(read_checkpoint(path))

    def __repr__(self) -> str:
        return (f"Trainer(epoch={self.epoch}, batch={self.batch}, loss={self.loss!r}, optimizer={self.optimizer!r}, "
                f"batch_size={self.batch_size})")


def _same_source(bound: tuple[object, object, object], given: tuple[object, object, object]) -> bool:
    """The same arrays (by identity) and the same held-out choice (a fraction by value: binding
    it again would draw a new split)."""
    (X, y, validation), (X2, y2, validation2) = bound, given
    if X is not X2 or y is not y2:
        return False
    if isinstance(validation, float) and isinstance(validation2, float):
        return validation == validation2
    return validation is validation2


def _check_weights(loss: Loss, sample_weight: ArrayLike, n: int, dtype: Any) -> np.ndarray:
    """Per-sample weights: finite, >= 0, one per sample, and a loss that takes them."""
    import inspect
    try:
        takes = "sample_weight" in inspect.signature(loss.forward).parameters
    except (TypeError, ValueError):
        takes = False
    if not takes:
        raise ConfigError(f"{type(loss).__name__} does not take per-sample weights: its forward has no "
                          "sample_weight argument (expected forward(output, target, sample_weight=None))")
    w = as_float_array(sample_weight, "sample_weight", dtype=dtype, ndim=1)
    if len(w) != n:
        raise ShapeError(f"sample_weight has {len(w)} entries for {n} samples")
    if (w < 0).any():
        raise ConfigError("sample_weight must be >= 0")
    return w


def _schedule_state(schedule: StepSchedule) -> dict[str, Any] | None:
    state_dict = getattr(schedule, "state_dict", None)
    return state_dict() if callable(state_dict) else None


def _load_schedule_state(schedule: StepSchedule, saved: dict[str, Any]) -> None:
    load = getattr(schedule, "load_state_dict", None)
    if not callable(load):
        raise ConfigError(f"{type(schedule).__name__} cannot restore a saved state (it has no load_state_dict)")
    load(saved)


def _fingerprint(data: _Data) -> dict[str, Any]:
    """Shapes, dtypes and a hash of up to 256 evenly spaced training rows and every target."""
    import hashlib
    rows = np.unique(np.linspace(0, len(data.X) - 1, num=min(256, len(data.X))).astype(np.intp))
    digest = hashlib.sha256(np.ascontiguousarray(data.X[rows]).tobytes())
    digest.update(np.ascontiguousarray(data.y).tobytes())
    return {"n": len(data.X), "shape": list(data.X.shape), "dtype": data.X.dtype.name,
            "n_val": None if data.X_val is None else len(data.X_val), "sha256": digest.hexdigest()}


def _checked_position(position: Any, data: _Data | None) -> dict[str, Any]:
    if not isinstance(position, dict):
        raise ConfigError(f"training state: position must be a dict, got {position!r:.80}")
    epoch = check_int("checkpoint epoch", position.get("epoch"), low=0)
    batch = check_int("checkpoint batch", position.get("batch"), low=0)
    order = position.get("order")
    if order is not None:
        order = np.asarray(order)
        n = None if data is None else len(data.X)
        permutation = order.ndim == 1 and order.dtype.kind in "iu" and (
            n is None or (len(order) == n and np.array_equal(np.sort(order), np.arange(n))))
        if not permutation:
            raise ConfigError("training state: the saved sample order is not a permutation of the training samples")
    for key in ("loss_sum", "correct"):
        value = position.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"training state: {key} must be a number, got {value!r}")
    seen = check_int("checkpoint seen", position.get("seen"), low=0)
    return {**position, "epoch": epoch, "batch": batch, "order": order, "seen": seen}


def evaluate(model: Sequential, loss: Loss, X: ArrayLike, y: ArrayLike, batch_size: int = 2048) -> dict[str, float]:
    """Loss (and accuracy for classification) of ``model`` on ``(X, y)`` in evaluation mode."""
    X = as_float_array(X, "X", dtype=model.dtype, ndim=2)
    t = _check_targets(loss, model, y, len(X), "y")
    backend = model.backend
    if loss.backend is not backend:
        loss.to(backend)
    was_training = model.training
    model.eval()
    total, correct = 0.0, 0.0
    try:
        for start in range(0, len(X), batch_size):
            xb, yb = X[start:start + batch_size], t[start:start + batch_size]
            if backend is not NUMPY:         # chunk by chunk to the device
                xb, yb = backend.asarray(xb), backend.asarray(yb)
            out = model._forward(xb)
            total += float(loss.forward(out, yb)) * (xb.shape[0] if loss.reduction == "mean" else 1)
            c = loss.count_correct(out, yb)
            if c is not None:
                correct += float(c)
    finally:
        model.train(was_training)
    result = {"loss": total / len(X) if loss.reduction == "mean" else total}
    if loss.classification:
        result["accuracy"] = correct / len(X)
    return result


def fit(model: Sequential, loss: Loss, optimizer: Optimizer, X: ArrayLike, y: ArrayLike, epochs: int = 10,
        batch_size: int | None = 128, validation: Validation = None, shuffle: bool = True,
        schedule: StepSchedule | Sequence[StepSchedule] | None = None, callbacks: Iterable[Callback] = (),
        early_stopping: int | EarlyStopping | None = None, seed: Seed = None, progress: bool | None = True,
        verbose: bool = False, checkpoint: str | Path | None = None,
        checkpoint_every: int | None = None, distributed: DataParallel | bool | None = None) -> History:
    """Train ``model`` by minibatch gradient descent; return the per-epoch :class:`History`.

    A thin wrapper over :class:`Trainer`: ``Trainer(model, loss, optimizer, ...).fit(X, y, epochs, ...)``.

    Parameters
    ----------
    model, loss, optimizer
        The network, its loss layer and an optimizer built over ``model.parameters()``.
    X : array (n_samples, n_features)
    y : targets: int labels (n_samples,) for classification losses, or (n_samples, n_outputs).
    epochs : int
    batch_size : int or None
        Samples per step; ``None`` is full-batch gradient descent, ``1`` online SGD.
    validation : None, (X_val, y_val) or float
        Held-out data, or the fraction of ``(X, y)`` to hold out (stratified for labels).
    shuffle : bool
        A new permutation of the samples every epoch (from ``seed``); False keeps the order.
    schedule : schedule or list of schedules
        Each is stepped once per epoch with the held-out loss (training loss without
        held-out data), e.g. ``StepLR``, ``ReduceLROnPlateau``, ``MomentumSchedule``.
    callbacks : iterable of Callback
    early_stopping : None, int (patience) or EarlyStopping
    seed : int, Generator or None
        Randomness of the shuffling and the validation split.
    progress : bool
        A progress bar on a terminal or notebook (needs tqdm); silent otherwise.
    verbose : bool
        Print one line per epoch.
    checkpoint : path or None
        Keep the training state in this file (written atomically each epoch); if it exists,
        resume from it. See :meth:`Trainer.fit`.
    checkpoint_every : int or None
        Also write the checkpoint every this many batches.
    distributed : True, a backend or None
        Data-parallel training over MPI (:mod:`ffnn.distributed`): in a script started by
        ``mpirun -n K``, every rank computes the gradient of its share of each batch and one
        Allreduce averages them; the weights equal one process's with the same batch size.

    Returns
    -------
    History
    """
    _check_parts(model, loss, optimizer)
    trainer = Trainer(model, loss, optimizer, schedules=schedule, callbacks=callbacks, early_stopping=early_stopping,
                      batch_size=batch_size, shuffle=shuffle, seed=seed, progress=progress, verbose=verbose,
                      distributed=distributed)
    return trainer.fit(X, y, epochs, validation=validation, checkpoint=checkpoint, checkpoint_every=checkpoint_every)
