"""The training loop: ``fit``, its ``History``, callbacks and early stopping.

One epoch of minibatch stochastic gradient descent::

    for each minibatch (X_b, T_b) of a fresh permutation of the training set:
        Y_b = model.forward(X_b)                 # forward pass
        E   = loss.forward(Y_b, T_b)             # mean loss of the batch
        model.backward(loss.backward())          # delta recursion: every param.grad
        optimizer.step()                         # w <- w + update(grad)
    evaluate on the held-out set; step the schedules; record; callbacks; early stopping

The loop protects the user: inputs are validated once, a non-finite loss stops training
with a :class:`ffnn.TrainingDivergedError` naming the epoch, the batch and the first layer
that went non-finite (the weights are rolled back to the start of that epoch, the last state
known to be finite), Ctrl-C stops cleanly after the current batch (a second Ctrl-C aborts at
once) and returns the history so far with ``history.interrupted`` set, and early stopping
restores the best weights, also after Ctrl-C.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ._typing import Array, Seed
from ._validation import as_float_array, check_int, check_labels, check_number, make_rng
from .data.batches import BatchGatherer, minibatch_indices
from .data.dataset import train_test_split
from .errors import ConfigError, LabelError, ShapeError, TrainingDivergedError
from .losses import BinaryCrossEntropy, CrossEntropy, Loss, SoftmaxCrossEntropy
from .model import Sequential

__all__ = ["fit", "evaluate", "History", "Callback", "EarlyStopping"]


class History:
    """Per-epoch records of a training run.

    ``records`` is a list of dicts with the keys ``epoch``, ``loss``, ``accuracy`` (for
    classification), ``val_loss``, ``val_accuracy`` (with held-out data), ``lr``,
    ``momentum`` (for optimizers that have one) and ``seconds``. ``history["val_loss"]`` gives
    one key's values over the epochs.
    """

    def __init__(self) -> None:
        self.records: list[dict[str, float]] = []
        self.stopped_early = False
        self.interrupted = False
        self.best_epoch: int | None = None

    def append(self, record: dict[str, float]) -> None:
        self.records.append(record)

    def __getitem__(self, key: str) -> list[float]:
        if not self.records or key not in self.records[-1]:
            raise KeyError(f"no {key!r} in the history; keys: {self.keys()}")
        return [r.get(key, math.nan) for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    def keys(self) -> list[str]:
        seen: dict[str, None] = {}
        for r in self.records:
            seen.update(dict.fromkeys(r))
        return list(seen)

    @property
    def epochs(self) -> int:
        return len(self.records)

    def to_csv(self, path: str | os.PathLike) -> Path:
        """Write one row per epoch (atomically)."""
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=self.keys(), lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.records)
        return _write_atomic(Path(path), out.getvalue())

    def to_json(self, path: str | os.PathLike) -> Path:
        """Write ``{"records": [...], "stopped_early": ..., ...}`` (atomically)."""
        doc = {"records": self.records, "stopped_early": self.stopped_early,
               "interrupted": self.interrupted, "best_epoch": self.best_epoch}
        return _write_atomic(Path(path), json.dumps(doc, indent=1))

    def __repr__(self) -> str:
        last = self.records[-1] if self.records else {}
        shown = ", ".join(f"{k}={v:.4g}" for k, v in last.items() if k in ("loss", "val_loss", "accuracy", "val_accuracy"))
        return f"History(epochs={self.epochs}{', ' + shown if shown else ''})"


def _write_atomic(path: Path, text: str) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


class Callback:
    """Hooks called by :func:`fit`. Set ``stop_training = True`` to stop after the current epoch.

    ``logs`` is the epoch's record (``on_epoch_end``) or ``{"batch": i, "loss": E}``
    (``on_batch_end``). ``self.model``, ``self.history`` are set before ``on_train_begin``.
    """

    model: Sequential
    history: History
    stop_training: bool = False

    def on_train_begin(self) -> None: ...
    def on_epoch_begin(self, epoch: int) -> None: ...
    def on_batch_end(self, batch: int, logs: dict[str, float]) -> None: ...
    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None: ...
    def on_train_end(self) -> None: ...


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    Parameters
    ----------
    patience : int
        Epochs without improvement to wait.
    min_delta : float
        Smallest decrease of the monitored loss that counts as an improvement.
    restore_best : bool
        At the end, put back the weights of the best epoch.
    monitor : str
        A history key to minimise; default ``"val_loss"``, falling back to ``"loss"`` when
        there is no held-out data.
    """

    def __init__(self, patience: int = 5, min_delta: float = 0.0, restore_best: bool = True,
                 monitor: str = "val_loss") -> None:
        self.patience = check_int("patience", patience, low=0)
        self.min_delta = check_number("min_delta", min_delta, low=0.0)
        self.restore_best = bool(restore_best)
        self.monitor = monitor
        self.best: float = math.inf
        self.best_epoch: int | None = None
        self.best_state: dict[str, np.ndarray] | None = None
        self._wait = 0

    def on_train_begin(self) -> None:
        self.best, self.best_epoch, self.best_state, self._wait = math.inf, None, None, 0
        self.stop_training = False

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        key = self.monitor if self.monitor in logs else "loss"
        value = logs[key]
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self._wait = value, epoch, 0
            if self.restore_best:
                self.best_state = self.model.state()
        else:
            self._wait += 1
            if self._wait >= self.patience:
                self.stop_training = True
                self.history.stopped_early = True

    def restore(self) -> None:
        """Put the best weights back (if recorded)."""
        if self.restore_best and self.best_state is not None:
            self.model.load_state(self.best_state)
            self.history.best_epoch = self.best_epoch

    def on_train_end(self) -> None:
        self.restore()


