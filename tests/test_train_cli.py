"""`repro train` end to end on a tiny data directory, config files and overrides, bad config."""

from __future__ import annotations

import json

import pytest

from fixtures_train import make_data_dir
from repro.cli import main
from repro.data.storage import load_split
from repro.train.checkpoint import load_run
from repro.train.evaluate import perplexity
from repro.train.trainer import read_log


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return make_data_dir(tmp_path_factory.mktemp("data") / "d")


def test_train_end_to_end_with_config_and_overrides(data_dir, tmp_path):
    config = tmp_path / "exp.yaml"
    config.write_text("experiment: t\ndata: {source: synthetic}\n"
                      "model: {embedding_size: 12, hidden_size: 16, num_layers: 2, cell: gru}\n"
                      "train: {batch_size: 16, optimizer: adam, lr: 0.01, epochs: 2, progress: false}\n")
    out = tmp_path / "run"
    status = main(["train", "--data", str(data_dir), "--out", str(out), "--config", str(config),
                   "--set", "train.log_every_steps=2", "--set", "model.hidden_size=20"])
    assert status == 0
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "done" and info["step"] == 12
    assert info["model"]["hidden_size"] == 20 and info["model"]["cell"] == "gru"
    assert info["model"]["src_vocab_size"] == 24  # from the data directory
    assert info["train"]["optimizer"] == "adam" and info["train"]["log_every_steps"] == 2
    assert [e["step"] for e in read_log(out) if e["kind"] == "train"] == [2, 4, 6, 8, 10, 12]
    loaded = load_run(out)
    assert loaded.model.config.hidden_size == 20 and len(loaded.tgt_vocab) == 24
    result = perplexity(loaded.model, load_split(data_dir, "valid"), 8)
    assert result["ppl"] == pytest.approx(info["best_valid_ppl"], rel=1e-5)


@pytest.mark.parametrize("override, message", [
    ("train.learning_rate=0.1", "section 'train': unknown key.*learning_rate"),
    ("model.hidden=3", "section 'model': unknown key.*hidden"),
    ("model.tgt_vocab_size=9", "tgt_vocab_size comes from the data directory"),
    ("train.batch_by=words", "batch_by"),
])
def test_bad_config_is_a_clear_error(data_dir, tmp_path, capsys, override, message):
    status = main(["train", "--data", str(data_dir), "--out", str(tmp_path / "r"), "--set", override])
    assert status == 2
    assert __import__("re").search(message, capsys.readouterr().err)
    assert not (tmp_path / "r" / "checkpoints").exists()


def test_missing_data_dir_is_a_clear_error(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "r")]) == 2
    assert "not a prepared data directory" in capsys.readouterr().err


def test_help_documents_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for option in ("--data", "--out", "--config", "--set"):
        assert option in text
