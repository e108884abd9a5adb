"""DDP: two CPU processes (gloo, launched by torchrun) train to the same parameters as one process on
the combined batch; only rank 0 writes."""

from __future__ import annotations

import subprocess
import sys

import torch

from repro.train.checkpoint import load_checkpoint
from repro.train.config import TrainConfig
from repro.train.log import read_log
from repro.train.trainer import train


def test_two_gloo_ranks_equal_one_process_on_the_global_batch(tmp_path, make_data_dir, tiny_model, train_settings,
                                                              hang_ceiling_s):
    # 97 sentences in batches of 8: one batch of a single sentence, so one rank gets an empty share
    data_dir = make_data_dir(tmp_path / "d", sizes={"train": 97, "valid": 8, "test": 4})
    settings = train_settings(epochs=1.5, eval_every_epochs=1.0, save_every_steps=100)
    ddp = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "repro.cli", "train", "--data", str(data_dir), "--out", str(ddp)]
    for k, v in settings.items():
        cmd += ["--set", f"train.{k}={v}"]
    for k, v in tiny_model.items():
        cmd += ["--set", f"model.{k}={v}"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=hang_ceiling_s)
    assert result.returncode == 0, result.stderr[-3000:]

    single = tmp_path / "single"
    train(data_dir, single, tiny_model, TrainConfig.from_dict(settings))
    a = load_checkpoint(ddp / "checkpoints" / "last.pt")
    b = load_checkpoint(single / "checkpoints" / "last.pt")
    assert a["trainer"]["step"] == b["trainer"]["step"] == 13 + 7
    assert len(a["rng"]) == 2 and a["trainer"]["world_size"] == 2
    for name, value in b["model"].items():
        torch.testing.assert_close(a["model"][name], value, rtol=1e-5, atol=1e-6, msg=name)
    # the global loss logged by rank 0 is the single-process loss
    la = [e["loss"] for e in read_log(ddp) if e["kind"] == "train"]
    lb = [e["loss"] for e in read_log(single) if e["kind"] == "train"]
    assert len(la) == len(lb) == 20
    torch.testing.assert_close(torch.tensor(la), torch.tensor(lb), rtol=1e-5, atol=1e-5)
    assert not any(p.name.startswith(".") and p.suffix == ".tmp" for p in ddp.rglob("*"))
