"""Atomic writes: a failure leaves neither a partial file nor a partial directory behind."""

from __future__ import annotations

import gzip
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from repro.errors import DataError, ReproError
from repro.io import (
    atomic_dir,
    atomic_save,
    atomic_write,
    check_output_dir,
    decode_lines,
    iter_text_lines,
    open_input,
    read_text_lines,
    remove_stale_temporaries,
)


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

    def ours(path: Path) -> bool:
        return (path / "a").exists()

    with atomic_dir(target, ours) as tmp:  # replacing a directory it recognises drops its old files
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


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_atomic_dir_refuses_what_it_did_not_write(tmp_path):
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_bytes(b"\xff\xd8 not yours")
    (foreign / "sub").mkdir()
    plain = tmp_path / "notes.txt"
    plain.write_text("keep me")
    before = _tree(tmp_path)
    for target, message in ((foreign, ("is a non-empty directory that this command did not write (it holds "
                                       "cat.jpg, sub/)")),
                            (plain, "is a file, not a directory")):
        entered = False
        with pytest.raises(ReproError) as err, atomic_dir(target, lambda path: False):
            entered = True
        assert not entered  # refused on entry, before any work
        assert str(err.value).startswith(f"{target}: {message}") and "remove" in str(err.value)
    assert _tree(tmp_path) == before and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "photos"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with atomic_dir(empty) as tmp:  # an empty directory loses nothing
        (tmp / "x").write_text("1")
    assert (empty / "x").read_text() == "1"


def test_atomic_dir_refuses_cwd_its_parents_and_directories_holding_inputs(tmp_path, monkeypatch):
    work = tmp_path / "project" / "work"
    work.mkdir(parents=True)
    corpus = work / "corpus.en"
    corpus.write_text("hello\n")
    monkeypatch.chdir(work)
    (tmp_path / "alias").symlink_to(work)  # the same directory under another name
    for target in (".", "..", str(tmp_path), str(tmp_path / "alias")):
        with pytest.raises(ReproError, match=r"is the current directory or one of its parents; refusing"):
            check_output_dir(target)
    with pytest.raises(ReproError, match=r"^\.: is the current directory .*e\.g\. data\)$"):
        check_output_dir(".")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    inside = elsewhere / "corpus.fr"
    inside.write_text("bonjour\n")
    with pytest.raises(ReproError, match=rf"contains the input file {inside}"):
        check_output_dir(elsewhere, owned=lambda path: True, inputs=[inside])
    with pytest.raises(ReproError, match="is the input file"):
        check_output_dir(inside, inputs=[inside])
    with pytest.raises(ReproError, match=r"cannot be created: .*corpus.en is a file, not a directory"):
        check_output_dir("corpus.en/data")
    assert corpus.read_text() == "hello\n" and inside.read_text() == "bonjour\n"


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_killed_runs_leftovers_are_removed_on_the_next_start(tmp_path):
    host = socket.gethostname()
    stale = [tmp_path / ".data.tmp-k3j2h1", tmp_path / f".data.tmp-{_dead_pid()}@{host}-abc123",
             tmp_path / ".data.old-zz9"]
    kept = [tmp_path / f".data.tmp-{os.getpid()}@{host}-live01",  # a run still going
            tmp_path / ".data.tmp-1@some-other-host-abc",  # another machine's: cannot tell, leave it
            tmp_path / ".database.tmp-x1", tmp_path / ".other.tmp-x2", tmp_path / "data.tmp-x3",
            tmp_path / "sub" / ".data.tmp-x4"]
    for path in stale + kept:
        path.mkdir(parents=True)
        (path / "half.npy").write_bytes(b"partial")
    (tmp_path / ".data.tmp-file").write_text("a file of that name is not ours to remove")
    with atomic_dir(tmp_path / "data") as tmp:
        (tmp / "meta.json").write_text("{}")
    assert not any(path.exists() for path in stale)
    assert all((path / "half.npy").exists() for path in kept)
    assert (tmp_path / ".data.tmp-file").exists() and (tmp_path / "data" / "meta.json").exists()


