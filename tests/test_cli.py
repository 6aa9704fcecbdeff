"""Tests of the ``ffnn`` command: ``ffnn.cli.main(argv)`` in-process (with capsys), plus one
subprocess run of ``python -m ffnn --help``.

Training runs are kept small (mnist-5k with 32 hidden units for 2 epochs, toy sets with
--no-plots); the one real-size run is the default ``ffnn train``, which takes a few seconds.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import ffnn
from ffnn import cli, data
from ffnn.cli import TrainConfig, main, run_training
from ffnn.errors import FfnnError

HAS_MPL = ffnn.plots.available()
SRC = Path(ffnn.__file__).resolve().parent.parent
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def run_quietly(argv):
    """main(argv) with stdout and stderr captured: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def read_history(run_dir):
    with open(Path(run_dir) / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def read_metrics(run_dir):
    return json.loads((Path(run_dir) / "metrics.json").read_text())


def assert_png(path):
    data_ = Path(path).read_bytes()
    assert data_[:8] == PNG_MAGIC and len(data_) > 1000, path


def assert_user_error(code, err, needle):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got: {err!r}"
    assert lines[0].startswith("ffnn: error:")
    assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    assert "Traceback" not in err


# ---------------------------------------------------------------------------
# one small mnist-5k run shared by several tests
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("mnist") / "run"
    code, stdout, stderr = run_quietly(["train", "--epochs", "2", "--hidden", "32", "--out", str(out), "--no-progress"])
    return {"dir": out, "code": code, "stdout": stdout, "stderr": stderr}


def test_train_writes_the_run_directory(mnist_run):
    out = mnist_run["dir"]
    assert mnist_run["code"] == 0, mnist_run["stderr"]
    names = set(os.listdir(out))
    assert {"model.ffnn", "history.csv", "metrics.json"} <= names
    assert not [n for n in names if n.startswith(".") or n.endswith(".tmp")], names
    rows = read_history(out)
    assert len(rows) == 2 and [int(r["epoch"]) for r in rows] == [1, 2]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"} <= set(rows[0])
    metrics = read_metrics(out)
    assert {"test_accuracy", "train_seconds", "epochs", "config"} <= set(metrics)
    assert metrics["epochs"] == 2
    assert metrics["config"]["hidden"] == "32" and metrics["config"]["epochs"] == 2
    assert metrics["config"]["data"] == "mnist-5k"
    assert 0.8 < metrics["test_accuracy"] <= 1.0
    assert metrics["train_seconds"] > 0
    assert f"test accuracy: {metrics['test_accuracy']:.4f}" in mnist_run["stdout"]


@pytest.mark.skipif(not HAS_MPL, reason="matplotlib not installed")
def test_train_writes_the_figures(mnist_run):
    out = mnist_run["dir"]
    for name in ("curves.png", "confusion.png", "first_layer.png"):
        assert_png(out / name)
    assert not (out / "decision_boundary.png").exists()      # 784 features: no 2-D picture
    assert set(read_metrics(out)["figures"]) == {"curves.png", "confusion.png", "first_layer.png"}


def test_saved_model_reproduces_the_test_accuracy(mnist_run):
    out = mnist_run["dir"]
    model = ffnn.load(out / "model.ffnn")
    assert model.in_features == 784 and model.out_features == 10
    assert model.metadata["task"] == "classification" and model.metadata["n_classes"] == 10
    ds = data.load("mnist-5k")
    acc = ffnn.metrics.accuracy(ds.y_test, cli.model_predict(model, ds.X_test).argmax(axis=1))
    expected = read_metrics(out)["test_accuracy"]
    assert acc == pytest.approx(expected, abs=1e-12)
    from ffnn.losses import SoftmaxCrossEntropy
    from ffnn.train import evaluate
    assert evaluate(model, SoftmaxCrossEntropy(), ds.X_test, ds.y_test)["accuracy"] == pytest.approx(expected)


def test_evaluate_command_prints_the_same_accuracy(mnist_run, capsys):
    out = mnist_run["dir"]
    assert main(["evaluate", str(out / "model.ffnn")]) == 0
    printed = capsys.readouterr().out
    assert f"accuracy: {read_metrics(out)['test_accuracy']:.4f} on 1000 samples" in printed
    assert main(["evaluate", str(out / "model.ffnn"), "--split", "train"]) == 0
    assert "on 4000 samples" in capsys.readouterr().out


def _expected_labels(run_dir, X):
    model = ffnn.load(run_dir / "model.ffnn")
    return cli.model_predict(model, X.astype(np.float32)).argmax(axis=1)


def _prediction_rows(stdout):
    lines = stdout.strip().splitlines()
    assert lines[0] == "row,prediction,probability"
    return [line.split(",") for line in lines[1:]]


def test_predict_csv(mnist_run, tmp_path, capsys):
    ds = data.load("mnist-5k")
    X = ds.X_test[:5]
    path = tmp_path / "digits.csv"
    np.savetxt(path, X, delimiter=",", fmt="%.6f")
    assert main(["predict", str(mnist_run["dir"] / "model.ffnn"), str(path)]) == 0
    rows = _prediction_rows(capsys.readouterr().out)
    assert len(rows) == 5
    assert [int(r[0]) for r in rows] == list(range(5))
    assert [int(r[1]) for r in rows] == _expected_labels(mnist_run["dir"], np.loadtxt(path, delimiter=",")).tolist()
    assert all(0.0 < float(r[2]) <= 1.0 for r in rows)


def test_predict_csv_with_a_target_column(mnist_run, tmp_path, capsys):
    ds = data.load("mnist-5k")
    path = tmp_path / "labelled.csv"
    np.savetxt(path, np.c_[ds.X_test[:3], ds.y_test[:3]], delimiter=",", fmt="%.6f")
    assert main(["predict", str(mnist_run["dir"] / "model.ffnn"), str(path)]) == 0
    rows = _prediction_rows(capsys.readouterr().out)
    assert len(rows) == 3
    assert [int(r[1]) for r in rows] == _expected_labels(mnist_run["dir"], np.round(ds.X_test[:3], 6)).tolist()


def test_predict_npz(mnist_run, tmp_path, capsys):
    ds = data.load("mnist-5k")
    path = tmp_path / "digits.npz"
    np.savez(path, X=ds.X_test[:7].reshape(7, 28, 28))       # images are flattened
    assert main(["predict", str(mnist_run["dir"] / "model.ffnn"), str(path)]) == 0
    rows = _prediction_rows(capsys.readouterr().out)
    assert len(rows) == 7
    assert [int(r[1]) for r in rows] == _expected_labels(mnist_run["dir"], ds.X_test[:7]).tolist()


# ---------------------------------------------------------------------------
# other data sets and options
# ---------------------------------------------------------------------------

def test_spiral_writes_a_decision_boundary(tmp_path):
    out = tmp_path / "spiral"
    code, stdout, stderr = run_quietly(["train", "--data", "spiral", "--epochs", "3", "--hidden", "8",
                                        "--out", str(out), "--no-progress"])
    assert code == 0, stderr
    assert len(read_history(out)) == 3
    metrics = read_metrics(out)
    assert "test_accuracy" in metrics
    if HAS_MPL:
        assert_png(out / "decision_boundary.png")
        assert "decision_boundary.png" in metrics["figures"]
        assert not (out / "first_layer.png").exists()


def test_regression_writes_test_mse(tmp_path):
    out = tmp_path / "reg"
    code, stdout, stderr = run_quietly(["train", "--data", "bishop-sin", "--loss", "mse", "--epochs", "3",
                                        "--hidden", "8", "--out", str(out), "--no-progress", "--no-plots"])
    assert code == 0, stderr
    metrics = read_metrics(out)
    assert "test_mse" in metrics and "test_accuracy" not in metrics
    model = ffnn.load(out / "model.ffnn")
    ds = data.load("bishop-sin")
    mse = ffnn.metrics.mean_squared_error(ds.y_test, cli.model_predict(model, ds.X_test))
    assert metrics["test_mse"] == pytest.approx(mse, rel=1e-6)
    assert f"test mse: {metrics['test_mse']:.4f}" in stdout
    assert "accuracy" not in read_history(out)[0]


def test_regression_model_predicts_a_one_column_csv(tmp_path, capsys):
    # A model with one input feature should accept a CSV with one column of x values
    # (the natural input for bishop-sin); a second column would be a target.
    out = tmp_path / "reg"
    code, _, stderr = run_quietly(["train", "--data", "bishop-sin", "--loss", "mse", "--epochs", "1",
                                   "--hidden", "4", "--out", str(out), "--no-progress", "--no-plots"])
    assert code == 0, stderr
    path = tmp_path / "x.csv"
    path.write_text("0.1\n0.2\n-0.5\n")
    code = main(["predict", str(out / "model.ffnn"), str(path)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    lines = captured.out.strip().splitlines()
    assert lines[0] == "row,y0" and len(lines) == 4


def test_regression_predict_npz(tmp_path, capsys):
    out = tmp_path / "reg"
    code, _, stderr = run_quietly(["train", "--data", "reg-plane", "--loss", "mse", "--epochs", "1",
                                   "--hidden", "4", "--out", str(out), "--no-progress", "--no-plots"])
    assert code == 0, stderr
    X = np.array([[0.0, 0.0], [1.0, -2.0], [3.0, 3.0]])
    np.savez(tmp_path / "x.npz", X=X)
    assert main(["predict", str(out / "model.ffnn"), str(tmp_path / "x.npz")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "row,y0" and len(lines) == 4
    model = ffnn.load(out / "model.ffnn")
    expected = cli.model_predict(model, X.astype(np.float32))[:, 0]
    got = np.array([float(line.split(",")[1]) for line in lines[1:]])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_config_file_sets_options_and_the_command_line_overrides(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('data = "spiral"\nhidden = [6, 5]\nepochs = 2\nlr = 0.02\nbatch-size = 16\n'
                      'activation = "tanh"\nseed = 3\n')
    out = tmp_path / "cfg"
    code, _, stderr = run_quietly(["train", "--config", str(config), "--epochs", "3", "--out", str(out),
                                   "--no-progress", "--no-plots"])
    assert code == 0, stderr
    cfg = read_metrics(out)["config"]
    assert cfg["data"] == "spiral" and cfg["hidden"] == "6,5" and cfg["activation"] == "tanh"
    assert cfg["lr"] == 0.02 and cfg["batch_size"] == 16 and cfg["seed"] == 3
    assert cfg["epochs"] == 3                                 # the command line wins
    assert len(read_history(out)) == 3
    assert float(read_history(out)[0]["lr"]) == pytest.approx(0.02)
    model = ffnn.load(out / "model.ffnn")
    assert [type(layer).__name__ for layer in model] == ["Linear", "Tanh", "Linear", "Tanh", "Linear"]
    assert model[0].out_features == 6 and model[2].out_features == 5


def test_config_file_with_a_train_table(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('[train]\ndata = "xor"\nepochs = 1\nhidden = "3"\n')
    out = tmp_path / "cfg"
    code, _, stderr = run_quietly(["train", "--config", str(config), "--out", str(out), "--no-progress", "--no-plots"])
    assert code == 0, stderr
    assert read_metrics(out)["config"]["data"] == "xor"


@pytest.mark.parametrize("text, needle", [
    ('epochs = 2\nbogus_option = 1\n', "bogus_option"),
    ('epochs = "three"\n', "three"),
    ('epochs = [1,\n', "not valid TOML"),
    ('dtype = "float16"\n', "float16"),
])
def test_bad_config_file(tmp_path, text, needle):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    out = tmp_path / "out"
    code, _, err = run_quietly(["train", "--config", str(config), "--out", str(out), "--no-progress"])
    assert_user_error(code, err, needle)
    assert not (out / "model.ffnn").exists()


def test_missing_config_file(tmp_path):
    code, _, err = run_quietly(["train", "--config", str(tmp_path / "nope.toml"), "--no-progress"])
    assert_user_error(code, err, "nope.toml")


def _spiral_run(tmp_path, *options, epochs=4):
    out = tmp_path / "sched"
    code, _, stderr = run_quietly(["train", "--data", "spiral", "--n", "200", "--hidden", "8", "--epochs", str(epochs),
                                   "--optimizer", "sgd", "--lr", "0.1", "--out", str(out), "--no-progress",
                                   "--no-plots", *options])
    assert code == 0, stderr
    return read_history(out)


def test_schedule_step_halves_the_lr(tmp_path):
    rows = _spiral_run(tmp_path, "--schedule", "step:2:0.5")
    assert [float(r["lr"]) for r in rows] == pytest.approx([0.1, 0.1, 0.05, 0.05])


def test_schedule_inverse_time(tmp_path):
    rows = _spiral_run(tmp_path, "--schedule", "inverse-time:1:10", epochs=3)
    assert [float(r["lr"]) for r in rows] == pytest.approx([1 / 10, 1 / 11, 1 / 12])


def test_schedule_cosine(tmp_path):
    rows = _spiral_run(tmp_path, "--schedule", "cosine")
    lrs = [float(r["lr"]) for r in rows]
    assert lrs[0] == pytest.approx(0.1)
    assert all(a > b for a, b in zip(lrs, lrs[1:]))
    assert lrs[2] == pytest.approx(0.05)                      # half-way through 4 epochs


def test_schedule_plateau(tmp_path):
    rows = _spiral_run(tmp_path, "--schedule", "plateau:0.5:0", "--lr", "5.0", epochs=5)
    lrs = [float(r["lr"]) for r in rows]
    val = [float(r["val_loss"]) for r in rows]
    # the lr of epoch t+1 is halved exactly when the held-out loss of epoch t did not improve
    best = float("inf")
    for t in range(len(rows) - 1):
        improved = val[t] < best * (1 - 1e-4)
        best = min(best, val[t]) if improved else best
        assert lrs[t + 1] == pytest.approx(lrs[t] if improved else lrs[t] * 0.5)


def test_schedule_momentum(tmp_path):
    rows = _spiral_run(tmp_path, "--optimizer", "momentum", "--schedule", "momentum:0.5:0.9:1", epochs=3)
    assert [float(r["momentum"]) for r in rows] == pytest.approx([0.5, 0.9, 0.9])


def test_schedules_joined_with_plus(tmp_path):
    rows = _spiral_run(tmp_path, "--optimizer", "momentum", "--schedule", "step:1:0.5+momentum:0.5:0.9:2", epochs=3)
    assert [float(r["lr"]) for r in rows] == pytest.approx([0.1, 0.05, 0.025])
    assert [float(r["momentum"]) for r in rows] == pytest.approx([0.5, 0.5, 0.9])


@pytest.mark.parametrize("spec", ["bogus", "step", "step:x", "step:0", "inverse-time:1", "cosine:3",
                                  "momentum:0.5:1.5:1"])
def test_bad_schedule(tmp_path, spec):
    out = tmp_path / "bad"
    code, _, err = run_quietly(["train", "--data", "xor", "--schedule", spec, "--out", str(out), "--no-progress"])
    needle = spec.split(":")[0] if spec != "momentum:0.5:1.5:1" else "1.5"
    assert_user_error(code, err, needle)
    assert not (out / "model.ffnn").exists()


def test_dtype_float64(tmp_path):
    out = tmp_path / "f64"
    code, _, stderr = run_quietly(["train", "--data", "xor", "--hidden", "4", "--epochs", "2", "--dtype", "float64",
                                   "--out", str(out), "--no-progress", "--no-plots"])
    assert code == 0, stderr
    model = ffnn.load(out / "model.ffnn")
    assert all(p.value.dtype == np.float64 for p in model.parameters())
    assert read_metrics(out)["config"]["dtype"] == "float64"
    out32 = tmp_path / "f32"
    assert run_quietly(["train", "--data", "xor", "--hidden", "4", "--epochs", "1", "--out", str(out32),
                        "--no-progress", "--no-plots"])[0] == 0
    assert all(p.value.dtype == np.float32 for p in ffnn.load(out32 / "model.ffnn").parameters())


def test_default_run_reaches_90_percent(tmp_path):
    out = tmp_path / "default"
    code, stdout, stderr = run_quietly(["train", "--out", str(out), "--no-progress"])
    assert code == 0, stderr
    metrics = read_metrics(out)
    assert metrics["config"]["hidden"] == "256" and metrics["epochs"] == 15
    assert metrics["test_accuracy"] >= 0.90
    assert "test accuracy:" in stdout


# ---------------------------------------------------------------------------
# Fashion-MNIST (Debian's dataset-fashion-mnist files)
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fashion():
    if not FASHION_DIR.is_dir():
        pytest.skip(f"{FASHION_DIR} is absent (Debian's dataset-fashion-mnist package)")
    return data.load("fashion-mnist")


def test_fashion_mnist_loads(fashion):
    ds = fashion
    assert ds.X_train.shape == (60000, 784) and ds.X_test.shape == (10000, 784)
    assert ds.y_train.shape == (60000,) and ds.y_test.shape == (10000,)
    assert ds.n_classes == 10 and ds.image_shape == (28, 28) and len(ds.class_names) == 10
    assert ds.X_train.dtype == np.float32 and ds.X_train.min() >= 0.0 and ds.X_train.max() <= 1.0
    assert np.bincount(ds.y_train).tolist() == [6000] * 10
    assert np.bincount(ds.y_test).tolist() == [1000] * 10


def test_fashion_mnist_trains_one_epoch(fashion, tmp_path, monkeypatch):
    # `ffnn train --data fashion-mnist --hidden 256 --epochs 1`, scaled down so that the test
    # stays fast on 2 shared cores: hidden 64 on the first 6,000 training / 1,000 test images
    # (the full 60,000 take 3 s alone but up to 16 s on a busy machine).
    ds = fashion
    small = data.Dataset(ds.name, ds.X_train[:6000], ds.y_train[:6000], ds.X_test[:1000], ds.y_test[:1000],
                         ds.task, ds.n_classes, ds.image_shape, ds.class_names, ds.description)
    real_load = data.load
    monkeypatch.setattr(data, "load", lambda name, **kw: small if name == "fashion-mnist" else real_load(name, **kw))
    lines = []
    metrics = run_training(TrainConfig(data="fashion-mnist", hidden="64", epochs=1, out=str(tmp_path / "f"),
                                       progress=False, plots=False), print_fn=lines.append)
    assert metrics["epochs"] == 1
    assert metrics["test_accuracy"] > 0.7
    assert any("6,000 train / 1,000 test" in line for line in lines), lines
    model = ffnn.load(tmp_path / "f" / "model.ffnn")
    assert model.metadata["class_names"] == list(ds.class_names)
    acc = ffnn.metrics.accuracy(small.y_test, cli.model_predict(model, small.X_test).argmax(axis=1))
    assert acc == pytest.approx(metrics["test_accuracy"])


# ---------------------------------------------------------------------------
# user errors: exit 2, one line, no traceback; --debug shows the exception
# ---------------------------------------------------------------------------

@pytest.fixture
def corrupt_model(tmp_path):
    path = tmp_path / "corrupt.ffnn"
    path.write_bytes(np.random.default_rng(0).bytes(4000))
    return path


@pytest.fixture
def csv3(tmp_path):
    path = tmp_path / "three.csv"
    np.savetxt(path, np.ones((2, 3)), delimiter=",")
    return path


ERROR_CASES = [
    ("unknown data set", lambda d: ["train", "--data", "no-such-set", "--out", str(d / "o"), "--no-progress"], "no-such-set"),
    ("bad hidden", lambda d: ["train", "--hidden", "1,a", "--out", str(d / "o"), "--no-progress"], "1,a"),
    ("negative lr", lambda d: ["train", "--lr", "-1", "--out", str(d / "o"), "--no-progress"], "-1"),
    ("bad activation", lambda d: ["train", "--activation", "swish", "--out", str(d / "o"), "--no-progress"], "swish"),
    ("zero batch size", lambda d: ["train", "--data", "xor", "--batch-size", "0", "--out", str(d / "o"), "--no-progress"], "0"),
    ("negative epochs", lambda d: ["train", "--data", "xor", "--epochs", "-3", "--out", str(d / "o"), "--no-progress"], "-3"),
    ("val fraction", lambda d: ["train", "--data", "xor", "--val-fraction", "1.5", "--out", str(d / "o"), "--no-progress"], "1.5"),
    ("ce on regression", lambda d: ["train", "--data", "bishop-sin", "--out", str(d / "o"), "--no-progress"], "mse"),
    ("missing model", lambda d: ["evaluate", str(d / "missing.ffnn")], "missing.ffnn"),
    ("corrupt model evaluate", lambda d: ["evaluate", str(d / "corrupt.ffnn")], "corrupt.ffnn"),
    ("corrupt model predict", lambda d: ["predict", str(d / "corrupt.ffnn"), str(d / "three.csv")], "corrupt.ffnn"),
    ("missing input", lambda d: ["predict", str(d / "mnist" / "model.ffnn"), str(d / "nope.csv")], "nope.csv"),
    ("wrong feature count", lambda d: ["predict", str(d / "mnist" / "model.ffnn"), str(d / "three.csv")], "3"),
    ("evaluate on other data", lambda d: ["evaluate", str(d / "mnist" / "model.ffnn"), "--data", "spiral"], "spiral"),
    ("data info unknown", lambda d: ["data", "info", "no-such-set"], "no-such-set"),
]


@pytest.fixture
def error_dir(tmp_path, corrupt_model, csv3, mnist_run):
    (tmp_path / "mnist").symlink_to(mnist_run["dir"], target_is_directory=True)
    return tmp_path


@pytest.mark.parametrize("case, argv, needle", ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_user_errors_exit_2_with_one_line(error_dir, case, argv, needle):
    code, _, err = run_quietly(argv(error_dir))
    assert_user_error(code, err, needle)


@pytest.mark.parametrize("case, argv, needle", ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_debug_lets_the_exception_propagate(error_dir, case, argv, needle):
    with pytest.raises(FfnnError) as info:
        run_quietly(["--debug", *argv(error_dir)])
    assert needle in str(info.value)


def test_corrupted_bytes_inside_a_real_model_file(mnist_run, tmp_path):
    raw = bytearray((mnist_run["dir"] / "model.ffnn").read_bytes())
    middle = len(raw) // 2
    raw[middle:middle + 64] = bytes(64)
    path = tmp_path / "flipped.ffnn"
    path.write_bytes(bytes(raw))
    code, _, err = run_quietly(["evaluate", str(path)])
    assert_user_error(code, err, "flipped.ffnn")
    code, _, err = run_quietly(["predict", str(path), str(path)])
    assert_user_error(code, err, "flipped.ffnn")


def test_unknown_experiment(tmp_path):
    try:
        import ffnn.experiments  # noqa: F401
    except Exception as exc:  # pragma: no cover - depends on the other modules' state
        pytest.skip(f"ffnn.experiments does not import: {exc}")
    code, _, err = run_quietly(["experiment", "nope", "--out", str(tmp_path / "x")])
    assert_user_error(code, err, "nope")
    with pytest.raises(FfnnError, match="nope"):
        run_quietly(["--debug", "experiment", "nope", "--out", str(tmp_path / "x")])


def test_diverging_run_exits_2_and_writes_no_model(tmp_path):
    out = tmp_path / "div"
    code, _, err = run_quietly(["train", "--data", "reg-plane", "--loss", "mse", "--optimizer", "sgd", "--lr", "1e6",
                                "--epochs", "3", "--out", str(out), "--no-progress"])
    assert_user_error(code, err, "diverged")
    assert "1e+06" in err
    assert not (out / "model.ffnn").exists()
    assert not (out / "metrics.json").exists()


def test_failing_run_writes_no_model(tmp_path):
    out = tmp_path / "fail"
    code, _, err = run_quietly(["train", "--lr", "-1", "--out", str(out), "--no-progress"])
    assert_user_error(code, err, "-1")
    assert not (out / "model.ffnn").exists()


def test_failing_run_leaves_an_existing_run_directory_untouched(tmp_path):
    out = tmp_path / "old"
    out.mkdir()
    for name in ("model.ffnn", "history.csv", "metrics.json"):
        (out / name).write_bytes(b"previous run " + name.encode())
    for argv in (["train", "--lr", "-1"],
                 ["train", "--data", "reg-plane", "--loss", "mse", "--optimizer", "sgd", "--lr", "1e6", "--epochs", "2"]):
        code, _, err = run_quietly([*argv, "--out", str(out), "--overwrite", "--no-progress"])
        assert code == 2, err
        for name in ("model.ffnn", "history.csv", "metrics.json"):
            assert (out / name).read_bytes() == b"previous run " + name.encode()
        assert sorted(os.listdir(out)) == ["history.csv", "metrics.json", "model.ffnn"]


@pytest.mark.skipif(not HAS_MPL, reason="matplotlib not installed")
def test_run_failing_while_writing_figures_leaves_the_previous_run_intact(tmp_path, monkeypatch):
    # A disk-full error while drawing the figures (after training succeeded) is a failing run:
    # exit 2, and the previous run's files must not be replaced by a half-written new run
    # (new model.ffnn and history.csv next to the old metrics.json).
    out = tmp_path / "old"
    out.mkdir()
    for name in ("model.ffnn", "history.csv", "metrics.json"):
        (out / name).write_bytes(b"previous run " + name.encode())

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ffnn.plots, "confusion_figure", disk_full)
    code, _, err = run_quietly(["train", "--data", "xor", "--hidden", "4", "--epochs", "1", "--out", str(out),
                                "--overwrite", "--no-progress"])
    assert_user_error(code, err, "No space left on device")
    for name in ("model.ffnn", "history.csv", "metrics.json"):
        assert (out / name).read_bytes() == b"previous run " + name.encode(), f"{name} was replaced"


# ---------------------------------------------------------------------------
# gradcheck, data, help
# ---------------------------------------------------------------------------

def test_gradcheck_passes(capsys):
    assert main(["gradcheck"]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "FAIL" not in out


def test_gradcheck_other_architectures(capsys):
    assert main(["gradcheck", "--hidden", "3", "--activation", "sigmoid", "--loss", "mse", "--outputs", "2"]) == 0
    assert "PASS" in capsys.readouterr().out
    assert main(["gradcheck", "--hidden", "4", "--loss", "bce"]) == 0
    assert "PASS" in capsys.readouterr().out


def test_data_list(capsys):
    assert main(["data", "list"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.strip().splitlines()]
    assert {"mnist-5k", "spiral", "fashion-mnist", "xor", "bishop-sin", "reg-plane"} <= set(names)
    assert names == [n for n, _ in data.list_datasets()]


def test_data_info(capsys):
    assert main(["data", "info", "mnist-5k"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("mnist-5k:")
    assert "4000 train / 1000 test, 784 features" in out
    assert "10 classes" in out


def test_data_info_without_a_name(capsys):
    assert main(["data", "info"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ffnn: error:") and "data set name" in err


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "train" in capsys.readouterr().out


@pytest.mark.parametrize("argv, needle", [
    (["train", "--loss", "hinge"], "hinge"),
    (["train", "--epochs", "many"], "many"),
    (["train", "--no-such-option"], "--no-such-option"),
    (["evaluate"], "model"),
    (["no-such-command"], "no-such-command"),
    (["playground", "--port", "99999"], "99999"),
])
def test_argparse_errors_are_one_line_and_exit_2(capsys, argv, needle):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert_user_error(2, capsys.readouterr().err, needle)


def test_python_dash_m_ffnn_help():
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    result = subprocess.run([sys.executable, "-m", "ffnn", "--help"], capture_output=True, text=True,
                            env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    for command in ("train", "evaluate", "predict", "gradcheck", "data", "experiment"):
        assert command in result.stdout
    assert result.stdout.startswith("usage: ffnn")


@pytest.mark.parametrize("argv", [["--debug", "train", "--lr", "-1"], ["train", "--lr", "-1", "--debug"]],
                         ids=["before-command", "after-command"])
def test_debug_flag_before_or_after_the_command_shows_the_exception(argv, tmp_path):
    from ffnn.errors import ConfigError
    with pytest.raises(ConfigError, match="-1"):
        main(argv + ["--out", str(tmp_path / "run"), "--no-progress"])


# ---------------------------------------------------------------------------
# runs are never lost or mixed
# ---------------------------------------------------------------------------

XOR_QUICK = ["train", "--data", "xor", "--hidden", "4", "--epochs", "1", "--no-progress", "--no-plots"]


def ffnn_process(args, cwd, **kwargs):
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen([sys.executable, "-m", "ffnn", *args], cwd=cwd, env=env, text=True, **kwargs)


def test_parallel_runs_started_together_never_share_a_directory(tmp_path):
    procs = [ffnn_process(XOR_QUICK + ["--seed", str(k)], tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for k in range(4)]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err for _, err in results]
    runs = sorted(p for p in (tmp_path / "runs").iterdir() if not p.name.startswith("."))
    assert len(runs) == 4, runs
    seeds = sorted(read_metrics(run)["config"]["seed"] for run in runs)
    assert seeds == [0, 1, 2, 3]                      # each run wrote its own directory, whole
    assert not [p for p in (tmp_path / "runs").iterdir() if p.name.startswith(".")]


def test_quick_runs_in_the_same_second_get_new_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for _ in range(3):
        code, _, err = run_quietly(XOR_QUICK)
        assert code == 0, err
    names = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert len(set(names)) == 3
    stamps = {n.split("-")[0] + "-" + n.split("-")[1] for n in names}
    assert all(n.count("-") in (1, 2) for n in names), names
    assert len(stamps) <= 3


def test_an_existing_out_is_refused_before_training(tmp_path, monkeypatch):
    out = tmp_path / "run"
    assert run_quietly(XOR_QUICK + ["--out", str(out)])[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    monkeypatch.setattr(cli.Recipe, "prepare", lambda *a, **k: pytest.fail("trained although --out exists"))
    code, _, err = run_quietly(XOR_QUICK + ["--out", str(out)])
    assert_user_error(code, err, "--overwrite")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_overwrite_replaces_the_run_whole(tmp_path):
    out = tmp_path / "run"
    assert run_quietly(["train", "--data", "xor", "--hidden", "4", "--epochs", "1", "--no-progress",
                        "--out", str(out)])[0] == 0
    (out / "notes.txt").write_text("left from before")
    code, _, err = run_quietly(XOR_QUICK + ["--epochs", "2", "--out", str(out), "--overwrite"])
    assert code == 0, err
    assert sorted(os.listdir(out)) == ["history.csv", "metrics.json", "model.ffnn"]    # no stale PNG, no notes
    assert read_metrics(out)["epochs"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["run"]          # nothing set aside is left


def test_overwrite_refuses_a_directory_that_is_not_a_run(tmp_path):
    out = tmp_path / "documents"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    code, _, err = run_quietly(XOR_QUICK + ["--out", str(out), "--overwrite"])
    assert_user_error(code, err, "not an ffnn run directory")
    assert (out / "thesis.tex").read_text() == "precious"


def test_an_empty_out_directory_is_used(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    code, _, err = run_quietly(XOR_QUICK + ["--out", str(out)])
    assert code == 0, err
    assert (out / "model.ffnn").is_file()


@pytest.mark.parametrize("make_bad", [
    lambda d: (d / "file").write_text("x") and d / "file",
    lambda d: (d / "file").write_text("x") and d / "file" / "run",
], ids=["out-is-a-file", "out-under-a-file"])
def test_a_bad_out_path_fails_before_training(tmp_path, monkeypatch, make_bad):
    out = make_bad(tmp_path)
    monkeypatch.setattr(cli.Recipe, "prepare", lambda *a, **k: pytest.fail("trained although --out is bad"))
    code, _, err = run_quietly(XOR_QUICK + ["--out", str(out)])
    assert_user_error(code, err, "file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_an_unwritable_out_fails_before_training(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    code, _, err = run_quietly(XOR_QUICK + ["--out", str(locked / "run")])
    assert_user_error(code, err, "ermission")


def test_stale_staging_directories_are_removed_by_the_next_run_live_ones_kept(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runs = tmp_path / "runs"
    runs.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale = runs / f".20200101-000000.{dead_pid}-0123456789ab.staging"
    stale_aside = runs / f".20200101-000000.{dead_pid}-ba9876543210.old"
    live = runs / f".20200101-000001.{os.getpid()}-0123456789ab.staging"     # a run still writing
    user = runs / ".my-notes"
    for d in (stale, stale_aside, live, user):
        d.mkdir()
        (d / "model.ffnn").write_bytes(b"half")
    code, _, err = run_quietly(XOR_QUICK)
    assert code == 0, err
    assert not stale.exists() and not stale_aside.exists()
    assert live.exists() and user.exists()


def test_a_closed_stdout_does_not_stop_the_run(tmp_path):
    """ffnn train ... | head -3: the reader goes away, the run still finishes and writes its files."""
    out = tmp_path / "run"
    proc = ffnn_process(["train", "--data", "xor", "--hidden", "4", "--epochs", "400", "--batch-size", "1000",
                         "--no-progress", "--no-plots", "--out", str(out)], tmp_path,
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    head = [proc.stdout.readline() for _ in range(3)]
    proc.stdout.close()                                   # what head does after three lines
    err = proc.stderr.read()
    assert proc.wait(timeout=300) == 0, err
    assert head[0].startswith("run: ")
    assert "Broken pipe" not in err and "Traceback" not in err, err
    assert read_metrics(out)["epochs"] == 400
    assert len(read_history(out)) == 400


def _interrupt_during_epoch_2(out, tmp_path, extra=()):
    import signal
    proc = ffnn_process(["train", "--data", "spiral", "--n", "20000", "--hidden", "16", "--batch-size", "1",
                         "--epochs", "5", "--no-progress", "--out", str(out), *extra], tmp_path,
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines = []
    while not (lines and lines[-1].startswith("epoch")):
        lines.append(proc.stdout.readline())
        assert lines[-1], proc.stderr.read()
    time.sleep(0.3)                     # into a later epoch's batches (an epoch of 18,000 steps takes >1 s)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=300)
    return proc.returncode, "".join(lines) + stdout, stderr


def test_ctrl_c_saves_the_run_marks_the_partial_epoch_and_exits_130(tmp_path):
    out = tmp_path / "run"
    code, stdout, stderr = _interrupt_during_epoch_2(out, tmp_path)
    assert code == 130, stderr
    assert "Traceback" not in stderr
    rows = read_history(out)
    whole = len(rows) - 1                       # how many epochs ended before the signal (>= 1)
    assert whole >= 1 and [r["partial"] for r in rows] == ["0"] * whole + ["1"], rows
    metrics = read_metrics(out)
    assert metrics["interrupted"] is True and metrics["epochs"] == whole
    model = ffnn.load(out / "model.ffnn")                        # the weights are kept
    assert model.metadata["task"] == "classification"
    assert f"epoch {whole + 1:>3}/5 (partial)" in stdout
    if HAS_MPL:
        assert_png(out / "curves.png")
    # the state is kept: the run continues, and the finished run replaces the interrupted one
    code, stdout, stderr = run_quietly(["train", "--resume", str(out), "--no-progress"])
    assert code == 0, stderr
    rows = read_history(out)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4, 5] and "partial" not in rows[0]
    assert read_metrics(out)["interrupted"] is False


def test_history_marks_partial_records_and_counts_whole_epochs(tmp_path):
    history = ffnn.History()
    history.append({"epoch": 1, "loss": 0.5})
    history.append({"epoch": 2, "loss": 0.1, "partial": 1.0})
    assert history.epochs == 1 and len(history) == 2
    rows = list(csv.DictReader(history.to_csv(tmp_path / "h.csv").read_text().splitlines()))
    assert [r["partial"] for r in rows] == ["0", "1"]


@pytest.mark.skipif(not HAS_MPL, reason="matplotlib not installed")
def test_the_curves_do_not_join_a_partial_epoch(tmp_path, monkeypatch):
    import matplotlib.figure
    drawn = []
    original = matplotlib.axes.Axes.plot

    def spy(self, x, y, *args, **kwargs):
        drawn.append((list(x), list(y), kwargs.get("label", "")))
        return original(self, x, y, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "plot", spy)
    records = [{"epoch": 1, "loss": 0.5, "accuracy": 0.6}, {"epoch": 2, "loss": 0.3, "accuracy": 0.8},
               {"epoch": 3, "loss": 0.01, "accuracy": 1.0, "partial": 1.0}]
    ffnn.plots.history_figure(records, tmp_path / "curves.png")
    curves = [d for d in drawn if d[2].startswith("training")]
    assert all(x == [1, 2] for x, _, _ in curves)                # the partial epoch is not on the curve
    partial = [d for d in drawn if "partial" in d[2]]
    assert [x for x, _, _ in partial] == [[3], [3]]


def test_evaluate_works_from_another_directory(tmp_path, monkeypatch):
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir()
    elsewhere.mkdir()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    np.savetxt(work / "points.csv", np.column_stack([X, (X[:, 0] > 0).astype(int)]), delimiter=",",
               header="a,b,c,label", comments="")
    monkeypatch.chdir(work)
    code, _, err = run_quietly(["train", "--data", "points.csv", "--hidden", "4", "--epochs", "2", "--no-progress",
                                "--no-plots", "--out", "run"])
    assert code == 0, err
    model = ffnn.load(work / "run" / "model.ffnn")
    assert Path(model.metadata["data"]).is_absolute()
    monkeypatch.chdir(elsewhere)
    code, out, err = run_quietly(["evaluate", str(work / "run" / "model.ffnn")])
    assert code == 0, err
    assert "accuracy" in out


@pytest.mark.parametrize("argv, needle", [
    (["train", "--seed", "-1", "--data", "xor"], "seed"),
    (["train", "--hidden", "10000000", "--no-progress"], "GiB"),
    (["train", "--data", "xor", "--hidden", "10000000", "--no-progress"], "GiB"),
])
def test_impossible_options_are_one_line_before_anything_is_allocated(tmp_path, argv, needle):
    code, _, err = run_quietly(argv + ["--out", str(tmp_path / "run")])
    assert_user_error(code, err, needle)
    assert not (tmp_path / "run").exists()


def test_a_run_refused_before_its_first_checkpoint_leaves_nothing_behind(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, stderr = run_quietly(["train", "--data", "xor", "--n", "8", "--epochs", "1", "--no-progress",
                                   "--no-plots"])                   # 4 samples: no room for a held-out split
    assert code == 2 and stderr.startswith("ffnn: error: validation fraction"), stderr
    assert list((tmp_path / "runs").iterdir()) == []               # no run, no state kept for --resume
