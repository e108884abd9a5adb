import json

import numpy as np
import pytest

from repro.data.config import PrepareConfig
from repro.data.prepare import prepare
from repro.data.storage import load_split
from repro.data.tokenize import load_tokenizers
from repro.data.vocab import UNK_ID, Vocab
from repro.errors import DataError, ReproError


@pytest.fixture
def local_config(write_lines):
    """``local_config(directory, pairs_by_split, **data_settings)``: the pairs written as local files, and
    the ``data:`` config that reads them."""
    def local_config_(directory, pairs_by_split, **kw) -> PrepareConfig:
        files = {}
        for split, pairs in pairs_by_split.items():
            files[f"{split}_src"] = str(write_lines(directory / f"{split}.en", [s for s, _ in pairs]))
            files[f"{split}_tgt"] = str(write_lines(directory / f"{split}.fr", [t for _, t in pairs]))
        kw.setdefault("workers", 1)
        return PrepareConfig(source="local", local=files, **kw)
    return local_config_


def _ids(data_dir, split):
    s = load_split(data_dir, split, mmap=False)
    return s.src.ids.copy(), s.src.offsets.copy(), s.tgt.ids.copy(), s.tgt.offsets.copy()


def test_prepared_directory_follows_the_contract(tmp_path, make_pairs, local_config):
    pairs = {"train": make_pairs(150, 1), "valid": make_pairs(9, 2), "test": make_pairs(8, 3)}
    config = local_config(tmp_path, pairs, src_vocab_size=8, tgt_vocab_size=1000, workers=2, chunk_size=16)
    out = tmp_path / "data"
    stats = prepare(config, out, progress=False)
    meta = json.loads((out / "meta.json").read_text())
    assert set(meta) == {"format_version", "source", "src_lang", "tgt_lang", "tokenizer", "src_vocab_size",
                         "tgt_vocab_size", "splits", "config"}
    assert meta["tokenizer"]["kind"] == "moses" and meta["tokenizer"]["escape"] is False
    assert meta["splits"] == {"train": 150, "valid": 9, "test": 8}
    assert meta["src_vocab_size"] == 12 and PrepareConfig.from_dict(meta["config"]) == config
    src_vocab = Vocab.load(out / "vocab.src.txt")
    tgt_vocab = Vocab.load(out / "vocab.tgt.txt")
    src_tok, _ = load_tokenizers(out)
    for split in ("train", "valid", "test"):
        data = load_split(out, split)
        raw = (out / f"{split}.raw.src").read_text(encoding="utf-8").splitlines()
        tok = (out / f"{split}.tok.tgt").read_text(encoding="utf-8").splitlines()
        assert raw == [s for s, _ in pairs[split]] and len(data) == len(tok)
        for i in range(len(data)):
            assert tgt_vocab.decode(data.tgt[i]) == tok[i].split()  # target vocab is complete
            expected = [t if t in src_vocab else "<unk>" for t in src_tok.tokenize(raw[i])]
            assert src_vocab.decode(data.src[i]) == expected
        all_ids = np.asarray(data.src.ids)
        assert stats["splits"][split]["src_oov_rate"] == pytest.approx(np.mean(all_ids == UNK_ID))
    assert stats["splits"]["train"]["src_oov_rate"] > 0  # 8 words cannot cover the source
    assert sum(stats["splits"]["valid"]["length_histogram"]["src"].values()) == 9


def test_only_train_is_length_filtered_and_drops_are_counted(tmp_path, make_pairs, local_config):
    long_pair = (" ".join(["word"] * 30), " ".join(["mot"] * 30))
    ratio_pair = ("one", "un deux trois quatre cinq six")
    empty_pair = ("   ", "vide")
    base = make_pairs(20, 1)
    pairs = {"train": base + [long_pair, ratio_pair, empty_pair, long_pair],
             "valid": [long_pair, ratio_pair, empty_pair], "test": [long_pair]}
    stats = prepare(local_config(tmp_path, pairs, max_len=20, max_len_ratio=2.0), tmp_path / "d", progress=False)
    assert stats["splits"]["train"]["dropped"] == {"empty": 1, "too_long": 2, "ratio": 1}
    assert stats["splits"]["train"]["pairs"] == 20
    assert stats["splits"]["valid"]["dropped"] == {"empty": 1, "too_long": 0, "ratio": 0}
    assert stats["splits"]["valid"]["pairs"] == 2 and stats["splits"]["test"]["pairs"] == 1


