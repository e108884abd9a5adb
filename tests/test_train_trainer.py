"""The training loop: determinism, logging, checkpoints, exact resume after SIGKILL, divergence."""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from repro.errors import ConfigError, ReproError
from repro.models.config import ModelConfig
from repro.train.checkpoint import load_checkpoint, load_run
from repro.train.config import TrainConfig
from repro.train.log import read_log
from repro.train.run_info import RunInfo, Status, read_run_info
from repro.train.trainer import resumes_exactly, train


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, make_data_dir) -> Path:
    return make_data_dir(tmp_path_factory.mktemp("data") / "d")


@pytest.fixture
def run(tiny_model, train_settings):
    """``run(data_dir, out, **train_overrides)``: train the tiny model with the small settings."""
    def run_(data_dir, out, **overrides) -> dict:
        return train(data_dir, out, tiny_model, TrainConfig.from_dict(train_settings(**overrides)))
    return run_


def losses(run_dir) -> list[float]:
    return [e["loss"] for e in read_log(run_dir) if e["kind"] == "train"]


def test_same_seed_same_losses_other_seed_other_losses(data_dir, tmp_path, run):
    a = run(data_dir, tmp_path / "a", max_steps=8)
    run(data_dir, tmp_path / "b", max_steps=8)
    run(data_dir, tmp_path / "c", max_steps=8, seed=2)
    assert a.status == "done" and a.step == 8
    assert losses(tmp_path / "a") == losses(tmp_path / "b")
    assert len(losses(tmp_path / "a")) == 8
    assert losses(tmp_path / "a") != losses(tmp_path / "c")


def test_log_checkpoints_and_run_json(data_dir, tmp_path, run):
    out = tmp_path / "r"
    info = run(data_dir, out, epochs=1.5, optimizer="adam", lr=0.01, lr_schedule="constant", eval_every_steps=4)
    steps_per_epoch = 96 // 8
    assert info.step == 18 and info.epoch == pytest.approx(1.5)
    log = read_log(out)
    train_entries = [e for e in log if e["kind"] == "train"]
    assert [e["step"] for e in train_entries] == list(range(1, 19))
    assert {"step", "epoch", "loss", "ppl", "lr", "grad_norm", "tokens_per_s"} <= set(train_entries[0])
    assert train_entries[5]["epoch"] == pytest.approx(6 / steps_per_epoch)
    valid = [e for e in log if e["kind"] == "valid"]
    # every half epoch (6, 12, 18) and every 4 steps (4, 8, 12, 16), once per step
    assert [e["step"] for e in valid] == [4, 6, 8, 12, 16, 18]
    assert valid[-1]["valid_ppl"] < valid[0]["valid_ppl"]  # it learns
    run_json = read_run_info(out)
    assert run_json.status == "done" and run_json.parameters == sum(
        p.numel() for p in load_run(out).model.parameters())
    assert run_json.device == "cpu" and run_json.wall_time_s > 0 and run_json.tokens_per_s > 0
    assert run_json.best_valid_ppl == pytest.approx(min(e["valid_ppl"] for e in valid))
    best = load_checkpoint(out / "checkpoints" / "best.pt")
    assert best["trainer"]["convergence"]["best_valid_ppl"] == pytest.approx(run_json.best_valid_ppl)
    assert load_checkpoint(out / "checkpoints" / "last.pt")["trainer"]["step"] == 18
    assert (out / "data" / "vocab.tgt.txt").exists() and (out / "data" / "meta.json").exists()


def test_training_past_the_end_does_nothing_more(data_dir, tmp_path, run):
    out = tmp_path / "r"
    run(data_dir, out, max_steps=3)
    before = (out / "log.jsonl").read_text()
    info = run(data_dir, out, max_steps=3)
    assert info.step == 3 and (out / "log.jsonl").read_text() == before
    info = run(data_dir, out, max_steps=5)  # a longer run continues
    assert info.step == 5 and [e["step"] for e in read_log(out) if e["kind"] == "train"] == [1, 2, 3, 4, 5]


