"""`repro gpus`: jobs sharing a machine get GPUs of their own (CUDA_VISIBLE_DEVICES), held until they end."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from repro.errors import ReproError
from repro.gpus import VISIBLE_DEVICES, claim, gpu_environment


def _release(handles: list[int]) -> None:
    for handle in handles:
        os.close(handle)


def test_claims_take_free_gpus_lowest_first_and_fail_holding_nothing_where_too_few_are_free(tmp_path):
    first, first_locks = claim(2, 3, tmp_path)
    second, second_locks = claim(1, 3, tmp_path)
    assert (first, second) == ([0, 1], [2])
    with pytest.raises(ReproError, match=r"asks for 1 GPUs, only 0 of this machine's 3 are free"):
        claim(1, 3, tmp_path)
    _release(first_locks)
    with pytest.raises(ReproError, match="only 2 of this machine's 3"):
        claim(3, 3, tmp_path)
    again, again_locks = claim(2, 3, tmp_path)  # the failed claim of 3 kept none of the two it found
    assert again == [0, 1]
    _release(second_locks + again_locks)
    with pytest.raises(ReproError, match="asks for 4 GPUs, this machine has 3"):
        claim(4, 3, tmp_path)


def test_the_environment_names_the_claimed_gpus_unless_a_scheduler_chose_or_none_is_asked_for_or_there(tmp_path):
    env, locks = gpu_environment(2, {"PATH": "/bin"}, total=4, lock_dir=tmp_path)
    assert env == {"PATH": "/bin", VISIBLE_DEVICES: "0,1"} and len(locks) == 2
    _release(locks)
    for count, environ, total in ((1, {VISIBLE_DEVICES: "3"}, 4),  # SLURM placed the job
                                  (0, {}, 4),  # a CPU job
                                  (2, {}, 0)):  # a machine without an NVIDIA GPU: the job runs on the CPU
        assert gpu_environment(count, environ, total=total, lock_dir=tmp_path) == (environ, [])


def test_the_command_holds_its_gpus_until_it_ends(tmp_path):
    job = (f"from repro.gpus import run_on_gpus; run_on_gpus(2, [{sys.executable!r}, '-c', "
           f"\"import os, sys; print(os.environ['{VISIBLE_DEVICES}'], flush=True); sys.stdin.read()\"], "
           f"total=3, lock_dir=__import__('pathlib').Path({str(tmp_path)!r}))")
    env = {k: v for k, v in os.environ.items() if k != VISIBLE_DEVICES}
    proc = subprocess.Popen([sys.executable, "-c", job], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env=env)
    try:
        assert proc.stdout.readline().strip() == "0,1"  # the exec'd command, with its GPUs
        with pytest.raises(ReproError, match="only 1 of this machine's 3 are free"):
            claim(2, 3, tmp_path)
    finally:
        proc.communicate("", timeout=60)
    assert proc.returncode == 0
    indices, locks = claim(3, 3, tmp_path)  # released when the command ended
    _release(locks)


def test_cli_runs_the_command_in_place_with_its_exit_status():
    proc = subprocess.run([sys.executable, "-m", "repro.cli", "gpus", "0", "--", "sh", "-c", "exit 7"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 7, proc.stderr
    proc = subprocess.run([sys.executable, "-m", "repro.cli", "gpus", "1", "--", "no-such-command-here"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "cannot run 'no-such-command-here'" in proc.stderr
