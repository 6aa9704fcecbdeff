"""The user's own data: CSV files and NPZ archives.

CSV
    One sample per line; blank lines are skipped; UTF-8 with or without a byte-order mark,
    plain or gzipped (``.csv.gz``). The cell delimiter is sniffed from the first lines (tab,
    semicolon, comma, pipe, then runs of whitespace) unless ``delimiter`` is given. The first
    row is a header when it has a non-numeric cell where the second row has a number (or
    when no cell of it is a number). Feature cells must be finite numbers. The target is the
    column named by ``target`` (a header name or a column index), by default the last; it
    may hold numbers or text class labels (``"cat"``, ``"dog"``).
NPZ
    Arrays ``X`` (n, d) and ``y`` (n,) or (n, k), optionally ``X_test`` and ``y_test`` (then
    no split is made) and ``class_names`` (strings). ``X`` of shape (n, h, w) is an image
    set: it is flattened and ``image_shape`` is recorded. Read with bounded memory
    (:mod:`ffnn._npzread`: shapes and dtypes are checked before any data are read), never
    unpickled.

The task is inferred from the training targets unless ``task`` is given: text labels, or a
single target column of integer values with at most :data:`MAX_CLASSES` distinct values, is
classification; anything else regression. Class labels other than ``0..K-1`` are mapped to
``0..K-1`` in sorted order and the original values are kept as ``class_names``.
"""

from __future__ import annotations

import csv
import gzip
import itertools
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from .._npzread import NpzReader, stream_errors
from .._typing import Seed
from .._validation import DELIMITERS, check_choice, check_delimiter, class_labels
from ..errors import ConfigError, DataError
from .dataset import TASKS, Dataset, train_test_split

__all__ = ["load_csv", "load_npz", "load_file", "infer_task", "read_table", "sniff_delimiter", "input_rows",
           "Table", "MAX_CLASSES"]

MAX_CLASSES = 100
"""Most distinct integer target values for which a task is inferred as classification."""

_NPZ_KEYS = ("X", "y", "X_test", "y_test", "class_names")
_SNIFF_LINES = 20


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
    """The file as text: gunzipped when named ``.gz``, UTF-8 with its byte-order mark dropped."""
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", newline="", encoding="utf-8-sig")
    return open(path, newline="", encoding="utf-8-sig")


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def sniff_delimiter(lines: Sequence[str]) -> str:
    """The delimiter of CSV text (a name of :data:`ffnn._validation.DELIMITERS`).

    The first of tab, semicolon, comma and pipe that occurs on every non-blank line of
    ``lines``; else ``whitespace`` when every line splits into the same number (> 1) of
    fields on runs of blanks; else ``comma`` (a file of one column).
    """
    lines = [line for line in lines if line.strip()]
    for name in ("tab", "semicolon", "comma", "pipe"):
        if lines and all(DELIMITERS[name] in line for line in lines):
            return name
    widths = {len(line.split()) for line in lines}
    return "whitespace" if len(widths) == 1 and widths.pop() > 1 else "comma"


def load_csv(path: str | os.PathLike, *, target: str | int | None = None, task: str | None = None,
             test_fraction: float = 0.2, seed: Seed = 0, delimiter: str | None = None) -> Dataset:
    """Load a CSV file and split it into train and test parts.

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
    delimiter : str or None
        Cell separator: one character or a name (``comma``, ``semicolon``, ``tab``, ``pipe``,
        ``whitespace``); None sniffs it from the file.

    Raises
    ------
    DataError
        Missing, unreadable or corrupt (gzip) file, no data rows, a ragged row or a feature
        cell that is not a finite number (the message names the file, line and column), an
        unknown target column, or text labels for a regression.
    """
    path = Path(path)
    table = read_table(path, delimiter)
    col = _target_column(path, table.header, table.width, target)
    X = _float32(path.name, "the features", table.numbers([j for j in range(table.width) if j != col]))
    y = table.labels(col)
    return _build(path.name, X, y, None, None, None, task, test_fraction, seed,
                  f"user CSV file {path}")