def test_resume_refuses_a_different_recipe(data_dir, tmp_path, run):
    out = tmp_path / "r"
    run(data_dir, out, max_steps=2)
    with pytest.raises(ReproError, match="changed train settings lr"):
        run(data_dir, out, max_steps=4, lr=0.1)


def test_divergence_stops_keeps_the_last_good_checkpoint(data_dir, tmp_path, run):
    out = tmp_path / "r"
    with pytest.raises(ReproError, match=r"diverged at step (\d+).*last good checkpoint.*step"):
        run(data_dir, out, lr=1e36, clip_norm=None, save_every_steps=1, lr_schedule="constant")
    assert read_run_info(out).status == "diverged"
    last = load_checkpoint(out / "checkpoints" / "last.pt")
    assert all(torch.isfinite(t).all() for t in last["model"].values())
    assert all(math.isfinite(e["loss"]) for e in read_log(out) if e["kind"] == "train")
    assert last["trainer"]["step"] == max(e["step"] for e in read_log(out))


def wait_for(predicate, proc, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.01)
    return False


PLATEAU = dict(lr_schedule="plateau", plateau_patience=1, min_improvement=0.1, eval_every_epochs=0.5,
               optimizer="adam", lr=0.02)


@pytest.mark.parametrize("schedule, stop", [("halving", signal.SIGKILL), ("plateau", signal.SIGKILL),
                                            ("halving", signal.SIGTERM), ("plateau", signal.SIGUSR1)])
def test_resume_after_a_kill_or_a_stop_signal_equals_an_uninterrupted_run(data_dir, tmp_path, schedule, stop,
                                                                          tiny_model, train_settings, hang_ceiling_s):
    # SIGKILL: resumed from the last periodic checkpoint. SIGTERM (a cluster's time limit or preemption)
    # and SIGUSR1 (SLURM's warning): a checkpoint at the step the signal came, status interrupted.
    # dropout and teacher forcing < 1 make the RNG state part of what must be restored exactly; the
    # plateau schedule's rate depends on the validation history, which must be restored too
    settings = dict(epochs=6, save_every_steps=7, eval_every_epochs=1.0, teacher_forcing_ratio=0.7)
    if schedule == "plateau":
        settings.update(PLATEAU)
    model = dict(tiny_model, dropout=0.1)
    sets = [f"train.{k}={v}" for k, v in train_settings(**settings).items()] + [
        f"model.{k}={v}" for k, v in model.items()]
    killed = tmp_path / "killed"
    cmd = [sys.executable, "-m", "repro.cli", "train", "--data", str(data_dir), "--out", str(killed)]
    for s in sets:
        cmd += ["--set", s]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        last = killed / "checkpoints" / "last.pt"
        # kill once a checkpoint exists and the log has gone past it: mid-epoch (12 batches an epoch)
        # (plateau: later, once validation has decayed the rate)
        lines = 10 if schedule == "halving" else 45
        ok = wait_for(lambda: last.exists() and len((killed / "log.jsonl").read_text().splitlines()) >= lines, proc,
                      hang_ceiling_s)
        assert ok, proc.communicate()[1].decode()[-2000:]
        os.kill(proc.pid, stop)
        _, stderr = proc.communicate(timeout=hang_ceiling_s)
    finally:
        if proc.poll() is None:
            proc.kill()
    killed_at = load_checkpoint(last)["trainer"]
    steps_logged = max(e["step"] for e in read_log(killed))
    info = read_run_info(killed)
    print(f"{stop.name} after step {steps_logged}; checkpoint at step {killed_at['step']}, "
          f"batch {killed_at['batch_in_epoch']} of epoch {killed_at['epoch']}")
    if stop == signal.SIGKILL:
        assert info.status == "running" and proc.returncode == -signal.SIGKILL
        assert 0 < killed_at["step"] <= steps_logged < 72  # killed mid-run, after a checkpoint
    else:  # the step it was in finished, was checkpointed and recorded; the shell's exit status for the signal
        assert proc.returncode == 128 + stop, stderr.decode()[-2000:]
        assert info.status == "interrupted" and f"stopped by {stop.name} at step {steps_logged}" in info.error
        assert f"stopped by {stop.name}" in stderr.decode() and "Traceback" not in stderr.decode()
        assert 0 < killed_at["step"] == steps_logged == info.step < 72
    resumed = subprocess.run(cmd, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resuming from {last} at step {killed_at['step']} " in resumed.stderr  # not a restart from scratch

    reference = tmp_path / "reference"
    train(data_dir, reference, model, TrainConfig.from_dict(train_settings(**settings)))
    assert read_log(killed) == read_log(reference) or _same_but_speed(read_log(killed), read_log(reference))
    assert len(losses(reference)) == 72
    rates = [e["lr"] for e in read_log(reference) if e["kind"] == "train"]
    if schedule == "plateau":  # the rate was decayed by validation before the kill and after it
        train_log = [e for e in read_log(reference) if e["kind"] == "train"]
        decays = [e["step"] for e, prev in zip(train_log[1:], train_log) if e["lr"] < prev["lr"]]
        assert decays and decays[0] <= killed_at["step"] < decays[-1], (decays, killed_at["step"])
    else:
        assert rates[0] > rates[-1]
    a = load_checkpoint(killed / "checkpoints" / "last.pt")
    b = load_checkpoint(reference / "checkpoints" / "last.pt")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in b["model"])
    assert a["trainer"]["step"] == b["trainer"]["step"] == 72


