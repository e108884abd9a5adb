"""The ``data:`` section of an experiment config, read by ``repro prepare`` (and ``repro fetch``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from repro.config import dataclass_from_dict
from repro.data.sources import SOURCES, ParallelSource, SourceSettings
from repro.data.tokenize import KINDS
from repro.errors import ConfigError

T = TypeVar("T")

# The sources (importing repro.data.sources registers them all), each with its options section below.
SOURCE_SECTIONS = tuple(SOURCES)


def _with_source_sections(cls: type[T]) -> type[T]:
    """Give ``cls`` one mapping field per source, named after it (``data.<source>``), before it becomes a
    dataclass: a new source needs no edit here, unknown sections fail as unknown keys, and ``asdict``
    (meta.json's ``config``) records every section."""
    for name in SOURCE_SECTIONS:
        if name in cls.__annotations__ or hasattr(cls, name):
            raise TypeError(f"data source {name!r} has the name of a data: setting; rename the source")
        cls.__annotations__[name] = "dict[str, Any]"
        setattr(cls, name, field(default_factory=dict))
    return cls


@dataclass
@_with_source_sections
class PrepareConfig:
    """The ``data:`` section of an experiment config. Defaults are the paper's recipe (§3.1).

    source: one of ``repro.data.sources.SOURCES`` (a module of ``repro/data/sources`` each); its
        options live in the section of the same name (``wmt14: {...}`` etc., read by the source's
        options dataclass, e.g. ``Wmt14Options``).
    src_lang, tgt_lang: translation direction (en → fr).
    tokenizer: ``moses`` | ``sentencepiece`` | ``pretokenized``. A source whose text is already
        tokenized (schwenk, synthetic) forces ``pretokenized`` unless ``sentencepiece`` is asked for.
    lowercase: lowercase before tokenizing (the paper is cased: false).
    aggressive_dash_splits, normalize_punctuation: Moses settings (``tokenizer.perl -a`` and
        ``normalize-punctuation.perl``, as in fairseq's WMT'14 recipe); Moses escaping is always off.
    src_vocab_size, tgt_vocab_size: keep the K most frequent training words per side (160k / 80k);
        every other word is UNK. The stored vocabularies add 4 specials.
    max_len: drop training pairs with more tokens than this on either side (null = no limit).
    max_len_ratio: drop training pairs whose longer side has more than ratio × the shorter's tokens.
    workers: tokenizer processes (0 = all cores, 1 = in-process).
    chunk_size: pairs per task sent to a worker.
    seed: seeds random splits of local files and the synthetic language.
    spm_vocab_size, spm_model_type, spm_character_coverage, spm_input_sentence_size: sentencepiece
        training (per side) when ``tokenizer: sentencepiece``.
    """

    source: str = "synthetic"
    src_lang: str = "en"
    tgt_lang: str = "fr"
    tokenizer: str = "moses"
    lowercase: bool = False
    aggressive_dash_splits: bool = True
    normalize_punctuation: bool = True
    src_vocab_size: int = 160000
    tgt_vocab_size: int = 80000
    max_len: int | None = 100
    max_len_ratio: float | None = 3.0
    workers: int = 0
    chunk_size: int = 2000
    seed: int = 1
    spm_vocab_size: int = 32000
    spm_model_type: str = "unigram"
    spm_character_coverage: float = 1.0
    spm_input_sentence_size: int = 2000000
    # then one ``dict[str, Any]`` field per source (see _with_source_sections)

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> PrepareConfig:
        return dataclass_from_dict(cls, values, "data")

    @property
    def source_settings(self) -> SourceSettings:
        return SourceSettings(src_lang=self.src_lang, tgt_lang=self.tgt_lang, seed=self.seed)

    def source_options(self, source: str | None = None) -> Any:
        """Section ``data.<source>`` (default: ``data.source``'s) read into the source's ``options_type``, so
        that an unknown key or a value of the wrong type fails naming ``data.<source>.<key>``."""
        name = source or self.source
        return dataclass_from_dict(SOURCES[name].options_type, getattr(self, name, {}), f"data.{name}")

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ConfigError(f"data.source: unknown source {self.source!r}; choose one of {', '.join(SOURCES)}")
        if self.tokenizer not in KINDS:
            raise ConfigError(f"data.tokenizer: unknown kind {self.tokenizer!r}; choose one of {', '.join(KINDS)}")
        for name in ("src_vocab_size", "tgt_vocab_size", "chunk_size", "spm_vocab_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"data.{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.workers < 0:
            raise ConfigError(f"data.workers must be >= 0 (0 = all cores), got {self.workers}")
        if self.max_len is not None and self.max_len < 1:
            raise ConfigError(f"data.max_len must be >= 1 or null, got {self.max_len}")
        if self.max_len_ratio is not None and self.max_len_ratio < 1:
            raise ConfigError(f"data.max_len_ratio must be >= 1 or null, got {self.max_len_ratio}")
        for name in SOURCE_SECTIONS:
            if getattr(self, name) is None:
                setattr(self, name, {})
            if not isinstance(getattr(self, name), dict):
                raise ConfigError(f"data.{name} must be a mapping of options")


def make_source(config: PrepareConfig) -> ParallelSource:
    """The source ``data.source`` names (checked by ``PrepareConfig``), built from its own section."""
    return SOURCES[config.source].from_options(config.source_options(), config.source_settings)
