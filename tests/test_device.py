"""Device selection: the CPU flushes denormal floats (as CUDA does); CUDA asked for without one is an error;
bf16 where it is native, fp32 with a notice elsewhere, for every command and benchmark that can reach a bf16
kernel (run with oneDNN limited to AVX2, as on a CPU without bf16)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from repro import device
from repro.device import resolve_device
from repro.errors import ReproError
from repro.models.seq2seq import ModelConfig, Seq2Seq

REPO = Path(__file__).resolve().parents[1]
AVX2_ONLY = {"ONEDNN_MAX_CPU_ISA": "AVX2"}  # oneDNN's CPU dispatcher control


def test_cpu_flushes_denormals_to_zero():
    torch.set_flush_denormal(False)
    tiny = torch.tensor([1e-39], dtype=torch.float32)  # below float32's smallest normal (1.18e-38)
    assert float(tiny * 1.0) != 0.0
    assert resolve_device("cpu") == torch.device("cpu")
    try:
        assert float(tiny * 1.0) == 0.0
    finally:
        torch.set_flush_denormal(False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised where CUDA is absent")
def test_cuda_without_a_gpu_names_the_setting():
    with pytest.raises(ReproError, match="--device is 'cuda'"):
        resolve_device("cuda", setting="--device")


# ----------------------------------------------------------------------------------- bf16 where it is asked for
def tiny_seq2seq() -> tuple[Seq2Seq, tuple[torch.Tensor, ...]]:
    torch.manual_seed(0)
    model = Seq2Seq(ModelConfig(12, 12, 8, 8, 2)).eval()
    src, lengths, tgt = torch.tensor([[4, 5, 6], [7, 8, 0]]), torch.tensor([3, 2]), torch.tensor([[2, 9], [2, 10]])
    return model, (src, lengths, tgt)


def test_bf16_asked_for_where_unsupported_runs_fp32_with_one_notice(monkeypatch, caplog):
    monkeypatch.setattr(device, "bf16_unsupported_reason", lambda dev: "no bf16 on this test CPU")
    device._notice_once.cache_clear()
    model, inputs = tiny_seq2seq()
    cpu = torch.device("cpu")
    with torch.no_grad():
        fp32 = model(*inputs)
        for _ in range(2):
            assert not device.runs_in_bf16(cpu, True) and not device.Precision(cpu, True).bf16
            with device.Precision(cpu, True).autocast():
                assert not torch.is_autocast_enabled("cpu")
                assert torch.equal(model(*inputs), fp32)
    assert caplog.text.count("notice: bf16 is asked for but no bf16 on this test CPU; running in fp32") == 1


def test_bf16_asked_for_where_supported_is_bf16_autocast(monkeypatch):
    monkeypatch.setattr(device, "bf16_unsupported_reason", lambda dev: None)
    cpu = torch.device("cpu")
    assert device.runs_in_bf16(cpu, True) and not device.runs_in_bf16(cpu, False)
    precision = device.Precision(cpu, True)
    assert precision.bf16 and precision.compute_dtype == torch.bfloat16
    with precision.autocast():
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
    with device.Precision(cpu, False).autocast():
        assert not torch.is_autocast_enabled("cpu")
    assert device.Precision().device == cpu and device.Precision().compute_dtype == torch.float32


def limited_to_avx2(args: list[str], ceiling_s: int) -> subprocess.CompletedProcess:
    """``python ARGS`` with oneDNN limited to AVX2: on any x86-64 CPU, what a CPU without bf16 does."""
    return subprocess.run([sys.executable, *args], env={**os.environ, **AVX2_ONLY}, cwd=REPO, capture_output=True,
                          text=True, timeout=ceiling_s)


def test_bf16_probe_names_the_onednn_limit_where_the_cpu_claims_bf16(hang_ceiling_s):
    # An AMX or AVX512-BF16 CPU with oneDNN limited to AVX2: the CPU has the instructions, oneDNN has no
    # bf16 LSTM kernel (the probe runs one), and the reason says why.
    code = ("import torch; torch.cpu._is_avx512_bf16_supported = lambda: True; "
            "from repro.device import bf16_unsupported_reason; print(bf16_unsupported_reason(torch.device('cpu')))")
    proc = limited_to_avx2(["-c", code], hang_ceiling_s)
    assert proc.returncode == 0, proc.stderr
    assert "LSTM does not run on cpu with oneDNN limited by ONEDNN_MAX_CPU_ISA=AVX2" in proc.stdout


# Every command that can reach a bf16 kernel, with bf16 asked for, under oneDNN limited to AVX2: each runs
# in fp32 after a notice naming its setting (on a CPU without bf16 this is what a user sees).
NOTICE = re.compile(r"notice: (train\.bf16|decode\.bf16|bf16) is set but .*; running in fp32")
TINY_MODEL_SETS = ["--set", "model.embedding_size=8", "--set", "model.hidden_size=8", "--set", "model.num_layers=1"]


@pytest.fixture(scope="module")
def avx2_run(tmp_path_factory, make_data_dir, train_settings, hang_ceiling_s) -> dict:
    root = tmp_path_factory.mktemp("avx2")
    data = make_data_dir(root / "data")
    sets = [arg for key, value in train_settings(max_steps=4, bf16=True).items()
            for arg in ("--set", f"train.{key}={value}")]
    train = limited_to_avx2(["-m", "repro.cli", "train", "--data", str(data), "--out", str(root / "run"), *sets,
                             *TINY_MODEL_SETS], hang_ceiling_s)
    return {"root": root, "data": data, "run": root / "run", "train": train}


def test_bf16_training_under_avx2_onednn_falls_back_to_fp32(avx2_run):
    train = avx2_run["train"]
    assert train.returncode == 0, train.stderr[-3000:]
    assert NOTICE.search(train.stderr)[1] == "train.bf16"
    info = json.loads((avx2_run["run"] / "run.json").read_text())
    assert info["status"] == "done" and info["bf16"] is False and info["step"] == 4


DECODE_BF16 = ["--set", "decode.bf16=true", "--set", "decode.device=cpu"]


@pytest.mark.parametrize("command", ["translate", "rescore", "encode", "perplexity"])
def test_bf16_decoding_commands_under_avx2_onednn_fall_back_to_fp32(avx2_run, command, hang_ceiling_s):
    run, root, data = str(avx2_run["run"]), avx2_run["root"], avx2_run["data"]
    src = str(data / "test.tok.src")
    out = root / f"{command}.out"
    nbest = root / "list.nbest"
    nbest.write_text("0 ||| t1 t2 ||| -1.0\n0 ||| t3 ||| -2.0\n1 ||| t4 t5 t6 ||| -0.5\n", encoding="utf-8")
    (root / "two.src").write_text("".join(Path(src).read_text(encoding="utf-8").splitlines(keepends=True)[:2]))
    args = {
        "translate": ["--model", run, "--input", src, "--output", str(out), "--beam", "2", "--quiet"],
        "rescore": ["--model", run, "--nbest", str(nbest), "--src", str(root / "two.src"), "--weight", "1.0",
                    "--output", str(out), "--quiet"],
        "encode": ["--model", run, "--input", src, "--output", str(out) + ".npy", "--quiet"],
        "perplexity": ["--model", run, "--data", str(data), "--split", "test"],
    }[command]
    proc = limited_to_avx2(["-m", "repro.cli", command, *args, *DECODE_BF16], hang_ceiling_s)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert NOTICE.search(proc.stderr)[1] == "decode.bf16"
    if command == "translate":  # the same output as fp32, to the last digit
        fp32 = root / "fp32.out"
        plain = limited_to_avx2(["-m", "repro.cli", "translate", *args[:4], "--output", str(fp32), "--beam", "2",
                                 "--quiet", "--set", "decode.device=cpu"], hang_ceiling_s)
        assert plain.returncode == 0 and not NOTICE.search(plain.stderr)
        assert out.read_text(encoding="utf-8") == fp32.read_text(encoding="utf-8")
    if command == "perplexity":
        assert json.loads(proc.stdout)["bf16"] is False


def test_bf16_estimate_under_avx2_onednn_projects_fp32(tmp_path, hang_ceiling_s):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({
        "experiment": "tiny",
        "data": {"source": "synthetic", "src_vocab_size": 40, "tgt_vocab_size": 40, "max_len": 12,
                 "synthetic": {"train_size": 60, "valid_size": 8, "test_size": 8, "max_len": 12}},
        "model": {"num_layers": 1, "hidden_size": 8, "embedding_size": 8},
        "train": {"epochs": 1, "batch_size": 16, "device": "cpu", "bf16": True},
        "decode": {"batch_size": 8, "device": "cpu", "bf16": True},
        "paper": {"reversed_seeds": [1], "forward_seeds": [1], "ensembles": [], "table1_beams": [1],
                  "beam_table_beams": [1], "figure_beam": 1},
    }), encoding="utf-8")
    out = tmp_path / "estimate.json"
    proc = limited_to_avx2(["-m", "repro.cli", "estimate", "--config", str(config), "--device", "cpu", "--steps", "1",
                            "--data", str(tmp_path / "no-data"), "--json", str(out), "--no-startup-timing", "--quiet"],
                           hang_ceiling_s)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text(encoding="utf-8"))
    readiness = result["readiness"]
    assert readiness["bf16_requested"] == {"train": True, "decode": True} and readiness["bf16_supported"] is False
    assert "the projection is for fp32" in readiness["bf16_note"]
    assert [model["dtype"] for model in result["models"]] == ["fp32", "fp32"]


@pytest.mark.parametrize("script, args", [
    ("train_throughput.py", ["--models", "1x8:40", "--batch", "4", "--length", "5", "--steps", "1", "--rounds", "1",
                             "--peak-size", "64", "--threads", "1"]),
    ("decode_throughput.py", ["--quick", "--layers", "1", "--hidden", "8", "--vocab", "40", "--beams", "1,2",
                              "--threads", "1"]),
])
def test_bf16_benchmarks_under_avx2_onednn_skip_their_bf16_rows(script, args, hang_ceiling_s):
    proc = limited_to_avx2([str(REPO / "benchmarks" / script), *args], hang_ceiling_s)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert NOTICE.search(proc.stderr)
    headline = json.loads(proc.stdout.strip().splitlines()[-1])  # a benchmark ends with one JSON line
    assert headline["bf16"] == "skipped"


def test_bf16_probe_leaves_the_random_state_alone(monkeypatch):
    # Probed lazily (the first autocast asked for bf16), it must not shift a seeded run's random numbers.
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)  # so that the LSTM is built
    device._bf16_unsupported_reason.cache_clear()
    try:
        torch.manual_seed(0)
        device.bf16_unsupported_reason(torch.device("cpu"))
        drawn = torch.rand(3)
    finally:
        device._bf16_unsupported_reason.cache_clear()  # probed with the CPU's real flags from here on
    torch.manual_seed(0)
    assert torch.equal(torch.rand(3), drawn)
