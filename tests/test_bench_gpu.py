"""bench/gpu.py --dry-run: every path is reported (run, or skipped with a reason), the weights
of the paths that ran agree with ffnn-NumPy after the same steps, and the figures of the JSON
are the ones its per-block times give.

The dry run is the GPU benchmark's own code on tiny sizes on the CPU (ffnn on "torch:cpu",
PyTorch eager and JAX on the CPU); the CuPy and CUDA-graph paths need CUDA and must say so.
"""

from __future__ import annotations

import importlib.util
import json
import math
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.requires_torch

SCRIPT = Path(__file__).resolve().parent.parent / "bench" / "gpu.py"
PATHS = {"ffnn-numpy", "ffnn-cupy", "ffnn-torch", "ffnn-torch-graph", "torch-eager", "jax-jit"}
HAS_JAX = importlib.util.find_spec("jax") is not None


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """One ``--dry-run --json OUT`` run shared by the tests: (the process, the JSON)."""
    out = tmp_path_factory.mktemp("bench_gpu") / "gpu.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--dry-run", "--json", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert out.exists(), f"no JSON written; stderr:\n{proc.stderr[-4000:]}"
    return proc, json.loads(out.read_text(encoding="utf-8"))


def _entries(data: dict[str, Any]) -> list[tuple[int, str, dict[str, Any]]]:
    return [(row["batch"], path, e) for row in data["results"] for path, e in row["paths"].items()]


def test_dry_run_succeeds_and_prints_the_table(dry_run):
    proc, data = dry_run
    assert proc.returncode == 0, f"problems: {data['problems']}\nstderr:\n{proc.stderr[-4000:]}"
    assert data["problems"] == []
    assert data["dry_run"] is True
    assert "samples/s" in proc.stdout and "vs torch" in proc.stdout
    assert proc.stdout.count("ffnn-torch ") >= len(data["config"]["batches"])


def test_every_path_at_every_batch_size(dry_run):
    _, data = dry_run
    assert [row["batch"] for row in data["results"]] == data["config"]["batches"] == [8, 16]
    assert set(data["paths"]) == PATHS
    for row in data["results"]:
        assert set(row["paths"]) == PATHS
    for batch, path, e in _entries(data):
        assert e["status"] in ("ran", "skipped"), (batch, path, e)
        if e["status"] == "skipped":
            assert e["reason"].strip(), (batch, path)
    for _, path, e in _entries(data):
        if path in ("ffnn-cupy", "ffnn-torch-graph"):
            assert e == {"status": "skipped", "reason": "needs CUDA (this run is on the CPU)"}
        elif path == "jax-jit" and not HAS_JAX:
            assert e["status"] == "skipped" and "JAX is not installed" in e["reason"]
        else:
            assert e["status"] == "ran", (path, e)


def test_weights_after_the_same_steps_agree_with_ffnn_numpy(dry_run):
    _, data = dry_run
    ran = [(b, p, e) for b, p, e in _entries(data) if e["status"] == "ran"]
    assert ran
    for batch, path, e in ran:
        d = e["weight_max_abs_diff"]
        assert math.isfinite(d) and 0.0 <= d < 1e-4, (batch, path, d)


def test_figures_are_the_ones_the_block_times_give(dry_run):
    _, data = dry_run
    repeats = data["config"]["repeats"]
    for row in data["results"]:
        b, paths = row["batch"], row["paths"]
        baseline = paths["torch-eager"]["sec_per_step"]
        for path, e in paths.items():
            if e["status"] != "ran":
                assert "samples_per_s" not in e and "vs_torch_eager" not in e
                continue
            secs = e["sec_per_step"]
            assert len(secs) == repeats and all(s > 0 for s in secs), (b, path)
            assert e["steps_per_block"] >= 1
            assert e["samples_per_s"] == pytest.approx(b / statistics.median(secs), rel=1e-12)
            ratio = statistics.median(t / s for s, t in zip(secs, baseline, strict=True))
            assert e["vs_torch_eager"] == pytest.approx(ratio, rel=1e-12), (b, path)
        assert paths["torch-eager"]["vs_torch_eager"] == 1.0


def test_records_precision_device_and_versions(dry_run):
    _, data = dry_run
    p = data["precision"]
    assert p["torch_matmul_allow_tf32"] is False and p["torch_cudnn_allow_tf32"] is False
    assert p["torch_float32_matmul_precision"] == "highest" and p["CUPY_TF32"] == "0"
    if HAS_JAX:
        assert p["jax_default_matmul_precision"] == "highest"
    assert data["device"]["name"].startswith("CPU")
    assert data["device"]["versions"]["torch"]
    assert data["config"]["sizes"] == [784, 32, 32, 10]
