"""The per-epoch record of a training run."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path
from typing import Any

from ._atomic import write_atomic
from .callbacks import Callback
from .errors import ConfigError

__all__ = ["History", "is_partial"]


def is_partial(record: dict[str, Any]) -> bool:
    """Whether a history record is of an epoch cut short (by Ctrl-C)."""
    return bool(record.get("partial", 0))


class History(Callback):
    """Per-epoch records of a training run (the engine's first callback after the divergence guard).

    ``records`` is a list of dicts with the keys ``epoch``, ``loss``, ``accuracy`` (for
    classification), ``val_loss``, ``val_accuracy`` (with held-out data), ``lr``,
    ``momentum`` (for optimizers that have one) and ``seconds``. ``history["val_loss"]`` gives
    one key's values over the epochs.

    An epoch cut short by Ctrl-C is recorded with ``partial`` set to 1 (its loss and accuracy
    are over the batches it ran); :attr:`epochs` counts whole epochs only, ``history.csv`` has
    a ``partial`` column (0 or 1) when such a record exists, and the plots draw it apart.
    """

    def __init__(self) -> None:
        self.records: list[dict[str, float]] = []
        self.stopped_early = False
        self.interrupted = False
        self.best_epoch: int | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        self.append(logs)

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
        """Whole epochs recorded (a partial epoch is not one)."""
        return sum(1 for r in self.records if not is_partial(r))

    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write one row per epoch (atomically)."""
        out = io.StringIO()
        rows: list[dict[str, Any]] = list(self.records)
        if any(is_partial(r) for r in rows):
            rows = [{**r, "partial": int(is_partial(r))} for r in rows]
        writer = csv.DictWriter(out, fieldnames=self.keys(), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return write_atomic(path, out.getvalue())

    def state_dict(self) -> dict[str, Any]:
        """``{"records": [...], "stopped_early": ..., "interrupted": ..., "best_epoch": ...}``."""
        return {"records": [dict(r) for r in self.records], "stopped_early": self.stopped_early,
                "interrupted": self.interrupted, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        records = state.get("records") if isinstance(state, dict) else None
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise ConfigError(f"History.load_state_dict expects a dict with a list of records, got {state!r:.100}")
        best = state.get("best_epoch")
        if best is not None and (isinstance(best, bool) or not isinstance(best, int)):
            raise ConfigError(f"History best_epoch must be an integer or None, got {best!r}")
        self.records = [dict(r) for r in records]
        self.stopped_early = bool(state.get("stopped_early", False))
        self.interrupted = bool(state.get("interrupted", False))
        self.best_epoch = best

    def to_json(self, path: str | os.PathLike[str]) -> Path:
        """Write ``{"records": [...], "stopped_early": ..., ...}`` (atomically)."""
        return write_atomic(path, json.dumps(self.state_dict(), indent=1))

    def __repr__(self) -> str:
        last = self.records[-1] if self.records else {}
        keys = ("loss", "val_loss", "accuracy", "val_accuracy")
        shown = ", ".join(f"{k}={v:.4g}" for k, v in last.items() if k in keys)
        return f"History(epochs={self.epochs}{', ' + shown if shown else ''})"
