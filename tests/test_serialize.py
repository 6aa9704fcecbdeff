"""save/load: round trips, exact path, atomic writes, and rejection of every kind of bad file."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

import ffnn
from conftest import peak_bytes
from ffnn import layers
from ffnn.errors import FfnnError, ModelFileError
from ffnn.serialize import FORMAT_VERSION


def every_layer_model(dtype):
    """One network holding every registered layer type, with non-default parameter values."""
    model = ffnn.Sequential([
        layers.Linear(4, 5, rng=0, dtype=dtype), layers.Sigmoid(),
        layers.Linear(5, 5, init="he", rng=1, dtype=dtype), layers.Tanh(), layers.ReLU(),
        layers.LeakyReLU(0.2), layers.PReLU(dtype=dtype), layers.PReLU(num_parameters=5, init=0.1, dtype=dtype),
        layers.RReLU(0.05, 0.25, rng=0), layers.ELU(0.5), layers.Softplus(), layers.Softsign(),
        layers.Identity(), layers.Dropout(0.2, rng=0),
        layers.BatchNorm(5, dtype=dtype), layers.LayerNorm(5, dtype=dtype),
        layers.Linear(5, 3, bias=False, init="xavier_normal", rng=2, dtype=dtype), layers.Softmax(),
    ])
    gen = np.random.default_rng(3)
    for p in model.parameters():  # so that values, not constructor defaults, must round-trip
        p.value[...] = gen.standard_normal(p.value.shape).astype(dtype) * 0.5
    return model


def test_every_layer_type_is_in_the_round_trip_model():
    assert {type(layer).__name__ for layer in every_layer_model(np.float32)} == set(layers.LAYERS)


def test_round_trip_every_layer(dtype, tmp_path):
    model = every_layer_model(dtype).eval()
    X = np.random.default_rng(0).standard_normal((6, 4)).astype(dtype)
    path = tmp_path / "net.ffnn"
    assert ffnn.save(model, path) == path
    loaded = ffnn.load(path)
    assert [type(a) for a in loaded] == [type(b) for b in model]
    assert [a.config() for a in loaded] == [b.config() for b in model]
    assert [n for n, _ in loaded.named_parameters()] == [n for n, _ in model.named_parameters()]
    for (name, p), (_, q) in zip(model.named_parameters(), loaded.named_parameters(), strict=True):
        assert q.value.dtype == dtype, name
        np.testing.assert_array_equal(q.value, p.value, err_msg=name)
        assert q.decay == p.decay
    loaded.eval()
    np.testing.assert_array_equal(loaded.forward(X), model.forward(X))
    assert loaded.dtype == dtype


def test_metadata_round_trip(tmp_path):
    meta = {"classes": ["cat", "dog"], "scale": 0.5, "mean": [1.0, 2.5], "nested": {"n": 3, "ok": True},
            "note": "ünïcødé", "none": None}
    model = ffnn.Sequential([layers.Linear(2, 2, rng=0)], metadata=meta)
    ffnn.save(model, tmp_path / "m")
    assert ffnn.load(tmp_path / "m").metadata == meta


@pytest.mark.parametrize("name", ["model", "model.bin", "model.npz", "weird name.ffnn"])
@pytest.mark.parametrize("as_str", [True, False], ids=["str", "PathLike"])
def test_file_written_exactly_at_the_given_path(tmp_path, name, as_str):
    path = tmp_path / name
    model = ffnn.Sequential([layers.Linear(2, 2, rng=0)])
    ffnn.save(model, str(path) if as_str else path)
    assert sorted(os.listdir(tmp_path)) == [name]  # no suffix added, no temporary file left
    ffnn.load(str(path) if as_str else path)


def test_save_in_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ffnn.save(ffnn.Sequential([layers.Linear(2, 2, rng=0)]), "plain")
    assert os.listdir(".") == ["plain"]


def test_overwrite_replaces_the_file(tmp_path):
    path = tmp_path / "m"
    ffnn.save(ffnn.Sequential([layers.Linear(2, 2, rng=0)]), path)
    ffnn.save(ffnn.Sequential([layers.Linear(2, 3, rng=0)]), path)
    assert ffnn.load(path)[0].out_features == 3
    assert os.listdir(tmp_path) == ["m"]


# ----------------------------------------------------------------------------- atomic writes
def _saved(tmp_path, name="m"):
    model = ffnn.Sequential([layers.Linear(3, 2, rng=0), layers.Tanh()])
    path = tmp_path / name
    ffnn.save(model, path)
    return model, path


def test_failed_save_non_serializable_metadata_keeps_old_file(tmp_path):
    model, path = _saved(tmp_path)
    before = path.read_bytes()
    bad = ffnn.Sequential([layers.Linear(3, 2, rng=5)], metadata={"f": object()})
    with pytest.raises(ModelFileError, match="JSON"):
        ffnn.save(bad, path)
    assert path.read_bytes() == before
    np.testing.assert_array_equal(ffnn.load(path)[0].weight.value, model[0].weight.value)
    assert os.listdir(tmp_path) == ["m"]


def test_failed_write_leaves_no_temp_file_and_old_file_intact(tmp_path, monkeypatch):
    model, path = _saved(tmp_path)
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="simulated"):
        ffnn.save(ffnn.Sequential([layers.Linear(3, 2, rng=9)]), path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["m"]
    assert path.read_bytes() == before
    ffnn.load(path)


def test_save_rejects_non_models(tmp_path):
    with pytest.raises(ModelFileError):
        ffnn.save(layers.Linear(2, 2), tmp_path / "x")
    assert not os.listdir(tmp_path)


# ----------------------------------------------------------------------------- bad files
def _read(path):
    with np.load(path, allow_pickle=False) as archive:
        contents = {k: archive[k] for k in archive.files}
    header = json.loads(contents.pop("__ffnn__").tobytes().decode("utf-8"))
    return header, contents


def _write(path, header, arrays, raw_header=None):
    head = raw_header if raw_header is not None else json.dumps(header).encode("utf-8")
    np.savez(path, __ffnn__=np.frombuffer(head, dtype=np.uint8), **arrays)
    path = Path(path)
    if path.suffix != ".npz":  # np.savez appends .npz to names without it
        os.replace(str(path) + ".npz", path)


def _sha(a):
    import hashlib
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _mutate(tmp_path, fn):
    """Save a small model, let fn(header, arrays) tamper with it, rewrite the file."""
    _, path = _saved(tmp_path)
    header, arrays = _read(path)
    fn(header, arrays)
    _write(path, header, arrays)
    return path


def _expect_model_file_error(path, *match):
    with pytest.raises(ModelFileError) as info:
        ffnn.load(path)
    assert isinstance(info.value, ValueError) and isinstance(info.value, FfnnError)
    for m in match:
        assert m in str(info.value), f"{m!r} not in {str(info.value)!r}"
    return info.value


def _unknown_type(h, a):
    h["layers"][1]["type"] = "Evil"


def _os_system_type(h, a):
    h["layers"][1]["type"] = "os.system"


def _version(h, a):
    h["version"] = FORMAT_VERSION + 1


def _format(h, a):
    h["format"] = "keras"


def _tamper(h, a):
    a["0.weight"] = a["0.weight"].copy()
    a["0.weight"][0, 0] += 1.0


def _shape(h, a):
    a["0.weight"] = np.zeros((3, 2), np.float32)
    h["layers"][0]["params"]["weight"]["sha256"] = _sha(a["0.weight"])
    h["layers"][0]["params"]["weight"]["shape"] = [3, 2]


def _dtype(h, a):
    a["0.weight"] = a["0.weight"].astype(np.float64)
    h["layers"][0]["params"]["weight"]["sha256"] = _sha(a["0.weight"])


def _extra(h, a):
    a["extra"] = np.zeros(3)


def _missing(h, a):
    del a["0.bias"]


def _bad_config(h, a):
    h["layers"][0]["config"]["in_features"] = "three"


def _unknown_kwarg(h, a):
    h["layers"][1]["config"]["evil"] = 1


def _no_params_entry(h, a):
    del h["layers"][0]["params"]["bias"]


def _layers_not_list(h, a):
    h["layers"] = {"0": "Linear"}


def _metadata_not_dict(h, a):
    h["metadata"] = [1, 2]


def _sizes_do_not_fit(h, a):
    h["layers"].append({"type": "Linear", "config": {"in_features": 7, "out_features": 1, "bias": False,
                                                     "init": "zeros", "dtype": "float32"},
                        "params": {"weight": {"key": "2.weight", "shape": [1, 7], "dtype": "float32",
                                              "sha256": _sha(np.zeros((1, 7), np.float32))}}})
    a["2.weight"] = np.zeros((1, 7), np.float32)


def _unhashable_key(h, a):
    h["layers"][0]["params"]["weight"]["key"] = ["0.weight"]


def _entry_not_dict(h, a):
    h["layers"][0]["params"]["weight"] = "0.weight"


def _param_and_array_missing(h, a):
    """A consistent archive whose Linear lacks its bias: it would keep its initial value."""
    del h["layers"][0]["params"]["bias"]
    del a["0.bias"]


def _param_and_array_extra(h, a):
    a["0.gain"] = np.ones(2, np.float32)
    h["layers"][0]["params"]["gain"] = {"key": "0.gain", "shape": [2], "dtype": "float32", "sha256": _sha(a["0.gain"])}


def _param_dtype_differs_from_the_layer(h, a):
    """Array and header agree on float64, the layer's configuration says float32."""
    a["0.weight"] = a["0.weight"].astype(np.float64)
    h["layers"][0]["params"]["weight"].update(dtype="float64", sha256=_sha(a["0.weight"]))


