"""Tokenizers, rebuilt from the settings stored in ``meta.json`` so every step tokenizes the same way.

Kinds:

- ``moses``: sacremoses, the paper's tokenizer. Settings follow common NMT practice (fairseq's
  prepare-wmt14en2fr.sh): optional punctuation normalization (normalize-punctuation.perl), then
  ``tokenizer.perl -a`` = ``aggressive_dash_splits=True`` ("well-known" → "well @-@ known"), but
  ``escape=False`` so "&" and quotes stay literal (no "&amp;" / "&quot;" in vocabularies or BLEU).
- ``pretokenized``: text is already tokenized (Schwenk's data, the synthetic language): split on
  whitespace, join with spaces. Never tokenized twice.
- ``sentencepiece``: subword pieces from an spm model trained on the training text.

Every tokenizer returns whitespace-free tokens (Moses output is re-split on any Unicode whitespace, e.g.
the U+202F narrow no-break spaces of French typography), which the vocabulary files require.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from repro.errors import DataError, ReproError

KINDS = ("moses", "pretokenized", "sentencepiece")


class Tokenizer(Protocol):
    def tokenize(self, text: str) -> list[str]: ...

    def detokenize(self, tokens: list[str]) -> str: ...


class MosesTokenizer:
    """sacremoses tokenizer + detokenizer for one language."""

    def __init__(self, lang: str, lowercase: bool = False, aggressive_dash_splits: bool = True,
                 normalize_punctuation: bool = True) -> None:
        import sacremoses

        self.lang = lang
        self.lowercase = lowercase
        self.aggressive_dash_splits = aggressive_dash_splits
        self._normalizer = sacremoses.MosesPunctNormalizer(lang) if normalize_punctuation else None
        self._tok = sacremoses.MosesTokenizer(lang)
        self._detok = sacremoses.MosesDetokenizer(lang)

    def tokenize_str(self, text: str) -> str:
        """Tokens joined by single spaces (what the worker processes return)."""
        if self._normalizer is not None:
            text = self._normalizer.normalize(text)
        if self.lowercase:
            text = text.lower()
        out = self._tok.tokenize(text, escape=False, aggressive_dash_splits=self.aggressive_dash_splits,
                                 return_str=True)
        return " ".join(out.split())

    def tokenize(self, text: str) -> list[str]:
        return self.tokenize_str(text).split()

    def detokenize(self, tokens: list[str]) -> str:
        return self._detok.detokenize(list(tokens))


class PretokenizedTokenizer:
    """Already-tokenized text: whitespace split; detokenization joins with single spaces."""

    def __init__(self, lowercase: bool = False) -> None:
        self.lowercase = lowercase

    def tokenize_str(self, text: str) -> str:
        return " ".join((text.lower() if self.lowercase else text).split())

    def tokenize(self, text: str) -> list[str]:
        return self.tokenize_str(text).split()

    def detokenize(self, tokens: list[str]) -> str:
        return " ".join(tokens)


class SentencePieceTokenizer:
    """sentencepiece pieces (the model file holds all its settings)."""

    def __init__(self, model_file: str | Path, lowercase: bool = False) -> None:
        import sentencepiece as spm

        if not Path(model_file).exists():
            raise DataError("sentencepiece model not found", model_file)
        self.model_file = str(model_file)
        self.lowercase = lowercase
        self._sp = spm.SentencePieceProcessor(model_file=self.model_file)

    def tokenize_str(self, text: str) -> str:
        return " ".join(self.tokenize(text))

    def tokenize(self, text: str) -> list[str]:
        pieces = self._sp.encode(text.lower() if self.lowercase else text, out_type=str)
        return [p for p in pieces if p and not any(ch.isspace() for ch in p)]

    def detokenize(self, tokens: list[str]) -> str:
        return self._sp.decode_pieces(list(tokens))


def build_tokenizer(settings: dict[str, Any], side: str, lang: str, data_dir: str | Path | None = None):
    """A tokenizer for ``side`` ("src"/"tgt") from the ``meta.json["tokenizer"]`` settings."""
    kind = settings.get("kind")
    lowercase = bool(settings.get("lowercase", False))
    if kind == "moses":
        return MosesTokenizer(lang, lowercase, bool(settings.get("aggressive_dash_splits", True)),
                              bool(settings.get("normalize_punctuation", True)))
    if kind == "pretokenized":
        return PretokenizedTokenizer(lowercase)
    if kind == "sentencepiece":
        model = settings.get(f"{side}_model", f"spm.{side}.model")
        path = Path(model) if data_dir is None else Path(data_dir) / model
        return SentencePieceTokenizer(path, lowercase)
    raise ReproError(f"unknown tokenizer kind {kind!r}; known: {', '.join(KINDS)}")


def load_tokenizers(data_dir: str | Path):
    """``(src_tok, tgt_tok)`` of a prepared data directory (or a run's ``data/`` copy), from meta.json."""
    data_dir = Path(data_dir)
    meta_path = data_dir / "meta.json"
    if not meta_path.exists():
        raise DataError("not a prepared data directory (no meta.json); run `repro prepare` first", data_dir)
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        settings = meta["tokenizer"]
        src_lang, tgt_lang = meta["src_lang"], meta["tgt_lang"]
    except (json.JSONDecodeError, KeyError) as exc:
        raise DataError(f"invalid meta.json: {exc}", meta_path) from exc
    return (build_tokenizer(settings, "src", src_lang, data_dir),
            build_tokenizer(settings, "tgt", tgt_lang, data_dir))
