"""Data-parallel training over MPI: K = 2 ranks give the weights of one process with the same batch.

The MPI runs are started by the tests themselves (``mpirun --oversubscribe -n 2 python
tests/test_distributed.py ...``: this file is also the ranks' script); they skip when mpirun
or mpi4py is absent.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ffnn
from ffnn import losses, mlp, optim
from ffnn.callbacks import L1Penalty
from ffnn.distributed import MPIDataParallel, data_parallel

HERE = Path(__file__).resolve()
SAMPLES, BATCH, EPOCHS = 203, 33, 3          # 33 = 17 + 16 on two ranks; the last batch of 5 = 3 + 2


def _problem(dtype: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(SAMPLES, 6)).astype(dtype)
    y = (X[:, 0] * X[:, 1] + X[:, 2] > 0).astype(np.int64) + (X[:, 3] > 1)
    return X, y


def train(dtype: str, distributed: object) -> tuple[list[np.ndarray], ffnn.History]:
    """A tanh net, Nesterov momentum with weight decay, an L1 penalty (sees the averaged
    gradient), a held-out fraction: the same run with or without MPI."""
    X, y = _problem(dtype)
    net = mlp([6, 12, 7, 3], "tanh", dtype=np.dtype(dtype), seed=3)
    opt = optim.SGD(net.parameters(), lr=0.2, momentum=0.9, nesterov=True, weight_decay=1e-3)
    history = ffnn.fit(net, losses.SoftmaxCrossEntropy(), opt, X, y, epochs=EPOCHS, batch_size=BATCH,
                       validation=0.1, callbacks=[L1Penalty(1e-4)], seed=5, progress=False,
                       distributed=distributed)
    return [p.value for p in net.parameters()], history


def _mpirun() -> list[str]:
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        pytest.skip("mpirun is not installed (apt install openmpi-bin)")
    pytest.importorskip("mpi4py")
    return [mpirun, "--allow-run-as-root", "--oversubscribe", "-n", "2"]


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMPI_MCA_rmaps_base_oversubscribe": "1", "OPENBLAS_NUM_THREADS": "1"}
    result = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.mark.parametrize("dtype, tolerance", [("float32", 2e-5), ("float64", 1e-12)])
def test_two_ranks_give_the_weights_of_one_process(tmp_path: Path, dtype: str, tolerance: float) -> None:
    mpirun = _mpirun()
    _run([*mpirun, sys.executable, str(HERE), str(tmp_path / "ranks.npz"), dtype], tmp_path)
    with np.load(tmp_path / "ranks.npz") as saved:
        distributed = [saved[f"p{i}"] for i in range(len(saved.files) - 1)]
        records = json.loads(str(saved["history"]))
    alone, history = train(dtype, None)
    assert [w.dtype for w in distributed] == [w.dtype for w in alone]
    worst = max(float(np.max(np.abs(a - b))) for a, b in zip(distributed, alone, strict=True))
    assert worst <= tolerance, f"largest weight difference {worst:.3g}"
    assert worst > 0 or dtype == "float64"   # the sums are grouped differently: not bit-identical in float32
    # the epoch figures rank 0 reports are the whole batch's (global loss and accuracy)
    for mine, one in zip(records, history.records, strict=True):
        assert mine["accuracy"] == pytest.approx(one["accuracy"], abs=1e-12)
        assert mine["loss"] == pytest.approx(one["loss"], rel=1e-5)
        assert mine["val_loss"] == pytest.approx(one["val_loss"], rel=1e-5)


def test_mpirun_ffnn_train_writes_one_run_directory(tmp_path: Path) -> None:
    mpirun = _mpirun()
    ffnn_cmd = [sys.executable, "-m", "ffnn"]
    options = ["--data", "circle", "--n", "300", "--hidden", "16", "--epochs", "3", "--batch-size", "25",
               "--lr", "0.1", "--no-plots", "--no-progress", "--seed", "2"]
    result = _run([*mpirun, *ffnn_cmd, "train", "--distributed", *options, "--out", "runs/mpi",
                   "--checkpoint-every", "2"], tmp_path)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["mpi"]       # no state left, one run
    assert result.stdout.count("wrote runs/mpi/") == 1                               # only rank 0 prints
    assert result.stdout.count("epoch   3/3") == 1
    metrics = json.loads((tmp_path / "runs/mpi/metrics.json").read_text())
    assert metrics["epochs"] == 3
    _run([*ffnn_cmd, "train", *options, "--out", "runs/one"], tmp_path)
    two, one = ffnn.load(tmp_path / "runs/mpi/model.ffnn"), ffnn.load(tmp_path / "runs/one/model.ffnn")
    for a, b in zip(two.parameters(), one.parameters(), strict=True):
        np.testing.assert_allclose(a.value, b.value, atol=2e-5)


def test_data_parallel_argument() -> None:
    assert data_parallel(None) is None and data_parallel(False) is None
    with pytest.raises(ffnn.ConfigError, match="distributed must be True"):
        data_parallel("yes")


def test_a_single_rank_trains_as_one_process() -> None:
    pytest.importorskip("mpi4py")
    single = MPIDataParallel()                 # not under mpirun: a world of one rank
    assert (single.rank, single.size) == (0, 1)
    np.testing.assert_array_equal(single.shard(np.arange(5)), np.arange(5))
    for a, b in zip(train("float64", single)[0], train("float64", None)[0], strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-13)


class _Shares:
    """The sharding rule of MPIDataParallel without MPI, for any rank and size."""

    def __init__(self, rank: int, size: int) -> None:
        self.rank, self.size = rank, size

    shard = MPIDataParallel.shard


@pytest.mark.parametrize("n, size", [(33, 2), (5, 2), (1, 3), (10, 4), (0, 2)])
def test_shards_cover_the_batch_once_in_order(n: int, size: int) -> None:
    idx = np.arange(100, 100 + n)
    parts = [_Shares(rank, size).shard(idx) for rank in range(size)]
    np.testing.assert_array_equal(np.concatenate(parts), idx)
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


def _rank_main(out: str, dtype: str) -> None:
    backend = MPIDataParallel()
    weights, history = train(dtype, backend)
    if backend.rank == 0:
        arrays = {f"p{i}": w for i, w in enumerate(weights)}
        np.savez(out, history=json.dumps(history.records), **arrays)


if __name__ == "__main__":
    _rank_main(*sys.argv[1:3])
