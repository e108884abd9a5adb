"""`repro train` end to end on a tiny data directory, config files and overrides, bad config."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from repro.cli import main
from repro.data.storage import RaggedArray, load_split
from repro.train.checkpoint import load_run
from repro.train.evaluate import perplexity
from repro.train.log import read_log
from repro.train.run_info import read_run_info


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, make_data_dir):
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
    info = read_run_info(out)
    assert info.status == "done" and info.step == 12
    assert info.model["hidden_size"] == 20 and info.model["cell"] == "gru"
    assert info.model["src_vocab_size"] == 24  # from the data directory
    assert info.train["optimizer"] == "adam" and info.train["log_every_steps"] == 2
    assert [e["step"] for e in read_log(out) if e["kind"] == "train"] == [2, 4, 6, 8, 10, 12]
    loaded = load_run(out)
    assert loaded.model.config.hidden_size == 20 and len(loaded.tgt_vocab) == 24
    result = perplexity(loaded.model, load_split(data_dir, "valid"), 8)
    assert result["ppl"] == pytest.approx(info.best_valid_ppl, rel=1e-5)


@pytest.mark.parametrize("override, message", [
    ("train.learning_rate=0.1", "section 'train': unknown key.*learning_rate"),
    ("model.hidden=3", "section 'model': unknown key.*hidden"),
    ("model.tgt_vocab_size=9", "tgt_vocab_size comes from the data directory"),
    ("train.batch_by=words", "batch_by"),
    # a misspelled section used to be ignored (training ran with the default rate and exited 0)
    ("trian.lr=0.1", r"unknown section 'trian' \(did you mean 'train'\?\)"),
    ("data.src_vocab_size=5", "reads only the model and train section"),
    ("train.lr=abc", "train.lr: expected a number, got 'abc'"),
    ("model.hidden_size=abc", "model.hidden_size: expected an integer, got 'abc'"),
    ("train.max_steps=2.5", r"train.max_steps: expected an integer or null, got 2.5"),  # used to run 3 steps
])
def test_bad_config_is_a_clear_error(data_dir, tmp_path, capsys, override, message):
    status = main(["train", "--data", str(data_dir), "--out", str(tmp_path / "r"), "--set", override])
    assert status == 2
    err = capsys.readouterr().err
    assert __import__("re").search(message, err), err
    assert "Traceback" not in err
    assert not (tmp_path / "r").exists()  # nothing written


def test_missing_data_dir_is_a_clear_error(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "r")]) == 2
    assert "not a prepared data directory" in capsys.readouterr().err


def test_help_documents_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for option in ("--data", "--out", "--config", "--set"):
        assert option in text


# --------------------------------------------------------------------------- a damaged data directory
def _save_raw(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.save(handle, array)


def _truncate_ids(d: Path) -> None:
    path = d / "train.src.ids.npy"
    path.write_bytes(path.read_bytes()[:-6])


def _garbage_header(d: Path) -> None:
    path = d / "valid.tgt.offsets.npy"
    path.write_bytes(b"PK\x03\x04 not numpy" + path.read_bytes()[20:])


def _offsets_not_monotone(d: Path) -> None:
    offsets = np.load(d / "train.tgt.offsets.npy")
    offsets[5], offsets[6] = offsets[6], offsets[5] - 1  # sentence 5 ends before it starts
    _save_raw(d / "train.tgt.offsets.npy", offsets)


def _id_beyond_vocab(d: Path) -> None:
    ids = np.load(d / "train.tgt.ids.npy")
    ids[-1] = 24  # the vocabulary has 24 entries (ids 0..23)
    _save_raw(d / "train.tgt.ids.npy", ids)


def _fewer_targets(d: Path) -> None:
    tgt = RaggedArray.load(d / "valid.tgt")
    RaggedArray.from_sequences([tgt[i] for i in range(len(tgt) - 1)]).save(d / "valid.tgt")


DAMAGES = {
    "truncated ids": (_truncate_ids, "train.src.ids.npy", r"file is truncated"),
    "garbage header": (_garbage_header, "valid.tgt.offsets.npy",
                       r"not a readable \.npy array \(the magic string is not correct"),
    "offsets not monotone": (_offsets_not_monotone, "train.tgt.offsets.npy",
                             r"offsets decrease at sentence 5: offset \d+ follows \d+"),
    "id beyond the vocabulary": (_id_beyond_vocab, "train.tgt.ids.npy",
                                 (r"sentence 95 \(0-based\), position \d+: token id 24 is outside the "
                                  r"vocabulary's valid range \[0, 24\) \(meta.json tgt_vocab_size\)")),
    "sentence counts differ": (_fewer_targets, "valid.src.offsets.npy",
                               r"24 source sentences but valid.tgt.offsets.npy has 23 target sentences"),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_data_dir_is_a_clear_error_and_no_run_dir_is_made(tmp_path, capsys, damage, make_data_dir):
    corrupt, file, message = DAMAGES[damage]
    data = make_data_dir(tmp_path / "data")
    corrupt(data)
    out = tmp_path / "runs" / "r"
    assert main(["train", "--data", str(data), "--out", str(out), "--set", "train.max_steps=1",
                 "--set", "train.progress=false"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {data.resolve() / file}: "), err
    assert __import__("re").search(message, err), err
    assert "re-run `repro prepare`" in err and "Traceback" not in err
    assert not out.exists() and not (tmp_path / "runs").exists()


def test_a_damaged_data_dir_leaves_an_existing_run_untouched(tmp_path, capsys, make_data_dir):
    data = make_data_dir(tmp_path / "data")
    out = tmp_path / "r"
    args = ["train", "--data", str(data), "--out", str(out), "--set", "train.progress=false",
            "--set", "train.batch_size=16", "--set", "model.hidden_size=8", "--set", "model.embedding_size=8"]
    assert main(args + ["--set", "train.max_steps=2"]) == 0
    def files() -> dict:  # run.lock names whichever process holds it last, so it is not the run's content
        return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(out.rglob("*"))
                if p.is_file() and p.name != "run.lock"}

    before = files()
    _id_beyond_vocab(data)
    assert main(args + ["--set", "train.max_steps=4"]) == 2  # would resume from step 2
    assert "token id 24 is outside" in capsys.readouterr().err
    assert files() == before
    assert read_run_info(out).status == "done"


def test_audit_command_continues_a_finished_run_and_reports_the_gain(data_dir, tmp_path, capsys):
    from repro.cli import main

    run_dir = tmp_path / "run"
    assert main(["train", "--data", str(data_dir), "--out", str(run_dir), "--set", "train.epochs=1",
                 "--set", "train.batch_size=8", "--set", "train.progress=false", "--set", "model.hidden_size=16",
                 "--set", "model.embedding_size=8", "--set", "train.device=cpu", "--set", "train.optimizer=adam",
                 "--set", "train.lr=0.01", "--set", "train.lr_schedule=constant"]) == 0
    capsys.readouterr()
    assert main(["audit", str(run_dir), "--out", str(tmp_path / "audit"), "--evals", "2", "--quiet"]) == 0
    record = json.loads((tmp_path / "audit" / "audit.json").read_text())
    assert len(record["valid_ppls"]) == 2 and record["final_lr"] == 0.01
    err = capsys.readouterr().err
    assert f"2 more evaluations at lr 0.01 reach {min(record['valid_ppls']):.4f}" in err
    assert f"further gain {100 * record['further_gain']:.2f}%" in err
    # a run that is not there is a clear error, not a traceback
    assert main(["audit", str(tmp_path / "nothing"), "--out", str(tmp_path / "a2")]) == 2
    assert "not a run directory (no run.json)" in capsys.readouterr().err