class _InterruptFlag:
    """Turns Ctrl-C during training into a flag checked after each batch (main thread only)."""

    def __init__(self) -> None:
        self.raised = False
        self._previous: Any = None

    def __enter__(self) -> "_InterruptFlag":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.raised:                  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        self.raised = True
        print("\nInterrupted: stopping after the current batch (Ctrl-C again to abort).", file=sys.stderr)

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _is_classification(loss: Loss) -> bool:
    return isinstance(loss, (SoftmaxCrossEntropy, CrossEntropy, BinaryCrossEntropy))


def _prepare_targets(loss: Loss, model: Sequential, y: Any, n: int, what: str) -> np.ndarray:
    if isinstance(y, (str, bytes)):
        raise LabelError(f"{what} must be an array of targets, got the string {y!r}")
    y = np.asarray(y)
    if len(y) != n:
        raise ShapeError(f"X and {what} must have the same number of samples, got {n} and {len(y)}")
    if isinstance(loss, (SoftmaxCrossEntropy, CrossEntropy)) and y.ndim == 1:
        k = model.out_features
        return check_labels(y, k if k is not None else int(y.max(initial=0)) + 1, what)
    if y.dtype.kind not in "biuf":
        raise LabelError(f"{what} must be numeric, got dtype {y.dtype}")
    y = as_float_array(y, what, dtype=model.dtype)
    return y


def _batch_correct(loss: Loss, out: np.ndarray, y: np.ndarray) -> float | None:
    """Number of correctly classified samples in a batch (None for regression)."""
    if not _is_classification(loss):
        return None
    if y.ndim == 1 and out.shape[1] > 1:
        return float(np.count_nonzero(out.argmax(axis=1) == y))
    if isinstance(loss, BinaryCrossEntropy):
        threshold = 0.0 if loss.from_logits else 0.5
        t = y.reshape(out.shape)
        return float(np.count_nonzero((out > threshold) == (t > 0.5))) / out.shape[1]
    return float(np.count_nonzero(out.argmax(axis=1) == y.argmax(axis=1)))


def evaluate(model: Sequential, loss: Loss, X: Array, y: Any, batch_size: int = 2048) -> dict[str, float]:
    """Loss (and accuracy for classification) of ``model`` on ``(X, y)`` in evaluation mode."""
    X = as_float_array(X, "X", dtype=model.dtype, ndim=2)
    y = _prepare_targets(loss, model, y, len(X), "y")
    was_training = model.training
    model.eval()
    total, correct = 0.0, 0.0
    try:
        for start in range(0, len(X), batch_size):
            xb, yb = X[start:start + batch_size], y[start:start + batch_size]
            out = model._forward(xb)
            total += loss.forward(out, yb) * (len(xb) if loss.reduction == "mean" else 1)
            c = _batch_correct(loss, out, yb)
            correct = None if c is None else correct + c
    finally:
        model.train(was_training)
    result = {"loss": total / len(X) if loss.reduction == "mean" else total}
    if correct is not None:
        result["accuracy"] = correct / len(X)
    return result