@dataclass(frozen=True)
class Table:
    """The cells of a CSV file: ``header`` (or None), each data row's cells and line number."""

    path: Path
    header: list[str] | None
    rows: list[list[str]]
    lines: list[int]
    delimiter: str

    @property
    def width(self) -> int:
        return len(self.rows[0])

    def numbers(self, columns: Sequence[int] | None = None) -> np.ndarray:
        """The cells of ``columns`` (default all) as float64, shape (n_rows, n_columns).

        Raises :class:`DataError` naming the line and column of the first cell that is not a
        finite number.
        """
        columns = range(self.width) if columns is None else columns
        cells = [[row[j] for j in columns] for row in self.rows]
        try:
            values = np.array(cells, dtype=np.float64).reshape(len(self.rows), len(columns))
            if np.isfinite(values).all():
                return values
        except ValueError:
            pass
        # cell by cell: names the first cell that is not a finite number
        return np.array([[self._number(line, j, row[j]) for j in columns]
                         for row, line in zip(self.rows, self.lines, strict=True)],
                        dtype=np.float64).reshape(len(self.rows), len(columns))

    def _number(self, line: int, j: int, cell: str) -> float:
        try:
            value = float(cell)
        except ValueError:
            value = None
        if value is None or not np.isfinite(value):
            name = f" ({self.header[j]!r})" if self.header else ""
            hint = " (a decimal comma? write numbers with a point)" if "," in cell and self.delimiter != "comma" else ""
            raise DataError(f"{self.path}, line {line}, column {j + 1}{name}: got {cell!r}; "
                            f"expected a finite number{hint}")
        return value

    def labels(self, j: int) -> np.ndarray:
        """Column ``j`` as float64 when every cell is a number, else as text labels."""
        cells = [row[j] for row in self.rows]
        if all(_is_number(c) for c in cells):
            return self.numbers([j])[:, 0]
        return np.array(cells, dtype=str)


def read_table(path: str | os.PathLike, delimiter: str | None = None, min_columns: int = 2) -> Table:
    """The header (or None) and the data rows of a CSV file; at least ``min_columns`` columns.

    ``delimiter`` is checked by :func:`ffnn._validation.check_delimiter`; None sniffs it
    (:func:`sniff_delimiter`). Cells are stripped of surrounding blanks.

    Raises
    ------
    DataError
        A missing, unreadable, non-UTF-8 or corrupt gzip file, a ragged row, no data rows, or
        fewer than ``min_columns`` columns.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"cannot read {path}: no such file")
    with stream_errors(DataError, path, "UTF-8 CSV file"):
        with _open_text(path) as fh:
            name = (check_delimiter(delimiter) if delimiter is not None
                    else sniff_delimiter(list(itertools.islice(fh, _SNIFF_LINES))))
        with _open_text(path) as fh:
            try:
                cells = list(_cells(fh, DELIMITERS.get(name, name)))
            except csv.Error as exc:        # e.g. a cell over the csv module's field size limit
                raise DataError(f"{path}: not a readable CSV file ({exc})") from exc
    if not cells:
        raise DataError(f"{path}: no data rows; expected at least one line of numbers")
    ref_line, ref = cells[0]
    header: list[str] | None = None
    if _is_header(ref, cells[1][1] if len(cells) > 1 else None):
        header = cells.pop(0)[1]
    if not cells:
        raise DataError(f"{path}: no data rows; expected at least one line of numbers")
    width = len(ref)
    for line, row in cells:
        if len(row) != width:
            raise DataError(f"{path}, line {line}: ragged row with {len(row)} columns; "
                            f"expected {width} as on line {ref_line}")
    if width < min_columns:
        others = [d for d in DELIMITERS if d != name and DELIMITERS[d] in cells[0][1][0]]
        hint = f"; the cells contain a {others[0]}: pass delimiter={others[0]!r}" if others else ""
        raise DataError(f"{path}: {width} column with delimiter {name!r}; expected at least {min_columns}"
                        + (" (features and a target)" if min_columns == 2 else "") + hint)
    return Table(path, header, [row for _, row in cells], [line for line, _ in cells], name)


def _cells(fh: TextIO, char: str) -> Iterator[tuple[int, list[str]]]:
    """``(line number, stripped cells)`` of each non-blank row."""
    if char == " ":
        for line, text in enumerate(fh, 1):
            if text.strip():
                yield line, text.split()
        return
    reader = csv.reader(fh, delimiter=char)
    for row in reader:
        if row and any(c.strip() for c in row):
            yield reader.line_num, [c.strip() for c in row]


def _is_header(first: list[str], second: list[str] | None) -> bool:
    """A header has a non-numeric cell where the next row has a number, or no number at all."""
    text = [not _is_number(c) for c in first]
    if all(text):
        return True
    if second is None or len(second) != len(first):
        return any(text)
    return any(t and _is_number(c) for t, c in zip(text, second, strict=True))


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
    :func:`load_csv`. Every array's shape and dtype is checked from its header before its data
    are read (:class:`ffnn._npzread.NpzReader`); object arrays are refused (they would need
    pickle). ``y`` may hold numbers or strings (class labels).

    Raises
    ------
    DataError
        Not an NPZ file (empty, truncated, a single ``.npy``, a damaged archive), object
        arrays, missing or unknown keys, empty or 0-d arrays, or inconsistent shapes.
    """
    path = Path(path)
    with NpzReader(path, error=DataError, what="an NPZ data file") as archive:
        keys = set(archive.keys)
        if keys - set(_NPZ_KEYS) or not {"X", "y"} <= keys:
            raise DataError(f"{path}: arrays {sorted(keys)}; expected X and y, "
                            f"optionally X_test, y_test and class_names")
        if ("X_test" in keys) != ("y_test" in keys):
            raise DataError(f"{path}: X_test and y_test must be given together")
        for key in keys:
            _check_declared(path, key, archive.info(key).shape)
        archive.check_total()
        arrays = {key: archive.read(key) for key in archive.keys}
    image_shape = None
    X = arrays["X"]
    if X.ndim == 3:
        image_shape = (int(X.shape[1]), int(X.shape[2]))
    X = _features(path, "X", X)
    X_test = _features(path, "X_test", arrays["X_test"]) if "X_test" in arrays else None
    if X_test is not None and X_test.shape[1] != X.shape[1]:
        raise DataError(f"{path}: X has {X.shape[1]} features but X_test has {X_test.shape[1]}")
    names = arrays.get("class_names")
    if names is not None and names.dtype.kind != "U":
        raise DataError(f"{path}: class_names must be a 1-D array of strings, got {names.dtype} "
                        f"of shape {names.shape}")
    return _build(path.name, X, _targets(path, "y", arrays["y"]), X_test,
                  _targets(path, "y_test", arrays["y_test"]) if "y_test" in arrays else None,
                  None if names is None else tuple(str(s) for s in names), task, test_fraction,
                  seed, f"user NPZ file {path}", image_shape)


