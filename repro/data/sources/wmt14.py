"""WMT'14 English–French from the Hugging Face hub (``wmt/wmt14``, config ``fr-en``), streamed.

train = Europarl v7 + CommonCrawl + UN + News Commentary v9 + Giga-fren (40.8M rows, not the paper's 12M
selection); valid = newstest2013; test = newstest2014. Rows look like
``{"translation": {"en": "...", "fr": "..."}}``. Streaming means ``max_train_pairs`` takes the first N rows
without downloading the rest.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from repro.data.sources.base import NominalCorpus, ParallelSource, SourceSettings
from repro.data.sources.schwenk import (
    NEWSTEST2013_LENGTHS,
    NEWSTEST2014_LENGTHS,
    PAPER_TRAIN_LENGTHS,
)
from repro.errors import DataError, ReproError

HF_SPLITS = {"train": "train", "valid": "validation", "test": "test"}
NOMINAL = NominalCorpus({"train": 40_836_876, "valid": 3000, "test": 3003},
                        {"train": PAPER_TRAIN_LENGTHS, "valid": NEWSTEST2013_LENGTHS, "test": NEWSTEST2014_LENGTHS},
                        "WMT'14 fr-en training rows (capped by data.wmt14.max_train_pairs); the paper's "
                        "word counts (§3.1); newstest2013 and 2014")


@dataclass
class Wmt14Options:
    """Keys of ``data.wmt14``.

    dataset: Hugging Face dataset path (default ``wmt/wmt14``).
    name: dataset config (default ``fr-en``).
    revision: optional hub revision (commit / tag) for a reproducible snapshot.
    max_train_pairs: take only the first N training rows (null = all 40.8M).
    data_files: optional ``{train: path(s), valid: ..., test: ...}`` of local parquet files with the same
        row schema; read with ``load_dataset("parquet", data_files=..., streaming=True)`` instead of the hub.
    """

    dataset: str = "wmt/wmt14"
    name: str = "fr-en"
    revision: str | None = None
    max_train_pairs: int | None = None
    data_files: dict[str, Any] | None = None


def hf_loader(options: Wmt14Options) -> Callable[[str], Iterable[dict]]:
    """A function ``split -> iterable of rows`` backed by ``datasets.load_dataset(..., streaming=True)``."""

    def load(split: str) -> Iterable[dict]:
        import datasets

        hf_split = HF_SPLITS[split]
        if options.data_files is not None:
            if split not in options.data_files:
                raise ReproError(f"data.wmt14.data_files has no entry for split {split!r}")
            return datasets.load_dataset(
                "parquet", data_files={hf_split: options.data_files[split]}, split=hf_split, streaming=True
            )
        return datasets.load_dataset(
            options.dataset, options.name, split=hf_split, streaming=True, revision=options.revision
        )

    return load


class Wmt14Source(ParallelSource):
    name = "wmt14"
    options_type = Wmt14Options
    pretokenized = False
    needs_network = True  # streamed from the Hugging Face hub (or its local cache) by `datasets`

    def __init__(self, options: Wmt14Options | None = None, src_lang: str = "en", tgt_lang: str = "fr",
                 loader: Callable[[str], Iterable[dict]] | None = None) -> None:
        self.options = options or Wmt14Options()
        self.src_lang, self.tgt_lang = src_lang, tgt_lang
        self.loader = loader or hf_loader(self.options)

    @classmethod
    def from_options(cls, options: Wmt14Options, settings: SourceSettings) -> Wmt14Source:
        return cls(options, settings.src_lang, settings.tgt_lang)

    def iter_pairs(self, split: str) -> Iterator[tuple[str, str]]:
        rows: Iterable[dict] = self.loader(split)
        if split == "train" and self.options.max_train_pairs is not None:
            rows = itertools.islice(rows, self.options.max_train_pairs)
        where = f"{self.options.dataset}:{HF_SPLITS[split]}"
        for index, row in enumerate(rows):
            try:
                translation = row["translation"]
                yield translation[self.src_lang], translation[self.tgt_lang]
            except (KeyError, TypeError):
                raise DataError(
                    f"row {index} is not {{'translation': {{'{self.src_lang}': ..., '{self.tgt_lang}': ...}}}}: "
                    f"{str(row)[:200]}", where
                ) from None

    def describe(self) -> dict:
        info = super().describe()
        info.update(dataset=self.options.dataset, config=self.options.name, revision=self.options.revision,
                    max_train_pairs=self.options.max_train_pairs, data_files=self.options.data_files)
        return info

    def nominal_corpus(self) -> NominalCorpus:
        return NOMINAL.capped(self.options.max_train_pairs)
