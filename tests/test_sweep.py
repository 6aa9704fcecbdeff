"""``ffnn sweep`` / :func:`ffnn.sweep` on Dask: trials as run directories, a killed worker, a
killed sweep resumed, a bad option refused before anything runs."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import ffnn
from ffnn import cli
from ffnn.checkpoint import read_checkpoint
from ffnn.sweeps import SweepSpec

pytest.importorskip("distributed")

# Ten short epochs, checkpointed after each: a window in which a trial is caught mid-way.
SLOW = {"data": "mnist-5k", "hidden": "32", "batch_size": 64, "epochs": 10}
SLOW_TOML = "\n".join(["[train]", *(f"{k} = {json.dumps(v)}" for k, v in SLOW.items()),
                       "[sweep]", "lr = [0.02, 0.05, 0.1]", "[search]", 'metric = "val_loss"', ""])


def _state(out: Path, trial: str) -> Path:
    return out / f".{trial}.ffnn-run"


def _records(checkpoint: Path) -> list[dict[str, Any]]:
    return list(read_checkpoint(checkpoint)["history"]["records"])


def _wait_for_progress(out: Path, trials: list[str], deadline: float, running: Callable[[], bool],
                       finished: int = 0) -> str:
    """A trial still running with at least one epoch in its checkpoint (and ``finished`` trials done)."""
    while time.monotonic() < deadline and running():
        done = [t for t in trials if (out / t / "metrics.json").is_file()]
        for trial in trials:
            checkpoint = _state(out, trial) / "checkpoint.ffnn"
            if len(done) >= finished and trial not in done and checkpoint.is_file():
                try:
                    epoch = read_checkpoint(checkpoint)["position"]["epoch"]
                except (OSError, ffnn.FfnnError):
                    continue                  # replaced while being read
                if 1 <= epoch <= SLOW["epochs"] - 3:
                    return trial
        time.sleep(0.02)
    raise AssertionError(f"no trial of {trials} was caught mid-way")


def _resumed(out: Path, trial: str, before: list[dict[str, Any]]) -> None:
    """The finished run kept the epochs of the checkpoint it resumed from (their timings too):
    it continued, it did not start over."""
    with open(out / trial / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == SLOW["epochs"]
    for row, record in zip(rows, before, strict=False):
        assert float(row["seconds"]) == record["seconds"]
        assert float(row["loss"]) == record["loss"]


def test_a_bad_sweep_option_is_refused_before_anything_runs(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    cases = {
        "[sweep]\nlearning_rate = [0.1]\n": "[sweep]: unknown option 'learning_rate'",
        "[sweep]\nlr = [0.1, -1]\n": "trial-001-lr=_1: option lr: expected a number",
        "[sweep]\nlr = 0.1\n": "option lr: expected a non-empty list of values",
        "[sweep]\nhidden = [\"8\"]\nactivation = [\"relu,tanh\"]\n": "2 activations for 1 hidden layers",
        "[train]\nlr = 0.1\n[sweep]\nlr = [0.2]\n": "option lr is both in [train] and in [sweep]",
        "[sweep]\nout = [\"x\"]\n": "option 'out' is chosen by the sweep",
        "[sweep]\nlr = [0.1]\n[search]\nmetric = \"f1\"\n": "metric: expected one of val_accuracy",
        "[sweep]\nlr = [0.1]\n[search]\nkind = \"grid\"\ntrials = 3\n": "trials applies to kind = 'random'",
        "[train]\nepochs = 1\n": "[sweep] lists no options",
        "[sweeps]\nlr = [0.1]\n": "unknown table 'sweeps'",
    }
    for text, message in cases.items():
        spec = tmp_path / "sweep.toml"
        spec.write_text(text)
        assert cli.main(["sweep", str(spec), "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("ffnn: error: ") and message in err and err.count("\n") == 1, (text, err)
        assert not (tmp_path / "out").exists()


def test_trials_are_named_by_place_and_values_grid_and_random() -> None:
    grid = SweepSpec.from_mapping({"train": {"data": "xor"}, "sweep": {"lr": [0.05, 0.1], "hidden": ["8", "16,8"]}})
    assert [t.name for t in grid.trial_list()] == [
        "trial-000-lr=0.05-hidden=8", "trial-001-lr=0.05-hidden=16_8",
        "trial-002-lr=0.1-hidden=8", "trial-003-lr=0.1-hidden=16_8"]
    doc = {"sweep": {"lr": [0.01, 0.1, 1.0], "seed": [1, 2, 3, 4]}, "search": {"kind": "random", "trials": 5,
                                                                              "seed": 3}}
    first, again = SweepSpec.from_mapping(doc).trial_list(), SweepSpec.from_mapping(doc).trial_list()
    assert first == again and len(first) == 5
    assert {t.values["lr"] for t in first} <= {0.01, 0.1, 1.0}
    other = SweepSpec.from_mapping({**doc, "search": {**doc["search"], "seed": 4}}).trial_list()
    assert [t.values for t in other] != [t.values for t in first]


@pytest.fixture(scope="module")
def cluster() -> Any:
    from dask.distributed import LocalCluster
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as local:
        yield local


def test_a_worker_killed_mid_trial_is_retried_and_resumes(tmp_path: Path, cluster: Any) -> None:
    from dask.distributed import Client
    spec = {"train": SLOW, "sweep": {"lr": [0.02, 0.05, 0.1]}, "search": {"metric": "val_loss"}}
    trials = [t.name for t in SweepSpec.from_mapping(spec).trial_list()]
    out = tmp_path / "sweep"
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["rows"] = ffnn.sweep(spec, out, scheduler=cluster.scheduler_address)
        except BaseException as exc:            # reported by the test thread
            outcome["error"] = exc

    sweeping = threading.Thread(target=run)
    sweeping.start()
    with Client(cluster) as client:
        victim = _wait_for_progress(out, trials, time.monotonic() + 90, sweeping.is_alive)
        running = {w: keys for w, keys in client.processing().items() if any(k.startswith(victim + "-")
                                                                                for k in map(str, keys))}
        (worker,) = running
        pid = client.run(os.getpid, workers=[worker])[worker]
        os.kill(pid, signal.SIGKILL)
        before = _records(_state(out, victim) / "checkpoint.ffnn")
    sweeping.join(timeout=150)
    assert not sweeping.is_alive() and "error" not in outcome, outcome
    rows = outcome["rows"]
    assert [r["status"] for r in rows] == ["done"] * 3, rows
    assert [r["val_loss"] for r in rows] == sorted(r["val_loss"] for r in rows)      # best (lowest) first
    assert rows.best is rows[0] and rows.metric == "val_loss"
    _resumed(out, victim, before)
    with open(out / "results.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [r["trial"] for r in table] == trials
    assert {r["status"] for r in table} == {"done"} and all(float(r["seconds"]) > 0 for r in table)
    pd = pytest.importorskip("pandas")
    frame = rows.to_pandas()
    assert isinstance(frame, pd.DataFrame) and list(frame["trial"]) == [r["trial"] for r in rows]


def test_a_failed_trial_is_recorded_and_the_others_finish(tmp_path: Path, cluster: Any) -> None:
    spec = {"train": {"hidden": "4", "epochs": 2}, "sweep": {"data": ["xor", "no-such-data"]},
            "search": {"metric": "test_accuracy"}}
    rows = ffnn.sweep(spec, tmp_path / "sweep", scheduler=cluster.scheduler_address)
    assert [r["status"] for r in rows] == ["done", "failed"]
    assert rows[1]["error"].startswith("DataError: unknown data set 'no-such-data'")
    assert "\n" not in rows[1]["error"]
    again = ffnn.sweep(spec, tmp_path / "sweep", scheduler=cluster.scheduler_address)    # the failed one again
    assert [r["status"] for r in again] == ["done", "failed"]
    stale = tmp_path / "sweep" / ".results.csv.0123456789ab.tmp.csv"   # left by a sweep killed mid-write
    stale.write_text("trial\n")
    ffnn.sweep(spec, tmp_path / "sweep", scheduler=cluster.scheduler_address)
    assert not stale.exists()
    with pytest.raises(ffnn.ConfigError, match="holds another sweep"):
        ffnn.sweep({**spec, "sweep": {"data": ["xor"]}}, tmp_path / "sweep", scheduler=cluster.scheduler_address)


def test_a_killed_sweep_skips_finished_trials_and_resumes_the_interrupted(tmp_path: Path) -> None:
    import psutil
    spec, out = tmp_path / "sweep.toml", tmp_path / "out"
    spec.write_text(SLOW_TOML)
    trials = [t.name for t in SweepSpec.load(spec).trial_list()]
    command = [sys.executable, "-m", "ffnn", "sweep", str(spec), "--out", str(out), "--workers", "2", "--no-progress"]
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        victim = _wait_for_progress(out, trials, time.monotonic() + 120, lambda: first.poll() is None, finished=1)
        workers = psutil.Process(first.pid).children(recursive=True)
    finally:
        first.kill()
        first.wait()
    _, alive = psutil.wait_procs(workers, timeout=30)       # Dask's workers stop when their parent dies
    assert not alive
    before = _records(_state(out, victim) / "checkpoint.ffnn")
    finished = {t: (out / t / "metrics.json").stat().st_mtime_ns for t in trials if (out / t).is_dir()}
    assert finished and victim not in finished
    second = subprocess.run(command, capture_output=True, text=True, timeout=150)
    assert second.returncode == 0, second.stderr
    assert f"{len(finished)} of 3 trials already finished" in second.stdout
    assert {t: (out / t / "metrics.json").stat().st_mtime_ns for t in finished} == finished     # not rerun
    _resumed(out, victim, before)
    assert "best: " in second.stdout and "val_loss" in second.stdout
    assert sorted(p.name for p in out.iterdir()) == sorted([*trials, "results.csv", "sweep.json", ".locks"])


def test_a_second_sweep_on_a_running_sweeps_directory_is_refused(tmp_path: Path) -> None:
    from ffnn.sweeps import _locked
    spec = {"train": {"hidden": "4", "epochs": 1}, "sweep": {"data": ["xor"]}}
    with _locked(tmp_path / "sweep" / ".locks" / ".sweep"):          # as a running sweep holds it
        with pytest.raises(ffnn.ConfigError, match="another ffnn sweep is running in"):
            ffnn.sweep(spec, tmp_path / "sweep", workers=1)
