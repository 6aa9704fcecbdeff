"""The one way ffnn publishes a file or a directory: write beside it, then rename over it.

A reader (or a crash) sees the old file or the complete new one, never a half-written file:
the data goes to a temporary file in the same directory, is flushed to disk (``fsync``) and
then renamed onto the target with :func:`os.replace`, which is atomic on POSIX and Windows.
On any error the temporary file is removed and the target is left as it was.

- :func:`atomic_file` yields an open file to write to;
- :func:`atomic_path` yields the temporary file's path, for writers that want a file name
  (``matplotlib``'s ``savefig``);
- both take ``check``, a callable run on the complete temporary file before the rename (a
  download's checksum): when it raises, the target is left as it was;
- :func:`write_atomic` writes bytes or text in one call;
- :func:`staging_directory` and :func:`publish_directory` do the same for a directory;
  :func:`remove_stale_staging` removes the staging directories of writers that were killed
  (their names carry the writer's process id, so a live writer's directory is left alone).
"""

from __future__ import annotations

import glob
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_file", "atomic_path", "write_atomic", "remove_stale_temporaries", "staging_directory",
           "publish_directory", "remove_stale_staging"]

STALE_AFTER = 24 * 3600.0
"""Seconds after which a staging directory counts as stale even if its process id is in use
again (a staging directory lives for the seconds it takes to write a run)."""

_STAGED = re.compile(r"^\..+\.(?P<pid>[0-9]+)-[0-9a-f]{12}\.(?:staging|old)$")

Check = Callable[[Path], object]
"""A callable run on the complete temporary file before it replaces the target; it rejects
the file by raising (its return value is ignored)."""


def _temporary_name(path: Path, suffix: str = ".tmp") -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}{suffix}")


def _directory_name(path: Path, suffix: str) -> Path:
    """``.<name>.<pid>-<12 hex digits><suffix>``: a directory beside ``path`` owned by this process."""
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(6)}{suffix}")


def _open(path: Path, mode: str) -> IO[Any]:
    return open(path, "wb") if mode == "wb" else open(path, "w", encoding="utf-8", newline="")


@contextmanager
def atomic_file(path: str | os.PathLike[str], mode: str = "wb", *, fsync: bool = True,
                check: Check | None = None) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing; on success it replaces ``path``.

    ``mode`` is ``"wb"`` or ``"w"`` (UTF-8 text). The file gets the permissions a new file
    gets from the umask (not the 0600 of :func:`tempfile.mkstemp`). ``check``, if given, is
    called with the temporary file's path once it is complete and closed, before the rename;
    an exception from it removes the temporary file, leaves ``path`` as it was and propagates.

    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "notes.txt"
    >>> with atomic_file(target, "w") as f:
    ...     _ = f.write("complete")
    >>> target.read_text()
    'complete'
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_file mode must be 'wb' or 'w', got {mode!r}")
    with atomic_path(path, fsync=False, check=check) as tmp, _open(tmp, mode) as f:
        yield f
        f.flush()
        if fsync:
            os.fsync(f.fileno())


@contextmanager
def atomic_path(path: str | os.PathLike[str], *, fsync: bool = True,
                check: Check | None = None) -> Iterator[Path]:
    """A temporary file name beside ``path`` to write to; on success that file replaces ``path``.

    For writers that take a file name rather than a file object. The temporary file exists
    (empty, with the permissions the umask gives a new file) when the block starts, and its
    name ends with ``path``'s suffix (``.png``), so a writer that picks its format by suffix
    picks the right one. After the block it is flushed to disk, passed to ``check`` (as in
    :func:`atomic_file`) and renamed onto ``path``; on any error it is removed and ``path``
    is left as it was.

    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "numbers.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("1 2 3")
    >>> target.read_text(), sorted(p.name for p in target.parent.iterdir())
    ('1 2 3', ['numbers.txt'])
    """
    target = Path(path)
    tmp = _temporary_name(target, ".tmp" + target.suffix)
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666))
    try:
        yield tmp
        if fsync:
            fd = os.open(tmp, os.O_RDWR | getattr(os, "O_BINARY", 0))
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        if check is not None:
            check(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_stale_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files that writers of ``path`` left when their process was killed.

    Only the names :func:`atomic_file` and :func:`atomic_path` use for ``path``
    (``.<name>.<12 hex digits>.tmp...``) are touched. Call it when one process owns ``path``
    (a resumed training run owns its checkpoint). Returns the files removed.
    """
    target = Path(path)
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.[0-9a-f]{{12}}\.tmp")
    removed = []
    for candidate in target.parent.glob(f".{glob.escape(target.name)}.*.tmp*"):
        if pattern.match(candidate.name) and candidate.is_file():
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed


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
    staged = _directory_name(target, ".staging")
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
    aside = _directory_name(target, ".old")
    os.replace(target, aside)
    try:
        os.replace(staged, target)
    except BaseException:
        os.replace(aside, target)
        raise
    shutil.rmtree(aside, ignore_errors=True)
    return target


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True                      # another user's process (or unknowable): leave it
    return True


def remove_stale_staging(directory: str | os.PathLike[str], *, stale_after: float = STALE_AFTER) -> list[Path]:
    """Delete the staging directories (and set-aside old directories) that :func:`staging_directory`
    and :func:`publish_directory` left in ``directory`` when their process was killed.

    A directory counts as stale when the process id in its name no longer runs, or when it is
    older than ``stale_after`` seconds; a live writer's directory is never touched. Returns
    the directories removed.
    """
    removed: list[Path] = []
    now = time.time()
    try:
        candidates = list(Path(directory).iterdir())
    except OSError:
        return removed
    for candidate in candidates:
        match = _STAGED.match(candidate.name)
        if not match or not candidate.is_dir() or candidate.is_symlink():
            continue
        try:
            age = now - candidate.stat().st_mtime
        except OSError:
            continue
        if age > stale_after or not _process_alive(int(match["pid"])):
            shutil.rmtree(candidate, ignore_errors=True)
            removed.append(candidate)
    return removed
