"""Which of this machine's GPUs a job uses, where no scheduler says so.

Snakemake counts GPUs (``snakemake --resources gpu=4``) but does not say which: with nothing setting
``CUDA_VISIBLE_DEVICES``, every job would land on ``cuda:0``. :func:`run_on_gpus` takes GPUs that no
other job of this machine holds, by an exclusive ``flock`` on one lock file per GPU, sets
``CUDA_VISIBLE_DEVICES`` to them and replaces itself with the job's command. The locks pass to the
command with its open files (``exec`` keeps them) and end with the last process that holds them, even by
SIGKILL, so a GPU is never held by a job that is gone. A scheduler that places jobs on GPUs itself
(SLURM, a container runtime) sets ``CUDA_VISIBLE_DEVICES``: then this chooses nothing.

Torch-free: a job's start-up imports nothing heavy to find its GPUs.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NoReturn

from repro.errors import ReproError

VISIBLE_DEVICES = "CUDA_VISIBLE_DEVICES"
# One lock file per GPU, for every user of the machine (sticky and world-writable, like /tmp itself:
# flock works on a read-only descriptor, so another user's lock file is shared, not replaced).
LOCK_DIR = Path(tempfile.gettempdir()) / "repro-gpus"
# The NVIDIA driver's one directory per GPU: counted without creating a CUDA context.
_DRIVER_GPUS = Path("/proc/driver/nvidia/gpus")


def machine_gpus() -> int:
    """The NVIDIA GPUs of this machine (0 where the driver is absent)."""
    try:
        return sum(1 for _ in _DRIVER_GPUS.iterdir())
    except OSError:
        return 0


def claim(count: int, total: int, lock_dir: Path = LOCK_DIR) -> tuple[list[int], list[int]]:
    """Lock ``count`` of GPUs ``0 .. total-1`` that no other claim holds, lowest first; returns their
    indices and the lock files' descriptors (the locks last as long as the descriptors). Raises
    ``ReproError`` where fewer are free, holding nothing."""
    if count > total:
        raise ReproError(f"the job asks for {count} GPUs, this machine has {total}")
    lock_dir.mkdir(mode=0o1777, parents=True, exist_ok=True)
    indices: list[int] = []
    handles: list[int] = []
    for index in range(total):
        if len(indices) == count:
            break
        handle = os.open(lock_dir / f"gpu{index}.lock", os.O_RDONLY | os.O_CREAT, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(handle)
            continue
        indices.append(index)
        handles.append(handle)
    if len(indices) < count:
        for handle in handles:
            os.close(handle)
        raise ReproError(f"the job asks for {count} GPUs, only {len(indices)} of this machine's {total} are free "
                         f"(the others are held by running jobs, {lock_dir}); run snakemake with "
                         f"--resources gpu={total} at most")
    return indices, handles


def gpu_environment(count: int, environ: Mapping[str, str], total: int | None = None,
                    lock_dir: Path = LOCK_DIR) -> tuple[dict[str, str], list[int]]:
    """The environment a job asking for ``count`` GPUs runs in, and the lock descriptors it must keep open:
    unchanged where it asks for none, where the machine has none, or where ``CUDA_VISIBLE_DEVICES`` is
    already set (by SLURM, say); else ``CUDA_VISIBLE_DEVICES`` names the GPUs claimed for it."""
    env = dict(environ)
    total = machine_gpus() if total is None else total
    if count < 1 or total == 0 or VISIBLE_DEVICES in env:
        return env, []
    indices, handles = claim(count, total, lock_dir)
    env[VISIBLE_DEVICES] = ",".join(str(index) for index in indices)
    return env, handles


def run_on_gpus(count: int, command: Sequence[str], total: int | None = None,
                lock_dir: Path = LOCK_DIR) -> NoReturn:
    """Replace this process with ``command``, on ``count`` GPUs of its own (see the module's docstring)."""
    if not command:
        raise ReproError("no command to run")
    env, handles = gpu_environment(count, os.environ, total, lock_dir)
    for handle in handles:
        os.set_inheritable(handle, True)  # the command holds the locks
    try:
        os.execvpe(command[0], list(command), env)
    except OSError as exc:
        raise ReproError(f"cannot run {command[0]!r}: {exc.strerror or exc}") from None