TAMPERINGS = [
    pytest.param(_unknown_type, ("Evil",), id="unknown-layer-type"),
    pytest.param(_os_system_type, ("os.system",), id="dotted-callable-as-type"),
    pytest.param(_version, (f"format version {FORMAT_VERSION + 1} is not supported (this ffnn reads version "
                            f"{FORMAT_VERSION})",), id="wrong-version"),
    pytest.param(_format, ("keras",), id="wrong-format-name"),
    pytest.param(_tamper, ("SHA-256",), id="tampered-array"),
    pytest.param(_shape, ("layer 0 weight must have shape (2, 3) and dtype float32, the file has (3, 2) float32",),
                 id="shape-mismatch"),
    pytest.param(_dtype, ("array '0.weight' (layer 0 weight) holds (2, 3) of float64, the header says (2, 3) of "
                          "float32",), id="dtype-mismatch"),
    pytest.param(_extra, ("unexpected arrays ['extra']",), id="extra-array"),
    pytest.param(_missing, ("array '0.bias' (layer 0 bias) is missing",), id="missing-array"),
    pytest.param(_bad_config, ("three",), id="bad-layer-config"),
    pytest.param(_unknown_kwarg, ("evil",), id="unknown-config-key"),
    pytest.param(_no_params_entry, ("unexpected arrays ['0.bias']",), id="parameter-not-listed"),
    pytest.param(_param_and_array_missing, ("layer 0 (Linear) expects parameters ['bias', 'weight'], "
                                            "the file lists ['weight']",), id="parameter-and-array-missing"),
    pytest.param(_param_and_array_extra, ("layer 0 (Linear) expects parameters ['bias', 'weight'], "
                                          "the file lists ['bias', 'gain', 'weight']",),
                 id="parameter-and-array-extra"),
    pytest.param(_param_dtype_differs_from_the_layer, ("layer 0 weight must have shape (2, 3) and dtype float32, "
                                                       "the file has (2, 3) float64",), id="parameter-dtype-vs-layer"),
    pytest.param(_layers_not_list, (), id="layers-not-a-list"),
    pytest.param(_metadata_not_dict, ("metadata",), id="metadata-not-object"),
    pytest.param(_sizes_do_not_fit, (), id="layers-do-not-fit"),
    pytest.param(_unhashable_key, (), id="array-key-not-a-string"),
    pytest.param(_entry_not_dict, (), id="param-entry-not-object"),
]


