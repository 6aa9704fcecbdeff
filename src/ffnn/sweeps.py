"""Hyper-parameter sweeps on Dask: every trial is an ordinary, resumable ``ffnn train`` run.

A sweep file holds the recipe every trial shares and the values to try::

    [train]                       # any `ffnn train` option (the recipe)
    data = "mnist-5k"
    epochs = 5
    [sweep]                       # each option: the list of values to try
    lr = [0.01, 0.05, 0.1]
    hidden = ["64", "256", "256,128"]
    [search]                      # optional
    kind = "grid"                 # every combination (default), or "random": `trials` draws
    trials = 10                   #   of one value per option (numpy, `seed`)
    seed = 0
    metric = "val_accuracy"       # val_accuracy, val_loss, test_accuracy, test_mse, accuracy, loss

Every option and value is checked by building each trial's recipe before anything runs. The
trials are named by their place and values (``trial-003-lr=0.05-hidden=64``) and run as
``ffnn train --out DIR/<name>`` does (:func:`ffnn.cli.run_training`, on Dask workers: a
local cluster of worker processes, or a running cluster's scheduler). Each keeps its state
beside its run directory until it ends, so a sweep started again with the same file and
directory skips finished trials and resumes interrupted ones from their checkpoints (a
worker killed mid-trial: Dask runs the task again and it resumes the same way). A trial
whose options fail (a :class:`~ffnn.FfnnError`, e.g. a diverged run) is recorded with its
one-line error; any other error is retried by Dask (``retries``) and then recorded. The
results, one row per trial (its options, metrics, training seconds, status, error and run
directory), are kept in ``DIR/results.csv`` (rewritten atomically after every trial) and
returned sorted by the metric, best first.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError, FfnnError

__all__ = ["SweepSpec", "Trial", "SweepResults", "sweep", "run_trial", "METRICS"]

METRICS = {"val_accuracy": "max", "val_loss": "min", "test_accuracy": "max", "test_mse": "min",
           "accuracy": "max", "loss": "min"}
"""The metrics a sweep can rank by (from each run's ``metrics.json``) and which way is better."""

_NOT_SWEPT = {"out", "progress", "overwrite"}    # the sweep chooses these for every trial
_SEARCH_KEYS = {"kind", "trials", "seed", "metric"}


@dataclass(frozen=True)
class Trial:
    """One point of a sweep: its name (and run directory under the sweep's) and its values."""

    index: int
    name: str
    values: dict[str, Any]


@dataclass
class SweepSpec:
    """A sweep: the shared options (``train``), the values to try (``grid``) and the search."""

    train: dict[str, Any]
    grid: dict[str, list[Any]]
    kind: str = "grid"
    trials: int | None = None
    seed: int = 0
    metric: str = "val_accuracy"
    source: str = field(default="sweep", compare=False)

    @classmethod
    def from_toml(cls, text: str, *, source: str = "sweep") -> SweepSpec:
        from .recipe import read_toml
        return cls.from_mapping(read_toml(text, source), source=source)

    @classmethod
    def load(cls, spec: str | os.PathLike[str] | Mapping[str, Any]) -> SweepSpec:
        """A spec from a TOML file's path or a mapping with ``train``, ``sweep`` and ``search``."""
        if isinstance(spec, Mapping):
            return cls.from_mapping(spec)
        path = Path(spec)
        if not path.is_file():
            raise ConfigError(f"sweep file {str(spec)!r} does not exist")
        return cls.from_toml(path.read_text(encoding="utf-8"), source=str(path))

    @classmethod
    def from_mapping(cls, doc: Mapping[str, Any], *, source: str = "sweep") -> SweepSpec:
        """Check every table, option and value; build every trial's recipe (refusing a bad one)."""
        from .cli import TrainConfig
        unknown = sorted(set(doc) - {"train", "sweep", "search"})
        if unknown:
            raise ConfigError(f"{source}: unknown table {unknown[0]!r}; expected [train], [sweep] and [search]")
        train = TrainConfig.options(doc.get("train", {}), source=f"{source} [train]")
        grid = TrainConfig.options(doc.get("sweep", {}), source=f"{source} [sweep]")
        for table, options in (("train", train), ("sweep", grid)):
            fixed = sorted(_NOT_SWEPT & set(options))
            if fixed:
                raise ConfigError(f"{source} [{table}]: option {fixed[0]!r} is chosen by the sweep for every trial")
        if not grid:
            raise ConfigError(f"{source}: [sweep] lists no options; give each option the list of values to try")
        for name, values in grid.items():
            if not isinstance(values, list) or not values:
                raise ConfigError(f"{source} [sweep]: option {name}: expected a non-empty list of values, "
                                  f"got {values!r}")
            if name in train:
                raise ConfigError(f"{source}: option {name} is both in [train] and in [sweep]")
        search = doc.get("search", {})
        if not isinstance(search, Mapping):
            raise ConfigError(f"{source}: [search] must be a table, got {search!r}")
        extra = sorted(set(search) - _SEARCH_KEYS)
        if extra:
            raise ConfigError(f"{source} [search]: unknown key {extra[0]!r}; known: {', '.join(sorted(_SEARCH_KEYS))}")
        spec = cls(dict(train), {k: list(v) for k, v in grid.items()}, **_search(search, source), source=source)
        for trial in spec.trial_list():             # every value and combination, before anything runs
            try:
                spec.config(trial, Path("."))
            except ConfigError as exc:
                raise ConfigError(f"{source}: {trial.name}: {exc}") from None
        return spec

    def trial_list(self) -> list[Trial]:
        """The trials in order: every combination (grid) or ``trials`` random draws (seeded)."""
        keys = list(self.grid)
        if self.kind == "grid":
            points = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*self.grid.values())]
        else:
            import numpy as np
            rng = np.random.default_rng(self.seed)
            points = [{k: self.grid[k][int(rng.integers(len(self.grid[k])))] for k in keys}
                      for _ in range(self.trials or 0)]
        width = max(3, len(str(len(points) - 1)))
        return [Trial(i, _trial_name(i, width, point), point) for i, point in enumerate(points)]

    def config(self, trial: Trial, out: Path) -> Any:
        """The trial's ``ffnn train`` options (a checked :class:`~ffnn.cli.TrainConfig`)."""
        from .cli import TrainConfig
        options = {"plots": False, **self.train, **trial.values, "out": str(out / trial.name), "progress": False}
        return TrainConfig(**options)

    def to_dict(self) -> dict[str, Any]:
        return {"train": self.train, "sweep": self.grid,
                "search": {"kind": self.kind, "trials": self.trials, "seed": self.seed, "metric": self.metric}}