def test_split_empty_after_cleaning_is_an_error_and_leaves_nothing(tmp_path, local_config):
    pairs = {"train": [(" ".join(["w"] * 50), " ".join(["m"] * 50))] * 3, "valid": [("a", "b")],
             "test": [("a", "b")]}
    with pytest.raises(DataError, match=r"split 'train' is empty after cleaning .*too_long=3"):
        prepare(local_config(tmp_path, pairs, max_len=10), tmp_path / "d", progress=False)
    assert not (tmp_path / "d").exists()


def test_failure_mid_prepare_leaves_no_data_dir_and_keeps_old_one(tmp_path, make_pairs, local_config):
    pairs = {"train": make_pairs(40, 1), "valid": make_pairs(5, 2), "test": make_pairs(5, 3)}
    config = local_config(tmp_path, pairs, workers=2, chunk_size=8)
    (tmp_path / "test.fr").write_bytes((tmp_path / "test.fr").read_bytes() + b"\xc3\x28 broken\n")
    (tmp_path / "test.en").write_bytes((tmp_path / "test.en").read_bytes() + b"fine\n")
    with pytest.raises(DataError, match=r"test.fr, line 6: invalid UTF-8"):
        prepare(config, tmp_path / "out" / "d", progress=False)
    assert list((tmp_path / "out").iterdir()) == []  # not even a hidden temporary directory
    good = local_config(tmp_path / "out", {"train": make_pairs(30, 4), "valid": make_pairs(3, 5),
                                     "test": make_pairs(3, 6)})
    prepare(good, tmp_path / "out" / "d", progress=False)
    before = (tmp_path / "out" / "d" / "meta.json").read_bytes()
    with pytest.raises(DataError):
        prepare(config, tmp_path / "out" / "d", progress=False)
    assert (tmp_path / "out" / "d" / "meta.json").read_bytes() == before


def test_same_seed_same_ids_any_worker_count_and_different_seed_differs(tmp_path):
    def run(name, seed, workers):
        config = PrepareConfig(source="synthetic", seed=seed, workers=workers, chunk_size=50,
                               src_vocab_size=300, tgt_vocab_size=300,
                               synthetic={"train_size": 400, "valid_size": 30, "test_size": 30, "max_len": 30})
        prepare(config, tmp_path / name, progress=False)
        return [_ids(tmp_path / name, s) for s in ("train", "valid", "test")]

    a, b, c = run("a", 7, 1), run("b", 7, 2), run("c", 8, 1)
    for x, y in zip(a, b):
        assert all(np.array_equal(p, q) for p, q in zip(x, y))
    assert not np.array_equal(a[0][0], c[0][0]) or not np.array_equal(a[0][1], c[0][1])
    assert (tmp_path / "a" / "vocab.src.txt").read_bytes() == (tmp_path / "b" / "vocab.src.txt").read_bytes()


def test_sentencepiece_tokenizer(tmp_path, make_pairs, local_config):
    pairs = {"train": make_pairs(300, 1), "valid": make_pairs(5, 2), "test": make_pairs(5, 3)}
    config = local_config(tmp_path, pairs, tokenizer="sentencepiece", spm_vocab_size=60)
    prepare(config, tmp_path / "d", progress=False)
    meta = json.loads((tmp_path / "d" / "meta.json").read_text())
    assert meta["tokenizer"]["kind"] == "sentencepiece" and (tmp_path / "d" / "spm.tgt.model").exists()
    assert not list((tmp_path / "d").glob(".stage*"))
    src_tok, tgt_tok = load_tokenizers(tmp_path / "d")
    sentence = pairs["test"][0][1]
    pieces = tgt_tok.tokenize(sentence)
    assert len(pieces) > len(sentence.split()) and tgt_tok.detokenize(pieces) == sentence
    assert (tmp_path / "d" / "test.tok.tgt").read_text(encoding="utf-8").splitlines()[0] == " ".join(pieces)


def test_config_errors():
    with pytest.raises(ReproError, match="unknown key.*vocab"):
        PrepareConfig.from_dict({"vocab": 3})
    with pytest.raises(ReproError, match="unknown source"):
        PrepareConfig.from_dict({"source": "europarl"})
    with pytest.raises(ReproError, match="tokenizer"):
        PrepareConfig.from_dict({"tokenizer": "bpe"})
    assert PrepareConfig().src_vocab_size == 160000 and PrepareConfig().tgt_vocab_size == 80000
