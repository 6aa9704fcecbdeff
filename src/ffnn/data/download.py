"""The download cache: where files live, how they are fetched and how they are verified.

A file is fetched from a list of mirrors in order with :mod:`urllib.request`, streamed into a
temporary file next to its destination, verified, and only then moved into place with an
atomic rename (:func:`ffnn._atomic.atomic_file`, with the verification as its ``check``). A
failed attempt deletes its temporary file and moves on to the next mirror; a file already in
the cache is used only if it verifies, and is replaced only by a download that verifies. So
the cache never holds a half-written or unverified file under its real name.

Verification uses the SHA-256 of the *decompressed* content (a gzip file is recognised by its
magic bytes), which stays the same when a distributor recompresses a file, as Debian does with
Fashion-MNIST. Where only the MD5 of the file as served is published (MNIST), that is checked.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import sys
import urllib.error
import urllib.request
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from .._atomic import atomic_file
from ..errors import DataError

__all__ = ["cache_dir", "fetch", "verify", "content_sha256", "file_md5"]

_CHUNK = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"


def cache_dir() -> Path:
    """Return the root of the download cache (not created here).

    ``$FFNN_DATA`` if set; otherwise the platform's user cache directory plus ``ffnn``:
    ``$XDG_CACHE_HOME/ffnn`` or ``~/.cache/ffnn`` on Linux, ``~/Library/Caches/ffnn`` on
    macOS, ``%LOCALAPPDATA%\\ffnn`` on Windows.
    """
    if os.environ.get("FFNN_DATA"):
        return Path(os.environ["FFNN_DATA"]).expanduser()
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "ffnn"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "ffnn"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ffnn"


def content_sha256(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of the file's content, decompressed first if it is gzipped."""
    digest = hashlib.sha256()
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        stream = gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw
        for block in iter(lambda: stream.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def file_md5(path: str | os.PathLike) -> str:
    """MD5 hex digest of the file's bytes as stored (an integrity check, not security)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as raw:
        for block in iter(lambda: raw.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: str | os.PathLike, sha256: str | None = None, md5: str | None = None) -> str | None:
    """Check a file against its checksums; return None if it passes, else the reason.

    Parameters
    ----------
    sha256 : str or None
        SHA-256 of the decompressed content (see :func:`content_sha256`).
    md5 : str or None
        MD5 of the file's bytes as stored.
    """
    try:
        if sha256 is not None:
            got = content_sha256(path)
            if got != sha256.lower():
                return f"SHA-256 mismatch: expected {sha256.lower()}, got {got}"
        if md5 is not None:
            got = file_md5(path)
            if got != md5.lower():
                return f"MD5 mismatch: expected {md5.lower()}, got {got}"
    except (OSError, EOFError, zlib.error) as exc:  # unreadable file or corrupt/truncated gzip stream
        return f"unreadable ({exc})"
    return None


def fetch(urls: Sequence[str], dest: str | os.PathLike, sha256: str | None = None, *,
          md5: str | None = None, timeout: float = 60.0) -> Path:
    """Make ``dest`` a verified copy of the file at the first of ``urls`` that works.

    If ``dest`` exists and verifies, nothing is downloaded. Otherwise each URL is tried in
    turn: the body is streamed into a temporary file in ``dest``'s directory, its length is
    checked against ``Content-Length``, its checksums are verified, and it is moved onto
    ``dest`` atomically. An existing ``dest`` is only ever replaced by a verified file.

    Parameters
    ----------
    urls : sequence of str
        Full URLs of the same file, tried in order.
    dest : path
        Where the file goes; parent directories are created.
    sha256, md5 : str or None
        Expected checksums (see :func:`verify`); at least one is required.
    timeout : float
        Seconds to wait for each connection and read.

    Returns
    -------
    pathlib.Path
        ``dest``.

    Raises
    ------
    DataError
        Every URL failed; the message lists each URL with its error (HTTP status, checksum
        mismatch with expected and received digests, or truncated body).
    """
    if sha256 is None and md5 is None:
        raise DataError(f"fetch({Path(dest).name!r}) needs a sha256 or md5 checksum, got neither")
    if not urls:
        raise DataError(f"fetch({Path(dest).name!r}) needs at least one URL, got none")
    dest = Path(dest)
    if dest.exists() and verify(dest, sha256, md5) is None:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []

    def check(tmp: Path) -> None:
        problem = verify(tmp, sha256, md5)
        if problem is not None:
            raise _DownloadError(problem)

    for url in urls:
        try:
            with atomic_file(dest, "wb", check=check) as out:
                _download(url, out, timeout)
            return dest
        except _DownloadError as exc:
            failures.append(f"{url}: {exc}")
    raise DataError(f"could not download {dest.name} into {dest.parent}; every mirror failed:\n  "
                    + "\n  ".join(failures))


class _DownloadError(Exception):
    """One mirror failed; the message says how."""


def _download(url: str, out: IO[bytes], timeout: float) -> None:
    """Stream the body at ``url`` into the open file ``out``, checking its length."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() else None
            got = 0
            try:
                for block in iter(lambda: response.read(_CHUNK), b""):
                    out.write(block)
                    got += len(block)
            except http.client.IncompleteRead as exc:
                got += len(exc.partial)
                raise _DownloadError(f"truncated body: expected {expected} bytes, got {got}") from exc
            if expected is not None and got != expected:
                raise _DownloadError(f"truncated body: expected {expected} bytes, got {got}")
    except urllib.error.HTTPError as exc:
        raise _DownloadError(f"HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise _DownloadError(f"cannot connect ({exc.reason})") from exc
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise _DownloadError(f"{type(exc).__name__}: {exc}") from exc
