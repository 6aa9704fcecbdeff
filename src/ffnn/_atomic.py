"""The one way ffnn publishes a file or a directory: write beside it, then rename over it.

A reader (or a crash) sees the old file or the complete new one, never a half-written file:
the data goes to a temporary file in the same directory, is flushed to disk (``fsync``) and
then renamed onto the target with :func:`os.replace`, which is atomic on POSIX and Windows.
On any error the temporary file is removed and the target is left as it was.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_file", "write_atomic", "staging_directory", "publish_directory"]


def _temporary_name(path: Path, suffix: str = ".tmp") -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}{suffix}")


@contextmanager
def atomic_file(path: str | os.PathLike[str], mode: str = "wb", *, fsync: bool = True) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing; on success it replaces ``path``.

    ``mode`` is ``"wb"`` or ``"w"`` (UTF-8 text). The file gets the permissions a new file
    gets from the umask (not the 0600 of :func:`tempfile.mkstemp`).

    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "notes.txt"
    >>> with atomic_file(target, "w") as f:
    ...     _ = f.write("complete")
    >>> target.read_text()
    'complete'
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_file mode must be 'wb' or 'w', got {mode!r}")
    target = Path(path)
    tmp = _temporary_name(target)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""})) as f:
            yield f
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike[str], data: bytes | str, *, fsync: bool = True) -> Path:
    """Write ``data`` (bytes, or text as UTF-8) to exactly ``path``, atomically. Returns the path."""
    with atomic_file(path, "wb" if isinstance(data, bytes) else "w", fsync=fsync) as f:
        f.write(data)
    return Path(path)


@contextmanager
def staging_directory(target: str | os.PathLike[str]) -> Iterator[Path]:
    """A new empty directory beside ``target`` to assemble it in; removed on exit unless it was
    published (moved to ``target`` by :func:`publish_directory`)."""
    target = Path(target)
    staged = _temporary_name(target, ".staging")
    os.mkdir(staged, 0o777)
    try:
        yield staged
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def publish_directory(staged: str | os.PathLike[str], target: str | os.PathLike[str]) -> Path:
    """Move a complete directory ``staged`` to ``target`` in one rename.

    When ``target`` exists it is first renamed aside and removed after the new directory is
    in place, so ``target`` holds either the old run or the new one, never a mix of files
    from both. ``staged`` must be on the same file system (create it beside ``target``).
    """
    staged, target = Path(staged), Path(target)
    if not target.exists():
        os.replace(staged, target)
        return target
    aside = _temporary_name(target, ".old")
    os.replace(target, aside)
    try:
        os.replace(staged, target)
    except BaseException:
        os.replace(aside, target)
        raise
    shutil.rmtree(aside, ignore_errors=True)
    return target
