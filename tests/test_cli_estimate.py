"""`repro estimate` on tiny configs: the table, every JSON field, memory budgets, config merging, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from repro.cli import main
from repro.cli.estimate import memory_size
from repro.experiments import plan

TINY = {
    "experiment": "tiny",
    "data": {"source": "synthetic", "src_vocab_size": 40, "tgt_vocab_size": 40, "max_len": 12,
             "synthetic": {"train_size": 120, "valid_size": 16, "test_size": 12, "max_len": 16, "n_nouns": 15,
                           "n_verbs": 6, "n_adjectives": 6}},
    "model": {"num_layers": 1, "hidden_size": 8, "embedding_size": 8},
    "train": {"optimizer": "adam", "lr": 0.01, "epochs": 2, "batch_size": 16, "device": "cpu"},
    "decode": {"batch_size": 8, "device": "cpu"},
    "paper": {"reversed_seeds": [1, 2], "forward_seeds": [1], "ensembles": [2], "table1_beams": [1, 2],
              "beam_table_beams": [1, 2], "figure_beam": 2},
    "ablations": {"enabled": True, "seeds": [1], "beam": 2, "num_layers": [2], "attention": True},
    "resources": {"train_threads": 1, "decode_threads": 1},
}
MODEL_FIELDS = {"variant", "axis", "runs", "measured_as", "parameters", "dtype", "timed_steps", "tokens_per_s",
                "mean_step_s", "rate_spread", "peak_memory_bytes", "fits", "train_pairs", "batches_per_epoch",
                "epoch_s", "epochs", "max_steps", "steps_to_ceiling", "evaluations", "run_s", "extrapolation"}
READINESS_FIELDS = {"device", "device_name", "cuda_available", "cuda_devices", "bf16_requested", "bf16_supported",
                    "bf16_note", "nccl_required", "nccl_available", "memory_budget_bytes", "memory_source",
                    "problems", "ready"}
TOTAL_FIELDS = {"train_s", "decode_s", "startup_s", "jobs", "serial_s", "parallel_s", "capacity", "capacity_unit",
                "slots_per_job"}


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def estimate(tmp_path: Path, capsys, *extra: str, config: dict = TINY) -> tuple[int, dict, str]:
    out = tmp_path / "estimate.json"
    code = main(["estimate", "--config", str(write_config(tmp_path / "tiny.yaml", config)), "--device", "cpu",
                 "--steps", "2", "--cores", "2", "--data", str(tmp_path / "no-data"), "--json", str(out),
                 "--no-startup-timing", "--quiet", *extra])
    text = capsys.readouterr().out
    return code, json.loads(out.read_text(encoding="utf-8")), text


def test_estimate_reports_every_model_system_and_total(tmp_path: Path, capsys) -> None:
    code, result, text = estimate(tmp_path, capsys)
    assert code == 0
    experiment = plan(TINY)
    assert set(result) == {"config", "readiness", "data", "models", "decoding", "parts", "totals", "caveats"}
    assert READINESS_FIELDS <= set(result["readiness"]) and result["readiness"]["ready"] is True
    assert TOTAL_FIELDS <= set(result["totals"])
    assert [m["variant"] for m in result["models"]] == list(experiment.variants)
    for model in result["models"]:
        assert MODEL_FIELDS <= set(model)
        assert model["fits"] is True and model["timed_steps"] == 2 and model["tokens_per_s"] > 0
        assert model["run_s"] > model["epoch_s"] > 0  # two epochs
    by_name = {m["variant"]: m for m in result["models"]}
    # the direction of the source costs nothing: the forward model is the reversed one's measurement
    assert by_name["forward"]["measured_as"] == "reversed" and by_name["attention"]["measured_as"] == "attention"
    assert by_name["layers2"]["parameters"] > by_name["reversed"]["parameters"]
    assert sum(m["runs"] for m in result["models"]) == len(experiment.runs)
    assert sorted(s["system"] for s in result["decoding"]) == sorted(experiment.systems)
    ensemble = next(s for s in result["decoding"] if s["models"] == 2 and s["beam"] == 2)
    single = next(s for s in result["decoding"] if s["system"] == "reversed-s1/beam2")
    assert ensemble["decode_s"] == pytest.approx(2 * single["decode_s"])
    totals = result["totals"]
    assert totals["serial_s"] >= totals["parallel_s"] > 0 and totals["capacity"] == 2
    assert totals["serial_s"] >= totals["train_s"] + totals["decode_s"]  # + test perplexity and scoring jobs
    # the parts divide the runs and systems between them, each part's time within the whole
    parts = result["parts"]
    assert parts[0]["target"] == "part_paper" and len(parts) == 1 + len(experiment.ablation_axes())
    assert sum(p["runs"] for p in parts) == len(experiment.runs)
    assert sum(p["systems"] for p in parts) == len(experiment.systems)
    assert all(0 < p["parallel_s"] <= p["serial_s"] for p in parts)
    assert sum(p["serial_s"] for p in parts) <= totals["serial_s"]
    assert result["data"]["origin"] == "source sample"
    assert "model variant" in text and "part_paper" in text and "ready: yes" in text and "What the projection cannot know" in text


def test_a_model_over_the_memory_budget_is_reported_as_not_fitting(tmp_path: Path, capsys) -> None:
    code, result, text = estimate(tmp_path, capsys, "--memory-budget", "1KiB")
    assert code == 1  # the device is not ready for this config
    assert result["readiness"]["ready"] is False and result["readiness"]["memory_budget_bytes"] == 1024
    assert all(m["fits"] is False for m in result["models"])
    assert any("reversed" in p and "budget" in p for p in result["readiness"]["problems"])
    assert "ready: NO" in text


def test_prepared_data_gives_the_lengths(tmp_path: Path, capsys, make_data_dir) -> None:
    data = make_data_dir(tmp_path / "prepared", vocab=30, sizes={"train": 64, "valid": 8, "test": 8})
    histogram = {"src": {"3": 64}, "tgt": {"4": 64}}
    splits = {name: {"pairs": n, "length_histogram": histogram} for name, n in (("train", 64), ("valid", 8),
                                                                                ("test", 8))}
    (data / "stats.json").write_text(json.dumps({"splits": splits}), encoding="utf-8")
    _, result, _ = estimate(tmp_path, capsys, "--data", str(data))
    assert result["data"]["origin"] == "prepared" and result["data"]["train_pairs"] == 64
    assert result["data"]["train_mean_src_len"] == 3.0 and result["data"]["src_vocab_size"] == 30
    assert result["models"][0]["batches_per_epoch"] == 4  # 64 pairs in batches of 16


def test_config_files_merge_in_order(tmp_path: Path, capsys) -> None:
    override = write_config(tmp_path / "override.yaml", {"train": {"epochs": 3, "max_steps": 5}})
    _, result, _ = estimate(tmp_path, capsys, "--config", str(override))
    model = result["models"][0]
    assert model["epochs"] == 3 and model["steps_to_ceiling"] == 5  # max_steps comes first
    assert result["config"]["files"][-1] == str(override)


def test_bad_arguments_name_the_problem(tmp_path: Path, capsys) -> None:
    config = write_config(tmp_path / "c.yaml", TINY)
    assert main(["estimate", "--config", str(config), "--steps", "0"]) == 2
    assert "--steps" in capsys.readouterr().err
    no_name = write_config(tmp_path / "n.yaml", {k: v for k, v in TINY.items() if k != "experiment"})
    assert main(["estimate", "--config", str(no_name)]) == 2
    assert "experiment" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["estimate", "--config", str(config), "--device", "cuda", "--no-startup-timing"]) == 2
        assert "--device is 'cuda' but no CUDA device is available" in capsys.readouterr().err


def test_memory_sizes() -> None:
    assert memory_size("512MiB") == 512 * 2**20 and memory_size("16GB") == 16 * 10**9
    assert memory_size("1.5GiB") == int(1.5 * 2**30) and memory_size("4096") == 4096
    with pytest.raises(Exception, match="not a memory size"):
        memory_size("lots")