def _diagnose(model: Sequential, xb: np.ndarray, loss: Loss) -> str:
    """Name the first layer whose parameters, output or gradient is non-finite.

    When everything is finite but the loss is not, the outputs are so large that the loss
    overflowed: name the last layer and its largest output.
    """
    for i, layer in enumerate(model.layers):
        for p in layer.parameters():
            if not np.isfinite(p.value).all():
                return f"the {p.name} of layer {i} ({layer!r})"
    x = xb
    for i, layer in enumerate(model.layers):
        x = layer.forward(x)
        if not np.isfinite(x).all():
            return f"the output of layer {i} ({layer!r})"
    for i, layer in enumerate(model.layers):
        for p in layer.parameters():
            if not np.isfinite(p.grad).all():
                return f"the {p.name} gradient of layer {i} ({layer!r})"
    last = len(model.layers) - 1
    return (f"the output of layer {last} ({model.layers[last]!r}), up to {np.abs(x).max():.3g}, "
            f"which overflows {loss!r}")


def _all_finite(model: Sequential) -> bool:
    return all(np.isfinite(p.value).all() for p in model.parameters())


def _split_validation(X: np.ndarray, y: np.ndarray, fraction: float, rng: np.random.Generator,
                      stratify: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    train, val = train_test_split(len(X), fraction, rng, stratify=y if stratify else None)
    if len(val) < 1 or len(train) < 1:
        raise ConfigError(f"validation fraction {fraction} of {len(X)} samples leaves {len(val)} held-out and "
                          f"{len(train)} training samples; expected at least 1 of each")
    return X[train], y[train], X[val], y[val]


def _progress_bar(enabled: bool, total: int, epoch: int, epochs: int):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=f"epoch {epoch}/{epochs}", unit="batch", leave=False, file=sys.stderr,
                dynamic_ncols=True)


def _want_progress(progress: bool | None) -> bool:
    if progress is None or progress is True:
        if "ipykernel" in sys.modules:
            return True
        return bool(progress) and hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
    return False


def _diverged(model: Sequential, xb: np.ndarray, loss: Loss, optimizer: Any, start_state: dict[str, np.ndarray],
              epoch: int, batch: int, what: str) -> None:
    """Roll back to the start of the epoch and raise :class:`TrainingDivergedError`."""
    culprit = _diagnose(model, xb, loss)
    model.load_state(start_state)
    raise TrainingDivergedError(
        f"training diverged at epoch {epoch}, batch {batch}: {what}; first to blow up: {culprit}. "
        f"The weights were rolled back to the start of epoch {epoch}, the last state known to be finite. "
        f"Try a smaller learning rate (it is {optimizer.lr:g}).", epoch=epoch, batch=batch, layer=culprit)


