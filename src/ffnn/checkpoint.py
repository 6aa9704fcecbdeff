"""Training checkpoints: the whole state of a run in one file, to resume it bit for bit.

A checkpoint is a model file (:mod:`ffnn.serialize`: one ``.npz`` with a JSON header, never
pickled, written atomically) whose header also holds a ``training`` section: the trainer's
:meth:`~ffnn.Trainer.state_dict` with every NumPy array replaced by a reference
``{"__array__": "training/<n>"}`` to an array stored beside it (shape, dtype and SHA-256 in
``training_arrays``). The weights are the model's own arrays. So ``ffnn.load(checkpoint)``
gives the model, and :func:`read_checkpoint` gives the trainer's state back.

Written at the end of every epoch by :class:`Checkpointer` (and every ``every`` batches, and
on Ctrl-C), a checkpoint survives ``kill -9`` at any moment: the file on disk is always the
previous complete checkpoint or the new complete one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._atomic import remove_stale_temporaries
from ._validation import check_int
from .callbacks import Callback
from .errors import ModelFileError
from .serialize import MAX_BYTES, ModelArchive, build_model, describe_arrays, describe_model, write_archive

if TYPE_CHECKING:
    from .train import Trainer, TrainerState

__all__ = ["save_checkpoint", "read_checkpoint", "Checkpointer"]

_ARRAY = "__array__"


def _split(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    """JSON-ready copy of ``value`` with each array moved into ``arrays`` and referenced."""
    if isinstance(value, np.ndarray):
        key = f"training/{len(arrays)}"
        arrays[key] = value
        return {_ARRAY: key}
    if isinstance(value, dict):
        return {str(k): _split(v, arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_split(v, arrays) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _join(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, dict):
        if set(value) == {_ARRAY}:
            key = value[_ARRAY]
            if not isinstance(key, str) or key not in arrays:
                raise ModelFileError(f"the training state refers to a missing array {key!r}")
            return arrays[key]
        return {k: _join(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_join(v, arrays) for v in value]
    return value


def save_checkpoint(trainer: Trainer, path: str | os.PathLike[str]) -> Path:
    """Write ``trainer``'s whole state to ``path`` (atomically); ``ffnn.load(path)`` reads its model."""
    header, arrays = describe_model(trainer.model)
    state = trainer.state_dict()
    state.pop("model")                   # the weights are the model's own arrays
    training_arrays: dict[str, np.ndarray] = {}
    header["training"] = _split(state, training_arrays)
    header["training_arrays"] = describe_arrays(training_arrays)
    return write_archive(path, header, {**arrays, **training_arrays})


def read_checkpoint(path: str | os.PathLike[str], *, max_bytes: int = MAX_BYTES) -> TrainerState:
    """The trainer state stored in a checkpoint (for :meth:`ffnn.Trainer.load_state_dict`).

    The file is read and verified as a model file is (:class:`~ffnn.serialize.ModelArchive`:
    header and array shapes checked before any data are read, memory bounded, hashes, nothing
    undescribed); one without a ``training`` section is refused with
    :class:`~ffnn.ModelFileError`.
    """
    with ModelArchive(path, max_bytes=max_bytes) as archive:
        if not isinstance(archive.header.get("training"), dict):
            raise ModelFileError(f"{path} is a model file without training state, not a checkpoint")
        model = build_model(path, archive.header, archive)
        training = {key: archive[key] for key in archive.training_keys()}
    try:
        state = _join(archive.header["training"], training)
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    state["model"] = model.state()
    return dict(state)


class Checkpointer(Callback):
    """Writes the trainer's checkpoint to ``path`` at the end of every epoch, every ``every``
    batches (when given) and on Ctrl-C (with the position inside the interrupted epoch)."""

    def __init__(self, path: str | os.PathLike[str], every: int | None = None) -> None:
        self.path = Path(path)
        self.every = None if every is None else check_int("checkpoint_every", every, low=1)
        self._batches = 0

    def on_train_begin(self) -> None:
        remove_stale_temporaries(self.path)      # left by a run killed while writing this checkpoint

    def on_batch_end(self, batch: int, logs: dict[str, float]) -> None:
        if self.every is not None:
            self._batches += 1
            if self._batches % self.every == 0 and self.trainer.batch < self.trainer.batches_per_epoch:
                save_checkpoint(self.trainer, self.path)

    def on_interrupt(self) -> None:
        save_checkpoint(self.trainer, self.path)

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if not self.history.interrupted:     # an interrupted epoch was saved mid-way by on_interrupt
            save_checkpoint(self.trainer, self.path)
