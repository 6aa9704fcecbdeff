"""ffnn._atomic: the target holds the old file or the complete new one, never a partial one."""

from __future__ import annotations

import os
import stat
import sys

import pytest

from ffnn._atomic import atomic_file, atomic_path, write_atomic


def listing(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def old(tmp_path):
    target = tmp_path / "model.bin"
    target.write_bytes(b"old content")
    return target


class Boom(Exception):
    pass


# --- the happy path --------------------------------------------------------------------

def test_atomic_file_writes_exactly_the_target(tmp_path):
    target = tmp_path / "a.bin"
    with atomic_file(target) as f:
        f.write(b"\x00\x01 bytes")
    assert target.read_bytes() == b"\x00\x01 bytes"
    assert listing(tmp_path) == ["a.bin"]


def test_text_mode_is_utf8_without_newline_translation(tmp_path):
    target = tmp_path / "t.txt"
    with atomic_file(target, "w") as f:
        f.write("caf\u00e9\r\nline\n")
    assert target.read_bytes() == "caf\u00e9\r\nline\n".encode()


def test_bad_mode_is_refused_and_leaves_nothing(tmp_path):
    with pytest.raises(ValueError, match="'a'"), atomic_file(tmp_path / "x", "a"):
        pass
    assert listing(tmp_path) == []


def test_atomic_path_replaces_the_target_and_keeps_its_suffix(old):
    with atomic_path(old) as tmp:
        assert tmp.parent == old.parent and tmp != old
        assert tmp.exists() and tmp.read_bytes() == b""      # the name is reserved
        assert tmp.name.endswith(".bin")                       # a writer can pick its format by suffix
        assert old.read_bytes() == b"old content"              # not replaced before the block ends
        tmp.write_bytes(b"new content")
    assert old.read_bytes() == b"new content"
    assert listing(old.parent) == ["model.bin"]


def test_write_atomic_overwrites(old):
    assert write_atomic(old, "text") == old
    assert old.read_text() == "text"
    assert listing(old.parent) == ["model.bin"]


# --- failures: temporary file removed, target untouched -----------------------------------

def test_atomic_file_error_half_way_keeps_old_content_and_removes_temp(old):
    with pytest.raises(Boom), atomic_file(old) as f:
        f.write(b"half of the new")
        f.flush()
        raise Boom
    assert old.read_bytes() == b"old content"
    assert listing(old.parent) == ["model.bin"]


def test_atomic_file_error_without_an_old_file_leaves_nothing(tmp_path):
    with pytest.raises(Boom), atomic_file(tmp_path / "new.txt", "w") as f:
        f.write("partial")
        raise Boom
    assert listing(tmp_path) == []


def test_keyboard_interrupt_also_cleans_up(old):
    with pytest.raises(KeyboardInterrupt), atomic_file(old) as f:
        f.write(b"partial")
        raise KeyboardInterrupt
    assert old.read_bytes() == b"old content"
    assert listing(old.parent) == ["model.bin"]


def test_atomic_path_error_keeps_old_content_and_removes_temp(old):
    with pytest.raises(Boom), atomic_path(old) as tmp:
        tmp.write_bytes(b"half written")
        raise Boom
    assert old.read_bytes() == b"old content"
    assert listing(old.parent) == ["model.bin"]


def test_write_atomic_failure_keeps_old_content(old):
    with pytest.raises(TypeError):
        write_atomic(old, 123)  # type: ignore[arg-type]  # neither bytes nor text
    assert old.read_bytes() == b"old content"
    assert listing(old.parent) == ["model.bin"]


# --- check: run on the complete file, before the rename ------------------------------------

def test_check_sees_the_complete_temp_file_before_the_rename(old):
    seen = []

    def check(tmp):
        seen.append((tmp.read_bytes(), old.read_bytes(), tmp.parent == old.parent))

    with atomic_file(old, check=check) as f:
        f.write(b"first ")
        f.write(b"second")
    assert seen == [(b"first second", b"old content", True)]
    assert old.read_bytes() == b"first second"


@pytest.mark.parametrize("which", ["atomic_file", "atomic_path"])
def test_failing_check_leaves_target_untouched(old, which):
    def check(tmp):
        raise Boom(f"rejected {tmp.name}")

    with pytest.raises(Boom, match="rejected"):
        if which == "atomic_file":
            with atomic_file(old, check=check) as f:
                f.write(b"unverified")
        else:
            with atomic_path(old, check=check) as tmp:
                tmp.write_bytes(b"unverified")
    assert old.read_bytes() == b"old content"
    assert listing(old.parent) == ["model.bin"]


def test_failing_check_on_a_new_target_leaves_nothing(tmp_path):
    def check(tmp):
        raise Boom

    with pytest.raises(Boom), atomic_file(tmp_path / "download.gz", check=check) as f:
        f.write(b"bad download")
    assert listing(tmp_path) == []


def test_check_return_value_is_ignored(tmp_path):
    with atomic_file(tmp_path / "ok", check=lambda tmp: "some reason") as f:
        f.write(b"fine")
    assert (tmp_path / "ok").read_bytes() == b"fine"


# --- permissions: those of a new file under the umask, not mkstemp's 0600 ----------------------

@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
@pytest.mark.parametrize("which", ["atomic_file", "atomic_path", "write_atomic"])
def test_new_file_gets_umask_permissions(tmp_path, umask, expected, which):
    target = tmp_path / "out.txt"
    previous = os.umask(umask)
    try:
        if which == "atomic_file":
            with atomic_file(target, "w") as f:
                f.write("x")
        elif which == "atomic_path":
            with atomic_path(target) as tmp:
                tmp.write_text("x")
        else:
            write_atomic(target, b"x")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(target.stat().st_mode) == expected


def test_remove_stale_temporaries_takes_only_the_writers_leftovers(tmp_path):
    from ffnn._atomic import remove_stale_temporaries
    target = tmp_path / "run.ckpt"
    target.write_bytes(b"current")
    stale = [tmp_path / ".run.ckpt.0123456789ab.tmp", tmp_path / ".run.ckpt.ba9876543210.tmp.png"]
    kept = [tmp_path / ".run.ckpt.notmine.tmp", tmp_path / ".other.0123456789ab.tmp", tmp_path / "run.ckpt.tmp"]
    for p in stale + kept:
        p.write_bytes(b"x")
    assert sorted(remove_stale_temporaries(target)) == sorted(stale)
    assert all(p.exists() for p in kept) and target.read_bytes() == b"current"


# --- staging directories --------------------------------------------------------------
def test_staging_directory_names_its_process_and_is_published_whole(tmp_path):
    from ffnn._atomic import publish_directory, staging_directory
    target = tmp_path / "run"
    with staging_directory(target) as stage:
        assert f".{os.getpid()}-" in stage.name and stage.name.endswith(".staging")
        (stage / "a.txt").write_text("new")
        publish_directory(stage, target)
    assert listing(tmp_path) == ["run"] and listing(target) == ["a.txt"]


def test_remove_stale_staging_takes_dead_writers_directories_only(tmp_path):
    import subprocess
    import time

    from ffnn._atomic import remove_stale_staging
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True).stdout)
    stale = tmp_path / f".run.{dead}-0123456789ab.staging"
    aside = tmp_path / f".run.{dead}-0123456789ab.old"
    live = tmp_path / f".run.{os.getpid()}-0123456789ab.staging"
    old_live = tmp_path / f".other.{os.getpid()}-aaaaaaaaaaaa.staging"
    others = [tmp_path / ".run.ffnn-run", tmp_path / "run", tmp_path / f".x.{dead}-0123456789ab.staging.keep"]
    for d in (stale, aside, live, old_live, *others):
        d.mkdir()
    week_ago = time.time() - 7 * 86400
    os.utime(old_live, (week_ago, week_ago))                    # pid reused long after: stale by age
    removed = remove_stale_staging(tmp_path)
    assert sorted(removed) == sorted([stale, aside, old_live])
    assert live.exists() and all(d.exists() for d in others)
    assert remove_stale_staging(tmp_path / "missing") == []