def _search(search: Mapping[str, Any], source: str) -> dict[str, Any]:
    kind = search.get("kind", "grid")
    if kind not in ("grid", "random"):
        raise ConfigError(f"{source} [search]: kind: expected 'grid' or 'random', got {kind!r}")
    trials = search.get("trials", 10 if kind == "random" else None)
    if trials is not None and kind == "grid":
        raise ConfigError(f"{source} [search]: trials applies to kind = 'random' (a grid runs every combination)")
    if trials is not None and (isinstance(trials, bool) or not isinstance(trials, int) or trials < 1):
        raise ConfigError(f"{source} [search]: trials: expected an integer >= 1, got {trials!r}")
    seed = search.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"{source} [search]: seed: expected an integer >= 0, got {seed!r}")
    metric = search.get("metric", "val_accuracy")
    if metric not in METRICS:
        raise ConfigError(f"{source} [search]: metric: expected one of {', '.join(METRICS)}; got {metric!r}")
    return {"kind": kind, "trials": trials, "seed": seed, "metric": metric}


def _trial_name(index: int, width: int, values: Mapping[str, Any]) -> str:
    """``trial-003-lr=0.05-hidden=256_128``: the place, then each value (file-name safe)."""
    parts = [f"{k}={_slug(v)}" for k, v in values.items()]
    return "-".join([f"trial-{index:0{width}d}", *parts])[:120]


def _slug(value: Any) -> str:
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return re.sub(r"[^A-Za-z0-9.+=_]", "_", text)


# --- one trial (on a worker) ------------------------------------------------------------

def run_trial(options: Mapping[str, Any]) -> dict[str, Any]:
    """Run (or resume, or just read) one trial's run directory ``options["out"]``; its row.

    Runs on a Dask worker, one BLAS thread per worker process. A lock file beside the run
    directory keeps two attempts (a retry and an orphan of a killed sweep) from running the
    same trial at once (``DIR/.locks/<trial>``). An :class:`~ffnn.FfnnError` gives a ``failed`` row with its message.
    """
    from .cli import TrainConfig, _state_dir, resume_training, run_training
    run_dir = Path(options["out"])
    with _one_blas_thread(), _locked(run_dir.parent / ".locks" / run_dir.name):
        state = _state_dir(run_dir)
        try:
            if not (run_dir / "metrics.json").is_file():
                if (state / "recipe.toml").is_file():
                    resume_training(run_dir, print_fn=_silent)
                else:
                    shutil.rmtree(state, ignore_errors=True)      # made, but stopped before its recipe
                    run_training(TrainConfig(**options), print_fn=_silent)
            shutil.rmtree(state, ignore_errors=True)              # stopped between publishing and cleaning up
        except FfnnError as exc:
            return {"status": "failed", "error": _one_line(exc)}
    return finished_row(run_dir)


