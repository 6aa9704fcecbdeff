"""Fuzzing every file reader: whatever the bytes, only an ffnn error (or a result) comes out.

Hypothesis feeds the IDX reader, the model-file reader (mutations of a real saved model and
hostile headers), the CSV reader and the NPZ readers (data sets and ``ffnn predict`` inputs)
with damaged and random files. Any exception that is not an :class:`ffnn.FfnnError` fails
the test. Examples are derandomized (the same every run) and the whole file runs in about a
minute on two cores: 9,000 examples (IDX 2,000, damaged model files and checkpoints 2,000,
hostile model headers 1,000, CSV 2,000, NPZ data and ``predict`` inputs 2,000), scaled by
``$FFNN_FUZZ_SCALE``.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import struct
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

import ffnn
from ffnn import layers
from ffnn.checkpoint import read_checkpoint
from ffnn.data.idx import read_idx, write_idx
from ffnn.data.tabular import input_rows, load_csv, load_npz, read_table
from ffnn.errors import FfnnError

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies
given, settings, HealthCheck = hypothesis.given, hypothesis.settings, hypothesis.HealthCheck


SCALE = float(os.environ.get("FFNN_FUZZ_SCALE", "1"))
"""Multiplies every example count (e.g. ``FFNN_FUZZ_SCALE=10`` for a long local run)."""


def fuzz(n: int):
    """Settings of one fuzz test: ``n`` derandomized examples, no deadline, no database."""
    return settings(max_examples=max(1, int(n * SCALE)), deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def only_ffnn_errors(read, *args, **kwargs):
    """Run a reader; an FfnnError is a correct answer, anything else escapes and fails the test."""
    try:
        return read(*args, **kwargs)
    except FfnnError:
        return None


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


# --------------------------------------------------------------------------- mutations of bytes
def mutations(base: bytes, interesting: list[int]):
    """A strategy of damaged copies of ``base``: flips, overwrites, insertions, deletions and
    truncations, at random positions or near the structure's offsets in ``interesting``."""
    position = st.one_of(st.integers(0, max(len(base) - 1, 0)),
                         st.builds(lambda o, d: max(0, min(len(base) - 1, o + d)),
                                   st.sampled_from(interesting or [0]), st.integers(-4, 40)))
    op = st.one_of(
        st.tuples(st.just("flip"), position, st.integers(1, 255)),
        st.tuples(st.just("set"), position, st.binary(min_size=1, max_size=8)),
        st.tuples(st.just("insert"), position, st.binary(min_size=1, max_size=64)),
        st.tuples(st.just("delete"), position, st.integers(1, 64)),
        st.tuples(st.just("truncate"), position, st.just(0)),
    )

    def apply(ops):
        data = bytearray(base)
        for kind, at, arg in ops:
            at = min(at, len(data))
            if kind == "flip" and at < len(data):
                data[at] ^= arg
            elif kind == "set":
                data[at:at + len(arg)] = arg
            elif kind == "insert":
                data[at:at] = arg
            elif kind == "delete":
                del data[at:at + arg]
            elif kind == "truncate":
                del data[at:]
        return bytes(data)

    return st.lists(op, min_size=1, max_size=4).map(apply)


def offsets(raw: bytes, *markers: bytes) -> list[int]:
    """Where each marker occurs in ``raw`` (zip headers, .npy headers, JSON): the structure."""
    found = []
    for marker in markers:
        start = raw.find(marker)
        while start >= 0:
            found.append(start)
            start = raw.find(marker, start + 1)
    return found


# --------------------------------------------------------------------------- IDX
def _idx_bytes(array, compress):
    buf = io.BytesIO()
    header = bytes([0, 0, 0x08 if array.dtype == np.uint8 else 0x0D, array.ndim])
    buf.write(header + struct.pack(f">{array.ndim}I", *array.shape))
    buf.write(array.astype(array.dtype.newbyteorder(">")).tobytes())
    return gzip.compress(buf.getvalue(), mtime=0) if compress else buf.getvalue()


IDX_PLAIN = _idx_bytes(np.arange(60, dtype=np.uint8).reshape(3, 4, 5), False)
IDX_GZIP = _idx_bytes(np.linspace(0, 1, 24, dtype=np.float32).reshape(4, 6), True)


