"""The NumPy training step of two versions of ffnn, interleaved in one process (issue #17).

Run from the repository root::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/ab_commits.py OLD_REV [--repeats 15]
        [--threads 2] [--json OUT] [--quick]

``OLD_REV`` (a commit, tag or branch of this repository) is extracted with ``git archive`` into a
temporary directory and imported as the package ``ffnn_old`` beside the working tree's ``ffnn``,
so both run in the same process on the same data, BLAS threads and CPU state. For each net and
batch (A 784-100-10 ReLU and C 784-30-10 sigmoid at batches 10 and 128, B 784-1024-1024-10 ReLU
at 128) it times one epoch of

- ``loop``: the engine's inner step (gather, ``_forward``, the loss, ``_backward``,
  ``optimizer.step()``), as ``bench/_common.FfnnTrainer`` does, and
- ``fit``: ``Trainer.fit`` for one more epoch (the engine's own loop, its bookkeeping included),

in blocks alternating old/new, then new/old, with a short pause between blocks. It prints the
median samples/s of each and the median of the per-repeat ratios new/old (1.00: unchanged).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

import ffnn  # noqa: E402

CASES = (("A", (784, 100, 10), "relu", 10), ("C", (784, 30, 10), "sigmoid", 10),
         ("C", (784, 30, 10), "sigmoid", 128), ("A", (784, 100, 10), "relu", 128),
         ("B", (784, 1024, 1024, 10), "relu", 128))


def import_revision(rev: str, into: Path) -> ModuleType:
    """``src/ffnn`` at ``rev`` of this repository, imported as the package ``ffnn_old``."""
    archive = subprocess.run(["git", "-C", str(C.REPO), "archive", "--format=tar", rev, "src/ffnn"],
                             check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    (into / "src" / "ffnn").rename(into / "ffnn_old")
    sys.path.insert(0, str(into))
    import ffnn_old
    return ffnn_old


class Loop:
    """The engine's step, one call per batch (``bench/_common.FfnnTrainer``'s loop)."""

    def __init__(self, pkg: Any, sizes: tuple[int, ...], act: str, batch: int, X: np.ndarray, y: np.ndarray):
        self.model = pkg.mlp(list(sizes), act, seed=0, dtype=np.float32)
        self.loss = pkg.losses.SoftmaxCrossEntropy()
        self.opt = pkg.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9)
        self.gather = pkg.sampling.BatchGatherer(X, batch)
        self.y, self.batch = y, batch

    def epoch(self, perm: np.ndarray) -> None:
        model, loss, opt, gather, y, b = self.model, self.loss, self.opt, self.gather, self.y, self.batch
        for start in range(0, len(perm) - b + 1, b):
            idx = perm[start:start + b]
            out = model._forward(gather(idx))
            loss.forward(out, y[idx])
            model._backward(loss.backward(), input_grad=False)
            opt.step()


class Fit:
    """``Trainer.fit`` for one more epoch on the data in the order ``perm``."""

    def __init__(self, pkg: Any, sizes: tuple[int, ...], act: str, batch: int, X: np.ndarray, y: np.ndarray):
        model = pkg.mlp(list(sizes), act, seed=0, dtype=np.float32)
        self.trainer = pkg.Trainer(model, pkg.losses.SoftmaxCrossEntropy(),
                                   pkg.optim.SGD(model.parameters(), lr=0.01, momentum=0.9), batch_size=batch, seed=0)
        self.X, self.y = X, y

    def epoch(self, perm: np.ndarray) -> None:
        self.trainer.fit(self.X[perm], self.y[perm], epochs=self.trainer.epoch + 1)


def compare(old: Any, new: Any, n: int, repeats: int, pause: float, rng: np.random.Generator) -> dict[str, Any]:
    """Interleaved blocks of one epoch each: samples/s of both and the median ratio new/old."""
    perm = rng.permutation(n)
    old.epoch(perm)                                      # warm-up: buffers, caches, threads
    new.epoch(perm)
    times: dict[str, list[float]] = {"old": [], "new": []}
    for r in range(repeats):
        for label, runner in ((("old", old), ("new", new)) if r % 2 == 0 else (("new", new), ("old", old))):
            time.sleep(pause)
            t0 = time.perf_counter()
            runner.epoch(perm)
            times[label].append(time.perf_counter() - t0)
    return {"old_samples_per_s": n / statistics.median(times["old"]),
            "new_samples_per_s": n / statistics.median(times["new"]),
            "new_over_old": statistics.median(o / w for o, w in zip(times["old"], times["new"], strict=True)),
            "seconds": times}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("old", help="the revision to compare the working tree with (a commit, tag or branch)")
    p.add_argument("--repeats", type=int, default=15, help="interleaved blocks per version and case [15]")
    p.add_argument("--threads", type=int, default=2, help="BLAS threads [2]")
    p.add_argument("--pause", type=float, default=0.15, help="seconds of idle before each block [0.15]")
    p.add_argument("--quick", action="store_true", help="small nets' cases only, 3 repeats (a smoke run)")
    p.add_argument("--json", metavar="OUT", help="write the figures to OUT")
    args = p.parse_args(argv)
    C.pin_threads(args.threads, torch_too=False)
    rng = np.random.default_rng(0)
    X, y = C.make_data(8192 if not args.quick else 1024)
    cases = [c for c in CASES if not (args.quick and c[0] == "B")]
    repeats = 3 if args.quick else args.repeats
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        old_pkg = import_revision(args.old, Path(tmp))
        print(f"old: {args.old} ({old_pkg.__file__}); new: the working tree ({ffnn.__file__})")
        print(f"{C.machine_info()['cpu']}; numpy {np.__version__}; {args.threads} BLAS threads; {repeats} repeats")
        for kind, cls in (("loop", Loop), ("fit", Fit)):
            for name, sizes, act, batch in cases:
                n = min(len(X), 2048 if name == "B" else 8192)
                row = compare(cls(old_pkg, sizes, act, batch, X[:n], y[:n]), cls(ffnn, sizes, act, batch, X[:n], y[:n]),
                              n, repeats, args.pause, rng)
                row.update(kind=kind, net=f"{name}{batch}")
                rows.append(row)
                print(f"{kind:4} {name}{batch:<4} old {row['old_samples_per_s']:10,.0f}  new "
                      f"{row['new_samples_per_s']:10,.0f} samples/s  new/old {row['new_over_old']:.3f}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
