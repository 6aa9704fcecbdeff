"""Checkpoints and resume: after a kill -9 at any moment, resuming ends bit-identical to a run
that was never interrupted.

The run (tests/checkpoint_child.py) has every piece of state that decides the rest of a run:
SGD momentum, Dropout and RReLU (random generators in the layers), ReduceLROnPlateau (its best
and counters), early stopping (its best weights) and a held-out split. It runs in a separate
process that is killed with SIGKILL (by itself at a chosen batch, or from outside at a random
moment, possibly while it writes a checkpoint), then resumed in a new process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import ffnn
from ffnn.cli import main
from ffnn.errors import ConfigError, ModelFileError

CHILD = Path(__file__).with_name("checkpoint_child.py")
POSIX = pytest.mark.skipif(os.name == "nt", reason="needs POSIX signals")


def child(*args, check=True):
    proc = subprocess.run([sys.executable, str(CHILD), *map(str, args)], capture_output=True, text=True,
                          timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"child failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc


def result(path):
    with np.load(path) as f:
        arrays = [f[k] for k in f.files if k != "meta"]
        return arrays, json.loads(str(f["meta"]))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "ref.npz"
    child("-", out)
    arrays, meta = result(out)
    # the scenario exercises every piece of state: the plateau schedule reduced lr, early stopping fired
    assert meta["stopped_early"] and meta["lr"] < 0.08 and meta["best_epoch"] < len(meta["records"])
    return arrays, meta


def assert_same_run(path, reference):
    arrays, meta = result(path)
    ref_arrays, ref_meta = reference
    assert len(arrays) == len(ref_arrays)
    for a, b in zip(arrays, ref_arrays, strict=True):
        np.testing.assert_array_equal(a, b)                     # bit for bit
    assert meta == ref_meta


@POSIX
@pytest.mark.parametrize("every", [None, 1, 7], ids=["each-epoch", "each-batch", "every-7"])
def test_kill_9_at_a_random_batch_then_resume_is_bit_identical(tmp_path, reference, every):
    n_batches = 20 * len(reference[1]["records"])
    rng = np.random.default_rng(0 if every is None else every)
    for trial, kill_at in enumerate(sorted(rng.choice(np.arange(1, n_batches), size=3, replace=False))):
        checkpoint = tmp_path / f"run{trial}.ckpt"
        extra = [] if every is None else ["--every", every]
        killed = child(checkpoint, tmp_path / "never.npz", "--kill-at", kill_at, *extra, check=False)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        assert not (tmp_path / "never.npz").exists()
        child(checkpoint, tmp_path / f"resumed{trial}.npz", *extra)
        assert_same_run(tmp_path / f"resumed{trial}.npz", reference)


@POSIX
def test_killed_from_outside_at_random_moments_even_while_writing(tmp_path, reference):
    # checkpoints after every batch: a kill at a random moment often lands inside a write
    checkpoint, ready = tmp_path / "run.ckpt", tmp_path / "ready"
    rng = np.random.default_rng(3)
    kills = 0
    for _ in range(6):
        ready.unlink(missing_ok=True)
        proc = subprocess.Popen([sys.executable, str(CHILD), str(checkpoint), str(tmp_path / "out.npz"),
                                 "--every", "1", "--ready", str(ready)], stderr=subprocess.PIPE)
        while not ready.exists() and proc.poll() is None:
            time.sleep(0.005)
        time.sleep(float(rng.uniform(0.0, 0.25)))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=60)
        if proc.returncode == 0:
            break
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode() if proc.stderr else ""
        ffnn.load(checkpoint) if checkpoint.exists() else None     # never a half-written file
    else:
        child(checkpoint, tmp_path / "out.npz", "--every", "1")
    assert kills >= 1
    assert not list(tmp_path.glob(".run.ckpt.*"))                # no temporary file left behind by a finished run
    assert_same_run(tmp_path / "out.npz", reference)


@POSIX
def test_ctrl_c_keeps_the_position_inside_the_epoch(tmp_path, reference):
    checkpoint = tmp_path / "run.ckpt"
    interrupted = child(checkpoint, tmp_path / "partial.npz", "--signal-at", 27)   # batch 7 of epoch 2
    _, meta = result(tmp_path / "partial.npz")
    assert meta["interrupted"] and len(meta["records"]) == 2
    assert interrupted.returncode == 0
    child(checkpoint, tmp_path / "resumed.npz")
    assert_same_run(tmp_path / "resumed.npz", reference)


def small_run(tmp_path, **kwargs):
    X = np.random.default_rng(0).normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    model = ffnn.mlp([3, 4, 2], "tanh", seed=0, dtype=np.float64)
    opt = ffnn.optim.SGD(model.parameters(), 0.1, momentum=0.9)
    return model, ffnn.fit(model, ffnn.losses.SoftmaxCrossEntropy(), opt, X, y, epochs=3, batch_size=8, seed=0,
                           progress=False, **kwargs), X, y


def test_a_checkpoint_is_a_model_file(tmp_path):
    path = tmp_path / "c.ckpt"
    model, _, X, _ = small_run(tmp_path, checkpoint=path)
    loaded = ffnn.load(path)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_a_finished_checkpoint_resumes_to_the_same_end(tmp_path):
    path = tmp_path / "c.ckpt"
    model, history, X, y = small_run(tmp_path, checkpoint=path)
    again, history2, _, _ = small_run(tmp_path, checkpoint=path)      # nothing left to train
    np.testing.assert_array_equal(again.predict(X), model.predict(X))
    assert [r["loss"] for r in history2.records] == [r["loss"] for r in history.records]


def test_bad_checkpoints_are_refused_clearly(tmp_path):
    plain = tmp_path / "plain.ffnn"
    ffnn.save(ffnn.mlp([3, 2], seed=0, dtype=np.float64), plain)
    with pytest.raises(ModelFileError, match="not a checkpoint"):
        small_run(tmp_path, checkpoint=plain)
    path = tmp_path / "c.ckpt"
    small_run(tmp_path, checkpoint=path)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(bytes(raw))
    with pytest.raises(ModelFileError):
        small_run(tmp_path, checkpoint=broken)
    X = np.random.default_rng(1).normal(size=(40, 3))               # other data, same shapes
    model = ffnn.mlp([3, 4, 2], "tanh", seed=0, dtype=np.float64)
    with pytest.raises(ConfigError, match="other training data"):
        ffnn.fit(model, ffnn.losses.SoftmaxCrossEntropy(), ffnn.optim.SGD(model.parameters(), 0.1, momentum=0.9),
                 X, (X[:, 0] > 0).astype(int), epochs=3, batch_size=8, seed=0, progress=False, checkpoint=path)


def _rewrite(path, header, arrays):
    import io
    buf = io.BytesIO()
    np.savez(buf, __ffnn__=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8), **arrays)
    path.write_bytes(buf.getvalue())


@pytest.mark.parametrize("damage", ["reference-not-a-string", "reference-missing", "training-shape-lie",
                                    "truncated"])
def test_hostile_checkpoints_are_model_file_errors(tmp_path, damage):
    from ffnn.checkpoint import read_checkpoint
    from ffnn.serialize import read_archive
    path = tmp_path / "c.ckpt"
    small_run(tmp_path, checkpoint=path)
    header, arrays = read_archive(path)
    if damage == "reference-not-a-string":
        header["training"]["evil"] = {"__array__": ["training/0"]}
    elif damage == "reference-missing":
        header["training"]["evil"] = {"__array__": "training/999"}
    elif damage == "training-shape-lie":
        header["training_arrays"]["training/0"]["shape"] = [10**6, 10**6]
    _rewrite(path, header, arrays)
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ModelFileError, match=str(path)):
        read_checkpoint(path)


# ---------------------------------------------------------------------------
# ffnn train --resume
# ---------------------------------------------------------------------------

TRAIN = ["train", "--data", "spiral", "--n", "600", "--hidden", "16,16", "--dropout", "0.1", "--activation",
         "rrelu", "--schedule", "plateau:0.5:1", "--early-stopping", "4", "--epochs", "12", "--batch-size", "4",
         "--no-plots", "--no-progress", "--checkpoint-every", "3"]


def weights_of(run_dir):
    return [p.value for p in ffnn.load(Path(run_dir) / "model.ffnn").parameters()]


@POSIX
def test_ffnn_train_killed_then_resumed_equals_an_uninterrupted_run(tmp_path):
    assert main([*TRAIN, "--out", str(tmp_path / "ref")]) == 0
    run_dir = tmp_path / "run"
    state = tmp_path / ".run.ffnn-run" / "checkpoint.ffnn"
    proc = subprocess.Popen([sys.executable, "-m", "ffnn", *TRAIN, "--out", str(run_dir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while not state.exists() and proc.poll() is None:
        time.sleep(0.005)
    time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not run_dir.exists()                                  # an unfinished run is never published
    code = main([*TRAIN, "--out", str(run_dir)])                 # a new run there is refused: it would mix
    assert code == 2
    assert main(["train", "--resume", str(run_dir)]) == 0
    for a, b in zip(weights_of(run_dir), weights_of(tmp_path / "ref"), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not (tmp_path / ".run.ffnn-run").exists()             # the state goes once the run is published
    ref = (tmp_path / "ref" / "history.csv").read_text().splitlines()
    got = (run_dir / "history.csv").read_text().splitlines()
    strip = lambda lines: [",".join(line.split(",")[:-1]) for line in lines]  # noqa: E731  (seconds)
    assert strip(got) == strip(ref)


def test_resume_errors_are_one_line(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path / "nothing")]) == 2
    assert "no unfinished run" in capsys.readouterr().err
    state = tmp_path / ".r.ffnn-run"
    state.mkdir()
    (state / "recipe.toml").write_text('[train]\ndata = "xor"\nepochs = 2\nout = "%s"\n' % (tmp_path / "r"))
    assert main(["train", "--resume", str(tmp_path / "r"), "--lr", "0.5"]) == 2
    assert "cannot change lr" in capsys.readouterr().err