@pytest.mark.parametrize("tamper, match", TAMPERINGS)
def test_tampered_header_or_arrays_rejected(tmp_path, tamper, match):
    path = _mutate(tmp_path, tamper)
    _expect_model_file_error(path, *match)


def test_random_bytes_rejected(tmp_path):
    path = tmp_path / "random"
    path.write_bytes(np.random.default_rng(0).bytes(2000))
    _expect_model_file_error(path)


def test_empty_file_rejected(tmp_path):
    path = tmp_path / "empty"
    path.write_bytes(b"")
    _expect_model_file_error(path)


@pytest.mark.parametrize("fraction", [0.05, 0.5, 0.9, 0.99])
def test_truncated_file_rejected(tmp_path, fraction):
    _, path = _saved(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    _expect_model_file_error(path)


def test_zip_without_header_rejected(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, weight=np.zeros((2, 2)))
    _expect_model_file_error(path, "__ffnn__")


def test_zip_that_is_not_npz_rejected(tmp_path):
    path = tmp_path / "text.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("__ffnn__.npy", b"not an array")
    _expect_model_file_error(path)


def test_zip_member_that_is_not_npy_rejected(tmp_path):
    """np.load hands back raw bytes for a member without the .npy magic."""
    _, path = _saved(tmp_path)
    with zipfile.ZipFile(path) as src:
        members = {name: src.read(name) for name in src.namelist()}
    members["0.weight.npy"] = b"raw bytes, not an array"
    with zipfile.ZipFile(path, "w") as dst:
        for name, data in members.items():
            dst.writestr(name, data)
    _expect_model_file_error(path)


def test_header_not_json_rejected(tmp_path):
    _, path = _saved(tmp_path)
    _, arrays = _read(path)
    _write(path, None, arrays, raw_header=b"\xff\xfe{not json")
    _expect_model_file_error(path)


def test_npy_file_instead_of_npz_rejected(tmp_path):
    """np.load returns a bare ndarray for .npy content; that must not escape as TypeError."""
    path = tmp_path / "array.npy"
    np.save(path, np.arange(3.0))
    _expect_model_file_error(path)


def test_missing_file_and_directory_rejected(tmp_path):
    _expect_model_file_error(tmp_path / "nope", "nope")
    _expect_model_file_error(tmp_path)


class _Trap:
    """Unpickling this object creates a marker file: proof that a loader ran pickle."""

    marker = ""

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _object_array(marker):
    trap = _Trap()
    trap.marker = str(marker)
    arr = np.empty(1, dtype=object)
    arr[0] = trap
    return arr


def test_object_array_rejected_without_unpickling(tmp_path):
    _, path = _saved(tmp_path)
    header, arrays = _read(path)
    marker = tmp_path / "PWNED"
    arrays["evil"] = _object_array(marker)
    _write(path, header, arrays)
    _expect_model_file_error(path)
    assert not marker.exists(), "ffnn.load unpickled an object array"


def test_object_array_as_parameter_rejected_without_unpickling(tmp_path):
    _, path = _saved(tmp_path)
    header, arrays = _read(path)
    marker = tmp_path / "PWNED"
    arrays["0.weight"] = _object_array(marker)
    _write(path, header, arrays)
    _expect_model_file_error(path)
    assert not marker.exists()


def test_object_header_rejected_without_unpickling(tmp_path):
    path = tmp_path / "m.npz"
    marker = tmp_path / "PWNED"
    np.savez(path, __ffnn__=_object_array(marker))
    _expect_model_file_error(path)
    assert not marker.exists()


def test_plain_pickle_file_rejected_without_unpickling(tmp_path):
    import pickle

    marker = tmp_path / "PWNED"
    trap = _Trap()
    trap.marker = str(marker)
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps(trap))
    _expect_model_file_error(path)
    assert not marker.exists()


