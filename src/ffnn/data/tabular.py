"""The user's own data: numeric CSV files and NPZ archives.

CSV
    Comma-separated numbers, one sample per line; blank lines are skipped. The first row is a
    header when any of its cells is not a number. The target is the column named by
    ``target`` (a header name or a column index), by default the last column.
NPZ
    Arrays ``X`` (n, d) and ``y`` (n,) or (n, k), optionally ``X_test`` and ``y_test`` (then
    no split is made) and ``class_names`` (strings). ``X`` of shape (n, h, w) is an image
    set: it is flattened and ``image_shape`` is recorded. Loaded with ``allow_pickle=False``.

The task is inferred from the training targets unless ``task`` is given: a single target
column of integer values with at most :data:`MAX_CLASSES` distinct values is classification,
anything else regression. Class labels other than ``0..K-1`` are mapped to ``0..K-1`` in
sorted order and the original values are kept as ``class_names``.
"""

from __future__ import annotations

import csv
import gzip
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from .._typing import Seed
from .._validation import check_choice
from ..errors import ConfigError, DataError
from .dataset import TASKS, Dataset, train_test_split

__all__ = ["load_csv", "load_npz", "load_file", "infer_task", "MAX_CLASSES"]

MAX_CLASSES = 100
"""Most distinct integer target values for which a task is inferred as classification."""

_NPZ_KEYS = ("X", "y", "X_test", "y_test", "class_names")