def finished_row(run_dir: Path) -> dict[str, Any]:
    """The row of a finished trial: its metrics (from ``metrics.json``) and training seconds."""
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    final = metrics.get("final") or {}
    row: dict[str, Any] = {k: final[k] for k in ("val_accuracy", "val_loss", "accuracy", "loss") if k in final}
    row.update({k: metrics[k] for k in ("test_accuracy", "test_mse") if k in metrics})
    row.update({"epochs": metrics.get("epochs"), "seconds": metrics.get("train_seconds"), "status": "done",
                "error": ""})
    return row


def _silent(*args: Any, **kwargs: Any) -> None:
    """A trial prints nothing (its run directory keeps everything)."""


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    """One BLAS thread in this worker (the workers share the cores); needs threadpoolctl."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(1):
        yield


@contextmanager
def _locked(path: Path, busy: str | None = None) -> Iterator[None]:
    """An exclusive lock on ``path`` (POSIX ``flock``; released when its holder dies). With
    ``busy``, a lock held by another process raises :class:`ConfigError` with that message
    instead of waiting."""
    try:
        import fcntl
    except ImportError:                  # not POSIX: no lock
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (fcntl.LOCK_NB if busy else 0))
        except BlockingIOError:
            raise ConfigError(busy) from None
        yield


# --- the sweep (on the client) ------------------------------------------------------------

class SweepResults(list[dict[str, Any]]):
    """The rows of a sweep, best first by ``metric`` (failed trials and missing metrics last)."""

    def __init__(self, rows: list[dict[str, Any]], metric: str, path: Path) -> None:
        super().__init__(rows)
        self.metric = metric
        self.path = path

    @property
    def best(self) -> dict[str, Any] | None:
        """The best finished trial's row (None when none has the metric)."""
        return self[0] if self and _score(self[0], self.metric) is not None else None

    def to_pandas(self) -> Any:
        """The rows as a pandas DataFrame (needs pandas)."""
        try:
            import pandas as pd
        except ImportError:
            raise ConfigError("SweepResults.to_pandas needs pandas: pip install pandas") from None
        return pd.DataFrame(list(self))


def _score(row: Mapping[str, Any], metric: str) -> float | None:
    value = row.get(metric)
    if row.get("status") != "done" or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value) if METRICS[metric] == "max" else -float(value)


