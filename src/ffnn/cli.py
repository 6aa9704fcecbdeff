"""The ``ffnn`` command: train, evaluate, predict, gradcheck, data, experiment, playground.

Errors a user can cause (unknown data set, bad option, missing or corrupt file) print one
line ``ffnn: error: ...`` and exit with status 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import tomllib
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

import numpy as np

__all__ = ["main", "TrainConfig", "run_training"]

LOSSES = ("ce", "mse", "bce")
PREPROCESS = ("auto", "none", "minmax", "standard")


@dataclass
class TrainConfig:
    """Every option of ``ffnn train`` (also the keys accepted in ``--config FILE.toml``)."""

    data: str = "mnist-5k"
    target: str | None = None
    hidden: str = "256"
    activation: str = "relu"
    loss: str = "ce"
    optimizer: str = "momentum"
    lr: float | None = None
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 64
    epochs: int = 15
    schedule: str | None = None
    dropout: float = 0.0
    init: str | None = None
    dtype: str = "float32"
    val_fraction: float = 0.1
    early_stopping: int | None = None
    preprocess: str = "auto"
    seed: int = 0
    out: str | None = None
    n: int | None = None
    noise: float | None = None
    test_fraction: float | None = None
    features: str | None = None
    plots: bool = True
    progress: bool = True


DEFAULT_LR = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "adam": 1e-3, "rmsprop": 1e-3, "adagrad": 0.05}


# --- building blocks -----------------------------------------------------------------

def _parse_hidden(text: str) -> list[int]:
    from .errors import ConfigError
    text = str(text).strip()
    if text in ("", "0", "none"):
        return []
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise ConfigError(f"--hidden must be comma-separated layer sizes such as 100 or 100,50; got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise ConfigError(f"--hidden sizes must be positive integers, got {text!r}")
    return sizes


def _parse_activations(text: str, n_hidden: int) -> str | list[str]:
    from .errors import ConfigError
    from .layers import ACTIVATIONS
    parts = [p.strip() for p in str(text).split(",")]
    for p in parts:
        if p not in ACTIVATIONS:
            raise ConfigError(f"unknown activation {p!r}; expected one of {', '.join(ACTIVATIONS)}")
    if len(parts) == 1:
        return parts[0]
    if len(parts) != n_hidden:
        raise ConfigError(f"--activation lists {len(parts)} activations for {n_hidden} hidden layers; "
                          "give one, or one per hidden layer")
    return parts


def _optimizer_names() -> tuple[str, ...]:
    from .optim import NAMES
    return NAMES


def make_schedule(spec: str | None, optimizer: Any, epochs: int) -> list:
    """Schedules for a ``--schedule`` spec: ``step:N:GAMMA``, ``inverse-time:A:B``,
    ``exponential:GAMMA``, ``plateau[:FACTOR[:PATIENCE]]``, ``cosine``, ``momentum:START:END:AFTER``;
    several joined with ``+``."""
    from . import schedules
    from .errors import ConfigError
    if not spec:
        return []
    result = []
    for part in str(spec).split("+"):
        kind, *args = part.strip().split(":")
        try:
            values = [float(a) for a in args]
        except ValueError:
            raise ConfigError(f"--schedule {part!r}: the arguments after {kind!r} must be numbers") from None
        try:
            if kind == "step" and len(values) in (1, 2):
                result.append(schedules.StepLR(optimizer, int(values[0]), *values[1:]))
            elif kind == "inverse-time" and len(values) == 2:
                result.append(schedules.InverseTimeLR(optimizer, *values))
            elif kind == "exponential" and len(values) == 1:
                result.append(schedules.ExponentialLR(optimizer, values[0]))
            elif kind == "plateau" and len(values) <= 2:
                kwargs = {"factor": values[0]} if values else {}
                if len(values) == 2:
                    kwargs["patience"] = int(values[1])
                result.append(schedules.ReduceLROnPlateau(optimizer, **kwargs))
            elif kind == "cosine" and not values:
                result.append(schedules.CosineLR(optimizer, t_max=max(epochs, 1)))
            elif kind == "momentum" and len(values) == 3:
                result.append(schedules.MomentumSchedule(optimizer, values[0], values[1], int(values[2])))
            else:
                raise ConfigError(
                    f"unknown --schedule {part!r}; expected step:N[:GAMMA], inverse-time:A:B, exponential:GAMMA, "
                    "plateau[:FACTOR[:PATIENCE]], cosine or momentum:START:END:AFTER (join several with +)")
        except TypeError as exc:
            raise ConfigError(f"--schedule {part!r}: {exc}") from None
    return result


def _load_config(path: str | None) -> dict[str, Any]:
    from .errors import ConfigError
    if path is None:
        return {}
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--config file {path!r} does not exist")
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--config {path}: not valid TOML: {exc}") from None
    doc = doc.get("train", doc)
    known = {f.name: f for f in fields(TrainConfig)}
    out = {}
    for key, value in doc.items():
        name = key.replace("-", "_")
        if name not in known:
            raise ConfigError(f"--config {path}: unknown option {key!r}; known: {', '.join(known)}")
        if name == "hidden" and isinstance(value, list):
            value = ",".join(str(v) for v in value)
        out[name] = value
    return out


def _check_config_types(cfg: TrainConfig) -> None:
    from .errors import ConfigError
    expect = {"lr": float, "momentum": float, "weight_decay": float, "dropout": float, "val_fraction": float,
              "batch_size": int, "epochs": int, "seed": int, "early_stopping": int, "n": int, "noise": float,
              "test_fraction": float}
    for name, kind in expect.items():
        value = getattr(cfg, name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
            raise ConfigError(f"{name.replace('_', '-')} must be {'an integer' if kind is int else 'a number'}, got {value!r}")
    for name, choices in (("loss", LOSSES), ("optimizer", _optimizer_names()), ("preprocess", PREPROCESS),
                          ("dtype", ("float32", "float64"))):
        if getattr(cfg, name) not in choices:
            raise ConfigError(f"--{name} must be one of {', '.join(choices)}; got {getattr(cfg, name)!r}")


def _make_scaler(kind: str, dataset: Any):
    from .data import MinMaxScaler, StandardScaler
    if kind == "auto":
        kind = "none" if dataset.image_shape is not None else "standard"
    if kind == "none":
        return None
    return (MinMaxScaler() if kind == "minmax" else StandardScaler()).fit(dataset.X_train)


def _targets_for(loss_name: str, dataset: Any, y: np.ndarray, dtype: Any) -> np.ndarray:
    from .data import one_hot
    if dataset.task == "classification":
        if loss_name == "ce":
            return y
        if loss_name == "bce" and dataset.n_classes == 2:
            return y.astype(dtype)
        return one_hot(y, dataset.n_classes, dtype=dtype)
    return y.astype(dtype)


def _output_size(loss_name: str, dataset: Any) -> int:
    if dataset.task == "classification":
        return 1 if loss_name == "bce" and dataset.n_classes == 2 else dataset.n_classes
    return 1 if dataset.y_train.ndim == 1 else dataset.y_train.shape[1]


def make_loss(name: str, task: str):
    from . import losses
    from .errors import ConfigError
    if task == "regression" and name != "mse":
        raise ConfigError(f"--loss {name} needs class labels, but this data set is a regression task; use --loss mse")
    return {"ce": losses.SoftmaxCrossEntropy, "mse": losses.EuclideanLoss, "bce": losses.BinaryCrossEntropy}[name]()


def _parse_features(text: str | None, dataset: Any) -> list[str] | None:
    from .data.features import check_feature_names
    from .errors import ConfigError
    if not text:
        return None
    if dataset.n_features != 2:
        raise ConfigError(f"--features applies to 2-D data, but {dataset.name!r} has {dataset.n_features} features")
    return check_feature_names([part.strip() for part in str(text).split(",")])


def _with_features(dataset: Any, names: list[str]) -> Any:
    import dataclasses
    from .data.features import plane_features
    return dataclasses.replace(dataset, X_train=plane_features(dataset.X_train, names),
                               X_test=plane_features(dataset.X_test, names))


def model_predict(model: Any, X: np.ndarray) -> np.ndarray:
    """Apply the model's stored feature map and preprocessing, then a forward pass in evaluation mode.

    ``X`` holds the raw inputs (for a model trained with ``--features``, the 2-D points).
    """
    from .data import scaler_from_dict
    from .data.features import plane_features
    names = model.metadata.get("features")
    if names:
        X = plane_features(X, names)
    prep = model.metadata.get("preprocessing")
    if prep:
        X = scaler_from_dict(prep).transform(X)
    return model.predict(X.astype(model.dtype, copy=False))


def _scores(model: Any, output: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    from .metrics import accuracy, mean_squared_error, predicted_labels
    if model.metadata.get("task") == "classification":
        return {"accuracy": accuracy(y, predicted_labels(output))}
    return {"mse": mean_squared_error(y, output)}


def _report(model: Any, output: np.ndarray, y: np.ndarray, print_fn: Any = print) -> None:
    from .metrics import classification_table, mean_squared_error, predicted_labels
    if model.metadata.get("task") == "classification":
        print_fn(classification_table(y, predicted_labels(output), model.metadata["n_classes"],
                                      model.metadata.get("class_names")))
    else:
        print_fn(f"mean squared error: {mean_squared_error(y, output):.6g} on {len(y)} samples")


def _run_dir(out: str | None) -> Path:
    """The run directory (created when the run's files are complete); its parent is created now."""
    path = Path(out) if out else Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def run_training(cfg: TrainConfig, print_fn: Any = print) -> dict[str, Any]:
    """Train as ``ffnn train`` does; write the run directory; return the metrics dict."""
    from . import data, fit, save
    from .builder import mlp

    _check_config_types(cfg)
    options = {k: v for k, v in (("n", cfg.n), ("noise", cfg.noise), ("test_fraction", cfg.test_fraction))
               if v is not None}
    if cfg.target is not None:
        options["target"] = cfg.target
    dataset = data.load(cfg.data, seed=cfg.seed, **options)
    raw_test = dataset.X_test if cfg.features else None
    feature_names = _parse_features(cfg.features, dataset)
    if feature_names:
        dataset = _with_features(dataset, feature_names)
    dtype = np.dtype(cfg.dtype)
    hidden = _parse_hidden(cfg.hidden)
    activation = _parse_activations(cfg.activation, len(hidden))
    loss = make_loss(cfg.loss, dataset.task)
    scaler = _make_scaler(cfg.preprocess, dataset)
    X_train = scaler.transform(dataset.X_train) if scaler else dataset.X_train
    X_test = scaler.transform(dataset.X_test) if scaler else dataset.X_test
    y_train = _targets_for(cfg.loss, dataset, dataset.y_train, dtype)
    model = mlp([dataset.n_features, *hidden, _output_size(cfg.loss, dataset)], activation,
                dropout=cfg.dropout, init=cfg.init, dtype=dtype, seed=cfg.seed)
    model.metadata.update({
        "task": dataset.task, "n_classes": dataset.n_classes, "loss": cfg.loss,
        "class_names": list(dataset.class_names) if dataset.class_names else None,
        "image_shape": list(dataset.image_shape) if dataset.image_shape else None,
        "preprocessing": scaler.to_dict() if scaler else None, "data": cfg.data,
        "data_options": {**options, "seed": cfg.seed},
        "features": feature_names,
        "n_features": dataset.n_features})
    # regression targets are unbounded: a smaller default step keeps the first epochs stable
    lr = cfg.lr if cfg.lr is not None else DEFAULT_LR[cfg.optimizer] / (5 if dataset.task == "regression" else 1)
    from .optim import by_name
    optimizer = by_name(cfg.optimizer, model.parameters(), lr, cfg.momentum, cfg.weight_decay)
    schedule = make_schedule(cfg.schedule, optimizer, cfg.epochs)
    run_dir = _run_dir(cfg.out)

    print_fn(f"data: {dataset.name}: {len(X_train):,} train / {len(X_test):,} test samples, "
             f"{dataset.n_features} features, {dataset.task}"
             + (f", {dataset.n_classes} classes" if dataset.n_classes else ""))
    print_fn(f"model: {dataset.n_features}-" + "-".join(map(str, hidden + [model.out_features]))
             + f" {activation if isinstance(activation, str) else ','.join(activation)}, "
             f"{model.num_parameters():,} parameters, {cfg.dtype}; loss {cfg.loss}; {optimizer!r}")
    validation = cfg.val_fraction if cfg.val_fraction and cfg.val_fraction > 0 else None

    def log_epoch(record: dict[str, float]) -> None:
        parts = [f"epoch {int(record['epoch']):>3}/{cfg.epochs}", f"loss {record['loss']:.4f}"]
        for key in ("accuracy", "val_loss", "val_accuracy"):
            if key in record:
                parts.append(f"{key.replace('_', ' ')} {record[key]:.4f}")
        parts.append(f"lr {record['lr']:.3g}")
        parts.append(f"{record['seconds']:.2f}s")
        print_fn("  ".join(parts))

    from .train import Callback

    class _Printer(Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
            log_epoch(logs)

    t0 = time.perf_counter()
    history = fit(model, loss, optimizer, X_train, y_train, epochs=cfg.epochs, batch_size=cfg.batch_size,
                  validation=validation, schedule=schedule, callbacks=[_Printer()],
                  early_stopping=cfg.early_stopping, seed=cfg.seed, progress=cfg.progress)
    train_seconds = time.perf_counter() - t0
    if history.interrupted:
        print_fn("training interrupted; keeping the weights reached so far")

    output = model.predict(X_test)
    metrics: dict[str, Any] = {f"test_{k}": v for k, v in _scores(model, output, dataset.y_test).items()}
    metrics.update({"train_seconds": round(train_seconds, 3), "epochs": history.epochs,
                    "stopped_early": history.stopped_early, "interrupted": history.interrupted,
                    "best_epoch": history.best_epoch, "final": history.records[-1] if history.records else {},
                    "config": asdict(cfg) | {"lr": lr}, "ffnn_version": _version()})
    print_fn(f"trained {history.epochs} epochs in {train_seconds:.1f}s")
    _report(model, output, dataset.y_test, print_fn)

    # Everything is written to a staging directory and moved into the run directory only when
    # all of it succeeded: a failed run never leaves a mix of new and old files.
    stage = Path(tempfile.mkdtemp(prefix=".ffnn-run-", dir=run_dir.parent))
    try:
        save(model, stage / "model.ffnn")
        history.to_csv(stage / "history.csv")
        figures = _figures(cfg, model, dataset, raw_test, output, history, stage, print_fn)
        metrics["figures"] = [f.name for f in figures]
        (stage / "metrics.json").write_text(json.dumps(metrics, indent=1, default=float), encoding="utf-8")
        run_dir.mkdir(parents=True, exist_ok=True)
        for item in stage.iterdir():
            os.replace(item, run_dir / item.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    print_fn(f"wrote {run_dir}/: model.ffnn, history.csv, metrics.json"
             + (", " + ", ".join(f.name for f in figures) if figures else ""))
    key = "test_accuracy" if "test_accuracy" in metrics else "test_mse"
    print_fn(f"{key.replace('_', ' ')}: {metrics[key]:.4f}")
    return metrics


def _figures(cfg, model, dataset, raw_test, output, history, run_dir, print_fn) -> list[Path]:
    from . import plots
    from .metrics import confusion_matrix, predicted_labels
    if not cfg.plots:
        return []
    if not plots.available():
        print_fn("plots skipped: matplotlib is not installed (pip install 'ffnn[plots]')")
        return []
    figures = [plots.history_figure(history.records, run_dir / "curves.png")]
    if dataset.task == "classification":
        cm = confusion_matrix(dataset.y_test, predicted_labels(output), dataset.n_classes)
        figures.append(plots.confusion_figure(cm, run_dir / "confusion.png", dataset.class_names))
    if dataset.n_features == 2 or model.metadata.get("features"):
        points_test = raw_test if raw_test is not None else dataset.X_test

        def predict(grid: np.ndarray) -> np.ndarray:
            out = model_predict(model, grid.astype(np.float32))
            if dataset.task == "classification":
                if out.shape[1] == 1:
                    return 1 / (1 + np.exp(-out[:, 0]))
                e = np.exp(out - out.max(axis=1, keepdims=True))
                return (e / e.sum(axis=1, keepdims=True))[:, 1]
            return out[:, 0]
        figures.append(plots.decision_boundary_figure(predict, points_test, dataset.y_test,
                                                      run_dir / "decision_boundary.png", title=dataset.name))
    if dataset.image_shape is not None:
        figures.append(plots.first_layer_figure(model[0].weight.value, tuple(dataset.image_shape),
                                                run_dir / "first_layer.png"))
    return figures


def _version() -> str:
    from . import __version__
    return __version__


# --- subcommands -----------------------------------------------------------------------

def cmd_train(args: argparse.Namespace) -> int:
    cfg_values = _load_config(args.config)
    for f in fields(TrainConfig):
        value = getattr(args, f.name, None)
        if value is not None:
            cfg_values[f.name] = value
    if args.no_plots:
        cfg_values["plots"] = False
    if args.no_progress:
        cfg_values["progress"] = False
    metrics = run_training(TrainConfig(**cfg_values))
    return 0 if metrics else 1


def _raw_features(model: Any) -> int:
    """Number of raw input columns the model expects (2 for a model with derived plane features)."""
    return 2 if model.metadata.get("features") else model.in_features


def cmd_evaluate(args: argparse.Namespace) -> int:
    from . import data, load
    from .errors import DataError
    model = load(args.model)
    if args.data:
        options = {"target": args.target} if args.target else {}
        dataset = data.load(args.data, seed=args.seed, **options)
    else:   # the data set the model was trained on, with the same options and split
        options = dict(model.metadata.get("data_options") or {})
        dataset = data.load(model.metadata.get("data", "mnist-5k"), **options)
    if dataset.n_features != _raw_features(model):
        raise DataError(f"the model expects {_raw_features(model)} features, data set {dataset.name!r} "
                        f"has {dataset.n_features}")
    X, y = (dataset.X_test, dataset.y_test) if args.split == "test" else (dataset.X_train, dataset.y_train)
    output = model_predict(model, X)
    print(f"{args.model} on {dataset.name} ({args.split} split, {len(X):,} samples)")
    _report(model, output, y)
    return 0


def _read_inputs(path: Path, model: Any) -> np.ndarray:
    from ._validation import as_float_array
    from .errors import DataError
    suffix = path.name.lower()
    if not path.is_file():
        raise DataError(f"no such input file: {path}")
    if suffix.endswith(".png"):
        return _read_png(path, model)
    if suffix.endswith(".npz"):
        with np.load(path, allow_pickle=False) as f:
            if "X" not in f.files:
                raise DataError(f"{path}: expected an array named 'X' in the .npz, found {f.files}")
            return as_float_array(f["X"], f"{path} X", dtype=np.float32).reshape(len(f["X"]), -1)
    if suffix.endswith((".csv", ".csv.gz")):
        from .data.tabular import read_table
        _, rows = read_table(path, ",", min_columns=1)
        table = np.array(rows, dtype=np.float32)
        # a file with one column more than the model's inputs carries a target in its last column
        return table[:, :-1] if table.shape[1] == _raw_features(model) + 1 else table
    raise DataError(f"cannot read {path}: expected a .csv, .npz or .png file")


def _read_png(path: Path, model: Any) -> np.ndarray:
    from .errors import DataError
    shape = model.metadata.get("image_shape")
    if not shape:
        raise DataError("this model was not trained on images; give a .csv or .npz input")
    try:
        from PIL import Image
    except ImportError:
        raise DataError("reading PNG needs Pillow (installed with the plots extra: pip install 'ffnn[plots]')") from None
    try:
        img = Image.open(path).convert("L").resize((shape[1], shape[0]), Image.LANCZOS)
    except OSError as exc:
        raise DataError(f"{path}: not a readable image: {exc}") from None
    x = np.asarray(img, dtype=np.float32) / 255.0
    border = np.concatenate([x[0], x[-1], x[:, 0], x[:, -1]])
    if border.mean() > 0.5:          # dark digit on a light background: invert to MNIST's convention
        x = 1.0 - x
    return x.reshape(1, -1)


def cmd_predict(args: argparse.Namespace) -> int:
    from . import load
    from .errors import DataError
    model = load(args.model)
    X = _read_inputs(Path(args.input), model)
    if X.shape[1] != _raw_features(model):
        raise DataError(f"{args.input}: the model expects {_raw_features(model)} features per row, got {X.shape[1]}")
    out = model_predict(model, X)
    rows = []
    if model.metadata.get("task") == "classification":
        names = model.metadata.get("class_names")
        if out.shape[1] == 1:
            p1 = 1 / (1 + np.exp(-out[:, 0]))
            probs = np.column_stack([1 - p1, p1])
        else:
            e = np.exp(out - out.max(axis=1, keepdims=True))
            probs = e / e.sum(axis=1, keepdims=True)
        print("row,prediction,probability")
        for i, p in enumerate(probs):
            k = int(p.argmax())
            print(f"{i},{names[k] if names else k},{p[k]:.4f}")
            rows.append(k)
    else:
        print("row," + ",".join(f"y{j}" for j in range(out.shape[1])))
        for i, v in enumerate(out):
            print(f"{i}," + ",".join(f"{x:.6g}" for x in v))
    return 0


def cmd_gradcheck(args: argparse.Namespace) -> int:
    from . import gradcheck, losses
    from .builder import mlp
    rng = np.random.default_rng(args.seed)
    hidden = _parse_hidden(args.hidden)
    activation = _parse_activations(args.activation, len(hidden))
    n_out = args.classes if args.loss == "ce" else args.outputs
    model = mlp([args.features, *hidden, n_out], activation, dtype=np.float64, seed=args.seed)
    X = rng.normal(size=(args.samples, args.features))
    if args.loss == "ce":
        loss, y = losses.SoftmaxCrossEntropy(), rng.integers(0, args.classes, args.samples)
    elif args.loss == "bce":
        loss, y = losses.BinaryCrossEntropy(), rng.integers(0, 2, (args.samples, n_out)).astype(float)
    else:
        loss, y = losses.EuclideanLoss(), rng.normal(size=(args.samples, n_out))
    print(model)
    print(f"loss: {loss!r}; {args.samples} random samples (seed {args.seed})")
    report = gradcheck(model, loss, X, y, eps=args.eps, check_input=True)
    print(report)
    return 0 if report.ok else 1


def cmd_data(args: argparse.Namespace) -> int:
    from . import data
    if args.action == "list":
        rows = data.list_datasets()
        width = max(len(n) for n, _ in rows)
        for name, description in rows:
            print(f"{name:<{width}}  {description}")
        return 0
    if not args.name:
        from .errors import ConfigError
        raise ConfigError(f"ffnn data {args.action} needs a data set name (see 'ffnn data list')")
    if args.action == "info":
        print(data.info(args.name))
    else:
        for path in data.download(args.name):
            print(path)
    return 0


def cmd_experiment(args: argparse.Namespace) -> int:
    from .errors import ConfigError
    from .experiments import EXPERIMENTS
    if args.name in (None, "list"):
        width = max(len(n) for n in EXPERIMENTS)
        for name, exp in EXPERIMENTS.items():
            print(f"{name:<{width}}  {exp.title}")
        return 0
    if args.name not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {args.name!r}; expected one of {', '.join(EXPERIMENTS)} (or 'list')")
    out = Path(args.out) if args.out else Path("runs") / f"experiment-{args.name}"
    out.mkdir(parents=True, exist_ok=True)
    result = EXPERIMENTS[args.name].run(out, quick=args.quick, seed=args.seed)
    return 0 if result.passed else 1


def cmd_playground(args: argparse.Namespace) -> int:
    from .playground import serve
    serve(args.host, args.port, not args.no_browser)
    return 0


# --- argument parsing ------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ffnn", description="Feed-forward neural networks with hand-derived backpropagation.")
    parser.add_argument("--version", action="version", version=f"ffnn {_version()}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    # --debug is accepted after the command too ("ffnn train --debug"); SUPPRESS keeps a
    # "ffnn --debug train" from being reset by the subcommand's default.
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks of errors")

    t = sub.add_parser("train", parents=[debug], help="train an MLP on a data set and write a run directory",
                       description="Train an MLP. With no options: the embedded mnist-5k digits, 784-256-10 ReLU, "
                                   "SGD with momentum, 15 epochs.")
    t.add_argument("--data", help="data set name (see 'ffnn data list') or a .csv/.npz file [mnist-5k]")
    t.add_argument("--target", help="CSV target column name or index [last column]")
    t.add_argument("--hidden", help="hidden layer sizes, e.g. 100 or 100,50 (0 for none) [256]")
    t.add_argument("--activation", help="hidden activation, or one per hidden layer (comma-separated) [relu]")
    t.add_argument("--loss", choices=LOSSES, help="ce: softmax cross-entropy; mse: sum-of-squares; bce: binary cross-entropy [ce]")
    t.add_argument("--optimizer", choices=_optimizer_names(), help="[momentum]")
    t.add_argument("--lr", type=float, help="learning rate [0.05 for SGD with momentum, 1e-3 for Adam]")
    t.add_argument("--momentum", type=float, help="momentum for momentum/nesterov [0.9]")
    t.add_argument("--weight-decay", type=float, help="L2 penalty lambda on weights [0]")
    t.add_argument("--batch-size", type=int, help="[64]")
    t.add_argument("--epochs", type=int, help="[15]")
    t.add_argument("--schedule", help="step:N:GAMMA | inverse-time:A:B | exponential:GAMMA | plateau[:FACTOR[:PATIENCE]] | "
                                      "cosine | momentum:START:END:AFTER; join with +")
    t.add_argument("--dropout", type=float, help="dropout probability after each hidden layer [0]")
    t.add_argument("--init", help="gaussian | xavier | xavier_normal | he | he_uniform | zeros [he for ReLU-like, else xavier]")
    t.add_argument("--dtype", choices=("float32", "float64"), help="[float32]")
    t.add_argument("--val-fraction", type=float, help="fraction of the training set held out for validation [0.1]")
    t.add_argument("--early-stopping", type=int, metavar="N", help="stop after N epochs without held-out improvement")
    t.add_argument("--preprocess", choices=PREPROCESS, help="input scaling fitted on the training split [auto: none for images, standard otherwise]")
    t.add_argument("--n", type=int, help="number of points for generated data sets")
    t.add_argument("--noise", type=float, help="noise level for generated data sets")
    t.add_argument("--test-fraction", type=float, help="test share for generated sets and user files")
    t.add_argument("--features", help="derived inputs for 2-D data, e.g. x1,x2,x1^2,x2^2,x1*x2,sin(x1),sin(x2)")
    t.add_argument("--seed", type=int, help="[0]")
    t.add_argument("--out", help="run directory [runs/<timestamp>]")
    t.add_argument("--config", help="TOML file with any of these options (command-line options win)")
    t.add_argument("--no-plots", action="store_true", help="do not draw PNG figures")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", parents=[debug], help="evaluate a saved model on a data set")
    e.add_argument("model")
    e.add_argument("--data", help="data set name or file [the one the model was trained on]")
    e.add_argument("--target")
    e.add_argument("--split", choices=("test", "train"), default="test")
    e.add_argument("--seed", type=int, default=0)
    e.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", parents=[debug], help="predict with a saved model on a .csv, .npz or .png input")
    p.add_argument("model")
    p.add_argument("input")
    p.set_defaults(func=cmd_predict)

    g = sub.add_parser("gradcheck", parents=[debug], help="check backprop against central differences on a small random net")
    g.add_argument("--hidden", default="5,4")
    g.add_argument("--activation", default="tanh")
    g.add_argument("--loss", choices=LOSSES, default="ce")
    g.add_argument("--features", type=int, default=4)
    g.add_argument("--classes", type=int, default=3)
    g.add_argument("--outputs", type=int, default=2, help="outputs for mse/bce")
    g.add_argument("--samples", type=int, default=8)
    g.add_argument("--eps", type=float, default=1e-6)
    g.add_argument("--seed", type=int, default=0)
    g.set_defaults(func=cmd_gradcheck)

    d = sub.add_parser("data", parents=[debug], help="list, describe or download data sets")
    d.add_argument("action", choices=("list", "info", "download"))
    d.add_argument("name", nargs="?")
    d.set_defaults(func=cmd_data)

    x = sub.add_parser("experiment", parents=[debug], help="run one of the course's experiments ('list' to see them)")
    x.add_argument("name", nargs="?", default="list")
    x.add_argument("--out", help="directory for the figures [runs/experiment-NAME]")
    x.add_argument("--quick", action="store_true", help="smaller sizes (for tests)")
    x.add_argument("--seed", type=int, default=0)
    x.set_defaults(func=cmd_experiment)

    w = sub.add_parser("playground", parents=[debug], help="start the local web playground")
    w.add_argument("--host", default="127.0.0.1")
    w.add_argument("--port", type=int, default=8765)
    w.add_argument("--no-browser", action="store_true")
    w.set_defaults(func=cmd_playground)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ffnn`` command; returns the exit status."""
    from .errors import FfnnError
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except (FfnnError, OSError) as exc:
        if args.debug:
            raise
        message = str(exc) if isinstance(exc, FfnnError) else f"{exc.strerror or exc}: {exc.filename or ''}".strip(": ")
        print(f"ffnn: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ffnn: interrupted", file=sys.stderr)
        return 130
