"""Saving and loading models without pickle.

A model file is one ``.npz`` (zip) archive holding

- ``__ffnn__``: the architecture as UTF-8 JSON (stored as a uint8 array): the format name and
  version, each layer's registered class name and constructor arguments, and for each
  parameter its array key, shape, dtype and SHA-256; plus the model's ``metadata``;
- one array per parameter, keyed ``"<layer index>.<name>"`` (e.g. ``"0.weight"``).

A training checkpoint (:mod:`ffnn.checkpoint`) is a model file with a ``training`` section
in the header and the arrays it describes: :func:`load` reads the model out of it.

Loading never unpickles, resolves layer classes only through the explicit registry
:data:`ffnn.catalog.LAYERS` and checks every array's shape, dtype and hash, so a corrupt,
tampered or foreign file is rejected with a :class:`ffnn.ModelFileError` naming the file and
never half-used. Its memory is bounded by what the file really holds (:class:`ModelArchive`):
the JSON header is read first (size and depth limits), every array's declared shape is
compared with its ``.npy`` header before any data are read, the total is capped
(``max_bytes``), layers are built only after that and the arrays are streamed in one at a
time. The metadata keys ffnn reads are checked too (:func:`ffnn.recipe.check_metadata`).
Files are written atomically (temporary file + rename).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ._atomic import write_atomic
from ._npzread import MAX_BYTES, NpzReader, stream_errors
from .errors import FfnnError, ModelFileError
from .layers import Layer
from .model import Sequential

__all__ = ["save", "load", "FORMAT_NAME", "FORMAT_VERSION", "MAX_HEADER_BYTES", "MAX_JSON_DEPTH", "ModelArchive",
           "write_archive", "read_archive", "describe_model", "build_model", "describe_arrays"]

FORMAT_NAME = "ffnn-model"
FORMAT_VERSION = 1
_HEADER_KEY = "__ffnn__"


def _sha256(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def describe_arrays(arrays: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    """``{key: {"shape", "dtype", "sha256"}}`` for arrays stored beside a header."""
    return {key: {"shape": list(a.shape), "dtype": a.dtype.name, "sha256": _sha256(a)} for key, a in arrays.items()}


def describe_model(model: Sequential) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The JSON header (format, layers, metadata) and the parameter arrays of ``model``."""
    from . import __version__
    arrays: dict[str, np.ndarray] = {}
    layers = []
    backend = model.backend
    for i, layer in enumerate(model.layers):
        params = {}
        for p in layer.parameters():
            key = f"{i}.{p.name}"
            value = p.value if isinstance(p.value, np.ndarray) else backend.to_numpy(p.value)
            arrays[key] = value
            params[p.name] = {"key": key, "shape": list(value.shape), "dtype": value.dtype.name,
                              "sha256": _sha256(value)}
        layers.append({"type": type(layer).__name__, "config": layer.config(), "params": params})
    header = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "ffnn_version": __version__,
              "layers": layers, "metadata": model.metadata}
    return header, arrays