def test_run_killed_between_the_renames_gets_its_previous_output_back(tmp_path):
    old = tmp_path / ".data.old-q1w2e3" / "data"
    old.mkdir(parents=True)
    (old / "meta.json").write_text('{"previous": true}')
    (tmp_path / ".data.tmp-r4t5y6").mkdir()  # the new output, complete or not: unknown, so dropped
    assert len(remove_stale_temporaries(tmp_path / "data")) == 2
    assert (tmp_path / "data" / "meta.json").read_text() == '{"previous": true}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_atomic_write_to_a_directory_or_below_a_file_is_an_error(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep").write_text("1")
    with pytest.raises(ReproError, match=r"out: is a directory; give the path of a file to write"), \
            atomic_write(tmp_path / "out") as handle:
        handle.write("x")
    (tmp_path / "f").write_text("2")
    def save(path: str) -> None:
        Path(path).write_text("y")

    with pytest.raises(ReproError, match=r"f/x\.npy: cannot write here: .*f is a file, not a directory"):
        atomic_save(save, tmp_path / "f" / "x.npy")
    assert _tree(tmp_path) == {"f": b"2", "out/keep": b"1"}


def test_text_inputs_drop_a_leading_bom_and_fail_clearly(tmp_path, monkeypatch):
    bom = tmp_path / "bom.txt"
    bom.write_bytes("\ufeffHello world\r\n\ufeffsecond\nlast".encode())
    # only the mark that opens the file is a byte-order mark; later ones are text
    assert read_text_lines(bom) == ["Hello world", "\ufeffsecond", "last"]
    assert list(decode_lines([b"\xef\xbb\xbf"], "x")) == [""]
    (tmp_path / "dir").mkdir()
    with pytest.raises(DataError, match=r"^.*dir: is a directory, expected a text file \(--hyp file\)$"):
        read_text_lines(tmp_path / "dir", "--hyp")
    with pytest.raises(DataError, match=r"dir: is a directory, expected a text file$"):
        open_input(tmp_path / "dir")
    with pytest.raises(DataError, match=r"missing: --ref file not found"):
        read_text_lines(tmp_path / "missing", "--ref")

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("repro.io.open", denied, raising=False)  # root ignores chmod, so simulate it
    with pytest.raises(DataError, match=r"bom.txt: cannot read the file \(permission denied\)"):
        read_text_lines(bom)


def test_streamed_lines_are_the_listed_lines_and_a_hint_explains_a_missing_file(tmp_path):
    text = tmp_path / "t.txt.gz"
    with gzip.open(text, "wb") as handle:
        handle.write("\ufeffun\r\ndeux\ntrois".encode())
    lines = iter_text_lines(text, decompress=True)
    assert next(lines) == "un"  # a stream: one line at a time
    assert [*lines] == ["deux", "trois"]
    assert read_text_lines(text, decompress=True) == ["un", "deux", "trois"]
    stream = iter_text_lines(tmp_path / "missing")  # opened, and failing, on the first line asked for
    with pytest.raises(DataError, match=r"missing: file not found$"):
        next(stream)
    hint = "has the workflow step that writes it run?"
    with pytest.raises(DataError) as missing:
        read_text_lines(tmp_path / "later.txt", missing_hint=hint)
    assert str(missing.value) == f"{tmp_path / 'later.txt'}: missing ({hint})"


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="names an fd's file through Linux's /proc")
@pytest.mark.parametrize("writer", ["atomic_save", "atomic_write"])
def test_an_atomic_file_is_on_the_disk_before_its_rename_and_the_rename_after(tmp_path, monkeypatch, writer):
    """A node that crashes right after the rename must find the new file whole (not truncated): the
    temporary file is fsynced before it is renamed onto the path, and the directory after."""
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        target = os.readlink(f"/proc/self/fd/{fd}")
        events.append(("fsync", "dir" if os.path.isdir(target) else Path(target).name))
        return real_fsync(fd)

    def replace(source, destination):
        events.append(("replace", Path(source).name))
        return real_replace(source, destination)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    target = tmp_path / "last.pt"
    if writer == "atomic_save":
        atomic_save(lambda tmp: Path(tmp).write_bytes(b"weights"), target)
    else:
        with atomic_write(target, "wb") as handle:
            handle.write(b"weights")
    assert target.read_bytes() == b"weights"
    (rename_index,) = [i for i, event in enumerate(events) if event[0] == "replace"]
    temporary = events[rename_index][1]
    assert ("fsync", temporary) in events[:rename_index]  # the data first
    assert events[rename_index + 1:] == [("fsync", "dir")]  # then the name