# ----------------------------------------------------------------------------- hostile files (bounded memory)
def _npy_header(shape, descr="<f4"):
    import io

    from numpy.lib import format as npy
    buf = io.BytesIO()
    npy.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": tuple(shape)})
    return buf.getvalue()


def _linear_header(n_in, n_out, shape=None, sha="0" * 64):
    shape = [n_out, n_in] if shape is None else shape
    config = {"in_features": n_in, "out_features": n_out, "bias": False, "init": "zeros", "dtype": "float32"}
    params = {"weight": {"key": "0.weight", "shape": shape, "dtype": "float32", "sha256": sha}}
    return {"format": "ffnn-model", "version": FORMAT_VERSION, "layers": [
        {"type": "Linear", "config": config, "params": params}], "metadata": {}}


def _zip(path, members, compression=zipfile.ZIP_STORED):
    """Write ``{name: bytes}`` as a zip; ``__ffnn__`` given as a dict is stored as a uint8 .npy."""
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in members.items():
            if isinstance(data, dict):
                raw = json.dumps(data).encode()
                data = _npy_header((len(raw),), "|u1") + raw
            z.writestr(name, data)
    return path



def _load_fails(path, *match, **kw):
    def run():
        with pytest.raises(ModelFileError) as info:
            ffnn.load(path, **kw)
        assert str(path) in str(info.value)
        for m in match:
            assert m in str(info.value), f"{m!r} not in {str(info.value)!r}"
    return run


LIMIT = 64 * 2**20


def test_tiny_file_declaring_a_huge_layer_fails_in_bounded_memory(tmp_path):
    """The issue's 427-byte file: a header declaring Linear(12000, 12000), and no data."""
    path = _zip(tmp_path / "huge.ffnn", {"__ffnn__.npy": _linear_header(12000, 12000)})
    assert path.stat().st_size < 1024
    assert peak_bytes(_load_fails(path, "0.weight", "missing")) < LIMIT


@pytest.mark.parametrize("n", [12000, 200000])
def test_npy_header_declaring_a_huge_array_without_its_data(tmp_path, n):
    path = _zip(tmp_path / "huge.ffnn", {"__ffnn__.npy": _linear_header(n, n),
                                         "0.weight.npy": _npy_header((n, n))})
    assert peak_bytes(_load_fails(path, "0.weight", "holds 0")) < LIMIT


def test_npy_of_a_trillion_elements_fails_in_bounded_memory(tmp_path):
    path = _zip(tmp_path / "huge.ffnn", {"__ffnn__.npy": _linear_header(2, 2, shape=[10**6, 10**6]),
                                         "0.weight.npy": _npy_header((10**6, 10**6)) + b"\0" * 64})
    assert peak_bytes(_load_fails(path, "0.weight")) < LIMIT


