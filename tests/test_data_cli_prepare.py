import json
from pathlib import Path

import pytest

from repro.cli import build_parser, main
from repro.data.storage import load_split


def test_local_files_end_to_end(tmp_path, capsys, make_pairs, write_lines):
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


def test_user_errors_print_message_and_exit_2(tmp_path, capsys, write_lines):
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


# ----------------------------------------------------------------------------------- bad inputs
PREP = ["--valid-size", "3", "--test-size", "3", "--workers", "1", "--no-progress"]


@pytest.fixture
def corpus(make_pairs, write_lines):
    """``corpus(directory, bom="")``: a small plain-text corpus in ``directory``; the flags that prepare it."""
    def corpus_(directory: Path, bom: str = "") -> list[str]:
        directory.mkdir(parents=True, exist_ok=True)
        pairs = make_pairs(30, 4)
        src = write_lines(directory / "train.en", [bom + pairs[0][0]] + [s for s, _ in pairs[1:]])
        tgt = write_lines(directory / "train.fr", [bom + pairs[0][1]] + [t for _, t in pairs[1:]])
        return ["--train-src", str(src), "--train-tgt", str(tgt), *PREP]
    return corpus_


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` (hidden ones too) with a file's bytes: what a refusal must leave alone."""
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else None for p in sorted(root.rglob("*"))}


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if prepare gets as far as fetching its source: refusals must come before any work."""
    from repro.data.sources.local import LocalSource

    def fail(self) -> None:
        raise AssertionError("prepare started before it checked --out")

    monkeypatch.setattr(LocalSource, "fetch", fail)


@pytest.mark.parametrize("case", ["foreign directory", "plain file", "corpus directory", "config directory"])
def test_out_never_replaces_what_prepare_did_not_write(tmp_path, capsys, no_work, case, corpus):
    flags = corpus(tmp_path / "corpus")
    (tmp_path / "thesis").mkdir()
    (tmp_path / "thesis" / "chapter1.tex").write_text("months of work")
    (tmp_path / "thesis" / ".git").mkdir()
    (tmp_path / "notes.txt").write_text("do not lose")
    config = tmp_path / "exp" / "exp.yaml"
    config.parent.mkdir()
    config.write_text("data: {source: local}\n")
    out, expected = {
        "foreign directory": (tmp_path / "thesis", ("is a non-empty directory that `repro prepare` did not write "
                                                    "(it holds .git/, chapter1.tex); refusing to replace it")),
        "plain file": (tmp_path / "notes.txt", "is a file, not a directory; refusing to replace it"),
        "corpus directory": (tmp_path / "corpus", (f"contains the input file {tmp_path / 'corpus' / 'train.en'}; "
                                                   "refusing to replace it")),
        "config directory": (tmp_path / "exp", f"contains the input file {config}; refusing to replace it"),
    }[case]
    before = _tree(tmp_path)
    status = main(["prepare", "--config", str(config), *flags, "--out", str(out)])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith(f"error: {out}: {expected}") and "Traceback" not in err
    assert _tree(tmp_path) == before  # nothing lost, nothing half-written, no .tmp left


@pytest.mark.parametrize("out", [".", "..", "corpus/.."])
def test_out_is_never_the_current_directory_or_above(tmp_path, monkeypatch, capsys, no_work, out, corpus):
    work = tmp_path / "project"
    flags = corpus(work / "corpus")
    monkeypatch.chdir(work)
    before = _tree(tmp_path)
    assert main(["prepare", *flags, "--out", out]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: {out}: is the current directory or one of its parents; refusing to replace it with "
                   f"`repro prepare`'s output (choose a new or empty directory, e.g. {Path(out) / 'data'})\n")
    assert _tree(tmp_path) == before


def test_out_replaces_a_prepared_or_empty_directory(tmp_path, capsys, corpus):
    flags = corpus(tmp_path / "corpus")
    out = tmp_path / "data"
    out.mkdir()  # empty: nothing to lose
    assert main(["prepare", *flags, "--src-vocab-size", "10", "--out", str(out)]) == 0
    assert json.loads((out / "meta.json").read_text())["src_vocab_size"] == 14
    assert main(["prepare", *flags, "--src-vocab-size", "12", "--out", str(out)]) == 0  # ours: replaced
    assert json.loads((out / "meta.json").read_text())["src_vocab_size"] == 16
    (out / "meta.json").write_text('{"format_version": 1}')  # no longer recognisably ours
    capsys.readouterr()
    assert main(["prepare", *flags, "--out", str(out)]) == 2
    assert "did not write" in capsys.readouterr().err and (out / "meta.json").read_text() == '{"format_version": 1}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus", "data"]


def test_killed_prepare_leftovers_are_removed_on_the_next_start(tmp_path, corpus):
    flags = corpus(tmp_path / "corpus")
    assert main(["prepare", *flags, "--out", str(tmp_path / "data")]) == 0
    leftovers = [tmp_path / ".data.tmp-x8k2m1", tmp_path / ".data.old-p0o9i8"]
    others = [tmp_path / ".data2.tmp-a1", tmp_path / ".other.tmp-b2", tmp_path / "data.tmp-c3"]
    for path in leftovers + others:
        path.mkdir()
        (path / "train.src.ids.npy").write_bytes(b"half written")
    (leftovers[1] / "data").mkdir()  # killed after the new output was in place: the old one is not needed
    (leftovers[1] / "data" / "meta.json").write_text("{}")
    assert main(["prepare", *flags, "--out", str(tmp_path / "data")]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["corpus", "data"] + [p.name for p in others])
    assert all((p / "train.src.ids.npy").read_bytes() == b"half written" for p in others)


def test_train_src_directory_is_an_error_not_a_traceback(tmp_path, capsys, corpus):
    flags = corpus(tmp_path / "corpus")
    flags[flags.index("--train-src") + 1] = str(tmp_path / "corpus")
    before = _tree(tmp_path)
    assert main(["prepare", *flags, "--out", str(tmp_path / "data")]) == 2
    assert capsys.readouterr().err == (f"error: {tmp_path / 'corpus'}: is a directory, expected a text file "
                                       "(train file)\n")
    assert _tree(tmp_path) == before


def test_byte_order_mark_is_not_a_word(tmp_path, make_pairs, corpus):
    outs = {}
    for name, bom in (("plain", ""), ("bom", "\ufeff")):
        flags = corpus(tmp_path / name, bom)
        assert (tmp_path / name / "train.en").read_bytes().startswith(bom.encode())
        outs[name] = tmp_path / f"data_{name}"
        assert main(["prepare", *flags, "--out", str(outs[name])]) == 0
    for side in ("src", "tgt"):
        vocab = (outs["bom"] / f"vocab.{side}.txt").read_text(encoding="utf-8")
        assert "\ufeff" not in vocab and vocab == (outs["plain"] / f"vocab.{side}.txt").read_text(encoding="utf-8")
    for split in ("train", "valid", "test"):
        with_bom, without = load_split(outs["bom"], split), load_split(outs["plain"], split)
        for a, b in ((with_bom.src, without.src), (with_bom.tgt, without.tgt)):
            assert a.ids.tolist() == b.ids.tolist() and a.offsets.tolist() == b.offsets.tolist()
    first = make_pairs(30, 4)[0]
    found = [split for split in ("train", "valid", "test")
             if first[0] in (outs["bom"] / f"{split}.raw.src").read_text(encoding="utf-8").splitlines()]
    assert len(found) == 1  # the first sentence, exactly as written without the mark


def test_a_full_disk_during_prepare_is_one_error_line_and_leaves_nothing(tmp_path, capsys, full_disk, make_pairs,
                                                                         write_lines):
    import repro.data.storage

    full_disk(repro.data.storage, ".raw.tmp")  # the encoded ids never reach the disk
    tsv = write_lines(tmp_path / "fra.txt", [f"{en}\t{fr}" for en, fr in make_pairs(40, 1)])
    status = main(["prepare", "--source", "local", "--format", "tsv", "--train-src", str(tsv), "--valid-size", "4",
                   "--test-size", "4", "--workers", "1", "--no-progress", "--out", str(tmp_path / "data")])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("error: ") and err.count("\n") == 1, err  # was: offsets must start at 0
    assert "could not be written (" in err and "free some space or write elsewhere" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fra.txt"]


def test_fetch_never_writes_its_record_over_the_config_or_the_user_s_corpus(tmp_path, capsys, make_pairs,
                                                                           write_lines):
    tsv = write_lines(tmp_path / "fra.txt", [f"{en}\t{fr}" for en, fr in make_pairs(10, 1)])
    corpus = tsv.read_bytes()
    config = tmp_path / "exp.yaml"
    config.write_text(f"data: {{source: local, local: {{format: tsv, train_src: {tsv}, valid_size: 2, test_size: 2}}}}\n")
    text = config.read_text()
    assert main(["fetch", "--config", str(config), "--out", str(config)]) == 2
    assert "--out is the input file given as --config" in capsys.readouterr().err
    assert main(["fetch", "--config", str(config), "--out", str(tsv)]) == 2
    assert "--out is the input file given as the source's" in capsys.readouterr().err
    assert config.read_text() == text and tsv.read_bytes() == corpus
    assert main(["fetch", "--config", str(config), "--out", str(tmp_path / "fetched.json")]) == 0
