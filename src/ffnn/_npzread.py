"""Reading arrays from files with bounded memory: nothing is allocated that the file cannot fill.

One reader for every ``.npz`` ffnn opens (model files, checkpoints, NPZ data sets, ``ffnn
predict`` inputs) and one way to stream an array out of any byte stream (IDX files too):

1. the archive is opened and its directory checked: every member an ``.npy`` file, stored or
   deflated (what :func:`numpy.savez` and :func:`numpy.savez_compressed` write), not
   encrypted, inside the file;
2. each member's ``.npy`` header (shape, dtype, order) is read without the data; object
   (pickled) and structured dtypes are refused;
3. an array of ``n`` bytes is allocated only when the archive can really hold it: the member's
   declared size must be the header plus exactly ``n`` bytes, its stored bytes at least
   ``n`` (stored) or ``n / DEFLATE_MAX_RATIO`` (deflated: deflate never expands more than
   1032:1), and the total of everything read stays under ``max_bytes``;
4. the data are streamed into the preallocated array; a stream that ends early, or that has
   more to give than declared (a zip bomb), is stopped at once.

So a 400-byte file can make the reader allocate at most about 400 kB, however large the
shapes it declares. Every failure of the zip, zlib or ``.npy`` machinery (``BadZipFile``,
``zlib.error``, ``EOFError``, ``NotImplementedError``, a damaged header...) is raised as
the caller's :class:`~ffnn.FfnnError` subclass, naming the file.
"""

from __future__ import annotations

import contextlib
import math
import os
import struct
import tokenize
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from .errors import DataError, FfnnError

__all__ = ["MAX_BYTES", "DEFLATE_MAX_RATIO", "STREAM_ERRORS", "ArrayInfo", "NpzReader", "read_array", "stream_errors"]

MAX_BYTES = 4 * 2**30
"""Default cap on the bytes of arrays one file may make a reader allocate (4 GiB)."""

DEFLATE_MAX_RATIO = 1032
"""The largest expansion of deflate (RFC 1951): 258 bytes out of two bits, plus block overhead."""

MAX_MEMBERS = 65536
"""Most members an archive may list."""

_NPY_MAGIC = b"\x93NUMPY"
_CHUNK = 1 << 20

STREAM_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, ValueError, EOFError,
    zlib.error, OSError, KeyError, IndexError, TypeError, SyntaxError, tokenize.TokenError, struct.error,
    OverflowError, MemoryError)
"""What the zip, zlib, gzip and ``.npy`` machinery raise on a damaged file (``RecursionError``
and ``UnicodeDecodeError`` included, as a ``RuntimeError`` and a ``ValueError``)."""


@contextlib.contextmanager
def stream_errors(error: type[FfnnError], label: str | os.PathLike[str], what: str = "file") -> Iterator[None]:
    """Raise any failure of the file machinery inside the block as ``error`` naming ``label``."""
    try:
        yield
    except FfnnError:
        raise
    except STREAM_ERRORS as exc:
        raise error(f"{label}: not a readable {what} ({type(exc).__name__}: {str(exc)[:200]})") from exc


@dataclass(frozen=True)
class ArrayInfo:
    """What an ``.npy`` header declares: ``shape``, ``dtype``, Fortran order, and where the data start."""

    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    offset: int

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def read_array(stream: IO[bytes] | Any, shape: tuple[int, ...], dtype: np.dtype, label: str,
               error: type[FfnnError] = DataError, *, fortran_order: bool = False) -> np.ndarray:
    """Stream exactly ``prod(shape) * itemsize`` bytes of ``stream`` into a new array.

    The array is allocated once (the caller has checked that the source can fill it); a
    stream that ends early, or that still has data after the last element, raises ``error``.
    """
    array = np.empty(shape[::-1] if fortran_order else shape, dtype=dtype)
    view = array.reshape(-1).view(np.uint8).data       # the new array's bytes, written in place
    got = 0
    while got < len(view):
        block = stream.read(min(_CHUNK, len(view) - got))
        if not block:
            raise error(f"{label}: truncated: {shape} of {dtype} needs {len(view)} bytes, got {got}")
        view[got:got + len(block)] = block
        got += len(block)
    if stream.read(1):
        raise error(f"{label}: more data than its header declares ({len(view)} bytes for {shape} of {dtype})")
    return array.T if fortran_order else array