def _same_but_speed(a: list[dict], b: list[dict]) -> bool:
    """Equal logs apart from the timing field (tokens/s); every loss is compared as an exact float."""
    strip = [{k: v for k, v in e.items() if k != "tokens_per_s"} for e in a]
    assert strip == [{k: v for k, v in e.items() if k != "tokens_per_s"} for e in b]
    return True


def test_early_stopping_stops_converged_at_the_floor_and_says_why(data_dir, tmp_path, caplog, run):
    caplog.set_level(logging.INFO, logger="repro.train")
    out = tmp_path / "r"
    stopping = dict(epochs=50, early_stopping_patience=2, min_lr=0.005, **PLATEAU)  # 0.02 decays twice to its floor
    info = run(data_dir, out, **stopping)
    valid = [e for e in read_log(out) if e["kind"] == "valid"]
    rates = [e["lr"] for e in read_log(out) if e["kind"] == "train"]
    assert info.stop_reason == "converged" and info.epoch < 50
    best = min(valid, key=lambda e: e["valid_ppl"])
    assert info.best_valid_ppl == pytest.approx(best["valid_ppl"])
    assert info.best_epoch == pytest.approx(best["epoch"]) and info.best_step == best["step"]
    # it stopped at the second evaluation at the floor without progress (a 10% drop below the last
    # progress), and not before; the rate ends at its floor, never below
    assert valid[-1]["evals_without_progress"] == 2
    assert all(e["evals_without_progress"] < 2 for e in valid[:-1])
    progress = [e for e in valid if e["evals_without_progress"] == 0]
    assert progress[-1]["step"] < valid[-2]["step"]
    assert all(e["valid_ppl"] >= 0.9 * progress[-1]["valid_ppl"] for e in valid[-2:])
    assert min(rates) == rates[-1] == pytest.approx(0.005) and valid[-1]["next_lr"] == pytest.approx(0.005)
    assert valid[-1]["step"] == info.step
    assert [e["step"] for e in read_log(out) if e["kind"] == "train"] == list(range(1, info.step + 1))
    assert read_run_info(out).stop_reason == "converged"
    assert ("converged, validation perplexity did not improve by more than 10.00% in 2 evaluations at the final "
            "learning rate 0.005") in caplog.text
    # rerunning a converged run does nothing; a larger patience (allowed on resume) continues it
    assert run(data_dir, out, **stopping).step == info.step
    more = run(data_dir, out, **{**stopping, "early_stopping_patience": 3})
    assert more.step > info.step