def _ranked(rows: list[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    def key(row: dict[str, Any]) -> tuple[bool, float, str]:
        score = _score(row, metric)
        return (score is None, -(score or 0.0), row["trial"])
    return sorted(rows, key=key)


def sweep(spec: SweepSpec | str | os.PathLike[str] | Mapping[str, Any], out: str | os.PathLike[str], *,
          workers: int | None = None, scheduler: str | None = None, retries: int = 2,
          progress: bool | None = False, print_fn: Callable[..., None] | None = None) -> SweepResults:
    """Run every trial of a sweep (see the module) as a run directory under ``out``; the rows.

    Parameters
    ----------
    spec : path of a sweep TOML file, a mapping with ``train``, ``sweep`` and ``search``, or a SweepSpec
    out : the sweep's directory (run it again with the same spec to resume)
    workers : local worker processes (default: one per CPU core); not with ``scheduler``
    scheduler : address of a running Dask scheduler (``tcp://HOST:8786``); ``out`` must be
        on a file system every worker shares
    retries : how often Dask runs a trial again after an unexpected error
    progress : a progress bar over the trials (tqdm, on a terminal)
    print_fn : called with one line per trial as it ends (default: silent)

    Returns
    -------
    SweepResults
        The rows (dicts), best first; ``.best``, ``.to_pandas()``.
    """
    spec = spec if isinstance(spec, SweepSpec) else SweepSpec.load(spec)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ConfigError(f"workers: expected an integer >= 1, got {workers!r}")
    if workers is not None and scheduler is not None:
        raise ConfigError("give --workers (a local cluster) or --scheduler (a running one), not both")
    out = Path(out)
    with _locked(out / ".locks" / ".sweep", busy=f"another ffnn sweep is running in {out}; wait for it to end"):
        return _sweep_owned(spec, out, workers, scheduler, retries, progress, print_fn)


def _sweep_owned(spec: SweepSpec, out: Path, workers: int | None, scheduler: str | None, retries: int,
                 progress: bool | None, print_fn: Callable[..., None] | None) -> SweepResults:
    """:func:`sweep` once this process holds the sweep directory: the files a killed sweep was
    writing are its own to remove."""
    from ._atomic import remove_stale_temporaries
    from .callbacks import want_progress
    for name in ("sweep.json", "results.csv"):
        remove_stale_temporaries(out / name)
    trials = spec.trial_list()
    _claim(out, spec)
    rows: dict[str, dict[str, Any]] = {}
    todo = []
    for trial in trials:
        if (out / trial.name / "metrics.json").is_file():
            rows[trial.name] = _row(trial, out, finished_row(out / trial.name))
        else:
            todo.append(trial)
    say = print_fn or _silent
    if len(rows):
        say(f"{len(rows)} of {len(trials)} trials already finished in {out}")
    bar = None
    if want_progress(progress):
        try:
            from tqdm.auto import tqdm
            bar = tqdm(total=len(trials), initial=len(rows), unit="trial", desc="sweep", file=sys.stderr,
                       dynamic_ncols=True)
        except ImportError:
            pass
    try:
        if todo:
            with _client(workers, scheduler) as client:
                from dask.distributed import as_completed
                futures = {client.submit(run_trial, asdict(spec.config(t, out)), key=f"{t.name}-{time.time_ns()}",
                                         retries=retries, pure=False): t for t in todo}
                for future in as_completed(futures):
                    trial = futures[future]
                    try:
                        result = future.result()
                    except Exception as exc:       # retries spent, or the worker died too often
                        result = {"status": "failed", "error": _one_line(exc)}
                    rows[trial.name] = _row(trial, out, result)
                    _write_csv(out, spec, trials, rows)
                    if bar is not None:
                        bar.update(1)
                    else:
                        say(_line(rows[trial.name], spec.metric))
    finally:
        if bar is not None:
            bar.close()
    _write_csv(out, spec, trials, rows)
    return SweepResults(_ranked(list(rows.values()), spec.metric), spec.metric, out / "results.csv")


def _row(trial: Trial, out: Path, result: Mapping[str, Any]) -> dict[str, Any]:
    return {"trial": trial.name, **trial.values, **result, "path": str(out / trial.name)}


def _line(row: Mapping[str, Any], metric: str) -> str:
    if row["status"] != "done":
        return f"{row['trial']}: failed: {row['error']}"
    value = row.get(metric)
    shown = f"{metric} {value:.4f}" if isinstance(value, float) else f"no {metric}"
    return f"{row['trial']}: {shown} ({row['seconds']:.1f}s)"


def _claim(out: Path, spec: SweepSpec) -> None:
    """Record the sweep in ``out/sweep.json``; a directory holding another sweep is refused."""
    record = out / "sweep.json"
    text = json.dumps(spec.to_dict(), indent=1, sort_keys=True) + "\n"
    if record.is_file():
        if json.loads(record.read_text(encoding="utf-8")) != json.loads(text):
            raise ConfigError(f"{out} holds another sweep (its sweep.json differs from {spec.source}); "
                              "give another --out, or the same sweep file to resume it")
        return
    from ._atomic import write_atomic
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(record, text)


def _columns(spec: SweepSpec, rows: Mapping[str, Mapping[str, Any]]) -> list[str]:
    metrics = [m for m in METRICS if any(m in row for row in rows.values())]
    return ["trial", *spec.grid, *metrics, "epochs", "seconds", "status", "error", "path"]


def _write_csv(out: Path, spec: SweepSpec, trials: list[Trial], rows: Mapping[str, Mapping[str, Any]]) -> None:
    """``out/results.csv``: one row per trial that has ended, in trial order (written atomically)."""
    from ._atomic import write_atomic
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, _columns(spec, rows), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for trial in trials:
        if trial.name in rows:
            writer.writerow(rows[trial.name])
    write_atomic(out / "results.csv", buffer.getvalue())


@contextmanager
def _client(workers: int | None, scheduler: str | None) -> Iterator[Any]:
    """A Dask client: of the running cluster at ``scheduler``, or of a local cluster of
    ``workers`` processes (one thread each), closed afterwards."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError("ffnn sweep needs Dask: pip install 'ffnn[dask]'") from None
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="20s")
        except OSError as exc:
            raise ConfigError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        with client:
            yield client
        return
    import logging
    n = workers or os.cpu_count() or 1
    with LocalCluster(n_workers=n, processes=True, threads_per_worker=1, dashboard_address=None,
                      silence_logs=logging.CRITICAL) as cluster, Client(cluster) as client:
        yield client


def format_table(results: SweepResults, spec: SweepSpec) -> str:
    """The results as a text table, best first."""
    metrics = [results.metric, *(m for m in ("test_accuracy", "test_mse") if m != results.metric
                                 and any(m in row for row in results))]
    head = ["trial", *spec.grid, *metrics, "seconds", "status"]
    body = []
    for row in results:
        cells = [row["trial"], *(str(row.get(k)) for k in spec.grid)]
        cells += [f"{row[m]:.4f}" if isinstance(row.get(m), float) else "-" for m in metrics]
        cells += [f"{row['seconds']:.1f}" if isinstance(row.get("seconds"), float) else "-",
                  row["status"] if row["status"] == "done" else f"failed: {row['error']}"]
        body.append(cells)
    widths = [max(len(str(c)) for c in column) for column in zip(head, *body, strict=True)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()
             for cells in [head, *body]]
    return "\n".join(lines)
