"""DDP: two CPU processes (gloo, launched by torchrun) train to the same parameters as one process on
the combined batch; only rank 0 writes. What a cluster does to a launch: the launcher killed (its workers
save and stop), a relaunch beside a live worker of the last one (refused), nodes that see different run
directories (refused)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import torch

from repro.train.checkpoint import load_checkpoint
from repro.train.config import TrainConfig
from repro.train.log import read_log
from repro.train.run_dir import locked_run_dir
from repro.train.run_info import read_run_info
from repro.train.trainer import train


def _train_command(data_dir: Path, out: Path | str, settings: dict, model: dict, *launcher: str) -> list[str]:
    cmd = [sys.executable, "-m", "torch.distributed.run", *(launcher or ("--standalone", "--nproc_per_node", "2")),
           "-m", "repro.cli", "train", "--data", str(data_dir), "--out", str(out)]
    for k, v in settings.items():
        cmd += ["--set", f"train.{k}={v}"]
    for k, v in model.items():
        cmd += ["--set", f"model.{k}={v}"]
    return cmd


def _wait_for(condition, ceiling_s: float, what: str) -> None:
    deadline = time.monotonic() + ceiling_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"hung: {what}")
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _children(pid: int) -> list[int]:
    return [int(child) for task in Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text().split()]


def test_two_gloo_ranks_equal_one_process_on_the_global_batch(tmp_path, make_data_dir, tiny_model, train_settings,
                                                              hang_ceiling_s):
    # 97 sentences in batches of 8: one batch of a single sentence, so one rank gets an empty share
    data_dir = make_data_dir(tmp_path / "d", sizes={"train": 97, "valid": 8, "test": 4})
    settings = train_settings(epochs=1.5, eval_every_epochs=1.0, save_every_steps=100)
    ddp = tmp_path / "ddp"
    result = subprocess.run(_train_command(data_dir, ddp, settings, tiny_model), capture_output=True, text=True,
                            timeout=hang_ceiling_s, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]

    single = tmp_path / "single"
    train(data_dir, single, tiny_model, TrainConfig.from_dict(settings))
    a = load_checkpoint(ddp / "checkpoints" / "last.pt")
    b = load_checkpoint(single / "checkpoints" / "last.pt")
    assert a["trainer"]["step"] == b["trainer"]["step"] == 13 + 7
    assert len(a["rng"]) == 2 and a["trainer"]["world_size"] == 2
    # each rank runs the threads the job gave it (the workflow: the job's threads shared among its ranks)
    assert read_run_info(ddp).environment["num_threads_per_rank"] == [1, 1]
    for name, value in b["model"].items():
        torch.testing.assert_close(a["model"][name], value, rtol=1e-5, atol=1e-6, msg=name)
    # the global loss logged by rank 0 is the single-process loss
    la = [e["loss"] for e in read_log(ddp) if e["kind"] == "train"]
    lb = [e["loss"] for e in read_log(single) if e["kind"] == "train"]
    assert len(la) == len(lb) == 20
    torch.testing.assert_close(torch.tensor(la), torch.tensor(lb), rtol=1e-5, atol=1e-5)
    assert not any(p.name.startswith(".") and p.suffix == ".tmp" for p in ddp.rglob("*"))


def test_workers_of_a_killed_launcher_save_a_checkpoint_and_stop(tmp_path, make_data_dir, tiny_model, train_settings,
                                                                  hang_ceiling_s):
    data_dir = make_data_dir(tmp_path / "d", sizes={"train": 400, "valid": 8, "test": 4})
    out = tmp_path / "run"
    settings = train_settings(epochs=500, eval_every_epochs=100, save_every_steps=5)
    launcher = subprocess.Popen(_train_command(data_dir, out, settings, tiny_model), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"})
    workers: list[int] = []
    try:
        _wait_for(lambda: (out / "checkpoints" / "last.pt").exists(), hang_ceiling_s, "the first checkpoint")
        workers = _children(launcher.pid)
        assert len(workers) == 2
        launcher.kill()  # SIGKILL: torchrun cannot pass anything on to its workers
        launcher.wait()
        _wait_for(lambda: not any(_alive(pid) for pid in workers), hang_ceiling_s, "the orphaned workers to stop")
    finally:
        launcher.kill()
        for pid in filter(_alive, workers):
            os.kill(pid, signal.SIGKILL)
    info = read_run_info(out)
    assert info.status == "interrupted" and "the death of its launcher" in info.error
    assert load_checkpoint(out / "checkpoints" / "last.pt")["trainer"]["step"] == info.step  # saved where it stopped


def test_a_relaunch_beside_a_live_worker_of_the_last_launch_is_refused(tmp_path, make_data_dir, tiny_model,
                                                                       train_settings, hang_ceiling_s):
    data_dir = make_data_dir(tmp_path / "d")
    out = tmp_path / "run"
    with locked_run_dir(out, rank=1):  # as a rank-1 worker left behind by a killed launcher holds it
        result = subprocess.run(_train_command(data_dir, out, train_settings(max_steps=3), tiny_model),
                                capture_output=True, text=True, timeout=hang_ceiling_s,
                                env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode != 0
    assert f"already being trained by rank 1 of pid {os.getpid()}" in result.stderr
    assert not (out / "checkpoints").exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_nodes_that_see_different_run_directories_refuse_to_train(tmp_path, make_data_dir, tiny_model, train_settings,
                                                                  hang_ceiling_s):
    """Two "nodes" (two launchers, one rank each) whose --out is not the same directory: one holds a
    checkpoint at step 6, the other nothing. Both fail with one clear error instead of training apart."""
    data_dir = make_data_dir(tmp_path / "d")
    settings = train_settings(max_steps=6)
    node0, node1 = tmp_path / "node0", tmp_path / "node1"
    node1.mkdir()
    train(data_dir, node0 / "run", tiny_model, TrainConfig.from_dict(settings))
    port = _free_port()
    launches = [subprocess.Popen(_train_command(data_dir, "run", settings, tiny_model, "--nnodes", "2", "--node_rank",
                                                str(rank), "--nproc_per_node", "1", "--master_addr", "127.0.0.1",
                                                "--master_port", str(port)),
                                 cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env={**os.environ, "OMP_NUM_THREADS": "1"})
                for rank, cwd in enumerate((node0, node1))]
    outputs = [launch.communicate(timeout=hang_ceiling_s) for launch in launches]
    host = socket.gethostname()
    for launch, (_, stderr) in zip(launches, outputs):
        assert launch.returncode != 0
        assert (f"the ranks see different states of the run (rank 0 on {host}: step 6; rank 1 on {host}: "
                "no checkpoint)") in stderr, stderr[-3000:]
    assert load_checkpoint(node0 / "run" / "checkpoints" / "last.pt")["trainer"]["step"] == 6  # untouched
    assert not (node1 / "run" / "checkpoints").exists()
