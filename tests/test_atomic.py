"""Files are written to a temporary name and moved into place."""

from __future__ import annotations

import os

import pytest

from recsys._atomic import atomic_write


def test_success_replaces_the_file_with_normal_permissions(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with atomic_write(target, "w", encoding="utf-8") as handle:
        handle.write("new")
        assert target.read_text() == "old"  # readers still see the old file meanwhile
    assert target.read_text() == "new"
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"precious")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as handle:
            handle.write(b"half")
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_creates_missing_folders(tmp_path):
    target = tmp_path / "a" / "b" / "model.npz"
    with atomic_write(target) as handle:
        handle.write(b"x")
    assert target.read_bytes() == b"x"


def test_the_umask_is_read_without_changing_it(tmp_path, monkeypatch):
    """``os.umask`` sets the mask process-wide while it reads it (racing other threads'
    file creation), so atomic_write never calls it; the mode is the normal one all the same,
    from /proc or, where there is none, from a throwaway file."""
    import recsys._atomic as atomic

    mask = os.umask(0)
    os.umask(mask)

    def no_umask(*args):
        raise AssertionError("os.umask called")

    monkeypatch.setattr(atomic.os, "umask", no_umask)
    for proc in (True, False):
        if not proc:
            monkeypatch.setattr(atomic, "_proc_umask", lambda: None)
        target = tmp_path / f"out{proc}.txt"
        with atomic_write(target, "w", encoding="utf-8") as handle:
            handle.write("x")
        assert target.stat().st_mode & 0o777 == 0o666 & ~mask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outFalse.txt", "outTrue.txt"]
