"""Saving and loading models without pickle.

A model file is one ``.npz`` (zip) archive holding

- ``__ffnn__``: the architecture as UTF-8 JSON (stored as a uint8 array): the format name and
  version, each layer's registered class name and constructor arguments, and for each
  parameter its array key, shape, dtype and SHA-256; plus the model's ``metadata``;
- one array per parameter, keyed ``"<layer index>.<name>"`` (e.g. ``"0.weight"``).

A training checkpoint (:mod:`ffnn.checkpoint`) is a model file with a ``training`` section
in the header and the arrays it describes: :func:`load` reads the model out of it.

Loading uses ``allow_pickle=False``, resolves layer classes only through the explicit
registry :data:`ffnn.catalog.LAYERS` and checks every array's shape, dtype and hash, so a
corrupt, tampered or foreign file is rejected with a :class:`ffnn.ModelFileError` and never
half-used. The metadata keys ffnn reads are checked too (:func:`ffnn.recipe.check_metadata`).
Files are written atomically (temporary file + rename).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ._atomic import write_atomic
from .errors import FfnnError, ModelFileError
from .layers import Layer
from .model import Sequential

__all__ = ["save", "load", "FORMAT_NAME", "FORMAT_VERSION", "write_archive", "read_archive", "describe_model",
           "build_model", "describe_arrays", "check_arrays"]

FORMAT_NAME = "ffnn-model"
FORMAT_VERSION = 1
_HEADER_KEY = "__ffnn__"


def _sha256(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def describe_arrays(arrays: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    """``{key: {"shape", "dtype", "sha256"}}`` for arrays stored beside a header."""
    return {key: {"shape": list(a.shape), "dtype": a.dtype.name, "sha256": _sha256(a)} for key, a in arrays.items()}


def check_arrays(path: str | os.PathLike[str], described: Any, contents: dict[str, np.ndarray],
                 what: str) -> dict[str, np.ndarray]:
    """The arrays that ``described`` (from :func:`describe_arrays`) lists, each verified."""
    if not isinstance(described, dict):
        raise ModelFileError(f"{path}: the {what} array list must be an object, got {type(described).__name__}")
    found = {}
    for key, entry in described.items():
        if key not in contents:
            raise ModelFileError(f"{path}: {what} array {key!r} is missing")
        arr = contents[key]
        if not isinstance(entry, dict) or entry.get("shape") != list(arr.shape) or entry.get("dtype") != arr.dtype.name:
            raise ModelFileError(f"{path}: {what} array {key!r} has shape {arr.shape} and dtype {arr.dtype}, "
                                 f"the header says {entry!r:.120}")
        if entry.get("sha256") != _sha256(arr):
            raise ModelFileError(f"{path}: {what} array {key!r} does not match its recorded SHA-256; "
                                 "the file is corrupt or was modified")
        found[key] = arr
    return found


def describe_model(model: Sequential) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The JSON header (format, layers, metadata) and the parameter arrays of ``model``."""
    from . import __version__
    arrays: dict[str, np.ndarray] = {}
    layers = []
    for i, layer in enumerate(model.layers):
        params = {}
        for p in layer.parameters():
            key = f"{i}.{p.name}"
            arrays[key] = p.value
            params[p.name] = {"key": key, "shape": list(p.value.shape), "dtype": p.value.dtype.name,
                              "sha256": _sha256(p.value)}
        layers.append({"type": type(layer).__name__, "config": layer.config(), "params": params})
    header = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "ffnn_version": __version__,
              "layers": layers, "metadata": model.metadata}
    return header, arrays


def write_archive(path: str | os.PathLike[str], header: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    """Write a JSON header and arrays as one ``.npz`` file at exactly ``path``, atomically."""
    try:
        header_bytes = json.dumps(header).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"the model's metadata must be JSON-serializable: {exc}") from exc
    buf = io.BytesIO()
    contents: dict[str, Any] = {_HEADER_KEY: np.frombuffer(header_bytes, dtype=np.uint8), **arrays}
    np.savez(buf, **contents)
    return write_atomic(path, buf.getvalue())


def save(model: Sequential, path: str | os.PathLike[str]) -> Path:
    """Write ``model`` to exactly ``path`` (no suffix added), atomically. Returns the path.

    Examples
    --------
    >>> import numpy as np, tempfile, os, ffnn
    >>> from ffnn import layers
    >>> model = ffnn.Sequential([layers.Linear(2, 2, rng=0), layers.ReLU()])
    >>> path = os.path.join(tempfile.mkdtemp(), "net.ffnn")
    >>> _ = ffnn.save(model, path)
    >>> again = ffnn.load(path)
    >>> bool(np.array_equal(again[0].weight.value, model[0].weight.value))
    True
    """
    if not isinstance(model, Sequential):
        raise ModelFileError(f"save expects an ffnn.Sequential, got {type(model).__name__}")
    header, arrays = describe_model(model)
    return write_archive(path, header, arrays)