@fuzz(2000)
@given(raw=st.one_of(mutations(IDX_PLAIN, list(range(16))), mutations(IDX_GZIP, [0, 10, len(IDX_GZIP) - 8]),
                     st.binary(max_size=200),
                     st.builds(lambda code, dims, body: bytes([0, 0, code, len(dims)])
                               + struct.pack(f">{len(dims)}I", *dims) + body,
                               st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x07]),
                               st.lists(st.integers(0, 2**32 - 1), min_size=0, max_size=5),
                               st.binary(max_size=100))))
def test_idx_reader(workdir, raw):
    out = only_ffnn_errors(read_idx, io.BytesIO(raw))
    assert out is None or isinstance(out, np.ndarray)
    path = workdir / "f.idx"
    path.write_bytes(raw)
    only_ffnn_errors(read_idx, path)


def test_idx_fuzz_bases_are_valid(workdir):
    write_idx(workdir / "ok.idx", np.zeros((2, 2), np.uint8))
    assert read_idx(io.BytesIO(IDX_PLAIN)).shape == (3, 4, 5)
    assert read_idx(io.BytesIO(IDX_GZIP)).shape == (4, 6)


# --------------------------------------------------------------------------- model files
def _model_bytes() -> bytes:
    model = ffnn.Sequential([layers.Linear(3, 2, rng=0), layers.Tanh(), layers.PReLU(2)],
                            metadata={"task": "classification", "n_classes": 2, "class_names": ["a", "b"]})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "base.ffnn"
        ffnn.save(model, path)
        return path.read_bytes()


MODEL = _model_bytes()
MODEL_OFFSETS = offsets(MODEL, b"PK\x01\x02", b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY", b"{", b"shape")


def _load_everything(path):
    """Every reader of the model format; each may only fail with an FfnnError."""
    only_ffnn_errors(ffnn.load, path)
    only_ffnn_errors(read_checkpoint, path)


@fuzz(2000)
@given(raw=mutations(MODEL, MODEL_OFFSETS))
def test_model_reader_on_damaged_files(workdir, raw):
    path = workdir / "m.ffnn"
    path.write_bytes(raw)
    _load_everything(path)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 5000) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=6)
param_entries = st.fixed_dictionaries({
    "key": st.sampled_from(["0.weight", "0.bias", "1.slope", "x"]),
    "shape": st.lists(st.integers(0, 3000), max_size=3) | json_values,
    "dtype": st.sampled_from(["float32", "float64", "uint8", "object"]) | json_values,
    "sha256": st.text(max_size=4) | json_values})
layer_specs = st.fixed_dictionaries({
    "type": st.sampled_from(["Linear", "PReLU", "Tanh", "ReLU", "BatchNorm", "Evil", "os.system"]) | json_values,
    "config": st.dictionaries(st.sampled_from(["in_features", "out_features", "num_parameters", "num_features",
                                               "bias", "init", "dtype", "p", "evil"]),
                              st.integers(-3, 3000) | json_values, max_size=4) | json_values,
    "params": st.dictionaries(st.sampled_from(["weight", "bias", "slope"]), param_entries, max_size=2) | json_values})
headers = st.fixed_dictionaries(
    {"format": st.just("ffnn-model") | json_values, "version": st.just(1) | json_values,
     "layers": st.lists(layer_specs, max_size=3) | json_values},
    optional={"metadata": st.dictionaries(st.sampled_from(["task", "n_classes", "class_names", "data_options",
                                                           "preprocessing", "features", "recipe", "schema"]),
                                          json_values, max_size=3) | json_values,
              "training": json_values, "training_arrays": json_values})


@fuzz(1000)
@given(header=headers, arrays=st.dictionaries(
    st.sampled_from(["0.weight", "0.bias", "1.slope", "training/0"]),
    st.builds(lambda shape, dtype: np.zeros(shape, dtype), st.lists(st.integers(0, 4), max_size=2).map(tuple),
              st.sampled_from([np.float32, np.float64, np.uint8])), max_size=3))
def test_model_reader_on_hostile_headers(workdir, header, arrays):
    path = workdir / "h.ffnn"
    raw = json.dumps(header).encode()
    buf = io.BytesIO()
    np.savez(buf, __ffnn__=np.frombuffer(raw, dtype=np.uint8), **arrays)
    path.write_bytes(buf.getvalue())
    _load_everything(path)


def test_model_fuzz_base_is_valid(workdir):
    path = workdir / "ok.ffnn"
    path.write_bytes(MODEL)
    assert ffnn.load(path).metadata["class_names"] == ["a", "b"]


