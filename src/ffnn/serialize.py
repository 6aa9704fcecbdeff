"""Saving and loading models without pickle.

A model file is one ``.npz`` (zip) archive holding

- ``__ffnn__``: the architecture as UTF-8 JSON (stored as a uint8 array): the format name and
  version, each layer's registered class name and constructor arguments, and for each
  parameter its array key, shape, dtype and SHA-256; plus the model's ``metadata``;
- one array per parameter, keyed ``"<layer index>.<name>"`` (e.g. ``"0.weight"``).

Loading uses ``allow_pickle=False``, resolves layer classes only through the explicit
registry :data:`ffnn.layers.LAYERS` and checks every array's shape, dtype and hash, so a
corrupt, tampered or foreign file is rejected with a :class:`ffnn.ModelFileError` and never
half-used. Files are written atomically (temporary file + rename).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .errors import FfnnError, ModelFileError
from .layers import LAYERS, Layer, Linear
from .model import Sequential

__all__ = ["save", "load", "FORMAT_NAME", "FORMAT_VERSION"]

FORMAT_NAME = "ffnn-model"
FORMAT_VERSION = 1
_HEADER_KEY = "__ffnn__"


def _sha256(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _describe(model: Sequential) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
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


def save(model: Sequential, path: str | os.PathLike) -> Path:
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
    path = Path(path)
    header, arrays = _describe(model)
    try:
        header_bytes = json.dumps(header).encode("utf-8")
    except TypeError as exc:
        raise ModelFileError(f"model.metadata must be JSON-serializable: {exc}") from exc
    buf = io.BytesIO()
    np.savez(buf, **{_HEADER_KEY: np.frombuffer(header_bytes, dtype=np.uint8)}, **arrays)
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(buf.getvalue())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _build_layer(index: int, spec: Any) -> Layer:
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str) or not isinstance(spec.get("config"), dict):
        raise ModelFileError(f"layer {index}: expected an entry with 'type' and 'config', got {spec!r:.200}")
    name = spec["type"]
    cls = LAYERS.get(name)
    if cls is None:
        raise ModelFileError(f"layer {index}: unknown layer type {name!r}; known types: {', '.join(LAYERS)}")
    config = dict(spec["config"])
    original_init = config.pop("init", None) if cls is Linear else None
    try:
        layer = cls(**config, init="zeros") if cls is Linear else cls(**config)
    except (TypeError, FfnnError) as exc:
        raise ModelFileError(f"layer {index} ({name}): bad configuration {config}: {exc}") from exc
    if original_init is not None:
        layer.init = original_init
    return layer


def load(path: str | os.PathLike) -> Sequential:
    """Read a model written by :func:`save`; any inconsistency raises :class:`ModelFileError`."""
    path = Path(path)
    try:
        return _load(path)
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, KeyError, TypeError, AttributeError, ValueError, OSError, EOFError) as exc:
        raise ModelFileError(f"{path} is not a valid ffnn model file: {type(exc).__name__}: {exc}") from exc


def _load(path: Path) -> Sequential:
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
        raise ModelFileError(f"{path}: expected format {FORMAT_NAME!r}, got {header.get('format') if isinstance(header, dict) else header!r}")
    if header.get("version") != FORMAT_VERSION:
        raise ModelFileError(f"{path}: format version {header.get('version')!r} is not supported "
                             f"(this ffnn reads version {FORMAT_VERSION})")
    specs = header.get("layers")
    if not isinstance(specs, list):
        raise ModelFileError(f"{path}: 'layers' must be a list, got {type(specs).__name__}")
    layers = [_build_layer(i, spec) for i, spec in enumerate(specs)]
    used = set()
    for i, (layer, spec) in enumerate(zip(layers, specs)):
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
    extra = set(contents) - used
    if extra:
        raise ModelFileError(f"{path}: unexpected arrays {sorted(extra)} not described by the header")
    metadata = header.get("metadata", {})
    if not isinstance(metadata, dict):
        raise ModelFileError(f"{path}: 'metadata' must be an object, got {type(metadata).__name__}")
    try:
        return Sequential(layers, metadata=metadata)
    except FfnnError as exc:
        raise ModelFileError(f"{path}: the layers do not fit together: {exc}") from exc