def test_a_run_still_improving_at_its_floor_is_not_converged(data_dir, tmp_path, run):
    # a large patience at the floor: the ceiling comes first, and the run says so
    info = run(data_dir, tmp_path / "r", epochs=3, early_stopping_patience=50, min_lr=0.005, **PLATEAU)
    rates = [e["lr"] for e in read_log(tmp_path / "r") if e["kind"] == "train"]
    assert info.stop_reason == "epoch_limit" and info.epoch == pytest.approx(3)
    assert min(rates) >= 0.005


def test_plateau_early_stopping_without_a_floor_is_refused():
    with pytest.raises(ConfigError, match="would never stop: set min_lr"):
        TrainConfig.from_dict(dict(early_stopping_patience=2, **PLATEAU))
    TrainConfig.from_dict(dict(early_stopping_patience=2, min_lr=1e-4, **PLATEAU))
    TrainConfig.from_dict(dict(early_stopping_patience=2, **{**PLATEAU, "plateau_patience": 3}))


@pytest.mark.parametrize("limit, reason", [({"epochs": 1}, "epoch_limit"), ({"max_steps": 3}, "max_steps")])
def test_stop_reason_names_the_limit(data_dir, tmp_path, limit, reason, run):
    info = run(data_dir, tmp_path / "r", **limit)
    assert info.stop_reason == reason
    assert read_run_info(tmp_path / "r").stop_reason == reason


def test_bf16_without_hardware_support_falls_back_to_fp32_with_a_notice(data_dir, tmp_path, monkeypatch, caplog, run):
    import repro.device as device

    monkeypatch.setattr(device, "bf16_unsupported_reason", lambda dev: "this CPU has no native bfloat16")
    info = run(data_dir, tmp_path / "bf16", max_steps=4, bf16=True)
    err = caplog.text
    assert "notice: train.bf16 is set but this CPU has no native bfloat16; running in fp32" in err
    assert info.status == "done" and info.bf16 is False
    run(data_dir, tmp_path / "fp32", max_steps=4)
    assert losses(tmp_path / "bf16") == losses(tmp_path / "fp32")  # really fp32


