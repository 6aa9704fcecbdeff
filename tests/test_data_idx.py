"""IDX reader and writer: round trips, and every way a file can be broken."""

import gzip
import io
import struct
import tracemalloc

import numpy as np
import pytest

from ffnn.data.idx import IDX_DTYPES, read_idx, write_idx
from ffnn.errors import DataError

DTYPES = [dt.newbyteorder("=") for dt in IDX_DTYPES.values()]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("suffix", [".idx", ".idx.gz"])
@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 5), (1, 2, 2, 3)])
def test_round_trip(tmp_path, dtype, suffix, shape):
    rng = np.random.default_rng(0)
    array = (rng.normal(size=shape) * 100).astype(dtype)
    path = tmp_path / f"a{suffix}"
    write_idx(path, array)
    back = read_idx(path)
    assert back.dtype == dtype and back.shape == shape
    np.testing.assert_array_equal(back, array)
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_gzip_detected_by_magic_not_name(tmp_path):
    array = np.arange(6, dtype=np.uint8).reshape(2, 3)
    write_idx(tmp_path / "a.gz", array)
    renamed = tmp_path / "no-suffix"
    (tmp_path / "a.gz").rename(renamed)
    np.testing.assert_array_equal(read_idx(renamed), array)


def test_reads_file_objects_and_header_layout(tmp_path):
    array = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int16)
    write_idx(tmp_path / "a.idx", array)
    raw = (tmp_path / "a.idx").read_bytes()
    assert raw[:4] == b"\x00\x00\x0b\x02" and raw[4:12] == struct.pack(">II", 2, 3)
    assert raw[12:14] == b"\x00\x01"  # big-endian data
    np.testing.assert_array_equal(read_idx(io.BytesIO(raw)), array)
    np.testing.assert_array_equal(read_idx(io.BytesIO(gzip.compress(raw))), array)


def test_gzip_output_is_deterministic(tmp_path):
    array = np.arange(100, dtype=np.uint8)
    write_idx(tmp_path / "a.gz", array)
    write_idx(tmp_path / "b.gz", array)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


def _header(code=0x08, dims=(4,)):
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


@pytest.mark.parametrize("compress", [False, True])
def test_truncated_payload(compress):
    raw = _header(dims=(10, 10)) + bytes(99)
    with pytest.raises(DataError, match="truncated.*100 bytes, got 99"):
        read_idx(io.BytesIO(gzip.compress(raw) if compress else raw))


@pytest.mark.parametrize("compress", [False, True])
def test_extra_data(compress):
    raw = _header(dims=(10,)) + bytes(13)
    with pytest.raises(DataError, match="extra data.*10 bytes, got 13"):
        read_idx(io.BytesIO(gzip.compress(raw) if compress else raw))


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("code, dims, message", [
    (0x0E, (65535, 65535, 65535), "max_bytes"),        # about 2 PB: over the cap, refused from the header
    (0x08, (1000, 1000, 100), "truncated"),            # 100 MB: read in chunks until the data run out
])
def test_lying_header_does_not_allocate(compress, code, dims, message):
    raw = _header(code=code, dims=dims) + bytes(1024)
    source = io.BytesIO(gzip.compress(raw) if compress else raw)
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=message):
            read_idx(source)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000


def test_truncated_gzip_stream():
    raw = gzip.compress(_header(dims=(1000,)) + bytes(range(256)) * 4)
    with pytest.raises(DataError):
        read_idx(io.BytesIO(raw[: len(raw) // 2]))


@pytest.mark.parametrize("raw, message", [
    (b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00", "magic bytes 00 00, got 01 00"),
    (b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00", "unknown IDX dtype code 0x07"),
    (b"\x00\x00\x08\x00", "0 dimensions"),
    (b"\x00\x00\x08\x09", "9 dimensions"),
    (b"\x00\x00\x08\x03\x00\x00", "truncated IDX header"),
    (b"\x00\x00", "expected a 4-byte header, got 2"),
    (b"", "expected a 4-byte header, got 0"),
])
def test_bad_headers(raw, message):
    with pytest.raises(DataError, match=message):
        read_idx(io.BytesIO(raw))


def test_write_rejects_unsupported(tmp_path):
    with pytest.raises(DataError, match="dtype int64"):
        write_idx(tmp_path / "a.idx", np.zeros(3, dtype=np.int64))
    with pytest.raises(DataError, match="shape"):
        write_idx(tmp_path / "a.idx", np.zeros((1,) * 5, dtype=np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_write_failure_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "a.idx"
    write_idx(path, np.arange(3, dtype=np.uint8))
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("ffnn.data.idx.os.replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_idx(path, np.arange(5, dtype=np.uint8))
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("compress", [False, True])
def test_header_larger_than_the_file_is_refused_before_reading(tmp_path, compress):
    """From a path the file's size is known: a header declaring more is refused at once."""
    path = tmp_path / ("lie.idx.gz" if compress else "lie.idx")
    raw = _header(code=0x0E, dims=(10000, 10000)) + bytes(1024)     # 800 MB declared, 1 kB held
    path.write_bytes(gzip.compress(raw) if compress else raw)
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=f"{path.name}.*truncated.*800000000 bytes"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


def test_max_bytes_is_configurable(tmp_path):
    path = tmp_path / "a.idx"
    write_idx(path, np.zeros((10, 10), np.uint8))
    assert read_idx(path).shape == (10, 10)
    with pytest.raises(DataError, match="max_bytes"):
        read_idx(path, max_bytes=99)


@pytest.mark.parametrize("damage", ["truncated", "invalid-deflate", "bad-crc"])
def test_damaged_gzip_file_names_the_file(tmp_path, damage):
    """zlib.error, EOFError and BadGzipFile all become a DataError naming the file."""
    good = gzip.compress(_header(dims=(4000,)) + bytes(range(250)) * 16)
    bad = {"truncated": good[:len(good) // 2],
           "invalid-deflate": good[:10] + b"\xff" * 8 + good[18:],
           "bad-crc": good[:-8] + bytes(4) + good[-4:]}[damage]
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(bad)
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz"):
        read_idx(path)
