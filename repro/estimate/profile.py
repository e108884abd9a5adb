"""The shape of an experiment's data, for timing: how many pairs each split has and how long they are.

A projection is only as good as the batches it is timed on, so the lengths come from the best source
available, in this order:

1. ``prepared``: the data directory's ``stats.json`` and ``meta.json`` (exact pair counts, exact length
   histograms of each side, the real vocabulary sizes);
2. ``source sample``: a source that needs no download (the synthetic generator, local files, a local copy
   of Multi30k) is read and tokenized as ``repro prepare`` would, for a sample of each split;
3. ``nominal``: a source that reads from the network gets the published size and a length model of its corpus
   (its ``nominal_corpus()``) — the figures are stated in the source's module, with where they come from.

The statistics give each side's length *distribution*; the timed batches pair sources and targets by
rank (the longest source with the longest target), which is what length bucketing sees.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from repro.data.config import PrepareConfig, make_source
from repro.data.sources.base import SPLITS, ParallelSource
from repro.errors import DataError

# Lengths kept per split: enough for the batch statistics; a larger corpus is represented by quantiles.
SAMPLE_PAIRS = 100_000
# Pairs read and tokenized per split from a source that needs no download (tokenizing is the slow part).
SOURCE_SAMPLE_PAIRS = 3000


@dataclass
class SplitLengths:
    """Token lengths (no ``<eos>``) of a sample of a split's pairs, and how many pairs the split has."""

    src: np.ndarray
    tgt: np.ndarray
    pairs: int

    @property
    def scale(self) -> float:
        """Pairs of the split per sampled pair."""
        return self.pairs / max(len(self.src), 1)

    def capped(self, max_len: int | None) -> SplitLengths:
        """The pairs that ``train.max_len`` keeps (both sides within it), with the split size scaled alike."""
        keep = self.src >= 1
        if max_len is not None:
            keep &= (self.src <= max_len) & (self.tgt <= max_len)
        kept = int(keep.sum())
        if kept == 0:
            raise DataError(f"no training pair is within train.max_len = {max_len}")
        return SplitLengths(self.src[keep], self.tgt[keep], int(round(self.pairs * kept / len(self.src))))


@dataclass
class DataProfile:
    origin: str  # "prepared", "source sample" or "nominal"
    description: str
    src_vocab_size: int
    tgt_vocab_size: int
    splits: dict[str, SplitLengths]

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"origin": self.origin, "description": self.description,
                               "src_vocab_size": self.src_vocab_size, "tgt_vocab_size": self.tgt_vocab_size}
        for name, split in self.splits.items():
            out[f"{name}_pairs"] = split.pairs
            out[f"{name}_mean_src_len"] = round(float(split.src.mean()), 2)
            out[f"{name}_mean_tgt_len"] = round(float(split.tgt.mean()), 2)
        return out


def data_profile(data: PrepareConfig | dict[str, Any] | None, data_dir: str | Path | None = None,
                 seed: int = 0) -> DataProfile:
    """The profile of the ``data:`` section ``data``: from ``data_dir`` when it is prepared, else from the source."""
    config = data if isinstance(data, PrepareConfig) else PrepareConfig.from_dict(data)
    if data_dir is not None and (Path(data_dir) / "stats.json").is_file():
        return from_prepared(data_dir)
    source = make_source(config)
    if not source.needs_network:
        return from_source(config, seed, source)
    return nominal(config, seed, source)


# ----------------------------------------------------------------------------------- prepared data
def from_prepared(data_dir: str | Path) -> DataProfile:
    from repro.train.from_data import read_meta

    data_dir = Path(data_dir)
    meta = read_meta(data_dir)
    path = data_dir / "stats.json"
    try:
        stats = json.loads(path.read_text(encoding="utf-8"))
        splits = {name: _from_histograms(stats["splits"][name]) for name in SPLITS}
    except json.JSONDecodeError as exc:
        raise DataError(f"invalid JSON ({exc.msg})", path, exc.lineno) from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"no length histograms of every split ({exc}); prepare the data again", path) from None
    return DataProfile("prepared", f"prepared data {data_dir} (stats.json)", int(meta["src_vocab_size"]),
                       int(meta["tgt_vocab_size"]), splits)


def _from_histograms(split: dict[str, Any]) -> SplitLengths:
    histograms = split["length_histogram"]
    sides = []
    for side in ("src", "tgt"):
        lengths = np.array([int(k) for k in histograms[side]], dtype=np.int64)
        counts = np.array(list(histograms[side].values()), dtype=np.int64)
        sides.append(_quantiles(np.repeat(lengths, counts)))  # sorted: sources and targets paired by rank
    return SplitLengths(sides[0], sides[1], int(split["pairs"]))