def test_npy_shape_that_differs_from_the_header_is_refused_before_reading(tmp_path):
    data = np.zeros((4000, 4000), np.float32)
    path = _zip(tmp_path / "m.ffnn", {"__ffnn__.npy": _linear_header(2, 2),
                                      "0.weight.npy": _npy_header(data.shape) + data.tobytes()},
                zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 200_000
    assert peak_bytes(_load_fails(path, "(4000, 4000)", "(2, 2)")) < LIMIT


def _patch_sizes(path, name, file_size):
    """Rewrite the uncompressed size a zip declares for ``name`` (local header and central directory)."""
    import struct
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(name)
    raw[info.header_offset + 22:info.header_offset + 26] = struct.pack("<I", file_size)
    central = raw.find(b"PK\x01\x02", 0)
    while central >= 0:
        n = struct.unpack("<H", raw[central + 28:central + 30])[0]
        if raw[central + 46:central + 46 + n] == name.encode():
            raw[central + 24:central + 28] = struct.pack("<I", file_size)
        central = raw.find(b"PK\x01\x02", central + 4)
    path.write_bytes(bytes(raw))


def test_zip_bomb_member_is_stopped_while_streaming(tmp_path):
    """A deflated member that expands to 100 MB but declares 40 bytes: reading stops at 40."""
    head = _npy_header((10,))
    path = _zip(tmp_path / "bomb.ffnn", {"__ffnn__.npy": _linear_header(10, 1, shape=[1, 10]),
                                         "0.weight.npy": head + b"\0" * 100 * 2**20}, zipfile.ZIP_DEFLATED)
    _patch_sizes(path, "0.weight.npy", len(head) + 40)
    assert peak_bytes(_load_fails(path, "0.weight")) < LIMIT


def test_member_declaring_more_than_its_stored_bytes_can_hold(tmp_path):
    head = _npy_header((5000, 5000))
    path = _zip(tmp_path / "lie.ffnn", {"__ffnn__.npy": _linear_header(5000, 5000),
                                        "0.weight.npy": head + b"\0" * 64}, zipfile.ZIP_DEFLATED)
    _patch_sizes(path, "0.weight.npy", len(head) + 4 * 5000 * 5000)
    assert peak_bytes(_load_fails(path, "0.weight", "stored bytes")) < LIMIT


def test_total_size_is_capped_before_reading(tmp_path):
    """A well-formed 100 MB model (deflated to ~100 kB) is refused under a 64 MB cap, read without one."""
    weight = np.zeros((5000, 5000), np.float32)
    path = _zip(tmp_path / "big.ffnn", {"__ffnn__.npy": _linear_header(5000, 5000, sha=_sha(weight)),
                                        "0.weight.npy": _npy_header(weight.shape) + weight.tobytes()},
                zipfile.ZIP_DEFLATED)
    del weight
    assert peak_bytes(_load_fails(path, "max_bytes", max_bytes=LIMIT)) < LIMIT
    assert ffnn.load(path)[0].weight.value.shape == (5000, 5000)


def test_json_header_nested_100k_deep(tmp_path):
    path = _zip(tmp_path / "deep.ffnn", {"__ffnn__.npy": _npy_header((100000,), "|u1") + b"[" * 100000})
    _load_fails(path, "header", "RecursionError")()


def test_json_header_nested_deeper_than_the_limit(tmp_path):
    from ffnn.serialize import MAX_JSON_DEPTH
    header = _linear_header(2, 2)
    deep: list = []
    for _ in range(MAX_JSON_DEPTH):
        deep = [deep]
    header["metadata"] = {"deep": deep}
    path = _zip(tmp_path / "deep.ffnn", {"__ffnn__.npy": header})
    _load_fails(path, "levels deep")()
    with pytest.raises(ModelFileError, match="deeper"):
        ffnn.save(ffnn.Sequential([layers.Linear(2, 2)], metadata={"deep": deep}), tmp_path / "x")


def test_header_that_is_not_uint8_text(tmp_path):
    path = _zip(tmp_path / "m.ffnn", {"__ffnn__.npy": _npy_header((3,), "<f8") + b"\0" * 24})
    _load_fails(path, "UTF-8 JSON")()


@pytest.mark.parametrize("damage", ["tokenize", "literal", "keys", "descr", "negative", "magic", "version"])
def test_damaged_npy_header(tmp_path, damage):
    """Damaged .npy headers (tokenize.TokenError, SyntaxError... from NumPy) are ModelFileErrors."""
    import struct
    good = _npy_header((2, 2))
    text = b"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), '''"    # unterminated string
    text += b" " * (118 - len(text) - 1) + b"\n"
    bad = {"tokenize": b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text,
           "literal": good.replace(b"(2, 2)", b"(2, x)"),
           "keys": good.replace(b"'fortran_order'", b"'fortran_ordex'"),
           "descr": good.replace(b"'<f4'", b"'<z9'"),
           "negative": good.replace(b"(2, 2)", b"(-2, 2)"),
           "magic": b"\x93NUMPZ" + good[6:],
           "version": good[:6] + b"\x09\x00" + good[8:]}[damage]
    path = _zip(tmp_path / "m.ffnn", {"__ffnn__.npy": _linear_header(2, 2), "0.weight.npy": bad + b"\0" * 16})
    _load_fails(path, "0.weight", *(["TokenError"] if damage == "tokenize" else []))()


def _flip_central_directory(path, offset, value):
    raw = bytearray(path.read_bytes())
    central = raw.rfind(b"PK\x01\x02")
    raw[central + offset] = value
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("field, offset, value", [
    ("compression method", 10, 99),          # zipfile: NotImplementedError
    ("flag bits (encrypted)", 8, 1),         # zipfile: RuntimeError, a password is required
    ("version needed", 6, 99),               # zipfile: NotImplementedError
])
def test_one_byte_in_the_central_directory(tmp_path, field, offset, value):
    _, path = _saved(tmp_path)
    _flip_central_directory(path, offset, value)
    _expect_model_file_error(path, str(path))


def test_read_archive_and_checkpoint_reader_share_the_bounds(tmp_path):
    from ffnn.checkpoint import read_checkpoint
    from ffnn.serialize import read_archive
    path = _zip(tmp_path / "huge.ffnn", {"__ffnn__.npy": {**_linear_header(12000, 12000), "training": {}},
                                         "0.weight.npy": _npy_header((12000, 12000))})
    for reader in (read_archive, read_checkpoint):
        with pytest.raises(ModelFileError, match="0.weight"):
            reader(path)


# ----------------------------------------------------------------------------- metadata of the wrong type
BAD_METADATA = [
    ("data_options", "n=5"), ("data_options", {"name_or_path": "evil.csv"}), ("data_options", {"n": "many"}),
    ("data_options", {"seed": -3}), ("class_names", 5), ("class_names", ["only-one"]), ("n_classes", "2"),
    ("n_classes", 7), ("image_shape", "28x28"), ("preprocessing", "standard"), ("preprocessing", {"kind": "evil"}),
    ("features", 3), ("features", ["x1", "nope"]), ("recipe", "x"), ("recipe", {"hidden": -1}), ("task", "clustering"),
    ("data", 5), ("schema", "2"), ("schema", 99),
]


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory):
    from ffnn.recipe import Recipe
    run = Recipe(data="xor", hidden="3", epochs=0, n=40).prepare()
    path = tmp_path_factory.mktemp("meta") / "m.ffnn"
    ffnn.save(run.model, path)
    return path


