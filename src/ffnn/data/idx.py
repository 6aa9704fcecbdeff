"""Read and write the IDX format of the MNIST files.

An IDX file is a header followed by the array's elements in C order, big-endian::

    bytes 0-1   0x00 0x00                  magic
    byte  2     dtype code                 0x08 uint8, 0x09 int8, 0x0B int16,
                                           0x0C int32, 0x0D float32, 0x0E float64
    byte  3     ndim                       number of dimensions
    4 * ndim    dims                       big-endian uint32 sizes
    then        prod(dims) * itemsize      the data

MNIST ships its four files gzip-compressed; both readers and the writer handle plain and
gzipped files (a gzip file is recognised by its magic bytes ``1f 8b``, not its name).

Memory is bounded by what the file holds: a header that declares more than ``max_bytes``,
or more than the file can hold (its size; for gzip, its size times deflate's largest
expansion), is refused before anything is read; a stream of unknown size is read in chunks
that stop one byte past the declared size. A damaged or truncated gzip stream is a
:class:`~ffnn.DataError` naming the file, never a ``zlib.error`` or ``EOFError``.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import struct
from pathlib import Path
from typing import BinaryIO, Protocol

import numpy as np

from .._atomic import atomic_file
from .._npzread import DEFLATE_MAX_RATIO, MAX_BYTES, stream_errors
from ..errors import DataError

__all__ = ["read_idx", "write_idx", "IDX_DTYPES", "MAX_NDIM"]

IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
"""IDX dtype code -> the big-endian NumPy dtype of the stored elements."""

MAX_NDIM = 4
"""Largest number of dimensions accepted (MNIST uses 1 for labels and 3 for images)."""

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20


class _Reader(Protocol):
    """Anything with ``read(size) -> bytes``: a binary file, a :class:`gzip.GzipFile`, a :class:`_Prefixed`."""

    def read(self, size: int, /) -> bytes: ...


def read_idx(source: str | os.PathLike | BinaryIO, *, max_bytes: int = MAX_BYTES) -> np.ndarray:
    """Read an IDX array from a path or a binary file object, gzipped or not.

    The header is validated (magic, dtype code, ``1 <= ndim <= MAX_NDIM``) and the payload
    must hold exactly ``prod(dims) * itemsize`` bytes. The payload is read in chunks and
    reading stops one byte past the expected size, so a header that claims huge dimensions
    cannot make this function allocate more memory than the file really holds.

    Parameters
    ----------
    source : path or binary file object
        A file object is read from its current position (it need not be seekable).
    max_bytes : int
        Largest payload accepted (default 4 GiB).

    Returns
    -------
    numpy.ndarray
        Shape ``dims``, in the native byte order of the stored dtype (uint8 for MNIST).

    Raises
    ------
    DataError
        Bad magic, unknown dtype code, bad ndim, a payload that is shorter or longer than
        the header says (the message gives the expected and received byte counts), more than
        ``max_bytes``, or a corrupt gzip stream.
    """
    if isinstance(source, (str, os.PathLike)):
        with stream_errors(DataError, source, "IDX file"), open(source, "rb") as fh:
            return _read(fh, str(source), max_bytes, os.fstat(fh.fileno()).st_size)
    return _read(source, str(getattr(source, "name", "<file object>")), max_bytes, None)


def _read(fh: BinaryIO, label: str, max_bytes: int, size: int | None) -> np.ndarray:
    """``size``: the file's size when known (it bounds what the header may declare)."""
    with stream_errors(DataError, label, "IDX file (corrupt gzip data?)"):
        head = fh.read(2)
        if head == _GZIP_MAGIC:
            with gzip.GzipFile(fileobj=_Prefixed(head, fh), mode="rb") as gz:
                return _read_plain(gz, label, max_bytes, None if size is None else size * DEFLATE_MAX_RATIO, False)
        return _read_plain(_Prefixed(head, fh), label, max_bytes, size, True)


class _Prefixed:
    """A reader that returns ``prefix`` before the rest of ``fh`` (avoids seeking back)."""

    def __init__(self, prefix: bytes, fh: BinaryIO) -> None:
        self._prefix = prefix
        self._fh = fh

    def read(self, size: int) -> bytes:
        if self._prefix:
            out, self._prefix = self._prefix[:size], self._prefix[size:]
            return out + (self._fh.read(size - len(out)) if size > len(out) else b"")
        return self._fh.read(size)

    def seek(self, offset: int, whence: int = os.SEEK_SET, /) -> int:
        """Not supported: the reader is forward-only (gzip only seeks to rewind, which is never done here)."""
        raise io.UnsupportedOperation("seek")