def load_file(path: str | os.PathLike, *, seed: Seed = 0, **options: Any) -> Dataset:
    """Load a ``.csv`` (or ``.csv.gz``) or ``.npz`` file; see :func:`load_csv`, :func:`load_npz`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such data file: {path}")
    name = path.name.lower()
    loader: Callable[..., Dataset]
    allowed: tuple[str, ...]
    if name.endswith((".csv", ".csv.gz")):
        loader, allowed = load_csv, ("target", "task", "test_fraction", "delimiter")
    elif name.endswith(".npz"):
        loader, allowed = load_npz, ("task", "test_fraction")
    else:
        raise DataError(f"cannot load {path}: expected a .csv, .csv.gz or .npz file")
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(f"{path.name} takes no option {', '.join(unknown)}; "
                          f"options: {', '.join(allowed)}")
    return loader(path, seed=seed, **options)


def _open_text(path: Path) -> TextIO:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", newline="", encoding="utf-8")
    return open(path, newline="", encoding="utf-8")


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def load_csv(path: str | os.PathLike, *, target: str | int | None = None, task: str | None = None,
             test_fraction: float = 0.2, seed: Seed = 0, delimiter: str = ",") -> Dataset:
    """Load a numeric CSV file and split it into train and test parts.

    Parameters
    ----------
    path : path
        The file (``.gz`` is decompressed).
    target : str, int or None
        Target column: a header name, or an index (negative counts from the end). Default:
        the last column.
    task : {"classification", "regression"} or None
        Override the inferred task.
    test_fraction : float in [0, 1)
        Share held out for testing, stratified by class for classification.
    seed : int, Generator or None
        Seed of the split.
    delimiter : str
        Cell separator.

    Raises
    ------
    DataError
        Missing file, no data rows, a ragged row or a cell that is not a finite number (the
        message names the file, line and column), or an unknown target column.
    """
    path = Path(path)
    try:
        header, rows = read_table(path, delimiter)
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: not a readable UTF-8 CSV file ({exc})") from exc
    table = np.array(rows, dtype=np.float64)
    col = _target_column(path, header, table.shape[1], target)
    X = np.delete(table, col, axis=1).astype(np.float32)
    y = table[:, col]
    return _build(path.name, X, y, None, None, None, task, test_fraction, seed,
                  f"user CSV file {path}")


def read_table(path: Path, delimiter: str = ",", min_columns: int = 2) -> tuple[list[str] | None, list[list[float]]]:
    """The header (or None) and the numeric rows of a CSV file; at least ``min_columns`` columns."""
    header: list[str] | None = None
    rows: list[list[float]] = []
    width: int | None = None
    width_line = 0
    with _open_text(path) as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        for cells in reader:
            line = reader.line_num
            if not cells or all(not c.strip() for c in cells):
                continue
            if header is None and not rows and not all(_is_number(c) for c in cells):
                header, width, width_line = [c.strip() for c in cells], len(cells), line
                continue
            if width is None:
                width, width_line = len(cells), line
            elif len(cells) != width:
                raise DataError(f"{path}, line {line}: ragged row with {len(cells)} columns; "
                                f"expected {width} as on line {width_line}")
            rows.append([_cell(path, line, j, c, header) for j, c in enumerate(cells)])
    if not rows:
        raise DataError(f"{path}: no data rows; expected at least one line of numbers")
    assert width is not None  # set by the header or the first data row
    if width < min_columns:
        raise DataError(f"{path}: {width} column; expected at least {min_columns}"
                        + (" (features and a target)" if min_columns == 2 else ""))
    return header, rows


def _cell(path: Path, line: int, j: int, cell: str, header: list[str] | None) -> float:
    try:
        value = float(cell)
    except ValueError:
        value = None
    if value is None or not np.isfinite(value):
        name = f" ({header[j]!r})" if header else ""
        raise DataError(f"{path}, line {line}, column {j + 1}{name}: got {cell!r}; "
                        "expected a finite number")
    return value


def _target_column(path: Path, header: list[str] | None, width: int, target: str | int | None) -> int:
    if target is None:
        return width - 1
    if isinstance(target, str):
        if header is None:
            raise DataError(f"{path} has no header row, so target={target!r} cannot be found; "
                            "pass a column index or add a header")
        if target not in header:
            raise DataError(f"{path}: no column named {target!r}; columns are {header}")
        return header.index(target)
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool) and -width <= target < width:
        return int(target) % width
    raise DataError(f"{path}: target must be a column name or an index in [-{width}, {width}), "
                    f"got {target!r}")


def load_npz(path: str | os.PathLike, *, task: str | None = None, test_fraction: float = 0.2,
             seed: Seed = 0) -> Dataset:
    """Load ``X``, ``y`` (and optionally ``X_test``, ``y_test``, ``class_names``) from an NPZ file.

    Without ``X_test``/``y_test`` the data are split by ``test_fraction`` and ``seed`` as in
    :func:`load_csv`. Object arrays are refused (they would need pickle).

    Raises
    ------
    DataError
        Not an NPZ file, object arrays, missing or unknown keys, or inconsistent shapes.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not hasattr(archive, "files"):
                raise DataError(f"{path}: expected an .npz archive, got a single .npy array")
            unknown = sorted(set(archive.files) - set(_NPZ_KEYS))
            if unknown or "X" not in archive.files or "y" not in archive.files:
                raise DataError(f"{path}: arrays {sorted(archive.files)}; expected X and y, "
                                f"optionally X_test, y_test and class_names")
            if ("X_test" in archive.files) != ("y_test" in archive.files):
                raise DataError(f"{path}: X_test and y_test must be given together")
            arrays = {k: archive[k] for k in archive.files}
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    except ValueError as exc:  # numpy: "Object arrays cannot be loaded when allow_pickle=False"
        raise DataError(f"{path}: {exc}; object arrays are not supported, store numeric arrays") from exc
    image_shape = None
    X = arrays["X"]
    if X.ndim == 3:
        image_shape = (int(X.shape[1]), int(X.shape[2]))
    X = _features(path, "X", X)
    X_test = _features(path, "X_test", arrays["X_test"]) if "X_test" in arrays else None
    names = arrays.get("class_names")
    if names is not None and (names.dtype.kind != "U" or names.ndim != 1):
        raise DataError(f"{path}: class_names must be a 1-D array of strings, got {names.dtype} "
                        f"of shape {names.shape}")
    return _build(path.name, X, _targets(path, "y", arrays["y"]), X_test,
                  _targets(path, "y_test", arrays["y_test"]) if "y_test" in arrays else None,
                  None if names is None else tuple(str(s) for s in names), task, test_fraction,
                  seed, f"user NPZ file {path}", image_shape)