def write_archive(path: str | os.PathLike[str], header: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    """Write a JSON header and arrays as one ``.npz`` file at exactly ``path``, atomically."""
    if _json_depth(header) > MAX_JSON_DEPTH:
        raise ModelFileError(f"the model's header (its metadata) nests deeper than {MAX_JSON_DEPTH} levels; "
                             "ffnn.load would refuse it")
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


MAX_HEADER_BYTES = 16 * 2**20
"""Largest JSON header a model file may have (16 MiB)."""

MAX_JSON_DEPTH = 64
"""Deepest nesting of lists and objects a model file's header may have."""


class ModelArchive(Mapping[str, np.ndarray]):
    """A model file opened for bounded reading: everything is checked before any data are read.

    Opening reads and checks the JSON header (at most :data:`MAX_HEADER_BYTES`, nested at most
    :data:`MAX_JSON_DEPTH` deep, format and version), collects every array the header
    describes (each layer's parameters, a checkpoint's training arrays) and compares each
    with the ``.npy`` header of its archive member (shape and dtype) without reading its data;
    an archive member the header does not describe, a described one that is missing, or a
    total over ``max_bytes`` is refused. Arrays are then read one at a time, on access
    (``archive[key]``), each streamed into one allocation (:mod:`ffnn._npzread`) and its
    SHA-256 checked. Every failure is a :class:`~ffnn.ModelFileError` naming the file.
    """

    def __init__(self, path: str | os.PathLike[str], *, max_bytes: int = MAX_BYTES) -> None:
        self.path = Path(path)
        self._reader = NpzReader(self.path, error=ModelFileError, max_bytes=max_bytes,
                                 what="an ffnn model file")
        try:
            self.header = _read_header(self._reader)
            self.described = _described(self.path, self.header)
            self._match(self._reader)
        except BaseException:
            self._reader.close()
            raise

    def _match(self, reader: NpzReader) -> None:
        extra = sorted(set(reader.keys) - set(self.described) - {_HEADER_KEY})
        if extra:
            raise ModelFileError(f"{self.path}: unexpected arrays {extra[:10]} not described by the header")
        for key, (what, entry) in self.described.items():
            if key not in reader:
                raise ModelFileError(f"{self.path}: array {key!r} ({what}) is missing")
            info = reader.info(key)
            if list(info.shape) != entry["shape"] or info.dtype.name != entry["dtype"]:
                raise ModelFileError(f"{self.path}: array {key!r} ({what}) holds {info.shape} of {info.dtype}, "
                                     f"the header says {tuple(entry['shape'])} of {entry['dtype']}")
        reader.check_total(list(self.described))

    def __getitem__(self, key: str) -> np.ndarray:
        what, entry = self.described[key]
        array = self._reader.read(key)
        if entry["sha256"] != _sha256(array):
            raise ModelFileError(f"{self.path}: array {key!r} ({what}) does not match its recorded SHA-256; "
                                 "the file is corrupt or was modified")
        return array

    def __iter__(self) -> Iterator[str]:
        return iter(self.described)

    def __len__(self) -> int:
        return len(self.described)

    def training_keys(self) -> list[str]:
        """The keys of a checkpoint's training arrays (empty for a model file)."""
        return [key for key, (what, _) in self.described.items() if what == "training"]

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> ModelArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read_header(reader: NpzReader) -> dict[str, Any]:
    path = reader.path
    if _HEADER_KEY not in reader:
        raise ModelFileError(f"{path} has no ffnn header ({_HEADER_KEY!r}); it was not written by ffnn.save")
    info = reader.info(_HEADER_KEY)
    if info.dtype != np.uint8 or len(info.shape) != 1 or info.nbytes > MAX_HEADER_BYTES:
        raise ModelFileError(f"{path}: the header must be at most {MAX_HEADER_BYTES} bytes of UTF-8 JSON "
                             f"(uint8), got {info.shape} of {info.dtype}")
    raw = reader.read(_HEADER_KEY).tobytes()
    with stream_errors(ModelFileError, f"{path}: the architecture header", "UTF-8 JSON text"):
        header = json.loads(raw.decode("utf-8"))       # too deep for the parser: a RecursionError
    depth = _json_depth(header)
    if depth > MAX_JSON_DEPTH:
        raise ModelFileError(f"{path}: the header nests {depth} levels deep; expected at most {MAX_JSON_DEPTH}")
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        got = header.get("format") if isinstance(header, dict) else type(header).__name__
        raise ModelFileError(f"{path}: expected format {FORMAT_NAME!r}, got {got!r:.100}")
    if header.get("version") != FORMAT_VERSION:
        raise ModelFileError(f"{path}: format version {header.get('version')!r:.40} is not supported "
                             f"(this ffnn reads version {FORMAT_VERSION})")
    return header


def _json_depth(value: Any) -> int:
    """How deep lists and objects nest in a parsed JSON value (walked without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def _described(path: Path, header: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """``{key: (what, {"shape", "dtype", "sha256"})}`` of every array the header describes."""
    specs = header.get("layers")
    if not isinstance(specs, list):
        raise ModelFileError(f"{path}: 'layers' must be a list, got {type(specs).__name__}")
    found: dict[str, tuple[str, dict[str, Any]]] = {}

    def add(key: Any, what: str, entry: Any) -> None:
        ok = (isinstance(key, str) and isinstance(entry, dict) and isinstance(entry.get("dtype"), str)
              and isinstance(entry.get("sha256"), str) and isinstance(entry.get("shape"), list)
              and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in entry["shape"]))
        if not ok:
            raise ModelFileError(f"{path}: {what}: expected an array entry with a key, shape, dtype and sha256, "
                                 f"got {entry!r:.120}")
        if key in found or key == _HEADER_KEY:
            raise ModelFileError(f"{path}: array {key!r} is described twice")
        found[key] = (what, entry)

    for i, spec in enumerate(specs):
        params = spec.get("params", {}) if isinstance(spec, dict) else None
        if not isinstance(params, dict):
            raise ModelFileError(f"{path}: layer {i}: expected an entry with 'type', 'config' and 'params', "
                                 f"got {spec!r:.120}")
        for name, entry in params.items():
            add(entry.get("key") if isinstance(entry, dict) else None, f"layer {i} {name}", entry)
    training = header.get("training_arrays", {})
    if not isinstance(training, dict):
        raise ModelFileError(f"{path}: the training array list must be an object, got {type(training).__name__}")
    for key, entry in training.items():
        add(key, "training", entry)
    return found


def read_archive(path: str | os.PathLike[str], *, max_bytes: int = MAX_BYTES) -> \
        tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The header and every array of a file written by :func:`write_archive`, each verified
    (see :class:`ModelArchive`)."""
    with ModelArchive(path, max_bytes=max_bytes) as archive:
        return archive.header, {key: archive[key] for key in archive}


CONFIG_ALLOWANCE = 64 * 2**20
"""Bytes that layer configurations may name beyond what the file's arrays hold (see :func:`build_model`)."""


def _check_implied_size(path: str | os.PathLike[str], specs: list[Any]) -> None:
    """Refuse, before building anything, layer configurations that name far more memory than
    the file's arrays hold: ``Linear(12000, 12000)`` over a 2x2 weight would allocate 1 GB.

    A configuration's size is the product of its integers, in float64 bytes (exact for
    ``Linear``, ``PReLU`` and the normalizations); the layers' total may be at most four times
    the bytes of their declared parameters plus :data:`CONFIG_ALLOWANCE`.
    """
    declared = implied = 0
    for spec in specs:
        if isinstance(spec, dict) and isinstance(spec.get("config"), dict):
            ints = [v for v in spec["config"].values() if isinstance(v, int) and not isinstance(v, bool) and v > 1]
            implied += 8 * math.prod(ints) if ints else 0
        for entry in (spec.get("params", {}) if isinstance(spec, dict) else {}).values():
            declared += 8 * math.prod(entry["shape"])
    if implied > 4 * declared + CONFIG_ALLOWANCE:
        raise ModelFileError(f"{path}: the layer configurations name about {implied // 8:,} values but the "
                             f"file's parameters hold {declared // 8:,}; refused before building the layers")


def _build_layer(path: str | os.PathLike[str], index: int, spec: Any) -> Layer:
    from .catalog import LAYERS
    if not isinstance(spec.get("type"), str) or not isinstance(spec.get("config"), dict):
        raise ModelFileError(f"{path}: layer {index}: expected an entry with 'type' and 'config', got {spec!r:.200}")
    name = spec["type"]
    if name not in LAYERS:
        raise ModelFileError(f"{path}: layer {index}: unknown layer type {name!r:.100}; known types: "
                             f"{', '.join(LAYERS)} (register your own with ffnn.catalog.register_layer)")
    config = dict(spec["config"])
    try:
        return LAYERS[name].from_config(config)
    except (TypeError, ValueError, OverflowError, MemoryError) as exc:   # FfnnErrors are ValueErrors
        raise ModelFileError(f"{path}: layer {index} ({name}): bad configuration {config!r:.200}: {exc}") from exc


def build_model(path: str | os.PathLike[str], header: dict[str, Any], contents: Mapping[str, np.ndarray]) -> \
        Sequential:
    """The model a header describes, its parameters copied from ``contents`` (a
    :class:`ModelArchive`, which reads and verifies each array when it is asked for it).

    Each layer is built from its configuration and its parameters compared with the header's
    description (shape, dtype) before any array is read.
    """
    from .recipe import check_metadata
    specs = header["layers"]
    _check_implied_size(path, specs)
    layers = [_build_layer(path, i, spec) for i, spec in enumerate(specs)]
    for i, (layer, spec) in enumerate(zip(layers, specs, strict=True)):
        entries = spec.get("params", {})
        params = {p.name: p for p in layer.parameters()}
        if set(entries) != set(params):
            raise ModelFileError(f"{path}: layer {i} ({spec['type']}) expects parameters {sorted(params)}, "
                                 f"the file lists {sorted(entries)}")
        for name, entry in entries.items():
            p = params[name]
            if entry["shape"] != list(p.value.shape) or entry["dtype"] != p.value.dtype.name:
                raise ModelFileError(f"{path}: layer {i} {name} must have shape {p.value.shape} and dtype "
                                     f"{p.value.dtype}, the file has {tuple(entry['shape'])} {entry['dtype']}")
    for layer, spec in zip(layers, specs, strict=True):
        params = {p.name: p for p in layer.parameters()}
        for name, entry in spec.get("params", {}).items():
            params[name].value[...] = contents[entry["key"]]
    metadata = header.get("metadata", {})
    if not isinstance(metadata, dict):
        raise ModelFileError(f"{path}: 'metadata' must be an object, got {type(metadata).__name__}")
    try:
        check_metadata(metadata)
    except FfnnError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    try:
        model = Sequential(layers, metadata=metadata)
    except FfnnError as exc:
        raise ModelFileError(f"{path}: the layers do not fit together: {exc}") from exc
    _check_classes(path, model)
    return model


def _check_classes(path: str | os.PathLike[str], model: Sequential) -> None:
    """A classifier's metadata must name as many classes as it has outputs (one output: two classes)."""
    meta, out = model.metadata, model.out_features
    names = meta.get("class_names")
    n = meta.get("n_classes") or (len(names) if names else None)
    if meta.get("task") == "classification" and n is not None and out is not None and out != n \
            and not (out == 1 and n == 2):
        raise ModelFileError(f"{path}: the metadata describes {n} classes but the network has {out} outputs")


def load(path: str | os.PathLike[str], *, max_bytes: int = MAX_BYTES) -> Sequential:
    """Read a model written by :func:`save` (or the model of a training checkpoint).

    Memory stays bounded by what the file really holds: the header and every array's
    declared shape are checked before anything is allocated (:class:`ModelArchive`), and
    ``max_bytes`` caps the arrays' total. Any inconsistency raises :class:`ModelFileError`.
    """
    with ModelArchive(path, max_bytes=max_bytes) as archive:
        model = build_model(path, archive.header, archive)
        for key in archive.training_keys():     # a checkpoint: its training arrays are verified too
            archive[key]
    return model