_NDIMS = {"X": (2, 3), "X_test": (2, 3), "y": (1, 2), "y_test": (1, 2), "class_names": (1,)}


def _check_declared(path: Path, key: str, shape: tuple[int, ...]) -> None:
    """The shape an NPZ array declares, checked before its data are read."""
    if len(shape) not in _NDIMS[key]:
        expected = {"X": "(n_samples, n_features) or (n_samples, height, width)",
                    "y": "(n,) or (n, k)", "class_names": "(k,)"}[key.replace("_test", "")]
        raise DataError(f"{path}: {key} must have shape {expected}, got {shape}")
    if 0 in shape:
        raise DataError(f"{path}: {key} is empty (shape {shape}); expected at least one sample and feature")


def input_rows(path: str | os.PathLike, n_features: int, *, delimiter: str | None = None) -> np.ndarray:
    """The rows to predict from: a CSV file (a last extra column, the target, is dropped) or
    an NPZ file's ``X`` (an image set is flattened), as float32 of shape (n, d).

    Read with the same checks as training data (bounded NPZ reading, named bad cells).
    """
    from .._validation import as_float_array
    path = Path(path)
    if path.name.lower().endswith(".npz"):
        with NpzReader(path, error=DataError, what="an NPZ input file") as archive:
            if "X" not in archive:
                raise DataError(f"{path}: expected an array named 'X' in the .npz, found {list(archive.keys)}")
            shape = archive.info("X").shape
            if len(shape) < 1 or 0 in shape:
                raise DataError(f"{path}: X must hold at least one row, got shape {shape}")
            X = archive.read("X")
        with stream_errors(DataError, path, "NPZ input file"):
            X = as_float_array(X, f"{path} X")
        return _float32(str(path), "X", X.reshape(len(X), -1))
    table = read_table(path, delimiter, min_columns=1)
    # a file with one column more than the model's inputs carries a target in its last column
    columns = range(n_features) if table.width == n_features + 1 else None
    return _float32(path.name, "the inputs", table.numbers(columns))


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _float32(name: str, what: str, values: np.ndarray) -> np.ndarray:
    """``values`` (finite) as float32; a magnitude float32 cannot hold is a :class:`DataError`."""
    if values.size and values.dtype.kind == "f" and np.abs(values).max() > _FLOAT32_MAX:
        raise DataError(f"{name}: {what} hold a value of magnitude {np.abs(values).max():g}; "
                        f"expected at most {_FLOAT32_MAX:g} (float32)")
    return values.astype(np.float32)


