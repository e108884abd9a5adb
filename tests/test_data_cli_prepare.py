import json

import pytest

from conftest import make_pairs, write_lines
from repro.cli import build_parser, main
from repro.data.storage import load_split


def test_local_files_end_to_end(tmp_path, capsys):
    pairs = make_pairs(80, 1)
    tsv = write_lines(tmp_path / "fra.txt", [f"{en}\t{fr}\tCC-BY" for en, fr in pairs])
    out = tmp_path / "data"
    status = main(["prepare", "--source", "local", "--format", "tsv", "--train-src", str(tsv),
                   "--valid-size", "7", "--test-size", "5", "--src-vocab-size", "20", "--workers", "1",
                   "--no-progress", "--out", str(out)])
    assert status == 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["splits"] == {"train": 68, "valid": 7, "test": 5} and meta["src_vocab_size"] == 24
    assert len(load_split(out, "valid")) == 7
    assert '"train": {"pairs": 68' in capsys.readouterr().out


def test_config_file_with_overrides(tmp_path):
    config = tmp_path / "exp.yaml"
    config.write_text("data:\n  source: synthetic\n  synthetic: {train_size: 100, valid_size: 10, test_size: 10}\n"
                      "model: {hidden_size: 8}\n")
    out = tmp_path / "syn"
    assert main(["prepare", "--config", str(config), "--set", "data.synthetic.train_size=60",
                 "--set", "data.tgt_vocab_size=50", "--workers", "1", "--no-progress", "--out", str(out)]) == 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["splits"]["train"] == 60 and meta["tgt_vocab_size"] == 54
    assert meta["tokenizer"]["kind"] == "pretokenized"


def test_user_errors_print_message_and_exit_2(tmp_path, capsys):
    a = write_lines(tmp_path / "a.en", ["x ."] * 5)
    b = write_lines(tmp_path / "b.fr", ["y ."] * 3)
    status = main(["prepare", "--train-src", str(a), "--train-tgt", str(b), "--valid-size", "1",
                   "--test-size", "1", "--no-progress", "--out", str(tmp_path / "d")])
    err = capsys.readouterr().err
    assert status == 2 and "a.en" in err and "b.fr" in err and "5" in err and "3" in err
    assert not (tmp_path / "d").exists()
    assert main(["prepare", "--set", "data.bogus=1", "--out", str(tmp_path / "d")]) == 2
    assert "unknown key(s) bogus" in capsys.readouterr().err


def test_every_option_has_help():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices["prepare"]
    for action in sub._actions:
        assert action.help, action.dest
    with pytest.raises(SystemExit):
        main(["prepare", "--help"])