def read_archive(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read the header and arrays of a file written by :func:`write_archive` (format checked)."""
    path = Path(path)
    try:
        return _read_archive(path)
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, KeyError, TypeError, AttributeError, ValueError, OSError, EOFError) as exc:
        raise ModelFileError(f"{path} is not a valid ffnn model file: {type(exc).__name__}: {exc}") from exc


def _read_archive(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    if not path.is_file():
        raise ModelFileError(f"model file {str(path)!r} does not exist or is not a file")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path} is not an ffnn model file: expected an .npz (zip) archive "
                             "written by ffnn.save")
    try:
        with np.load(path, allow_pickle=False) as archive:
            contents = {key: archive[key] for key in archive.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        raise ModelFileError(f"{path} is not a valid ffnn model file (expected an .npz archive "
                             f"written by ffnn.save): {exc}") from exc
    if _HEADER_KEY not in contents:
        raise ModelFileError(f"{path} has no ffnn header ({_HEADER_KEY!r}); it was not written by ffnn.save")
    try:
        header = json.loads(contents.pop(_HEADER_KEY).tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: the architecture header is not valid JSON: {exc}") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        got = header.get("format") if isinstance(header, dict) else header
        raise ModelFileError(f"{path}: expected format {FORMAT_NAME!r}, got {got!r}")
    if header.get("version") != FORMAT_VERSION:
        raise ModelFileError(f"{path}: format version {header.get('version')!r} is not supported "
                             f"(this ffnn reads version {FORMAT_VERSION})")
    return header, contents


def _build_layer(index: int, spec: Any) -> Layer:
    from .catalog import LAYERS
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str) or not isinstance(spec.get("config"), dict):
        raise ModelFileError(f"layer {index}: expected an entry with 'type' and 'config', got {spec!r:.200}")
    name = spec["type"]
    if name not in LAYERS:
        raise ModelFileError(f"layer {index}: unknown layer type {name!r}; known types: {', '.join(LAYERS)} "
                             "(register your own with ffnn.catalog.register_layer)")
    config = dict(spec["config"])
    try:
        return LAYERS[name].from_config(config)
    except (TypeError, FfnnError) as exc:
        raise ModelFileError(f"layer {index} ({name}): bad configuration {config}: {exc}") from exc


def build_model(path: str | os.PathLike[str], header: dict[str, Any], contents: dict[str, np.ndarray]) -> \
        tuple[Sequential, set[str]]:
    """The model a header describes, its parameters loaded (and verified) from ``contents``.

    Returns the model and the keys of the arrays it used.
    """
    from .recipe import check_metadata
    specs = header.get("layers")
    if not isinstance(specs, list):
        raise ModelFileError(f"{path}: 'layers' must be a list, got {type(specs).__name__}")
    layers = [_build_layer(i, spec) for i, spec in enumerate(specs)]
    used = set()
    for i, (layer, spec) in enumerate(zip(layers, specs, strict=True)):
        entries = spec.get("params", {})
        params = {p.name: p for p in layer.parameters()}
        if not isinstance(entries, dict) or set(entries) != set(params):
            raise ModelFileError(f"{path}: layer {i} ({spec['type']}) expects parameters {sorted(params)}, "
                                 f"the file lists {sorted(entries) if isinstance(entries, dict) else entries!r}")
        for name, entry in entries.items():
            p = params[name]
            key = entry.get("key") if isinstance(entry, dict) else None
            if not isinstance(key, str) or key not in contents:
                raise ModelFileError(f"{path}: array {key!r} for layer {i} {name} is missing")
            arr = contents[key]
            if arr.shape != p.value.shape or arr.dtype != p.value.dtype:
                raise ModelFileError(f"{path}: layer {i} {name} must have shape {p.value.shape} and dtype "
                                     f"{p.value.dtype}, the file has {arr.shape} {arr.dtype}")
            if entry.get("sha256") != _sha256(arr):
                raise ModelFileError(f"{path}: layer {i} {name} does not match its recorded SHA-256; "
                                     "the file is corrupt or was modified")
            p.value[...] = arr
            used.add(key)
    metadata = header.get("metadata", {})
    if not isinstance(metadata, dict):
        raise ModelFileError(f"{path}: 'metadata' must be an object, got {type(metadata).__name__}")
    try:
        check_metadata(metadata)
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    try:
        return Sequential(layers, metadata=metadata), used
    except FfnnError as exc:
        raise ModelFileError(f"{path}: the layers do not fit together: {exc}") from exc


def load(path: str | os.PathLike[str]) -> Sequential:
    """Read a model written by :func:`save` (or the model of a training checkpoint); any
    inconsistency raises :class:`ModelFileError`."""
    header, contents = read_archive(path)
    try:
        model, used = build_model(path, header, contents)
        if "training" in header:       # a checkpoint: its training arrays are described and verified too
            used |= set(check_arrays(path, header.get("training_arrays", {}), contents, "training"))
    except ModelFileError:
        raise
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ModelFileError(f"{path} is not a valid ffnn model file: {type(exc).__name__}: {exc}") from exc
    extra = set(contents) - used
    if extra:
        raise ModelFileError(f"{path}: unexpected arrays {sorted(extra)} not described by the header")
    return model
