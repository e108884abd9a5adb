"""Atomic writes: a failure leaves neither a partial file nor a partial directory behind."""

from __future__ import annotations

import pytest

from repro.io import atomic_dir, atomic_save, atomic_write


def test_atomic_write_replaces_only_on_success(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as handle:
            handle.write("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
    with atomic_write(target) as handle:
        handle.write("new")
    assert target.read_text() == "new"


def test_atomic_save_cleans_up_on_failure(tmp_path):
    def failing(path):
        open(path, "w").write("partial")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_save(failing, tmp_path / "x.bin")
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_appears_whole_or_not_at_all(tmp_path):
    target = tmp_path / "data"
    with pytest.raises(ValueError):
        with atomic_dir(target) as tmp:
            (tmp / "meta.json").write_text("{}")
            raise ValueError("split empty")
    assert not target.exists() and list(tmp_path.iterdir()) == []
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
    with atomic_dir(target) as tmp:  # replacing an existing directory drops its old files
        (tmp / "b").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["b"]
    assert [p.name for p in tmp_path.iterdir()] == ["data"]


def test_outputs_get_ordinary_permissions(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "f.txt") as handle:
            handle.write("x")
        atomic_save(lambda p: open(p, "w").write("y"), tmp_path / "g.bin")
        with atomic_dir(tmp_path / "d") as tmp:
            (tmp / "a").write_text("1")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "g.bin").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755
