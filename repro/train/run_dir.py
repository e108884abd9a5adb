"""Who may write a run directory: one run, created by ``repro train``, one process at a time.

A directory is a run directory when it holds ``run.json`` or ``checkpoints/last.pt`` (what ``repro
train`` writes first; ``run.json`` is the marker). ``repro train --out DIR``:

- trains afresh into a directory that does not exist or is empty;
- resumes a run directory that has ``checkpoints/last.pt``;
- restarts a run directory that holds no checkpoint at all (a run killed before its first one lost nothing);
- refuses a finished run that can no longer be resumed (``best.pt`` or status ``done`` without
  ``last.pt``) unless ``overwrite`` asks for it, and then removes only the files a run consists of;
- refuses anything else: a file, a non-empty directory it did not write (a prepared data directory,
  ``.``, a home directory), and a directory inside the data directory (``repro prepare`` replaces that
  directory whole, the run with it).

While a process trains, it holds an exclusive ``flock`` on ``run.lock``: a second process fails at once
with an error naming the holder. Under torchrun every rank holds one, rank r > 0 on ``run.rank<r>.lock``:
a relaunch fails while any rank of an earlier launch still lives (a worker left behind by a killed
launcher, on this node or another), not only its rank 0. The kernel drops a lock when its holder dies,
even by SIGKILL, so a lock is never stale; ``flock`` also locks across the nodes of an NFS share (Linux
emulates it there with POSIX locks).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from repro.errors import ReproError
from repro.io import cannot_write, within
from repro.train.run_info import RUN_JSON, Status, read_run_info

LOCK = "run.lock"


_RANK_LOCK = re.compile(r"run\.rank(?P<rank>[1-9][0-9]*)\.lock")


def lock_name(rank: int) -> str:
    """The lock file of a run's process of ``rank`` (0 for a single process)."""
    return LOCK if rank == 0 else f"run.rank{rank}.lock"


def _only_locks(entries: list[str]) -> bool:
    return all(name == LOCK or _RANK_LOCK.fullmatch(name) for name in entries)


# What a run consists of; --overwrite removes these and nothing else.
RUN_FILES = (RUN_JSON, "log.jsonl", "checkpoints", "data")
_DATA_MARKER = "meta.json"  # what `repro prepare` writes into every data directory


def is_run_dir(path: Path) -> bool:
    return (path / RUN_JSON).is_file() or (path / "checkpoints" / "last.pt").is_file()


def _status(path: Path) -> Status | None:
    """The run's status; None where run.json is missing or unreadable (the ownership check goes on)."""
    try:
        return read_run_info(path).status
    except (OSError, ReproError):
        return None


def check_run_dir(run_dir: Path, data_dir: Path, overwrite: bool = False) -> None:
    """Refuse (``ReproError``) a ``--out`` that ``repro train`` must not write; reads only."""
    advice = "give a new --out directory"
    if within(run_dir, data_dir):
        raise ReproError(f"{run_dir}: is {'the' if run_dir.resolve() == data_dir.resolve() else 'inside the'} "
                         f"data directory {data_dir}, which `repro prepare` replaces whole; {advice} outside it")
    if not run_dir.exists():
        if os.path.lexists(run_dir):
            raise ReproError(f"{run_dir}: is a broken symbolic link; {advice}")
        return
    if not run_dir.is_dir():
        raise ReproError(f"{run_dir}: is a file, not a run directory; {advice}")
    try:
        entries = sorted(entry.name for entry in run_dir.iterdir())
    except OSError as exc:
        raise ReproError(f"{run_dir}: cannot read the run directory ({exc.strerror or exc})") from None
    if not is_run_dir(run_dir):
        if _only_locks(entries):
            return
        what = ("a prepared data directory (`repro prepare`)" if _DATA_MARKER in entries
                else f"a non-empty directory that `repro train` did not write (it holds {', '.join(entries[:3])}"
                     f"{', ...' if len(entries) > 3 else ''})")
        raise ReproError(f"{run_dir}: is {what}; refusing to write a run into it ({advice})")
    resumable = (run_dir / "checkpoints" / "last.pt").is_file()
    finished = (run_dir / "checkpoints" / "best.pt").is_file() or _status(run_dir) == Status.DONE
    if finished and not resumable and not overwrite:
        raise ReproError(f"{run_dir}: holds a trained run (status '{_status(run_dir)}') with no "
                         "checkpoints/last.pt to resume from; refusing to train over it: pass --overwrite to "
                         f"replace it, or {advice}")


def clear_run(run_dir: Path) -> None:
    """Remove what a run consists of (``RUN_FILES``), for ``--overwrite``; other files stay."""
    for name in RUN_FILES:
        path = run_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif os.path.lexists(path):
            path.unlink()


def _holder(handle) -> str:
    handle.seek(0)
    text = handle.read().strip()
    return text or "another process"


@contextlib.contextmanager
def locked_run_dir(run_dir: Path, rank: int = 0) -> Iterator[bool]:
    """Create ``run_dir`` if needed and hold the lock of the process of ``rank`` for the block; yields
    whether the directory was created here.

    A second holder fails at once (``ReproError`` naming the process). A directory created here and left
    holding nothing but this lock (the run was refused before it began) is removed again.
    """
    name = lock_name(rank)
    who = "" if rank == 0 else f"rank {rank} of "
    created = [folder for folder in (run_dir, *run_dir.parents) if not folder.exists()]  # innermost first
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        handle = open(run_dir / name, "a+", encoding="utf-8")
    except OSError as exc:
        raise cannot_write(run_dir, exc) from None
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ReproError(f"{run_dir}: already being trained by {who}{_holder(handle)}; wait for it to finish "
                             "or stop it, or give another --out directory") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()} since "
                     f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n")
        handle.flush()
        try:
            yield bool(created)
        finally:
            if created and [entry.name for entry in run_dir.iterdir()] == [name]:
                (run_dir / name).unlink()
                for folder in created:  # and the parents made for it, while empty
                    with contextlib.suppress(OSError):
                        folder.rmdir()
    finally:
        handle.close()  # releases the lock