def _read_exact(fh: _Reader, size: int) -> bytes:
    """Read up to ``size`` bytes, looping over short reads; fewer only at end of file."""
    parts: list[bytes] = []
    got = 0
    while got < size:
        block = fh.read(min(_CHUNK, size - got))
        if not block:
            break
        parts.append(block)
        got += len(block)
    return b"".join(parts)


def _read_plain(fh: _Reader, label: str, max_bytes: int, limit: int | None, exact: bool) -> np.ndarray:
    """The array of an uncompressed IDX stream; ``limit`` bounds the stream's length (exactly
    its length when ``exact``)."""
    magic = _read_exact(fh, 4)
    if len(magic) < 4:
        raise DataError(f"{label}: not an IDX file: expected a 4-byte header, got {len(magic)} bytes")
    if magic[:2] != b"\x00\x00":
        raise DataError(f"{label}: not an IDX file: expected magic bytes 00 00, got {magic[:2].hex(' ')}")
    code, ndim = magic[2], magic[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise DataError(f"{label}: unknown IDX dtype code 0x{code:02X}; expected one of {known}")
    if not 1 <= ndim <= MAX_NDIM:
        raise DataError(f"{label}: IDX header says {ndim} dimensions; expected 1 to {MAX_NDIM}")
    raw_dims = _read_exact(fh, 4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise DataError(f"{label}: truncated IDX header: expected {4 * ndim} bytes of dimensions, "
                        f"got {len(raw_dims)}")
    dims = struct.unpack(f">{ndim}I", raw_dims)
    dtype = IDX_DTYPES[code]
    expected = math.prod(dims) * dtype.itemsize  # Python int: cannot overflow
    if expected > max_bytes:
        raise DataError(f"{label}: IDX header {dims} of {dtype.name} declares {expected:,} bytes, more than "
                        f"the {max_bytes:,} allowed (max_bytes)")
    room = None if limit is None else limit - 4 - 4 * ndim
    if room is not None and (expected > room or (exact and expected != room)):
        got = f"got {room}" if exact else f"the file can hold at most {room}"
        raise DataError(f"{label}: IDX payload {'truncated' if expected > room else 'has extra data'}: "
                        f"header {dims} of {dtype.name} needs {expected} bytes, {got}")
    payload = _read_exact(fh, expected + 1)  # bounded by what the file really holds
    if len(payload) < expected:
        raise DataError(f"{label}: IDX payload truncated: header {dims} of {dtype.name} needs "
                        f"{expected} bytes, got {len(payload)}")
    if len(payload) > expected:
        extra = 1 + sum(len(block) for block in iter(lambda: fh.read(_CHUNK), b""))
        raise DataError(f"{label}: IDX payload has extra data: header {dims} of {dtype.name} "
                        f"needs {expected} bytes, got {expected + extra}")
    return np.frombuffer(payload, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` to ``path`` in IDX format, gzipped when the name ends in ``.gz``.

    The file is written atomically (:func:`ffnn._atomic.atomic_file`: a temporary file in the
    same directory, flushed to disk and renamed onto ``path``), so ``path`` is never left
    half-written. Gzip output uses mtime 0, so the same array always gives the same bytes.

    Raises
    ------
    DataError
        The dtype has no IDX code, ``ndim`` is not in ``1..MAX_NDIM``, or a dimension does
        not fit in 32 bits.
    """
    array = np.asarray(array)
    codes = {dt.newbyteorder("="): c for c, dt in IDX_DTYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        raise DataError(f"IDX cannot store dtype {array.dtype}; expected one of "
                        f"{', '.join(str(d) for d in codes)}")
    if not 1 <= array.ndim <= MAX_NDIM:
        raise DataError(f"IDX stores 1 to {MAX_NDIM} dimensions, got an array of shape {array.shape}")
    if any(d >= 2**32 for d in array.shape):
        raise DataError(f"IDX dimensions must be < 2**32, got shape {array.shape}")
    header = bytes([0, 0, codes[native], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    body = np.ascontiguousarray(array, dtype=IDX_DTYPES[codes[native]]).tobytes()
    with atomic_file(path, "wb") as raw:
        if Path(path).name.endswith(".gz"):
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
                gz.write(header)
                gz.write(body)
        else:
            raw.write(header)
            raw.write(body)