@pytest.mark.parametrize("key, value", BAD_METADATA, ids=[f"{k}={v!r}"[:40] for k, v in BAD_METADATA])
def test_metadata_of_the_wrong_type_is_refused_and_evaluate_exits_2(tmp_path, capsys, trained_model, key, value):
    from ffnn import cli
    header, arrays = _read(trained_model)
    header["metadata"][key] = value
    path = tmp_path / "m.ffnn"
    _write(path, header, arrays)
    _expect_model_file_error(path, str(path))
    (tmp_path / "in.csv").write_text("0.5,0.5\n")
    for argv in (["evaluate", str(path)], ["predict", str(path), str(tmp_path / "in.csv")]):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("ffnn: error:") and "Traceback" not in err


def test_config_naming_far_more_than_its_arrays_is_refused_before_building(tmp_path):
    """Linear(12000, 12000) over a 2x2 weight: refused before the 576 MB layer is allocated."""
    weight = np.zeros((2, 2), np.float32)
    path = _zip(tmp_path / "lie.ffnn", {"__ffnn__.npy": _linear_header(12000, 12000, shape=[2, 2], sha=_sha(weight)),
                                        "0.weight.npy": _npy_header((2, 2)) + weight.tobytes()})
    assert peak_bytes(_load_fails(path, "configurations name", "before building")) < LIMIT


def test_config_naming_a_little_more_than_its_arrays_is_built_and_compared(tmp_path):
    weight = np.zeros((2, 2), np.float32)
    path = _zip(tmp_path / "lie.ffnn", {"__ffnn__.npy": _linear_header(200, 300, shape=[2, 2], sha=_sha(weight)),
                                        "0.weight.npy": _npy_header((2, 2)) + weight.tobytes()})
    _load_fails(path, "layer 0 weight must have shape (300, 200)")()


# ----------------------------------------------------------------------------- exact limits and messages
def test_describe_arrays_and_the_header_of_a_model():
    import hashlib

    from ffnn.serialize import describe_arrays, describe_model
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert describe_arrays({"w": a, "e": np.zeros(0)}) == {
        "w": {"shape": [2, 3], "dtype": "float32", "sha256": hashlib.sha256(a.tobytes()).hexdigest()},
        "e": {"shape": [0], "dtype": "float64", "sha256": hashlib.sha256(b"").hexdigest()}}
    model = ffnn.Sequential([layers.Linear(3, 2, rng=0), layers.Tanh()], metadata={"k": 1})
    header, arrays = describe_model(model)
    assert header["format"] == "ffnn-model" and header["version"] == 1 and header["ffnn_version"] == ffnn.__version__
    assert header["metadata"] == {"k": 1} and list(arrays) == ["0.weight", "0.bias"]
    assert header["layers"][1] == {"type": "Tanh", "config": {}, "params": {}}
    assert header["layers"][0]["params"]["bias"] == {"key": "0.bias", **describe_arrays(arrays)["0.bias"]}


def _nested(levels):
    """A value whose lists nest ``levels`` deep ([] is 1 level)."""
    deep: list = []
    for _ in range(levels - 1):
        deep = [deep]
    return deep


def test_json_depth_counts_lists_and_objects():
    from ffnn.serialize import _json_depth
    assert _json_depth(5) == 0 and _json_depth("x") == 0 and _json_depth(None) == 0
    assert _json_depth({}) == 1 and _json_depth([]) == 1 and _json_depth([[]]) == 2
    assert _json_depth({"a": [1, {"b": [2]}], "c": 3}) == 4
    assert _json_depth(_nested(64)) == 64


def test_a_header_exactly_max_json_depth_deep_saves_and_loads(tmp_path):
    from ffnn.serialize import MAX_JSON_DEPTH
    # the header (1) holds the metadata (2) holding the list: MAX_JSON_DEPTH - 2 levels are left for it
    model = ffnn.Sequential([layers.Linear(2, 2, rng=0)], metadata={"deep": _nested(MAX_JSON_DEPTH - 2)})
    ffnn.save(model, tmp_path / "ok")
    assert ffnn.load(tmp_path / "ok").metadata == model.metadata
    model.metadata["deep"] = _nested(MAX_JSON_DEPTH - 1)
    with pytest.raises(ModelFileError) as info:
        ffnn.save(model, tmp_path / "deep")
    assert str(info.value) == ("the model's header (its metadata) nests deeper than 64 levels; "
                               "ffnn.load would refuse it")
    assert not (tmp_path / "deep").exists()
    header = {**_linear_header(2, 2), "metadata": {"deep": _nested(MAX_JSON_DEPTH - 1)}}
    _load_fails(_zip(tmp_path / "d.ffnn", {"__ffnn__.npy": header}), "the header nests 65 levels deep; "
                "expected at most 64")()


def test_save_names_what_it_got(tmp_path):
    with pytest.raises(ModelFileError, match="^save expects an ffnn.Sequential, got Linear$"):
        ffnn.save(layers.Linear(2, 2), tmp_path / "x")


def test_file_errors_name_the_file_and_what_was_expected(tmp_path):
    path = tmp_path / "random"
    path.write_bytes(b"not a zip at all" * 10)
    _load_fails(path, "is not an ffnn model file")()
    _, saved = _saved(tmp_path)
    header, arrays = _read(saved)
    _write(saved, None, arrays, raw_header=b"\xff\xfe{")
    _load_fails(saved, "the architecture header: not a readable UTF-8 JSON text (UnicodeDecodeError")()


def test_a_tampered_array_is_named_with_its_layer(tmp_path):
    _load_fails(_mutate(tmp_path, _tamper), "array '0.weight' (layer 0 weight) does not match its recorded "
                "SHA-256; the file is corrupt or was modified")()


