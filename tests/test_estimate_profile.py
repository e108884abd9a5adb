"""The data profile of `repro estimate`: prepared statistics, a sample of a source on disk, nominal corpora."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from repro.data.config import PrepareConfig, make_source
from repro.data.sources import SOURCES
from repro.data.sources.base import LengthModel, ParallelSource
from repro.errors import DataError
from repro.estimate import profile as profile_module
from repro.estimate.profile import SplitLengths, data_profile, from_prepared

SYNTHETIC = {"source": "synthetic", "src_vocab_size": 50, "tgt_vocab_size": 60, "max_len": 12,
             "synthetic": {"train_size": 80, "valid_size": 20, "test_size": 30, "max_len": 20, "n_nouns": 20,
                           "n_verbs": 8, "n_adjectives": 8}}


def write_stats(data_dir: Path, histograms: dict[str, tuple[dict[str, int], dict[str, int]]]) -> None:
    splits = {name: {"pairs": sum(src.values()), "length_histogram": {"src": src, "tgt": tgt}}
              for name, (src, tgt) in histograms.items()}
    (data_dir / "stats.json").write_text(json.dumps({"splits": splits}), encoding="utf-8")


def test_prepared_statistics_give_exact_marginals_paired_by_rank(tmp_path: Path, make_data_dir) -> None:
    data = make_data_dir(tmp_path / "data", vocab=30)
    train = ({"2": 3, "5": 1}, {"3": 2, "6": 2})
    write_stats(data, {"train": train, "valid": ({"4": 2}, {"4": 2}), "test": ({"1": 1, "9": 1}, {"2": 1, "8": 1})})
    profile = from_prepared(data)
    assert profile.origin == "prepared"
    assert (profile.src_vocab_size, profile.tgt_vocab_size) == (30, 30)  # meta.json, not the config
    assert profile.splits["train"].pairs == 4
    assert profile.splits["train"].src.tolist() == [2, 2, 2, 5]
    assert profile.splits["train"].tgt.tolist() == [3, 3, 6, 6]  # the longest source gets the longest target
    assert profile.splits["test"].src.tolist() == [1, 9] and profile.splits["test"].tgt.tolist() == [2, 8]


def test_a_large_split_is_kept_as_quantiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_data_dir) -> None:
    monkeypatch.setattr(profile_module, "SAMPLE_PAIRS", 100)
    data = make_data_dir(tmp_path / "data")
    train = ({"10": 5000, "30": 5000}, {"12": 5000, "33": 5000})
    write_stats(data, {"train": train, "valid": ({"4": 2}, {"4": 2}), "test": ({"4": 2}, {"4": 2})})
    split = from_prepared(data).splits["train"]
    assert split.pairs == 10_000 and len(split.src) == 100
    assert split.src.mean() == pytest.approx(20.0, abs=0.5)
    assert split.scale == pytest.approx(100.0)


def test_damaged_statistics_name_the_file(tmp_path: Path, make_data_dir) -> None:
    data = make_data_dir(tmp_path / "data")
    (data / "stats.json").write_text(json.dumps({"splits": {"train": {"pairs": 3}}}), encoding="utf-8")
    with pytest.raises(DataError, match="stats.json"):
        from_prepared(data)


def test_length_cap_keeps_the_pairs_within_it_and_scales_the_count() -> None:
    split = SplitLengths(np.array([2, 4, 8, 16]), np.array([3, 5, 7, 20]), pairs=400)
    capped = split.capped(8)
    assert capped.src.tolist() == [2, 4, 8] and capped.pairs == 300
    assert split.capped(None).pairs == 400
    with pytest.raises(DataError, match="max_len = 1"):
        split.capped(1)


def test_synthetic_source_profile_is_the_generators_sentences(tmp_path: Path) -> None:
    # no data directory: the generator's own sentences (pretokenized: split on whitespace), cleaned as prepare does
    profile = data_profile(SYNTHETIC, tmp_path / "not-prepared")
    assert profile.origin == "source sample"
    source = make_source(PrepareConfig.from_dict(SYNTHETIC))
    pairs = [(len(s.split()), len(t.split())) for s, t in source.iter_pairs("train")]
    kept = [(s, t) for s, t in pairs if s <= 12 and t <= 12 and max(s, t) <= 3 * min(s, t)]
    split = profile.splits["train"]
    assert split.pairs == len(kept) < 80  # some sentences are longer than data.max_len
    assert sorted(split.src.tolist()) == sorted(s for s, _ in kept)
    assert sorted(split.tgt.tolist()) == sorted(t for _, t in kept)
    assert profile.splits["test"].pairs == 30
    assert (profile.src_vocab_size, profile.tgt_vocab_size) == (54, 64)  # the config's sizes + 4 special tokens


def test_local_files_are_sampled_uniformly_and_counted_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(profile_module, "SOURCE_SAMPLE_PAIRS", 25)
    path = tmp_path / "pairs.tsv.gz"
    # sorted by length, as Tatoeba is: a sample of the first lines would be all short
    lines = [f"{' '.join(['word'] * (1 + i // 20))}\t{' '.join(['mot'] * (1 + i // 20))}" for i in range(200)]
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    data = {"source": "local", "src_vocab_size": 100, "tgt_vocab_size": 100,
            "local": {"format": "tsv", "train_src": str(path), "valid_size": 20, "test_size": 20}}
    profile = data_profile(data)
    train = profile.splits["train"]
    assert train.pairs == 160 and len(train.src) == 25
    assert train.src.max() >= 6 and train.src.min() <= 4  # drawn from the whole file, not its head


def test_downloaded_sources_get_nominal_profiles() -> None:
    wmt = data_profile({"source": "wmt14", "max_len": 50, "wmt14": {"max_train_pairs": 5000}})
    assert wmt.origin == "nominal"
    assert wmt.splits["train"].pairs == 5000 and wmt.splits["test"].pairs == 3003
    assert wmt.splits["train"].src.max() <= 50  # data.max_len applies to the training pairs
    multi30k = data_profile({"source": "multi30k"})
    assert {name: split.pairs for name, split in multi30k.splits.items()} == {"train": 29_000, "valid": 1014,
                                                                              "test": 1000}
    assert np.median(multi30k.splits["train"].src) == pytest.approx(12, abs=1)
    assert multi30k.splits["train"].tgt.mean() / multi30k.splits["train"].src.mean() == pytest.approx(1.1, abs=0.05)


# The figures repro.estimate.profile kept in its NOMINAL table before each source held its own.
_MULTI30K = LengthModel(12.0, 0.30, 1.10)
_NEWSTEST2013 = LengthModel(20.0, 0.62, 1.14)
_NEWSTEST2014 = LengthModel(22.0, 0.56, 1.14)
_WMT14_TRAIN = LengthModel(21.0, 0.60, 1.145)
NOMINAL_BEFORE = {
    "multi30k": ({"train": 29_000, "valid": 1014, "test": 1000},
                 {"train": _MULTI30K, "valid": _MULTI30K, "test": _MULTI30K},
                 "Multi30k task 1 sizes; lengths measured on its official files"),
    "schwenk": ({"train": 12_000_000, "valid": 6003, "test": 3003},
                {"train": _WMT14_TRAIN, "valid": _NEWSTEST2013, "test": _NEWSTEST2014},
                "the paper's 12M pairs and word counts (§3.1); newstest2012+2013 and 2014"),
    "wmt14": ({"train": 40_836_876, "valid": 3000, "test": 3003},
              {"train": _WMT14_TRAIN, "valid": _NEWSTEST2013, "test": _NEWSTEST2014},
              ("WMT'14 fr-en training rows (capped by data.wmt14.max_train_pairs); the paper's "
               "word counts (§3.1); newstest2013 and 2014")),
}


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_each_sources_nominal_corpus_keeps_the_published_figures(name: str) -> None:
    if name not in NOMINAL_BEFORE:  # read from disk or generated: sampled, never nominal
        assert SOURCES[name].nominal_corpus is ParallelSource.nominal_corpus
        return
    corpus = make_source(PrepareConfig(source=name)).nominal_corpus()
    assert corpus is not None
    assert (corpus.pairs, corpus.lengths, corpus.note) == NOMINAL_BEFORE[name]


def test_the_wmt14_training_cap_applies_to_its_nominal_corpus_only_when_set() -> None:
    def train_pairs(options: dict) -> int:
        corpus = make_source(PrepareConfig(source="wmt14", wmt14=options)).nominal_corpus()
        assert corpus is not None
        return corpus.pairs["train"]

    assert train_pairs({"max_train_pairs": 5000}) == 5000
    assert train_pairs({"max_train_pairs": 10**9}) == 40_836_876  # a cap above the corpus changes nothing
    assert train_pairs({}) == train_pairs({"max_train_pairs": None}) == train_pairs({"max_train_pairs": 0}) == 40_836_876