def _features(path: Path, key: str, X: np.ndarray) -> np.ndarray:
    if X.dtype.kind not in "biuf":
        raise DataError(f"{path}: {key} must be numeric, got dtype {X.dtype}")
    if X.ndim == 3:
        X = X.reshape(len(X), -1)
    if X.ndim != 2:
        raise DataError(f"{path}: {key} must have shape (n_samples, n_features) or "
                        f"(n_samples, height, width), got {X.shape}")
    if not np.isfinite(X).all():
        raise DataError(f"{path}: {key} contains non-finite values; expected finite numbers")
    return X.astype(np.float32)


def _targets(path: Path, key: str, y: np.ndarray) -> np.ndarray:
    if y.dtype.kind not in "biuf":
        raise DataError(f"{path}: {key} must be numeric, got dtype {y.dtype}")
    if y.ndim not in (1, 2):
        raise DataError(f"{path}: {key} must have shape (n,) or (n, k), got {y.shape}")
    if not np.isfinite(y).all():
        raise DataError(f"{path}: {key} contains non-finite values; expected finite numbers")
    return y.astype(np.float64)


def infer_task(y: np.ndarray) -> str:
    """``"classification"`` for one column of at most :data:`MAX_CLASSES` integer values, else ``"regression"``."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim == 1 and np.all(y == np.round(y)) and len(np.unique(y)) <= MAX_CLASSES:
        return "classification"
    return "regression"


def _build(name: str, X: np.ndarray, y: np.ndarray, X_test: np.ndarray | None,
           y_test: np.ndarray | None, class_names: tuple[str, ...] | None, task: str | None,
           test_fraction: float, seed: Seed, description: str,
           image_shape: tuple[int, int] | None = None) -> Dataset:
    if len(X) != len(y):
        raise DataError(f"{name}: X has {len(X)} rows but y has {len(y)}")
    task = infer_task(y) if task is None else check_choice("task", task, TASKS)
    n_classes: int | None
    if task == "classification":
        y = _one_column(name, "y", y)
        y_test = None if y_test is None else _one_column(name, "y_test", y_test)
        y, y_test, n_classes, class_names = _encode_labels(name, y, y_test, class_names)
    else:
        n_classes, class_names = None, None
        y = y.astype(np.float32)
        y_test = None if y_test is None else y_test.astype(np.float32)
    if X_test is None:
        train, test = train_test_split(len(X), test_fraction, seed,
                                       stratify=y if task == "classification" else None)
        X, X_test, y, y_test = X[train], X[test], y[train], y[test]
    elif y_test is None:  # the loaders give X_test and y_test together
        raise DataError(f"{name}: X_test and y_test must be given together")
    return Dataset(name, X, y, X_test, y_test, task, n_classes, image_shape, class_names, description)


def _one_column(name: str, key: str, y: np.ndarray) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] != 1:
        raise DataError(f"{name}: classification needs one target column, got {key} of shape {y.shape}")
    return y.reshape(len(y))


def _encode_labels(
        name: str, y: np.ndarray, y_test: np.ndarray | None, class_names: tuple[str, ...] | None,
) -> tuple[np.ndarray, np.ndarray | None, int, tuple[str, ...] | None]:
    """Map the label values to ``0..K-1`` (sorted), recording the original values as names."""
    values = np.unique(y if y_test is None else np.concatenate([y, y_test]))
    if class_names is not None:
        k = len(class_names)
        if not (np.all(values == np.round(values)) and values[0] >= 0 and values[-1] < k):
            raise DataError(f"{name}: with {k} class_names the labels must be integers in [0, {k}), "
                            f"got values in [{values[0]:g}, {values[-1]:g}]")
        values = np.arange(k)
    elif not np.array_equal(values, np.arange(len(values))):
        class_names = tuple(f"{v:g}" for v in values)

    def encode(v: np.ndarray) -> np.ndarray:
        return np.searchsorted(values, v).astype(np.int64)

    return encode(y), None if y_test is None else encode(y_test), len(values), class_names