def test_unexpected_arrays_are_listed_up_to_ten(tmp_path):
    def extras(h, a):
        for i in range(12):
            a[f"x{i:02d}"] = np.zeros(1)

    _load_fails(_mutate(tmp_path, extras),
                "unexpected arrays ['x00', 'x01', 'x02', 'x03', 'x04', 'x05', 'x06', 'x07', 'x08', 'x09'] not")()


def test_the_byte_cap_covers_the_header_and_the_described_arrays(tmp_path):
    _, path = _saved(tmp_path)
    header_bytes = len(json.dumps(_read(path)[0]).encode())
    total = header_bytes + (2 * 3 + 2) * 4                # float32 weight and bias
    assert ffnn.load(path, max_bytes=total)[0].weight.value.shape == (2, 3)
    _load_fails(path, "max_bytes", max_bytes=total - 1)()
    from ffnn.serialize import read_archive
    assert set(read_archive(path, max_bytes=total)[1]) == {"0.weight", "0.bias"}
    with pytest.raises(ModelFileError, match="max_bytes"):
        read_archive(path, max_bytes=total - 1)


def test_an_archive_iterates_its_described_arrays(tmp_path):
    from ffnn.serialize import ModelArchive
    _, path = _saved(tmp_path)
    with ModelArchive(path) as archive:
        assert list(archive) == ["0.weight", "0.bias"] and len(archive) == 2
        assert archive.training_keys() == []
        assert archive["0.bias"].shape == (2,)


def test_a_checkpoints_training_arrays_are_described_and_verified(tmp_path):
    from ffnn.serialize import ModelArchive, build_model, describe_model, write_archive
    model = ffnn.Sequential([layers.Linear(3, 2, rng=0)])
    header, arrays = describe_model(model)
    extra = {"t.order": np.arange(5), "t.empty": np.zeros((0, 2))}
    header["training_arrays"] = {k: {"shape": list(v.shape), "dtype": v.dtype.name, "sha256": _sha(v)}
                                 for k, v in extra.items()}
    path = write_archive(tmp_path / "c.ffnn", header, {**arrays, **extra})
    with ModelArchive(path) as archive:
        assert archive.training_keys() == ["t.order", "t.empty"]
        assert archive.described["t.order"][0] == "training"
        np.testing.assert_array_equal(archive["t.order"], np.arange(5))
        assert build_model(path, archive.header, archive).out_features == 2
    np.testing.assert_array_equal(ffnn.load(path)[0].weight.value, model[0].weight.value)
    header["training_arrays"]["t.order"]["sha256"] = _sha(np.arange(6))    # a corrupt training array
    write_archive(path, header, {**arrays, **extra})
    _load_fails(path, "array 't.order' (training) does not match its recorded SHA-256")()
    header["training_arrays"] = ["t.order"]
    write_archive(path, header, {**arrays, **extra})
    _load_fails(path, "the training array list must be an object, got list")()


def test_the_header_array_must_be_one_row_of_bytes_within_the_limit(tmp_path, monkeypatch):
    from ffnn import serialize
    raw = json.dumps(_linear_header(2, 2)).encode()
    two_d = _zip(tmp_path / "2d.ffnn", {"__ffnn__.npy": _npy_header((1, len(raw)), "|u1") + raw})
    _load_fails(two_d, f"the header must be at most {serialize.MAX_HEADER_BYTES} bytes of UTF-8 JSON (uint8), "
                f"got (1, {len(raw)}) of uint8")()
    _, path = _saved(tmp_path)
    size = len(json.dumps(_read(path)[0]).encode())
    monkeypatch.setattr(serialize, "MAX_HEADER_BYTES", size)
    assert ffnn.load(path).out_features == 2                     # exactly the limit
    monkeypatch.setattr(serialize, "MAX_HEADER_BYTES", size - 1)
    _load_fails(path, f"the header must be at most {size - 1} bytes")()


def test_a_header_that_is_not_an_object(tmp_path):
    raw = b"[1, 2]"
    _load_fails(_zip(tmp_path / "l.ffnn", {"__ffnn__.npy": _npy_header((len(raw),), "|u1") + raw}),
                "expected format 'ffnn-model', got 'list'")()
    _load_fails(_zip(tmp_path / "f.ffnn", {"__ffnn__.npy": {"format": "onnx"}}),
                "expected format 'ffnn-model', got 'onnx'")()


def _shape_entry(shape):
    def fn(h, a):
        h["layers"][0]["params"]["weight"]["shape"] = shape
    return fn


@pytest.mark.parametrize("shape", [[2, -3], [True, 3], [2.0, 3], [2, "3"], "2,3"])
def test_array_entries_need_a_shape_of_non_negative_ints(tmp_path, shape):
    _load_fails(_mutate(tmp_path, _shape_entry(shape)), "layer 0 weight: expected an array entry with a key, shape, "
                "dtype and sha256, got")()


def test_an_array_described_twice_or_as_the_header(tmp_path):
    def twice(h, a):
        h["layers"][0]["params"]["bias"]["key"] = "0.weight"

    def header_key(h, a):
        h["layers"][0]["params"]["bias"]["key"] = "__ffnn__"

    _load_fails(_mutate(tmp_path, twice), "array '0.weight' is described twice")()
    _load_fails(_mutate(tmp_path, header_key), "array '__ffnn__' is described twice")()