class NpzReader:
    """An ``.npz`` archive opened for bounded reading (see the module docstring).

    Parameters
    ----------
    path : path
        The archive.
    error : FfnnError subclass
        What every problem is raised as (``DataError`` for data, ``ModelFileError`` for models).
    max_bytes : int
        Cap on the total bytes of the arrays read through this reader.
    what : str
        What the file is, for messages ("model file", "NPZ data file").

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "d.npz")
    >>> np.savez(path, X=np.ones((3, 2)))
    >>> with NpzReader(path) as archive:
    ...     archive.keys, archive.info("X").shape, archive.read("X").sum()
    (('X',), (3, 2), np.float64(6.0))
    """

    def __init__(self, path: str | os.PathLike[str], *, error: type[FfnnError] = DataError,
                 max_bytes: int = MAX_BYTES, what: str = ".npz archive") -> None:
        self.path = Path(path)
        self.error = error
        self.what = what
        self._left = max_bytes
        self._infos: dict[str, ArrayInfo] = {}
        if not self.path.is_file():
            raise error(f"{self.path}: no such file")
        with stream_errors(error, self.path, what):
            size = self.path.stat().st_size
            with open(self.path, "rb") as fh:
                head = fh.read(len(_NPY_MAGIC))
            if not head:
                raise error(f"{self.path} is empty; expected {what} (a zip written by numpy.savez)")
            if head == _NPY_MAGIC:
                raise error(f"{self.path} holds a single .npy array, not {what}; save it with "
                            "numpy.savez(path, name=array)")
            if not zipfile.is_zipfile(self.path):
                raise error(f"{self.path} is not {what}: expected a zip archive written by numpy.savez "
                            "(is it truncated?)")
            self._zip = zipfile.ZipFile(self.path)
            try:
                self._members = self._check_directory(size)
            except BaseException:
                self._zip.close()
                raise

    def _check_directory(self, size: int) -> dict[str, zipfile.ZipInfo]:
        infos = self._zip.infolist()
        if len(infos) > MAX_MEMBERS:
            raise self.error(f"{self.path}: {len(infos)} archive members; expected at most {MAX_MEMBERS}")
        members: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            name = info.filename
            if not name.endswith(".npy") or info.is_dir():
                raise self.error(f"{self.path}: member {name!r} is not an .npy array; {self.what} holds only arrays")
            if name[:-4] in members:
                raise self.error(f"{self.path}: member {name!r} appears twice")
            if info.flag_bits & 0x1:
                raise self.error(f"{self.path}: member {name!r} is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise self.error(f"{self.path}: member {name!r} uses compression method {info.compress_type}; "
                                 "expected stored or deflated (numpy.savez, numpy.savez_compressed)")
            if info.header_offset + info.compress_size > size:
                raise self.error(f"{self.path}: member {name!r} extends past the end of the file "
                                 f"({size} bytes); the file is truncated")
            members[name[:-4]] = info
        return members

    # -- the archive ------------------------------------------------------------------
    def __enter__(self) -> NpzReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()

    @property
    def keys(self) -> tuple[str, ...]:
        """The arrays' names, in archive order."""
        return tuple(self._members)

    def __contains__(self, key: object) -> bool:
        return key in self._members

    def _label(self, key: str) -> str:
        return f"{self.path}: array {key!r}"

    def info(self, key: str) -> ArrayInfo:
        """The shape, dtype and order an array's ``.npy`` header declares (its data unread).

        Refuses object and structured dtypes, negative sizes and a member whose size is not
        the header's (or that could not hold it: see the module docstring).
        """
        if key in self._infos:
            return self._infos[key]
        if key not in self._members:
            raise self.error(f"{self.path}: no array {key!r}; it holds {list(self._members)}")
        member = self._members[key]
        with stream_errors(self.error, self._label(key), ".npy array"), self._zip.open(member) as fp:
            info = _npy_header(fp, self._label(key), self.error)
        declared = member.file_size - info.offset
        if declared != info.nbytes:
            raise self.error(f"{self._label(key)}: its header declares {info.shape} of {info.dtype} "
                             f"({info.nbytes} bytes), the archive member holds {declared}")
        ratio = 1 if member.compress_type == zipfile.ZIP_STORED else DEFLATE_MAX_RATIO
        if member.file_size > max(member.compress_size, 1) * ratio:
            raise self.error(f"{self._label(key)}: declares {member.file_size} bytes, more than its "
                             f"{member.compress_size} stored bytes can hold")
        self._infos[key] = info
        return info

    def check_total(self, keys: tuple[str, ...] | list[str] | None = None) -> int:
        """The total bytes of ``keys`` (default: every array); refused above the reader's cap."""
        total = sum(self.info(k).nbytes for k in (self.keys if keys is None else keys))
        if total > self._left:
            raise self.error(f"{self.path}: its arrays declare {total:,} bytes, more than the "
                             f"{self._left:,} allowed (max_bytes)")
        return total

    def read(self, key: str) -> np.ndarray:
        """Array ``key``, streamed into one allocation of the size its header declares."""
        info = self.info(key)
        self.check_total([key])
        label = self._label(key)
        with stream_errors(self.error, label, ".npy array"), self._zip.open(self._members[key]) as fp:
            fp.read(info.offset)
            array = read_array(fp, info.shape, info.dtype, label, self.error, fortran_order=info.fortran_order)
        self._left -= info.nbytes
        return array


def _npy_header(fp: IO[bytes], label: str, error: type[FfnnError]) -> ArrayInfo:
    from numpy.lib import format as npy
    version = npy.read_magic(fp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")       # numpy warns about headers written by Python 2
        if version == (1, 0):
            shape, fortran, dtype = npy.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, fortran, dtype = npy.read_array_header_2_0(fp)
        else:
            raise error(f"{label}: .npy format version {version} is not supported; expected 1.0 or 2.0")
    if dtype.hasobject:
        raise error(f"{label}: object arrays are never loaded (they would need pickle); "
                    "store numeric or string arrays")
    if dtype.fields is not None or dtype.kind == "V":
        raise error(f"{label}: a structured dtype {dtype}; store plain numeric or string arrays")
    if any(d < 0 for d in shape):
        raise error(f"{label}: negative dimension in shape {shape}")
    return ArrayInfo(tuple(shape), dtype, bool(fortran), fp.tell())
