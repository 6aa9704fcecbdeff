"""A training run for the kill -9 tests (tests/test_checkpoint.py), run as a separate process.

    python checkpoint_child.py CHECKPOINT OUT.npz [--kill-at K] [--every N] [--signal-at K]

Trains a 20-32-16-3 network with RReLU and Dropout by SGD with momentum, ReduceLROnPlateau and
early stopping on a held-out fifth, checkpointing into CHECKPOINT (resuming from it when it
exists). ``--kill-at K`` sends SIGKILL to this process at its K-th batch (counted in this
process); ``--signal-at K`` sends SIGINT (Ctrl-C) instead. At the end the weights and the
history go to OUT.npz. Without CHECKPOINT ("-") it trains without checkpoints: the reference.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys

import numpy as np

import ffnn
from ffnn import losses, optim, schedules

EPOCHS = 14


def problem() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(42)
    y = rng.integers(0, 3, 400)
    X = rng.normal(size=(3, 20))[y] * 0.35 + rng.normal(size=(400, 20))
    return X.astype(np.float32), y


class SignalAt(ffnn.Callback):
    """Sends ``sig`` to this process at its ``at``-th batch (never when ``at`` < 1)."""

    def __init__(self, at: int, sig: int) -> None:
        self.at, self.sig, self.count = at, sig, 0

    def on_batch_end(self, batch: int, logs: dict[str, float]) -> None:
        self.count += 1
        if self.count == self.at:
            os.kill(os.getpid(), self.sig)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoint")
    parser.add_argument("out")
    parser.add_argument("--kill-at", type=int, default=0)
    parser.add_argument("--signal-at", type=int, default=0)
    parser.add_argument("--every", type=int, default=None)
    parser.add_argument("--ready", help="file to create once training starts")
    args = parser.parse_args(argv)
    X, y = problem()
    model = ffnn.mlp([20, 32, 16, 3], "rrelu", dropout=0.2, seed=7)
    opt = optim.SGD(model.parameters(), lr=0.08, momentum=0.9)
    plateau = schedules.ReduceLROnPlateau(opt, factor=0.5, patience=1)
    sig, at = (signal.SIGKILL, args.kill_at) if args.kill_at else (signal.SIGINT, args.signal_at)

    class Ready(ffnn.Callback):
        def on_train_begin(self) -> None:
            if args.ready:
                open(args.ready, "w").close()

    history = ffnn.fit(model, losses.SoftmaxCrossEntropy(), opt, X, y, epochs=EPOCHS, batch_size=16, validation=0.2,
                       schedule=plateau, callbacks=[SignalAt(at, sig), Ready()], early_stopping=3, seed=11,
                       progress=False, checkpoint=None if args.checkpoint == "-" else args.checkpoint,
                       checkpoint_every=args.every)
    records = [{k: v for k, v in r.items() if k != "seconds"} for r in history.records]
    meta = {"records": records, "stopped_early": history.stopped_early, "interrupted": history.interrupted,
            "best_epoch": history.best_epoch, "lr": opt.lr}
    np.savez(args.out, *[p.value for p in model.parameters()], meta=np.array(json.dumps(meta)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