def _quantiles(sorted_lengths: np.ndarray) -> np.ndarray:
    if len(sorted_lengths) <= SAMPLE_PAIRS:
        return sorted_lengths
    return sorted_lengths[np.linspace(0, len(sorted_lengths) - 1, SAMPLE_PAIRS).round().astype(np.int64)]


# ----------------------------------------------------------------------------------- a source on disk
def from_source(config: PrepareConfig, seed: int = 0, source: ParallelSource | None = None) -> DataProfile:
    """Read every pair of each split (to count them), tokenize a uniform sample as prepare would."""
    from repro.data.prepare import tokenizer_settings
    from repro.data.tokenize import build_tokenizer

    source = source or make_source(config)
    settings = tokenizer_settings(config, source)
    note = ""
    if settings["kind"] == "sentencepiece":  # the pieces are not known before the model is trained
        settings = {"kind": "pretokenized" if source.pretokenized else "moses", "lowercase": config.lowercase}
        note = "; words, not sentencepiece pieces (the piece model is trained by prepare)"
    tokenizers = [build_tokenizer(settings, side, lang) for side, lang in (("src", config.src_lang),
                                                                           ("tgt", config.tgt_lang))]
    splits = {}
    for number, name in enumerate(SPLITS):
        rng = random.Random(seed * 7 + number)
        sample: list[tuple[str, str]] = []
        total = 0
        for pair in source.iter_pairs(name):  # reservoir sampling: uniform over the split
            total += 1
            if len(sample) < SOURCE_SAMPLE_PAIRS:
                sample.append(pair)
            elif (slot := rng.randrange(total)) < SOURCE_SAMPLE_PAIRS:
                sample[slot] = pair
        src = np.array([len(tokenizers[0].tokenize(s)) for s, _ in sample], dtype=np.int64)
        tgt = np.array([len(tokenizers[1].tokenize(t)) for _, t in sample], dtype=np.int64)
        keep = (src >= 1) & (tgt >= 1)
        if name == "train":  # prepare's cleaning of the training pairs
            if config.max_len is not None:
                keep &= (src <= config.max_len) & (tgt <= config.max_len)
            if config.max_len_ratio is not None:
                keep &= np.maximum(src, tgt) <= config.max_len_ratio * np.maximum(np.minimum(src, tgt), 1)
        if not keep.any():
            raise DataError(f"data source {config.source!r}: no usable pair in a sample of split {name!r}")
        kept_pairs = int(round(total * keep.sum() / len(keep)))
        splits[name] = SplitLengths(src[keep], tgt[keep], kept_pairs)
    src_vocab, tgt_vocab = _vocab_sizes(config)
    return DataProfile("source sample", f"a sample of up to {SOURCE_SAMPLE_PAIRS} pairs per split of data source "
                       f"{config.source!r}, tokenized as prepare would{note}", src_vocab, tgt_vocab, splits)


# ----------------------------------------------------------------------------------- a download
def nominal(config: PrepareConfig, seed: int = 0, source: ParallelSource | None = None) -> DataProfile:
    corpus = (source or make_source(config)).nominal_corpus()
    if corpus is None:
        raise DataError(f"data source {config.source!r} downloads its data and has no nominal profile; "
                        "prepare the data first (`repro prepare`) and pass --data")
    pairs = corpus.pairs
    rng = np.random.default_rng(seed)
    splits = {}
    for name in SPLITS:
        n = min(pairs[name], SAMPLE_PAIRS)
        src, tgt = corpus.lengths[name].sample(n, rng, config.max_len if name == "train" else None)
        splits[name] = SplitLengths(src, tgt, pairs[name])
    src_vocab, tgt_vocab = _vocab_sizes(config)
    return DataProfile("nominal", f"nominal profile of data source {config.source!r}: {corpus.note}",
                       src_vocab, tgt_vocab, splits)


def _vocab_sizes(config: PrepareConfig) -> tuple[int, int]:
    """The vocabulary sizes prepare would give (at most; a small corpus has fewer words)."""
    from repro.data.special_tokens import SPECIALS

    if config.tokenizer == "sentencepiece":
        return config.spm_vocab_size, config.spm_vocab_size
    extra = len(SPECIALS)
    return config.src_vocab_size + extra, config.tgt_vocab_size + extra


def mean_ratio(split: SplitLengths) -> float:
    """Target tokens per source token (how long a translation of a source is expected to be)."""
    return float(split.tgt.sum()) / max(float(split.src.sum()), 1.0) if len(split.src) else math.nan
