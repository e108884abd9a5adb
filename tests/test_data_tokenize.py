import json

import pytest

from repro.data.tokenize import MosesTokenizer, PretokenizedTokenizer, build_tokenizer, load_tokenizers
from repro.errors import DataError, ReproError


def test_moses_settings_no_escape_aggressive_dashes_round_trip():
    tok = MosesTokenizer("en")
    text = 'The well-known "A & B" company\'s CEO said: it works.'
    tokens = tok.tokenize(text)
    assert "@-@" in tokens and "&" in tokens and "&amp;" not in " ".join(tokens)
    assert tokens[-1] == "." and "'s" in tokens
    assert tok.detokenize(tokens) == text


def test_tokens_never_contain_whitespace():
    tok = MosesTokenizer("fr")
    tokens = tok.tokenize("Je suis touchée\u202f! C'est\u00a0bien\u00a0?")
    assert tokens and all(not any(ch.isspace() for ch in t) for t in tokens)
    assert "!" in tokens and "?" in tokens


def test_lowercase_and_pretokenized():
    assert MosesTokenizer("en", lowercase=True).tokenize("Hello World") == ["hello", "world"]
    pre = PretokenizedTokenizer()
    assert pre.tokenize("  l' homme  a-t-il \t ") == ["l'", "homme", "a-t-il"]  # not re-tokenized
    assert pre.detokenize(["a", "b"]) == "a b"


def test_load_tokenizers_from_meta(tmp_path):
    with pytest.raises(DataError, match="no meta.json"):
        load_tokenizers(tmp_path)
    meta = {"src_lang": "en", "tgt_lang": "fr",
            "tokenizer": {"kind": "moses", "lowercase": True, "aggressive_dash_splits": False}}
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    src, tgt = load_tokenizers(tmp_path)
    assert src.tokenize("Well-known") == ["well-known"]
    assert tgt.lang == "fr"
    with pytest.raises(ReproError, match="unknown tokenizer kind"):
        build_tokenizer({"kind": "bpe"}, "src", "en")
    with pytest.raises(DataError, match="spm.src.model"):
        build_tokenizer({"kind": "sentencepiece"}, "src", "en", tmp_path)