def fit(model: Sequential, loss: Loss, optimizer: Any, X: Array, y: Any, epochs: int = 10,
        batch_size: int | None = 128, validation: Any = None, shuffle: bool = True,
        schedule: Any = None, callbacks: Iterable[Callback] = (), early_stopping: Any = None,
        seed: Seed = None, progress: bool = True, verbose: bool = False) -> History:
    """Train ``model`` by minibatch gradient descent; return the per-epoch :class:`History`.

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

    Returns
    -------
    History
    """
    if not isinstance(model, Sequential):
        raise ConfigError(f"fit expects an ffnn.Sequential model, got {type(model).__name__}")
    if not isinstance(loss, Loss):
        raise ConfigError(f"fit expects an ffnn loss (e.g. losses.SoftmaxCrossEntropy()), got {type(loss).__name__}")
    epochs = check_int("epochs", epochs, low=0)
    rng = make_rng(seed)
    X = as_float_array(X, "X", dtype=model.dtype, ndim=2)
    y = _prepare_targets(loss, model, y, len(X), "y")
    if len(X) == 0:
        raise ShapeError("X has no samples")
    if isinstance(validation, (float, int)) and not isinstance(validation, bool):
        fraction = check_number("validation fraction", validation, low=0.0, high=1.0,
                                low_inclusive=False, high_inclusive=False)
        X, y, X_val, y_val = _split_validation(X, y, fraction, rng, stratify=y.ndim == 1 and y.dtype.kind in "iu")
    elif validation is not None:
        if not isinstance(validation, (tuple, list)) or len(validation) != 2:
            raise ConfigError("validation must be None, a fraction in (0, 1) or a pair (X_val, y_val); "
                              f"got {type(validation).__name__}")
        X_val = as_float_array(validation[0], "X_val", dtype=model.dtype, ndim=2)
        y_val = _prepare_targets(loss, model, validation[1], len(X_val), "y_val")
    else:
        X_val = y_val = None
    n = len(X)
    batch_size = n if batch_size is None else check_int("batch_size", batch_size, low=1)
    schedules = [] if schedule is None else list(schedule) if isinstance(schedule, (list, tuple)) else [schedule]
    callbacks = list(callbacks)
    if early_stopping is not None:
        stopper = early_stopping if isinstance(early_stopping, EarlyStopping) else EarlyStopping(patience=early_stopping)
        callbacks.append(stopper)
    history = History()
    for cb in callbacks:
        cb.model, cb.history, cb.stop_training = model, history, False
    gather = BatchGatherer(X, min(batch_size, n))
    classification = _is_classification(loss)
    n_batches = -(-n // batch_size)
    show_progress = _want_progress(progress)

    model.train()
    for cb in callbacks:
        cb.on_train_begin()
    # Overflow is detected (non-finite loss or weights) and reported as TrainingDivergedError,
    # so NumPy's floating-point warnings would only repeat it.
    with _InterruptFlag() as interrupt, np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for epoch in range(1, epochs + 1):
            for cb in callbacks:
                cb.on_epoch_begin(epoch)
            start_state = model.state()
            t0 = time.perf_counter()
            total, correct, seen = 0.0, 0.0, 0
            bar = _progress_bar(show_progress, n_batches, epoch, epochs)
            for b, idx in enumerate(minibatch_indices(n, batch_size, shuffle, rng)):
                xb, yb = gather(idx), y[idx]
                out = model._forward(xb)
                batch_loss = loss.forward(out, yb)
                if not math.isfinite(batch_loss):
                    _diverged(model, xb, loss, optimizer, start_state, epoch, b, f"the loss is {batch_loss}")
                if classification:
                    correct += _batch_correct(loss, out, yb)
                model._backward(loss.backward(), input_grad=False)
                optimizer.step()
                total += batch_loss * (len(idx) if loss.reduction == "mean" else 1)
                seen += len(idx)
                for cb in callbacks:
                    cb.on_batch_end(b, {"batch": b, "loss": batch_loss})
                if bar is not None:
                    bar.update(1)
                    if b % 16 == 0:
                        bar.set_postfix(loss=f"{batch_loss:.4f}", refresh=False)
                if interrupt.raised:
                    break
            if bar is not None:
                bar.close()
            if not _all_finite(model):
                _diverged(model, xb, loss, optimizer, start_state, epoch, b, "a parameter is no longer finite")
            record: dict[str, float] = {"epoch": epoch, "loss": total / seen if loss.reduction == "mean" else total}
            if classification:
                record["accuracy"] = correct / seen
            if X_val is not None:
                held_out = evaluate(model, loss, X_val, y_val)
                record.update({f"val_{k}": v for k, v in held_out.items()})
            record["lr"] = float(optimizer.lr)
            if hasattr(optimizer, "momentum"):
                record["momentum"] = float(optimizer.momentum)
            record["seconds"] = time.perf_counter() - t0
            history.append(record)
            if verbose:
                print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()),
                      file=sys.stderr)
            metric = record.get("val_loss", record["loss"])
            for s in schedules:
                s.step(metric)
            for cb in callbacks:
                cb.on_epoch_end(epoch, record)
            if interrupt.raised:
                history.interrupted = True
                break
            if any(cb.stop_training for cb in callbacks):
                break
    for cb in callbacks:
        cb.on_train_end()
    return history