def test_layer_entries_must_be_objects_and_params_may_be_left_out(tmp_path):
    def not_dict(h, a):
        h["layers"][1] = "Tanh"

    def no_params(h, a):
        del h["layers"][1]["params"]                              # Tanh has none

    def layers_dict(h, a):
        h["layers"] = {"0": h["layers"][0]}

    _load_fails(_mutate(tmp_path, not_dict), "layer 1: expected an entry with 'type', 'config' and 'params', "
                "got 'Tanh'")()
    assert type(ffnn.load(_mutate(tmp_path, no_params))[1]) is layers.Tanh
    _load_fails(_mutate(tmp_path, layers_dict), "'layers' must be a list, got dict")()


@pytest.mark.parametrize("change, message", [
    (lambda spec: spec.update(type=5), "layer 1: expected an entry with 'type' and 'config', got"),
    (lambda spec: spec.update(config="x"), "layer 1: expected an entry with 'type' and 'config', got"),
    (lambda spec: spec.update(type="Evil"), "layer 1: unknown layer type 'Evil'; known types: Linear, Sigmoid, Tanh, "
                                            "ReLU, LeakyReLU, PReLU"),
    (lambda spec: spec.update(config={"alpha": 2}), "layer 1 (Tanh): bad configuration {'alpha': 2}: "),
])
def test_layer_entries_are_checked_before_building(tmp_path, change, message):
    _load_fails(_mutate(tmp_path, lambda h, a: change(h["layers"][1])), message)()


def test_metadata_may_be_absent_but_must_be_an_object(tmp_path):
    assert ffnn.load(_mutate(tmp_path, lambda h, a: h.pop("metadata"))).metadata == {}
    _load_fails(_mutate(tmp_path, lambda h, a: h.update(metadata=[1])), "'metadata' must be an object, got list")()


def test_layers_that_do_not_fit_are_named(tmp_path):
    _load_fails(_mutate(tmp_path, _sizes_do_not_fit), "the layers do not fit together: ")()


@pytest.mark.parametrize("outputs, meta, ok", [
    (1, {"n_classes": 2}, True),                     # one logit: two classes
    (2, {"n_classes": 2}, True), (3, {"n_classes": 2}, False), (1, {"n_classes": 3}, False),
    (2, {"class_names": ["a", "b", "c"]}, False),    # counted from the names
    (3, {"class_names": ["a", "b", "c"]}, True), (2, {"class_names": []}, True),
])
def test_a_classifiers_classes_must_match_its_outputs(tmp_path, outputs, meta, ok):
    for task in ("classification", "regression"):
        model = ffnn.Sequential([layers.Linear(2, outputs, rng=0)], metadata={"task": task, **meta})
        path = tmp_path / f"{task}.ffnn"
        ffnn.save(model, path)
        if ok or task == "regression":
            assert ffnn.load(path).out_features == outputs
        else:
            n = meta.get("n_classes") or len(meta["class_names"])
            _load_fails(path, f"the metadata describes {n} classes but the network has {outputs} outputs")()


def _implied_case(tmp_path, monkeypatch, allowance):
    """Linear(3, 2), Tanh, Linear(2, 2): the configurations name 8 (3*2 + 2*2) = 80 bytes, the
    parameters hold 8 (6 + 2 + 4 + 2) = 112; refused when 80 > 4 * 112 + allowance."""
    from ffnn import serialize
    monkeypatch.setattr(serialize, "CONFIG_ALLOWANCE", allowance)
    path = tmp_path / "m.ffnn"
    ffnn.save(ffnn.Sequential([layers.Linear(3, 2, rng=0), layers.Tanh(), layers.Linear(2, 2, rng=1)]), path)
    return path


def test_the_implied_size_limit_exactly(tmp_path, monkeypatch):
    assert ffnn.load(_implied_case(tmp_path, monkeypatch, 80 - 4 * 112)).out_features == 2
    _load_fails(_implied_case(tmp_path, monkeypatch, 80 - 4 * 112 - 1),
                "the layer configurations name about 10 values but the file's parameters hold 14; refused before "
                "building the layers")()


def test_the_implied_size_ignores_ones_and_parameter_free_layers(tmp_path, monkeypatch):
    """Linear(1, 1) names no size above 1 (0 bytes) and holds 16; Tanh names nothing."""
    from ffnn import serialize
    monkeypatch.setattr(serialize, "CONFIG_ALLOWANCE", -4 * 16)
    path = tmp_path / "m.ffnn"
    ffnn.save(ffnn.Sequential([layers.Linear(1, 1, rng=0), layers.Tanh()]), path)
    assert ffnn.load(path).out_features == 1


def test_the_implied_size_counts_a_size_of_two(tmp_path, monkeypatch):
    """Linear(3, 2): 48 bytes named, 64 held; at allowance 47 - 256 the 2 must count."""
    from ffnn import serialize
    monkeypatch.setattr(serialize, "CONFIG_ALLOWANCE", 47 - 4 * 64)
    path = tmp_path / "m.ffnn"
    ffnn.save(ffnn.Sequential([layers.Linear(3, 2, rng=0)]), path)
    _load_fails(path, "name about 6 values but the file's parameters hold 8")()
