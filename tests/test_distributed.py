"""Data-parallel training over MPI: K = 2 ranks give the weights of one process with the same batch,
and a two-rank run stopped by Ctrl-C and resumed gives the weights of an uninterrupted one.

The MPI runs are started by the tests themselves (``mpirun --oversubscribe -n 2 python
tests/test_distributed.py ...``: this file is also the ranks' script); they skip when mpirun
or mpi4py is absent.
"""

from __future__ import annotations

import csv
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


def _run(args: list[str], tmp_path: Path, expect: int | None = 0,
         timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMPI_MCA_rmaps_base_oversubscribe": "1", "OPENBLAS_NUM_THREADS": "1"}
    with subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.terminate()          # SIGTERM: mpirun ends its ranks (a SIGKILL would orphan them)
            stdout, stderr = process.communicate(timeout=60)
            pytest.fail(f"{' '.join(args)} did not end in {timeout}s (a rank left waiting?):\n{stdout}{stderr}")
    result = subprocess.CompletedProcess(args, process.returncode, stdout, stderr)
    if expect is not None:
        assert result.returncode == expect, result.stdout + result.stderr
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


@pytest.mark.parametrize("where", ["mpirun", "rank 0", "rank 1"])
def test_mpirun_run_interrupted_then_resumed_equals_an_uninterrupted_run(tmp_path: Path, where: str) -> None:
    """A two-rank ``ffnn train --distributed`` stopped by Ctrl-C in epoch 2 ends (no rank is left
    waiting), keeps its state, and ``mpirun -n 2 ffnn train --distributed --resume`` ends with
    the weights and history of an uninterrupted two-rank run, bit for bit.

    - ``mpirun``: a terminal's Ctrl-C reaches mpirun, which kills the ranks; the run is not
      published and resumes from rank 0's checkpoint at batch 3 of epoch 2.
    - ``rank 0``: rank 0 alone gets SIGINT after batch 4 of epoch 2: it saves the checkpoint
      and the run (last epoch partial) and ends the job (exit 130).
    - ``rank 1``: rank 1 alone gets it; it ends the job, rank 0 waiting in the next Allreduce
      saves nothing more: the run resumes from the checkpoint at batch 3.
    """
    mpirun = _mpirun()
    options = ["--data", "circle", "--n", "300", "--hidden", "16", "--epochs", "4", "--batch-size", "25",
               "--lr", "0.1", "--dtype", "float64", "--no-plots", "--no-progress", "--seed", "2",
               "--checkpoint-every", "3"]          # 135 training samples: 6 batches an epoch
    stopped = _run([*mpirun, sys.executable, str(HERE), "ctrl-c", where, "train", "--distributed", *options,
                    "--out", "runs/mpi"], tmp_path, expect=None, timeout=90)
    output = stopped.stdout + stopped.stderr
    assert stopped.returncode != 0 if where == "mpirun" else stopped.returncode == 130, output
    assert stopped.stdout.count("run: runs/mpi ") == 1, output                         # only rank 0 prints
    assert "epoch   1/4  loss" in stopped.stdout and "epoch   2/4  loss" not in stopped.stdout, output
    assert f"ctrl-c on {where} in epoch 2" in stopped.stdout, output
    state = tmp_path / "runs/.mpi.ffnn-run"
    assert sorted(p.name for p in state.iterdir()) == ["checkpoint.ffnn", "recipe.toml"]
    if where == "rank 0":                              # saved as it stood: epoch 2 marked partial
        assert "epoch   2/4 (partial)" in stopped.stdout and "wrote runs/mpi/" in stopped.stdout
        saved = _history_rows(tmp_path / "runs/mpi/history.csv")
        assert [row["partial"] for row in saved] == ["0", "1"]
        assert json.loads((tmp_path / "runs/mpi/metrics.json").read_text())["interrupted"] is True
    else:
        assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [".mpi.ffnn-run"]  # not published

    resumed = _run([*mpirun, sys.executable, "-m", "ffnn", "train", "--distributed", "--resume", "runs/mpi",
                    "--no-progress"], tmp_path)
    assert resumed.stdout.count("resuming runs/mpi from runs/.mpi.ffnn-run/checkpoint.ffnn") == 1
    assert resumed.stdout.count("wrote runs/mpi/") == 1
    assert "epoch   1/4  loss" not in resumed.stdout and resumed.stdout.count("epoch   4/4  loss") == 1
    _run([*mpirun, sys.executable, "-m", "ffnn", "train", "--distributed", *options, "--out", "runs/straight"],
         tmp_path)
    # rank 0 alone wrote: two run directories, no state or staging directory left behind
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["mpi", "straight"]
    again, straight = ffnn.load(tmp_path / "runs/mpi/model.ffnn"), ffnn.load(tmp_path / "runs/straight/model.ffnn")
    for a, b in zip(again.parameters(), straight.parameters(), strict=True):
        assert a.value.dtype == np.float64
        np.testing.assert_array_equal(a.value, b.value)
    records = [json.loads((tmp_path / f"runs/{name}/metrics.json").read_text()) for name in ("mpi", "straight")]
    assert [r["epochs"] for r in records] == [4, 4] and not records[0]["interrupted"]
    assert records[0]["test_accuracy"] == records[1]["test_accuracy"]
    history = [_history_rows(tmp_path / f"runs/{name}/history.csv") for name in ("mpi", "straight")]
    assert len(history[0]) == 4 and history[0] == history[1]


def _history_rows(path: Path) -> list[dict[str, str]]:
    """history.csv without its wall-clock column (the only one two equal runs differ in)."""
    with path.open(newline="") as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


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


def _ctrl_c(where: str, argv: list[str]) -> None:
    """``ffnn train`` (cli.main) with a Ctrl-C in epoch 2: to mpirun (rank 0, right after its
    checkpoint at batch 3, sends its parent the SIGINT a terminal sends, then waits to be
    killed), or to one rank alone (SIGINT to itself after batch 4: training stops there)."""
    import signal
    import time

    from ffnn.checkpoint import Checkpointer
    from ffnn.cli import main

    if where == "mpirun":
        original = Checkpointer.on_batch_end

        def on_batch_end(self: Checkpointer, batch: int, logs: dict[str, float]) -> None:
            original(self, batch, logs)
            if self.trainer.epoch == 1 and self.trainer.batch == 3:
                print("ctrl-c on mpirun in epoch 2", flush=True)
                os.kill(os.getppid(), signal.SIGINT)
                time.sleep(120)          # mpirun kills the job: nothing after this checkpoint runs

        Checkpointer.on_batch_end = on_batch_end  # type: ignore[method-assign]
    else:
        allreduce, calls = MPIDataParallel.allreduce_gradients, []

        def counted(self: MPIDataParallel, *args: object, **kwargs: object) -> tuple[float, float | None]:
            result = allreduce(self, *args, **kwargs)  # type: ignore[arg-type]
            calls.append(1)
            if f"rank {self.rank}" == where and len(calls) == 6 + 4:
                print(f"ctrl-c on {where} in epoch 2", flush=True)
                os.kill(os.getpid(), signal.SIGINT)
            return result

        MPIDataParallel.allreduce_gradients = counted  # type: ignore[method-assign]
    sys.exit(main(argv))


if __name__ == "__main__":
    if sys.argv[1] == "ctrl-c":
        _ctrl_c(sys.argv[2], sys.argv[3:])
    else:
        _rank_main(*sys.argv[1:3])
