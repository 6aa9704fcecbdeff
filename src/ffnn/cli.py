"""The ``ffnn`` command: train, evaluate, predict, gradcheck, data, experiment, playground, export.

Errors a user can cause (unknown data set, bad option, missing or corrupt file) print one
line ``ffnn: error: ...`` and exit with status 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from .recipe import PREPROCESS, Recipe

__all__ = ["main", "TrainConfig", "run_training", "resume_training"]


@dataclass
class TrainConfig(Recipe):
    """Every option of ``ffnn train``: the run :class:`~ffnn.recipe.Recipe` and where and how to
    write the run (``out``, ``overwrite``, ``plots``, ``progress``, ``checkpoint_every``)."""

    out: str | None = None
    overwrite: bool = False
    plots: bool = True
    progress: bool = True
    checkpoint_every: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        from .errors import ConfigError
        if self.out is not None and not isinstance(self.out, str):
            raise ConfigError(f"option out: expected a path, got {self.out!r}")
        if not isinstance(self.overwrite, bool):
            raise ConfigError(f"option overwrite: expected true or false, got {self.overwrite!r}")
        if self.checkpoint_every is not None and (isinstance(self.checkpoint_every, bool)
                                                  or not isinstance(self.checkpoint_every, int)
                                                  or self.checkpoint_every < 1):
            raise ConfigError(f"option checkpoint_every: expected an integer >= 1, got {self.checkpoint_every!r}")

    def recipe(self) -> Recipe:
        """The run recipe alone (without the output options)."""
        return Recipe(**{f.name: getattr(self, f.name) for f in fields(Recipe)})


def __getattr__(name: str) -> Any:
    # option names kept for compatibility; the catalogue is the one table of them
    from . import catalog
    if name == "LOSSES":
        return catalog.LOSSES.names()
    if name == "DEFAULT_LR":
        return {e.name: e.default_lr for e in catalog.OPTIMIZERS.entries()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --- building blocks -----------------------------------------------------------------

def _load_config(path: str | None, what: str = "--config") -> dict[str, Any]:
    """The options of a TOML file of ``ffnn train`` options (top level or a ``[train]`` table)."""
    from .errors import ConfigError
    if path is None:
        return {}
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{what} file {path!r} does not exist")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} {path}: not valid TOML: {exc}") from None
    return TrainConfig.toml_options(text, source=f"{what} {path}")


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


def _task(model: Any, dataset: Any = None) -> str:
    """The model's task from its metadata, else the data set's (a model saved from Python has no metadata)."""
    from .errors import ConfigError
    task = model.metadata.get("task") or (dataset.task if dataset is not None else None)
    if task is None:
        raise ConfigError("the model file records no task (it was saved without ffnn train's metadata); "
                          "pass the data set with --data")
    return str(task)


def _scores(task: str, output: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    from .metrics import accuracy, mean_squared_error, predicted_labels
    if task == "classification":
        return {"accuracy": accuracy(y, predicted_labels(output))}
    return {"mse": mean_squared_error(y, output)}


def _report(model: Any, task: str, output: np.ndarray, y: np.ndarray, print_fn: Callable[..., None] = print) -> None:
    from .metrics import classification_table, mean_squared_error, predicted_labels
    if task == "classification":
        n_classes = model.metadata.get("n_classes") or max(output.shape[1], 2)
        print_fn(classification_table(y, predicted_labels(output), n_classes, model.metadata.get("class_names")))
    else:
        print_fn(f"mean squared error: {mean_squared_error(y, output):.6g} on {len(y)} samples")


def _state_dir(run_dir: Path) -> Path:
    """Where an unfinished run keeps its state (recipe and checkpoint): beside the run directory,
    which is only created, whole, when the run ends."""
    return run_dir.parent / f".{run_dir.name}.ffnn-run"


RUN_FILE = "metrics.json"
"""The file every finished (or interrupted and saved) run directory holds."""


def check_out(out: str | None, overwrite: bool = False) -> None:
    """Refuse, before anything is trained, a ``--out`` that the run could not be published to:
    an existing non-empty directory (unless ``overwrite``: then it must be a run directory,
    which the new run replaces whole), a file, or a path under a file."""
    from .errors import ConfigError
    if not out:
        return
    run_dir = Path(out)
    for parent in run_dir.parents:
        if parent.exists() and not parent.is_dir():
            raise ConfigError(f"--out {out}: {parent} is a file, not a directory")
    if run_dir.exists() or run_dir.is_symlink():
        if not run_dir.is_dir():
            raise ConfigError(f"--out {out} is a file, not a run directory")
        if any(run_dir.iterdir()):
            if not overwrite:
                raise ConfigError(f"--out {out} already exists; choose another directory, or pass --overwrite "
                                  "to replace that run whole")
            if not (run_dir / RUN_FILE).is_file():
                raise ConfigError(f"--out {out} is not an ffnn run directory (it has no {RUN_FILE}); "
                                  "--overwrite replaces only a run directory")


def _new_run_dir(out: str | None, overwrite: bool = False) -> Path:
    """The run directory of a new run, its state directory created (so parallel runs never share one).

    Staging directories that killed runs left beside it are removed first (a live run's are
    kept: see :func:`ffnn._atomic.remove_stale_staging`).
    """
    from ._atomic import remove_stale_staging
    from .errors import ConfigError
    if out:
        check_out(out, overwrite)
        run_dir = Path(out)
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_staging(run_dir.parent)
        if overwrite:                     # replaced whole: an unfinished run kept for it goes too
            shutil.rmtree(_state_dir(run_dir), ignore_errors=True)
        try:
            _state_dir(run_dir).mkdir()
        except FileExistsError:
            raise ConfigError(f"an unfinished run is kept for {run_dir} (in {_state_dir(run_dir)}); continue it "
                              f"with: ffnn train --resume {run_dir}  (or pass --overwrite to start it over)") from None
        return run_dir
    stamp = Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S")
    stamp.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(stamp.parent)
    for k in range(1, 1000):
        run_dir = stamp if k == 1 else stamp.with_name(f"{stamp.name}-{k}")
        if run_dir.exists():
            continue
        try:
            _state_dir(run_dir).mkdir()
        except FileExistsError:
            continue
        return run_dir
    raise ConfigError(f"could not choose a new run directory next to {stamp}")


def run_training(cfg: TrainConfig, print_fn: Callable[..., None] = print, *,
                 run_dir: Path | None = None, distributed: Any = None) -> dict[str, Any]:
    """Train as ``ffnn train`` does; write the run directory; return the metrics dict.

    The run keeps its recipe and a checkpoint (every epoch, or every ``checkpoint_every``
    batches) in a state directory beside the run directory until it ends, so an interrupted
    or killed run continues with :func:`resume_training` (``ffnn train --resume RUN_DIR``).
    The run directory itself appears only when the run is complete, with every file.

    ``distributed`` (True or a backend, :mod:`ffnn.distributed`) trains data-parallel under
    ``mpirun``: rank 0 chooses the run directory, prints, checkpoints and writes the run; the
    other ranks return an empty dict. An error or Ctrl-C that stops training on one rank ends
    the whole job when the process exits (:func:`ffnn.distributed.end_job_at_exit`).
    """
    from ._atomic import write_atomic
    from .distributed import data_parallel, root_only

    shared = data_parallel(distributed)
    root = shared is None or shared.rank == 0
    print_fn = print_fn if root else _silent
    if run_dir is None:                             # every rank (a rank that went on would wait for rank 0)
        check_out(cfg.out, cfg.overwrite)           # before the data is loaded or anything trained
    if _is_data_file(cfg.data):                     # so the model and --resume work from any directory
        cfg = cfg.replace(data=str(Path(cfg.data).resolve()))
    run = cfg.recipe().prepare(source="ffnn train")
    if run_dir is None:
        def new_run_dir() -> Path:
            made = _new_run_dir(cfg.out, cfg.overwrite)
            write_atomic(_state_dir(made) / "recipe.toml", _config_toml(cfg, made))
            return made
        run_dir = root_only(shared, new_run_dir)
    try:
        return _train_and_publish(cfg, run, run_dir, print_fn, shared)
    except BaseException as exc:
        from .distributed import end_job_at_exit
        from .errors import FfnnError, TrainingDivergedError
        state = _state_dir(run_dir)
        # Nothing to resume: a run that diverged (it would diverge again), or one refused before
        # its first checkpoint (bad data or options; it would be refused again).
        if root and (isinstance(exc, TrainingDivergedError)
                     or isinstance(exc, FfnnError) and not (state / "checkpoint.ffnn").exists()):
            shutil.rmtree(state, ignore_errors=True)
        end_job_at_exit(shared, exc)                # the other ranks may be waiting in an Allreduce
        raise


def _silent(*args: Any, **kwargs: Any) -> None:
    """The print function of the ranks other than 0."""


def _config_toml(cfg: TrainConfig, run_dir: Path) -> str:
    return cfg.replace(out=str(run_dir), overwrite=False).to_toml()


def resume_training(run_dir: str | os.PathLike[str], overrides: dict[str, Any] | None = None,
                    print_fn: Callable[..., None] = print, *, distributed: Any = None) -> dict[str, Any]:
    """Continue the unfinished run of ``run_dir`` from its last checkpoint.

    ``overrides`` may change ``epochs`` (train longer or stop sooner), ``plots``,
    ``progress`` and ``checkpoint_every``; everything else is the recorded recipe.
    ``distributed``: as for :func:`run_training` (every rank reads the checkpoint).
    """
    from .distributed import data_parallel
    from .errors import ConfigError
    shared = data_parallel(distributed)
    root = shared is None or shared.rank == 0
    run_dir = Path(run_dir)
    state = _state_dir(run_dir)
    if not (state / "recipe.toml").is_file():
        hint = " (it has finished)" if run_dir.is_dir() else ""
        raise ConfigError(f"no unfinished run is kept for {run_dir}{hint}; expected {state / 'recipe.toml'}")
    values = _load_config(str(state / "recipe.toml"), "run state")
    allowed = {"epochs", "plots", "progress", "checkpoint_every"}
    changed = sorted(k for k, v in (overrides or {}).items() if k not in allowed and values.get(k) != v)
    if changed:
        raise ConfigError(f"--resume continues the recorded run; it cannot change {', '.join(changed)} "
                          f"(only {', '.join(sorted(allowed))})")
    values.update({k: v for k, v in (overrides or {}).items() if k in allowed})
    cfg = TrainConfig(**values)
    if (overrides or {}).get("epochs") is not None and root:
        from ._atomic import write_atomic
        write_atomic(state / "recipe.toml", _config_toml(cfg, run_dir))
    if root:
        print_fn(f"resuming {run_dir} from {state / 'checkpoint.ffnn'}")
    return run_training(cfg, print_fn, run_dir=run_dir, distributed=shared)


def _train_and_publish(cfg: TrainConfig, run: Any, run_dir: Path, print_fn: Callable[..., None],
                       shared: Any = None) -> dict[str, Any]:
    from ._atomic import publish_directory, staging_directory
    from .callbacks import Callback
    from .serialize import save

    dataset, model, recipe = run.dataset, run.model, run.recipe
    print_fn(f"run: {run_dir} (if it is interrupted, continue it with: ffnn train --resume {run_dir})")
    print_fn(f"data: {dataset.name}: {len(run.X_train):,} train / {len(run.X_test):,} test samples, "
             f"{dataset.n_features} features, {dataset.task}"
             + (f", {dataset.n_classes} classes" if dataset.n_classes else ""))
    print_fn(f"model: {dataset.n_features}-" + "-".join(map(str, [*recipe.hidden_sizes, model.out_features]))
             + f" {recipe.activation}, {model.num_parameters():,} parameters, {recipe.dtype}; loss {recipe.loss}; "
             f"{run.optimizer!r}")

    class _Printer(Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
            parts = [f"epoch {int(logs['epoch']):>3}/{cfg.epochs}" + (" (partial)" if logs.get("partial") else ""),
                     f"loss {logs['loss']:.4f}"]
            parts += [f"{key.replace('_', ' ')} {logs[key]:.4f}" for key in ("accuracy", "val_loss", "val_accuracy")
                      if key in logs]
            parts += [f"lr {logs['lr']:.3g}", f"{logs['seconds']:.2f}s"]
            print_fn("  ".join(parts))

    trainer = run.trainer(callbacks=[_Printer()], progress=cfg.progress, distributed=shared)
    t0 = time.perf_counter()
    history = run.fit(trainer, checkpoint=_state_dir(run_dir) / "checkpoint.ffnn",
                      checkpoint_every=cfg.checkpoint_every)
    train_seconds = time.perf_counter() - t0
    if shared is not None and shared.rank != 0:          # rank 0 evaluates and writes the run
        if history.interrupted:
            raise KeyboardInterrupt
        return {}
    if history.interrupted:
        # Ctrl-C: the run is written as it stands (its last epoch marked partial), the state is
        # kept for --resume, and the command then exits as interrupted (130)
        print_fn(f"interrupted after epoch {trainer.epoch}, batch {trainer.batch}: saving the run as it is; the "
                 f"state is kept: continue with ffnn train --resume {run_dir}")

    output = model.predict(run.X_test)
    metrics: dict[str, Any] = {f"test_{k}": v for k, v in _scores(dataset.task, output, dataset.y_test).items()}
    metrics.update({"train_seconds": round(train_seconds, 3), "epochs": history.epochs,
                    "stopped_early": history.stopped_early, "interrupted": history.interrupted,
                    "best_epoch": history.best_epoch, "final": history.records[-1] if history.records else {},
                    "config": asdict(cfg) | {"lr": run.lr, "out": str(run_dir)}, "ffnn_version": _version()})
    print_fn(f"trained {history.epochs} epochs{' and part of one' if history.epochs < len(history) else ''} "
             f"in {train_seconds:.1f}s")
    _report(model, dataset.task, output, dataset.y_test, print_fn)

    # Everything is written to a staging directory that becomes the run directory in one rename
    # only when all of it succeeded: a failed run never leaves a half-written or mixed run.
    with staging_directory(run_dir) as stage:
        save(model, stage / "model.ffnn")
        history.to_csv(stage / "history.csv")
        figures = _figures(cfg, run, output, history, stage, print_fn)
        metrics["figures"] = [f.name for f in figures]
        (stage / "metrics.json").write_text(json.dumps(metrics, indent=1, default=float), encoding="utf-8")
        publish_directory(stage, run_dir)
    if not history.interrupted:
        shutil.rmtree(_state_dir(run_dir), ignore_errors=True)
    print_fn(f"wrote {run_dir}/: model.ffnn, history.csv, metrics.json"
             + (", " + ", ".join(f.name for f in figures) if figures else ""))
    key = "test_accuracy" if "test_accuracy" in metrics else "test_mse"
    print_fn(f"{key.replace('_', ' ')}: {metrics[key]:.4f}")
    if history.interrupted:
        raise KeyboardInterrupt
    return metrics


def _figures(cfg: TrainConfig, run: Any, output: np.ndarray, history: Any, run_dir: Path,
             print_fn: Callable[..., None]) -> list[Path]:
    from . import plots
    from .metrics import confusion_matrix, predicted_labels
    if not cfg.plots:
        return []
    if not plots.available():
        print_fn("plots skipped: matplotlib is not installed (pip install 'ffnn[plots]')")
        return []
    dataset, model = run.dataset, run.model
    figures = [plots.history_figure(history.records, run_dir / "curves.png")]
    if dataset.task == "classification":
        cm = confusion_matrix(dataset.y_test, predicted_labels(output), dataset.n_classes)
        figures.append(plots.confusion_figure(cm, run_dir / "confusion.png", dataset.class_names))
    if dataset.n_features == 2 or model.metadata.get("features"):
        points_test = run.raw_X_test if run.raw_X_test is not None else dataset.X_test

        def predict(grid: np.ndarray) -> np.ndarray:
            from ._math import sigmoid
            out = model_predict(model, grid.astype(np.float32))
            if dataset.task == "classification":
                if out.shape[1] == 1:
                    return sigmoid(out[:, 0])
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
    given = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if getattr(args, f.name, None) is not None}
    if args.no_plots:
        given["plots"] = False
    if args.no_progress:
        given["progress"] = False
    if args.resume:
        from .errors import ConfigError
        if args.config:
            raise ConfigError("--resume continues the recorded run; it takes no --config")
        resume_training(args.resume, given, distributed=args.distributed or None)
        return 0
    run_training(TrainConfig(**{**_load_config(args.config), **given}), distributed=args.distributed or None)
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from .sweeps import SweepSpec, format_table, sweep
    spec = SweepSpec.load(args.spec)
    results = sweep(spec, args.out, workers=args.workers, scheduler=args.scheduler, retries=args.retries,
                    progress=not args.no_progress, print_fn=print)
    print(format_table(results, spec))
    print(f"wrote {results.path}")
    if results.best is not None:
        print(f"best: {results.best['path']} ({results.metric} {results.best[results.metric]:.4f})")
    return 0 if all(row["status"] == "done" for row in results) else 1


def _is_data_file(name: str) -> bool:
    return name.lower().endswith((".csv", ".csv.gz", ".npz")) and Path(name).is_file()


def _stored_data(model_path: str, name: str) -> str:
    """The data set a model records: a name, an absolute path, or (from models saved before
    paths were stored absolute) a path relative to the working directory or the model file."""
    if not name.lower().endswith((".csv", ".csv.gz", ".npz")) or Path(name).is_absolute() or Path(name).exists():
        return name
    beside = Path(model_path).resolve().parent / name
    return str(beside) if beside.exists() else name


def _raw_features(model: Any) -> int:
    """Number of raw input columns the model expects (2 for a model with derived plane features)."""
    return 2 if model.metadata.get("features") else model.in_features


def cmd_evaluate(args: argparse.Namespace) -> int:
    from . import data, load
    from .errors import ConfigError, DataError
    model = load(args.model)
    if args.data:
        options = {k: v for k, v in (("target", args.target), ("delimiter", args.delimiter)) if v}
        dataset = data.load(args.data, seed=args.seed, **options)
    elif model.metadata.get("data"):   # the data set the model was trained on, with the same options and split
        dataset = data.load(_stored_data(args.model, model.metadata["data"]),
                            **dict(model.metadata.get("data_options") or {}))
    else:
        raise ConfigError(f"{args.model} records no training data set; pass one with --data")
    if dataset.n_features != _raw_features(model):
        raise DataError(f"the model expects {_raw_features(model)} features, data set {dataset.name!r} "
                        f"has {dataset.n_features}")
    X, y = (dataset.X_test, dataset.y_test) if args.split == "test" else (dataset.X_train, dataset.y_train)
    y = _model_labels(model, dataset, y)
    output = model_predict(model, X)
    print(f"{args.model} on {dataset.name} ({args.split} split, {len(X):,} samples)")
    _report(model, _task(model, dataset), output, y)
    return 0


def _model_labels(model: Any, dataset: Any, y: np.ndarray) -> np.ndarray:
    """A data set's class labels as the model's classes: matched by name when both have names
    (a file's text labels are numbered in its own sorted order, which may differ)."""
    from .errors import DataError
    ours, theirs = model.metadata.get("class_names"), dataset.class_names
    if dataset.task != "classification" or not ours or not theirs or list(ours) == list(theirs):
        return y
    index = {name: i for i, name in enumerate(ours)}
    unknown = sorted({theirs[k] for k in np.unique(y)} - set(index))
    if unknown:
        raise DataError(f"data set {dataset.name!r} has labels the model does not know: {', '.join(unknown[:5])}; "
                        f"the model's classes are {', '.join(ours)}")
    return np.array([index[name] for name in theirs], dtype=np.int64)[y]


def _read_inputs(path: Path, model: Any, delimiter: str | None = None) -> np.ndarray:
    from .errors import DataError
    suffix = path.name.lower()
    if not path.is_file():
        raise DataError(f"no such input file: {path}")
    if suffix.endswith(".png"):
        return _read_png(path, model)
    if suffix.endswith((".npz", ".csv", ".csv.gz")):
        from .data.tabular import input_rows
        return input_rows(path, _raw_features(model), delimiter=delimiter)
    raise DataError(f"cannot read {path}: expected a .csv, .npz or .png file")


def _read_png(path: Path, model: Any) -> np.ndarray:
    """One input row from a PNG, prepared as the model's training images were.

    A model trained on MNIST digits (``mnist``, ``mnist-5k``) gets the drawing normalised as MNIST
    made its digits (:func:`ffnn.data.digits.mnist_style`: bounding box scaled into 20x20,
    centre of mass at the centre of 28x28), then the centre window when it was trained on crops
    (the digits page's 24x24); other image models get the picture resized. Light backgrounds are
    inverted to MNIST's dark one either way.
    """
    from .data.digits import SIZE, as_ink, crops, mnist_style
    from .errors import DataError
    meta = model.metadata
    shape = meta.get("image_shape")
    if not shape:
        raise DataError("this model was not trained on images; give a .csv or .npz input")
    try:
        from PIL import Image
    except ImportError:
        raise DataError("reading PNG needs Pillow (installed with the plots extra: "
                        "pip install 'ffnn[plots]')") from None
    try:
        img = Image.open(path).convert("L")
        img.load()
    except OSError as exc:
        raise DataError(f"{path}: not a readable image: {exc}") from None
    if meta.get("data") in ("mnist", "mnist-5k"):
        x = mnist_style(np.asarray(img, dtype=np.float64) / 255.0)
        side = int(shape[0])
        if side < SIZE:               # trained on centre-cropped windows (the digits page)
            return crops(x.reshape(1, -1), side, np.array([(SIZE - side) // 2] * 2)).astype(np.float32)
        return x.reshape(1, -1).astype(np.float32)
    resized = img.resize((shape[1], shape[0]), Image.Resampling.LANCZOS)
    return as_ink(np.asarray(resized, dtype=np.float64) / 255.0).astype(np.float32).reshape(1, -1)


def cmd_predict(args: argparse.Namespace) -> int:
    from . import load
    from .errors import DataError
    model = load(args.model)
    X = _read_inputs(Path(args.input), model, args.delimiter)
    if X.shape[1] != _raw_features(model):
        raise DataError(f"{args.input}: the model expects {_raw_features(model)} features per row, got {X.shape[1]}")
    out = model_predict(model, X)
    if model.metadata.get("task") == "classification":
        names = model.metadata.get("class_names")
        if out.shape[1] == 1:
            from ._math import sigmoid
            p1 = sigmoid(out[:, 0])
            probs = np.column_stack([1 - p1, p1])
        else:
            e = np.exp(out - out.max(axis=1, keepdims=True))
            probs = e / e.sum(axis=1, keepdims=True)
        print("row,prediction,probability")
        for i, p in enumerate(probs):
            k = int(p.argmax())
            print(f"{i},{names[k] if names else k},{p[k]:.4f}")
    else:
        print("row," + ",".join(f"y{j}" for j in range(out.shape[1])))
        for i, v in enumerate(out):
            print(f"{i}," + ",".join(f"{x:.6g}" for x in v))
    return 0


GRADCHECK_MAX_ELEMENTS = 100_000
"""The most parameters plus inputs ``ffnn gradcheck`` checks (each costs two forward passes)."""


def cmd_gradcheck(args: argparse.Namespace) -> int:
    from . import catalog, gradcheck
    from .builder import mlp
    from .errors import ConfigError
    rng = np.random.default_rng(args.seed)
    shape = Recipe(hidden=args.hidden, activation=args.activation, loss=args.loss)    # checks the options
    loss = catalog.loss(args.loss)
    n_out = args.classes if loss.target_kind == "classes" else args.outputs
    sizes = [args.features, *shape.hidden_sizes, n_out]
    for name, value in (("--features", args.features), ("--samples", args.samples), ("--classes", args.classes),
                        ("--outputs", args.outputs)):
        if value < 1:
            raise ConfigError(f"gradcheck {name} must be at least 1, got {value}")
    elements = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=False)) + args.samples * args.features
    if elements > GRADCHECK_MAX_ELEMENTS:
        raise ConfigError(f"gradcheck perturbs every one of the {elements:,} parameters and inputs (two forward "
                          f"passes each); give at most {GRADCHECK_MAX_ELEMENTS:,} (fewer or smaller layers or samples)")
    model = mlp(sizes, shape.activations, dtype=np.float64, seed=args.seed)
    for _, param in model.named_parameters():    # random biases: no unit sits exactly on a ReLU corner
        if param.name == "bias":
            param.value[...] = rng.normal(scale=0.1, size=param.shape)
    X = rng.normal(size=(args.samples, args.features))
    y: np.ndarray
    if loss.target_kind == "classes":
        y = rng.integers(0, args.classes, args.samples)
    elif loss.target_kind == "binary":
        y = rng.integers(0, 2, (args.samples, n_out)).astype(float)
    else:
        y = rng.normal(size=(args.samples, n_out))
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


def cmd_export(args: argparse.Namespace) -> int:
    from .onnx_export import export_command
    print(export_command(args.model, args.onnx, dtype=args.dtype))
    return 0


def cmd_playground(args: argparse.Namespace) -> int:
    from .playground import serve
    serve(args.host, args.port, not args.no_browser)
    return 0


# --- argument parsing ------------------------------------------------------------------

def _choices_help(table: Any) -> str:
    return "; ".join(f"{e.name}: {e.help}" for e in table.entries())


class _Parser(argparse.ArgumentParser):
    """argparse with the one-line error of every other user error (``ffnn: error: ...``, exit 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"ffnn: error: {self.prog}: {' '.join(message.splitlines())} (see: {self.prog} --help)\n")


def _port(text: str) -> int:
    """A TCP port number, 1 to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number from 1 to 65535, got {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 1 to 65535, got {port}")
    return port


_DELIMITER_HELP = ("CSV cell separator: one character or comma, semicolon, tab, pipe, whitespace "
                   "[sniffed from the file]")


def build_parser() -> argparse.ArgumentParser:
    from . import catalog
    parser = _Parser(prog="ffnn",
                                     description="Feed-forward neural networks with hand-derived backpropagation.")
    parser.add_argument("--version", action="version", version=f"ffnn {_version()}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    # --debug is accepted after the command too ("ffnn train --debug"); SUPPRESS keeps a
    # "ffnn --debug train" from being reset by the subcommand's default.
    debug = _Parser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks of errors")

    t = sub.add_parser("train", parents=[debug], help="train an MLP on a data set and write a run directory",
                       description="Train an MLP. With no options: the embedded mnist-5k digits, 784-256-10 ReLU, "
                                   "SGD with momentum, 15 epochs.")
    t.add_argument("--data", help="data set name (see 'ffnn data list') or a .csv/.npz file [mnist-5k]")
    t.add_argument("--target", help="CSV target column name or index [last column]")
    t.add_argument("--delimiter", help=_DELIMITER_HELP)
    t.add_argument("--hidden", help="hidden layer sizes, e.g. 100 or 100,50 (0 for none) [256]")
    t.add_argument("--activation", help="hidden activation, or one per hidden layer (comma-separated) [relu]")
    t.add_argument("--loss", choices=catalog.LOSSES.names(), help=_choices_help(catalog.LOSSES) + " [ce]")
    t.add_argument("--optimizer", choices=catalog.OPTIMIZERS.names(), help=_choices_help(catalog.OPTIMIZERS)
                   + " [momentum]")
    t.add_argument("--lr", type=float, help="learning rate [each optimizer's default: "
                   + ", ".join(f"{e.name} {e.default_lr:g}" for e in catalog.OPTIMIZERS.entries()) + "]")
    t.add_argument("--momentum", type=float, help="momentum for momentum/nesterov [0.9]")
    t.add_argument("--weight-decay", type=float, help="L2 penalty lambda on weights [0]")
    t.add_argument("--batch-size", type=int, help="[64]")
    t.add_argument("--epochs", type=int, help="[15]")
    t.add_argument("--schedule", help=" | ".join(e.value.usage(e.name) for e in catalog.SCHEDULES.entries())
                   + "; join several with +")
    t.add_argument("--dropout", type=float, help="dropout probability after each hidden layer [0]")
    t.add_argument("--norm", choices=("batch", "layer"),
                   help="batch or layer normalization after each hidden Linear, before its activation [none]")
    t.add_argument("--label-smoothing", type=float, metavar="EPS",
                   help="train the cross-entropy on (1-EPS) one-hot + EPS/classes, as PyTorch [0]")
    t.add_argument("--clip-grad-norm", type=float, metavar="MAX",
                   help="scale the gradients down to a global norm of at most MAX before each step [off]")
    t.add_argument("--shift", type=int, metavar="N",
                   help="augment image sets: shift each training image by up to N pixels at random [0]")
    t.add_argument("--init", help=" | ".join(catalog.INITIALIZERS.names()) + " | gaussian:STD "
                   "[he for ReLU-like, else xavier]")
    t.add_argument("--dtype", choices=("float32", "float64"), help="[float32]")
    t.add_argument("--backend", metavar="NAME",
                   help="where the network computes: numpy | torch | torch:cuda | cupy [numpy]")
    t.add_argument("--val-fraction", type=float, help="fraction of the training set held out for validation [0.1]")
    t.add_argument("--early-stopping", type=int, metavar="N", help="stop after N epochs without held-out improvement")
    t.add_argument("--preprocess", choices=PREPROCESS,
                   help="input scaling fitted on the training split [auto: none for images, standard otherwise]")
    t.add_argument("--n", type=int, help="number of points for generated data sets")
    t.add_argument("--noise", type=float, help="noise level for generated data sets")
    t.add_argument("--test-fraction", type=float, help="test share for generated sets and user files")
    t.add_argument("--features", help="derived inputs for 2-D data, e.g. x1,x2,x1^2,x2^2,x1*x2,sin(x1),sin(x2)")
    t.add_argument("--seed", type=int, help="[0]")
    t.add_argument("--out", help="run directory [runs/<timestamp>, with -2, -3, ... for runs started in the same "
                   "second]; an existing one is refused unless --overwrite")
    t.add_argument("--overwrite", action="store_true", default=None,
                   help="replace the run directory given by --out whole (no old file is kept)")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue the unfinished run of RUN_DIR from its last "
                   "checkpoint (--epochs may change the total)")
    t.add_argument("--checkpoint-every", type=int, metavar="N", help="also checkpoint every N batches [every epoch]")
    t.add_argument("--distributed", action="store_true", help="data-parallel over MPI: run under mpirun -n K; "
                   "each rank takes its share of every batch, rank 0 writes the run (needs ffnn[mpi])")
    t.add_argument("--config", help="TOML file with any of these options (command-line options win)")
    t.add_argument("--no-plots", action="store_true", help="do not draw PNG figures")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    s = sub.add_parser("sweep", parents=[debug], help="train every trial of a hyper-parameter sweep on Dask workers",
                       description="Run every trial of SPEC ([train]: the shared ffnn train options, [sweep]: the "
                                   "values to try, [search]: kind, trials, seed, metric) as a run directory under "
                                   "--out. Running it again skips finished trials and resumes interrupted ones. "
                                   "Exits 1 when a trial failed.")
    s.add_argument("spec", help="the sweep's TOML file")
    s.add_argument("--out", required=True, help="the sweep's directory (results.csv and one run per trial)")
    s.add_argument("--workers", type=int, help="local worker processes [one per CPU core]")
    s.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="a running Dask scheduler instead of local workers")
    s.add_argument("--retries", type=int, default=2, help="runs of a trial again after an unexpected error [2]")
    s.add_argument("--no-progress", action="store_true", help="one line per trial instead of a progress bar")
    s.set_defaults(func=cmd_sweep)

    e = sub.add_parser("evaluate", parents=[debug], help="evaluate a saved model on a data set")
    e.add_argument("model")
    e.add_argument("--data", help="data set name or file [the one the model was trained on]")
    e.add_argument("--target")
    e.add_argument("--delimiter", help=_DELIMITER_HELP)
    e.add_argument("--split", choices=("test", "train"), default="test")
    e.add_argument("--seed", type=int, default=0)
    e.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", parents=[debug], help="predict with a saved model on a .csv, .npz or .png input")
    p.add_argument("model")
    p.add_argument("input")
    p.add_argument("--delimiter", help=_DELIMITER_HELP)
    p.set_defaults(func=cmd_predict)

    g = sub.add_parser("gradcheck", parents=[debug],
                       help="check backprop against central differences on a small random net")
    g.add_argument("--hidden", default="5,4")
    g.add_argument("--activation", default="tanh")
    g.add_argument("--loss", choices=catalog.LOSSES.names(), default="ce")
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

    o = sub.add_parser("export", parents=[debug], help="export a saved model to ONNX (input scaling included)")
    o.add_argument("model", help="a model file (ffnn train's model.ffnn, ffnn.save, a checkpoint)")
    o.add_argument("--onnx", required=True, metavar="OUT.onnx",
                   help="the ONNX file to write (opset 17; input: the raw features, any batch size)")
    o.add_argument("--dtype", choices=("float32", "float64"), help="the graph's type [the model's]")
    o.set_defaults(func=cmd_export)

    w = sub.add_parser("playground", parents=[debug], help="start the local web playground")
    w.add_argument("--host", default="127.0.0.1")
    w.add_argument("--port", type=_port, default=8765)
    w.add_argument("--no-browser", action="store_true")
    w.set_defaults(func=cmd_playground)
    return parser


@contextlib.contextmanager
def _closed_stdout_ignored() -> Iterator[None]:
    """Keep going when the reader of stdout goes away (``ffnn train ... | head -3``).

    The first write that finds the pipe closed points the stdout file descriptor at
    ``/dev/null``; the command goes on (a training run finishes and writes its directory) and
    exits with its own status. Without a file descriptor (stdout captured in Python) this
    does nothing.
    """
    stream = sys.stdout
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    guarded = _PipeGuard(stream, fd)
    sys.stdout = guarded
    try:
        yield
    finally:
        guarded.flush()
        if sys.stdout is guarded:
            sys.stdout = stream


class _PipeGuard(io.TextIOBase):
    """A text stream over ``stream`` that sends its output to /dev/null once the pipe is closed."""

    def __init__(self, stream: Any, fd: int) -> None:
        self._stream, self._fd = stream, fd

    def _closed(self) -> None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, self._fd)
        finally:
            os.close(devnull)

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._closed()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._closed()
            self._stream.flush()

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return self._stream.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(self._stream.encoding)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ffnn`` command; returns the exit status."""
    from .errors import FfnnError
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        with _closed_stdout_ignored():
            return args.func(args)
    except (FfnnError, OSError, MemoryError) as exc:
        if args.debug:
            raise
        if isinstance(exc, FfnnError):
            message = str(exc)
        elif isinstance(exc, MemoryError):
            message = f"out of memory{': ' + str(exc) if str(exc) else ''}"
        else:
            message = f"{exc.strerror or exc}: {exc.filename or ''}".strip(": ")
        print(f"ffnn: error: {' '.join(message.splitlines())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ffnn: interrupted", file=sys.stderr)
        return 130