# --------------------------------------------------------------------------- a run that stops on an error
def _fail_at(monkeypatch, step: int, exc: BaseException) -> None:
    """Make the loop's training_step raise ``exc`` on its ``step``-th call (after step-1 good steps)."""
    from repro.train import trainer

    real, calls = trainer.training_step, []

    def failing(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == step:
            raise exc
        return real(*args, **kwargs)

    monkeypatch.setattr(trainer, "training_step", failing)


def _temporaries(run_dir: Path) -> list[Path]:
    return [p for p in run_dir.rglob("*") if p.name.endswith(".tmp")]


def test_a_failure_mid_training_is_recorded_in_run_json_and_resume_works(data_dir, tmp_path, monkeypatch, caplog, run):
    caplog.set_level(logging.INFO, logger="repro.train")
    out = tmp_path / "r"
    _fail_at(monkeypatch, 5, RuntimeError("CUDA error: an illegal memory access was encountered"))
    with pytest.raises(RuntimeError, match="illegal memory access"):  # re-raised, not swallowed
        run(data_dir, out, max_steps=8, save_every_steps=3)
    info = read_run_info(out)
    assert info.status == "failed" and info.step == 4
    assert info.error == "RuntimeError: CUDA error: an illegal memory access was encountered"
    assert not _temporaries(out)
    assert load_checkpoint(out / "checkpoints" / "last.pt")["trainer"]["step"] == 3
    monkeypatch.undo()
    caplog.clear()
    resumed = run(data_dir, out, max_steps=8, save_every_steps=3)
    assert f"resuming from {out / 'checkpoints' / 'last.pt'} at step 3 " in caplog.text
    info = read_run_info(out)
    assert resumed.status == info.status == "done" and info.step == 8 and info.error is None
    assert [e["step"] for e in read_log(out) if e["kind"] == "train"] == list(range(1, 9))
    run(data_dir, tmp_path / "reference", max_steps=8, save_every_steps=3)
    assert losses(out) == losses(tmp_path / "reference")  # the failure changed nothing about the numbers


def test_a_full_disk_while_checkpointing_is_an_error_and_run_json_says_failed(data_dir, tmp_path, monkeypatch, run):
    real_save = torch.save
    saves = []

    def third_to_a_full_disk(obj, path, *args, **kwargs):  # the third checkpoint meets a full disk (the kernel's)
        saves.append(path)
        return real_save(obj, "/dev/full" if len(saves) == 3 else path, *args, **kwargs)

    monkeypatch.setattr(torch, "save", third_to_a_full_disk)
    out = tmp_path / "r"
    with pytest.raises(ReproError, match=r"checkpoints/(best|last)\.pt: could not be written \(.*MB free on its filesystem\)"):
        run(data_dir, out, max_steps=8, save_every_steps=2)
    info = read_run_info(out)
    assert info.status == "failed" and "could not be written" in info.error
    assert not _temporaries(out)
    assert load_checkpoint(out / "checkpoints" / "last.pt")["trainer"]["step"] == 4  # the last good one (steps 2, 4; best.pt at 6 failed)


def test_with_no_room_for_a_temporary_file_the_stop_is_still_recorded(data_dir, tmp_path, monkeypatch, run):
    import errno
    import tempfile

    from repro.train import trainer

    out = tmp_path / "r"
    real_mkstemp, real_step = tempfile.mkstemp, trainer.training_step
    full = []

    def mkstemp(*args, **kwargs):
        if full:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_mkstemp(*args, **kwargs)

    def step(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            full.append(1)  # from now on the disk is full: no temporary file can be made
            raise RuntimeError("out of space somewhere")
        return real_step(*args, **kwargs)

    calls: list[int] = []
    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(trainer, "training_step", step)
    with pytest.raises(RuntimeError):
        run(data_dir, out, max_steps=8)
    info = read_run_info(out)  # rewritten in place: not left at "running"
    assert info.status == "failed" and info.step == 2


def test_an_interrupt_is_recorded_as_interrupted(data_dir, tmp_path, monkeypatch, run):
    out = tmp_path / "r"
    _fail_at(monkeypatch, 2, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        run(data_dir, out, max_steps=8)
    info = read_run_info(out)
    assert info.status == "interrupted" and info.error == "KeyboardInterrupt" and info.step == 1


def test_a_repro_error_mid_training_keeps_its_message(data_dir, tmp_path, monkeypatch, run):
    out = tmp_path / "r"
    _fail_at(monkeypatch, 3, ReproError("disk quota exceeded on /runs"))
    with pytest.raises(ReproError, match="disk quota"):
        run(data_dir, out, max_steps=8)
    info = read_run_info(out)
    assert info.status == "failed" and info.error == "disk quota exceeded on /runs"


def test_divergence_records_its_message(data_dir, tmp_path, run):
    out = tmp_path / "r"
    with pytest.raises(ReproError) as exc:
        run(data_dir, out, lr=1e36, clip_norm=None, save_every_steps=1, lr_schedule="constant")
    info = read_run_info(out)
    assert info.status == "diverged" and info.error == str(exc.value)


def test_orphaned_temporary_files_of_a_killed_run_are_removed_on_restart(data_dir, tmp_path, caplog, run):
    import tempfile

    out = tmp_path / "r"
    run(data_dir, out, max_steps=2)
    # the names repro.io's atomic writes give their temporaries, as a SIGKILL mid-save leaves them
    orphans = []
    for folder, target in ((out, "run.json"), (out, "log.jsonl"), (out / "checkpoints", "last.pt"),
                           (out / "checkpoints", "best.pt")):
        fd, name = tempfile.mkstemp(prefix=f".{target}.", suffix=".tmp", dir=folder)
        os.write(fd, b"half a file")
        os.close(fd)
        orphans.append(Path(name))
    # names that only look alike, and a directory with a matching name: not ours to delete
    kept = [out / ".last.pt.tmp", out / "notes.abcdefgh.tmp", out / ".run.json.abcdefg.tmp",
            out / ".run.json.ABCDEFGH.tmp", out / ".run.json.abcdefgh.tmp.bak", out / "data" / ".meta.json.abcdefgh.tmp"]
    for path in kept:
        path.write_text("user file")
    (out / "checkpoints" / ".best.pt.zzzzzzzz.tmp").mkdir()
    kept.append(out / "checkpoints" / ".best.pt.zzzzzzzz.tmp")
    caplog.set_level(logging.INFO, logger="repro")
    info = run(data_dir, out, max_steps=3)
    assert info.status == "done" and info.step == 3
    assert not any(p.exists() for p in orphans)
    assert all(p.exists() for p in kept)
    assert "removed 4 temporary file(s) left by a killed run" in caplog.text


def test_run_json_records_the_environment(data_dir, tmp_path, monkeypatch, run):
    import platform

    from repro.train import checkpoint

    run(data_dir, tmp_path / "r", max_steps=1)
    env = read_run_info(tmp_path / "r").environment
    assert env["torch"] == torch.__version__ and env["python"] == platform.python_version()
    assert env["device_type"] == "cpu" and env["num_threads"] == torch.get_num_threads()
    assert isinstance(env["device_name"], str) and env["device_name"]
    cpuinfo = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in (cpuinfo.read_text().splitlines() if cpuinfo.exists() else [])
             if line.split(":")[0].strip() == "model name"]
    assert env["device_name"] == (names[0] if names else platform.processor() or platform.machine())
    # CUDA: the card's name; a CPU without /proc/cpuinfo: platform.processor()
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H100 80GB HBM3")
    cuda = checkpoint.environment_info(torch.device("cuda", 0))
    assert cuda["device_type"] == "cuda" and cuda["device_name"] == "NVIDIA H100 80GB HBM3"

    def no_proc(*args: object, **kwargs: object) -> None:
        raise FileNotFoundError("/proc/cpuinfo")

    monkeypatch.setattr(checkpoint, "open", no_proc, raising=False)
    monkeypatch.setattr(platform, "processor", lambda: "Apple M2")
    cpu = checkpoint.environment_info(torch.device("cpu"))
    assert cpu["device_name"] == "Apple M2"
    assert json.loads(json.dumps(cpu)) == cpu and set(cpu) >= {"torch", "python", "device_type", "device_name",
                                                                 "num_threads"}
    # no instruction-set limit set: none recorded; set, each recorded by name, and named beside the device
    for name in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS"):
        monkeypatch.delenv(name, raising=False)
    plain = checkpoint.environment_info(torch.device("cpu"))
    assert "isa_limits" not in plain
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    limited = checkpoint.environment_info(torch.device("cpu"))
    assert limited["isa_limits"] == {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
    info = RunInfo(status=Status.DONE, environment=limited)
    assert info.device_name == "Apple M2 (ONEDNN_MAX_CPU_ISA=AVX2, ATEN_CPU_CAPABILITY=avx2)"
    assert RunInfo(status=Status.DONE, environment=plain).device_name == "Apple M2"


def test_resume_is_exact_everywhere_but_under_cudnn_with_dropout_between_recurrent_layers():
    # cuDNN keeps the generator of its inter-layer dropout to itself: no checkpoint can hold it (docs/determinism.md)
    cuda, cpu = torch.device("cuda", 0), torch.device("cpu")
    stacked = ModelConfig(src_vocab_size=10, tgt_vocab_size=10, num_layers=2, dropout=0.3)
    assert resumes_exactly(cpu, stacked)
    assert not resumes_exactly(cuda, stacked)
    assert resumes_exactly(cuda, ModelConfig(src_vocab_size=10, tgt_vocab_size=10, num_layers=2, dropout=0.0))
    assert resumes_exactly(cuda, ModelConfig(src_vocab_size=10, tgt_vocab_size=10, num_layers=1, dropout=0.3))