# --------------------------------------------------------------------------- CSV
csv_text = st.text(alphabet=st.sampled_from(list("0123456789.-+eE,;\t |\"'\n\r abcnaif") + ["\ufeff", "é", "\x00"]),
                   max_size=200)


def _csv_rows(rows, sep, header, bom):
    text = ("\ufeff" if bom else "") + (sep.join(f"c{j}" for j in range(len(rows[0]))) + "\n" if header else "")
    return text + "".join(sep.join(row) + "\n" for row in rows)


cells = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.integers(-5, 5).map(str),
                  st.sampled_from(["cat", "dog", "", " 1 ", "1,5", '"2"', "nan"]))
csv_tables = st.builds(
    _csv_rows,
    st.integers(1, 5).flatmap(lambda w: st.lists(st.lists(cells, min_size=w, max_size=w), min_size=1, max_size=8)),
    st.sampled_from([",", ";", "\t", " ", "|"]), st.booleans(), st.booleans())


@fuzz(2000)
@given(text=st.one_of(csv_text, csv_tables), raw=st.binary(max_size=64), gz=st.booleans(), mode=st.integers(0, 3),
       options=st.fixed_dictionaries({}, optional={
           "delimiter": st.sampled_from([",", ";", "tab", "whitespace", "x", "é"]),
           "target": st.sampled_from([0, -1, 5, "c0", "label"]),
           "task": st.sampled_from(["classification", "regression"]), "test_fraction": st.sampled_from([0.0, 0.5])}))
def test_csv_reader(workdir, text, raw, gz, mode, options):
    data = text.encode("utf-8") + (raw if mode == 3 else b"")
    if gz:
        data = gzip.compress(data, mtime=0)
        data = data[:len(data) * 2 // 3] if mode == 2 else data
    path = workdir / ("d.csv.gz" if gz else "d.csv")
    path.write_bytes(data)
    ds = only_ffnn_errors(load_csv, path, **options)
    assert ds is None or len(ds.X_train) + len(ds.X_test) >= 1
    only_ffnn_errors(read_table, path, options.get("delimiter"), 1)
    only_ffnn_errors(input_rows, path, 2, delimiter=options.get("delimiter"))


# --------------------------------------------------------------------------- NPZ
def _npz(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _npz_compressed(**arrays):
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


NPZ = _npz(X=np.arange(24.0).reshape(8, 3), y=np.arange(8) % 2, class_names=np.array(["a", "b"]))
NPZ_DEFLATED = _npz_compressed(X=np.arange(12.0).reshape(4, 3), y=np.array(["a", "b", "a", "b"]))
NPZ_OFFSETS = offsets(NPZ, b"PK\x01\x02", b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY", b"shape", b"descr")
arrays = st.builds(lambda shape, dtype: np.ones(shape, dtype),
                   st.lists(st.integers(0, 5), max_size=4).map(tuple),
                   st.sampled_from([np.float32, np.float64, np.int64, np.uint8, np.bool_, np.complex64, "<U3"]))


@fuzz(2000)
@given(raw=st.one_of(mutations(NPZ, NPZ_OFFSETS), mutations(NPZ_DEFLATED, offsets(NPZ_DEFLATED, b"PK")),
                     st.binary(max_size=100),
                     st.dictionaries(st.sampled_from(["X", "y", "X_test", "y_test", "class_names", "z"]), arrays,
                                     max_size=4).map(lambda d: _npz(**d))),
       task=st.sampled_from([None, "classification", "regression"]))
def test_npz_readers(workdir, raw, task):
    path = workdir / "d.npz"
    path.write_bytes(raw)
    ds = only_ffnn_errors(load_npz, path, task=task)
    assert ds is None or ds.X_train.ndim == 2
    X = only_ffnn_errors(input_rows, path, 3)
    assert X is None or (X.ndim == 2 and X.dtype == np.float32)


def test_npz_fuzz_bases_are_valid(workdir):
    for raw in (NPZ, NPZ_DEFLATED):
        path = workdir / "ok.npz"
        path.write_bytes(raw)
        assert load_npz(path).n_classes == 2


def test_zip_members_that_are_not_arrays(workdir):
    path = workdir / "z.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("X.npy", NPZ[:40])
        z.writestr("notes.txt", b"hello")
    assert only_ffnn_errors(load_npz, path) is None