def _features(path: Path, key: str, X: np.ndarray) -> np.ndarray:
    if X.dtype.kind not in "biuf":
        raise DataError(f"{path}: {key} must be numeric, got dtype {X.dtype}")
    if X.ndim == 3:
        X = X.reshape(len(X), -1)
    if X.ndim != 2 or X.size == 0:
        raise DataError(f"{path}: {key} must have shape (n_samples, n_features) or "
                        f"(n_samples, height, width) with at least one sample and feature, got {X.shape}")
    if not np.isfinite(X).all():
        raise DataError(f"{path}: {key} contains non-finite values; expected finite numbers")
    return _float32(str(path), key, X)


def _targets(path: Path, key: str, y: np.ndarray) -> np.ndarray:
    if y.dtype.kind not in "biufU":
        raise DataError(f"{path}: {key} must hold numbers or strings (class labels), got dtype {y.dtype}")
    if y.ndim not in (1, 2) or y.size == 0 or (y.dtype.kind == "U" and y.ndim != 1):
        raise DataError(f"{path}: {key} must have shape (n,) or (n, k) (strings: (n,)), got {y.shape}")
    if y.dtype.kind == "U":
        return y
    if not np.isfinite(y).all():
        raise DataError(f"{path}: {key} contains non-finite values; expected finite numbers")
    return y.astype(np.float64)


def infer_task(y: np.ndarray) -> str:
    """``"classification"`` for text labels or one column of at most :data:`MAX_CLASSES` integer
    values, else ``"regression"``."""
    y = np.asarray(y)
    if y.dtype.kind in "US":
        return "classification"
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
    if X_test is not None and y_test is not None and len(X_test) != len(y_test):
        raise DataError(f"{name}: X_test has {len(X_test)} rows but y_test has {len(y_test)}")
    task = infer_task(y) if task is None else check_choice("task", task, TASKS)
    text = y.dtype.kind == "U" or (y_test is not None and y_test.dtype.kind == "U")
    n_classes: int | None
    if task == "classification":
        y = _one_column(name, "y", y)
        y_test = None if y_test is None else _one_column(name, "y_test", y_test)
        y, y_test, n_classes, class_names = _encode_labels(name, y, y_test, class_names)
    elif text:
        example = next(v for v in (y if y.dtype.kind == "U" else y_test) if not _is_number(v))  # type: ignore[union-attr]
        raise DataError(f"{name}: the target holds text such as {example!r}; a regression needs numbers "
                        "(text labels mean classification)")
    else:
        n_classes, class_names = None, None
        y = _float32(name, "y", y)
        y_test = None if y_test is None else _float32(name, "y_test", y_test)
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
    """Map the labels (numbers or text) to ``0..K-1`` in sorted order, recording the original
    values as names (:func:`ffnn._validation.class_labels`)."""
    if y_test is not None and (y.dtype.kind == "U") != (y_test.dtype.kind == "U"):
        raise DataError(f"{name}: y and y_test must both hold numbers or both text labels")
    both = y if y_test is None else np.concatenate([y, y_test])
    if class_names is not None:
        if both.dtype.kind == "U":
            raise DataError(f"{name}: with class_names the labels must be integers in [0, {len(class_names)}), "
                            "not text")
        k = len(class_names)
        values = np.unique(both)
        if not (np.all(values == np.round(values)) and values[0] >= 0 and values[-1] < k):
            raise DataError(f"{name}: with {k} class_names the labels must be integers in [0, {k}), "
                            f"got values in [{values[0]:g}, {values[-1]:g}]")
        codes, n = both.astype(np.int64), k
    else:
        values, codes = class_labels(both, f"{name}: the labels", min_classes=1)
        n = len(values)
        if values.dtype.kind == "U":
            class_names = tuple(str(v) for v in values)
        elif not np.array_equal(values, np.arange(n)):
            class_names = tuple(f"{v:g}" for v in values)
    codes = codes.astype(np.int64)
    return codes[:len(y)], None if y_test is None else codes[len(y):], n, class_names
