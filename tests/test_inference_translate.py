"""translate_ids: length-sorted batches restore input order; empty lines; Translator round trip; the checks of
the decode and search settings."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from repro.data.vocab import Vocab
from repro.errors import ConfigError, ReproError
from repro.inference.beam_search import beam_search
from repro.inference.config import DecodeConfig, SearchSettings
from repro.inference.translate import Translator, translate_ids
from repro.models.seq2seq import ModelConfig, Seq2Seq


class Spaces:
    def tokenize(self, text):
        return text.split()

    def detokenize(self, tokens):
        return "~".join(tokens)


def model():
    torch.manual_seed(0)
    return Seq2Seq(ModelConfig(12, 12, 8, 8, 2, init_range=0.5)).eval()


def test_order_batches_and_empty_sources():
    m = model()
    sources = [[4, 5], [], [6, 7, 8, 9, 10], [11], [4, 4, 4]]
    out = translate_ids(m, sources, DecodeConfig(batch_size=2), SearchSettings(beam_size=3, nbest=2))
    assert out[1][0].tokens == [] and out[1][0].score == 0.0
    for i in (0, 2, 3, 4):
        single = beam_search(m, [sources[i]], 3, nbest=2)[0]
        assert [h.tokens for h in out[i]] == [h.tokens for h in single]


def test_translator_text_round_trip():
    m = model()
    words = [f"w{i}" for i in range(8)]
    t = Translator(m, Vocab(words), Vocab(words), Spaces(), Spaces())
    lines = ["w0 w1 unknown", "", "w3"]
    assert t.source_ids(lines) == [[4, 5, 1], [], [7]]
    hyps = translate_ids(m, t.source_ids(lines), search=SearchSettings(beam_size=2))
    expected = ["~".join(Vocab(words).decode(h[0].tokens)) for h in hyps]
    assert t.translate(lines, search=SearchSettings(beam_size=2)) == expected
    assert t.translate(lines, search=SearchSettings(beam_size=2), tokenized_output=True) == [e.replace("~", " ") for e in expected]
    assert t.translate(lines, search=SearchSettings(beam_size=2))[1] == ""
    nbest = t.translate_nbest(lines, search=SearchSettings(beam_size=3, nbest=3))
    assert all(1 <= len(s) <= 3 for s in nbest)
    assert [s[0][0] for s in nbest] == t.translate(lines, search=SearchSettings(beam_size=3, nbest=3), tokenized_output=False)


def teacher_forced_fp32(m, src, words):
    """log P(words, <eos> | src) in fp32 by teacher forcing (independent of decode_step and autocast)."""
    with torch.no_grad():
        lp = torch.log_softmax(m(torch.tensor([src]), torch.tensor([len(src)]), torch.tensor([[2] + words])).float(), -1)
    return float(sum(lp[0, t, y] for t, y in enumerate(words + [3])))


BF16_SOURCES = [[4, 5], [6, 7, 8, 9, 10], [11], [4, 4, 4], [5, 6, 7, 8, 9, 10, 11, 4]]


def search_fp32_and_bf16(m) -> tuple[list, list]:
    """The n-best lists of ``BF16_SOURCES`` searched in fp32, then with ``decode.bf16`` set."""
    decode, search = DecodeConfig(max_len_a=2.0, max_len_b=3), SearchSettings(beam_size=3, nbest=3)
    return (translate_ids(m, BF16_SOURCES, decode, search),
            translate_ids(m, BF16_SOURCES, replace(decode, bf16=True), search))


@pytest.mark.native_bf16
def test_bf16_beam_search_is_valid_and_close_to_fp32():
    # Only the precision changes.
    m = model()
    fp32, bf16 = search_fp32_and_bf16(m)
    for src, exact, approx in zip(BF16_SOURCES, fp32, bf16):
        assert 1 <= len(approx) <= 3
        assert [h.score for h in approx] == sorted((h.score for h in approx), reverse=True)
        for h in approx:
            assert len(h.tokens) <= 2 * len(src) + 3
            assert not {0, 2, 3} & set(h.tokens)  # no <pad>, <sos> or <eos> inside a hypothesis
            assert isinstance(h.score, float) and math.isfinite(h.score)
            # The bf16 score is the fp32 log-probability of the same words up to bf16 rounding of the
            # logits: a bounded error per predicted token (observed: < 0.001 on average, 0.013 at most
            # over 27 tokens).
            bound = 0.02 * (len(h.tokens) + 1)
            assert abs(h.score - teacher_forced_fp32(m, src, h.tokens)) <= bound
        # ...and the search finds what fp32 finds, within the same bound.
        bound = 0.02 * (max(len(exact[0].tokens), len(approx[0].tokens)) + 1)
        assert teacher_forced_fp32(m, src, approx[0].tokens) >= exact[0].score - bound
        assert abs(approx[0].score - exact[0].score) <= bound


@pytest.mark.bf16_fallback
def test_bf16_beam_search_without_native_bf16_is_the_fp32_search():
    fp32, asked = search_fp32_and_bf16(model())
    assert [[(h.tokens, h.score) for h in s] for s in asked] == [[(h.tokens, h.score) for h in s] for s in fp32]


def test_translate_ids_reads_the_decode_config():
    m = model()
    sources = [[4, 5, 6], [7], [8, 9, 10, 11, 4, 5]]
    short = translate_ids(m, sources, DecodeConfig(max_len_a=0.0, max_len_b=1.0), SearchSettings(beam_size=3))
    assert [[h.tokens for h in s] for s in short] == [[h.tokens for h in s] for s in
                                                     beam_search(m, sources, 3, max_len_a=0.0, max_len_b=1.0)]
    assert all(len(s[0].tokens) <= 1 for s in short)
    one_at_a_time = translate_ids(m, sources, DecodeConfig(batch_size=1), SearchSettings(beam_size=3, nbest=3))
    batched = translate_ids(m, sources, DecodeConfig(batch_size=100), SearchSettings(beam_size=3, nbest=3))
    # the same hypotheses; a score may differ in its last bits (float sums over other batch shapes)
    assert [[h.tokens for h in s] for s in one_at_a_time] == [[h.tokens for h in s] for s in batched]
    for single, together in zip(one_at_a_time, batched):
        assert [h.score for h in single] == pytest.approx([h.score for h in together], abs=1e-4)


@pytest.mark.parametrize("values, message", [
    ({"batch_size": 0}, "decode.batch_size must be positive, got 0"),
    ({"device": "tpu"}, "decode.device must be one of auto, cpu, cuda, got 'tpu'"),
    ({"max_len_a": -1}, "decode.max_len_a must be >= 0, got -1.0"),
    ({"max_len_b": -1}, "decode.max_len_b must be >= 0, got -1.0"),
    ({"length_norm": -1}, "decode.length_norm must be >= 0, got -1.0"),
    ({"beam_size": 3}, "unknown key beam_size (did you mean the option --beam?"),
    ({"min_len": 1}, "unknown key min_len (did you mean the option --min-len?"),
])
def test_decode_config_checks_each_key(values, message):
    with pytest.raises(ConfigError) as info:
        DecodeConfig.from_dict(values)
    assert message in str(info.value) and str(info.value).count(message) == 1


@pytest.mark.parametrize("values, message", [
    ({"beam_size": 0}, "--beam must be at least 1, got 0"),
    ({"beam_size": 2, "nbest": 3}, "--nbest must be between 1 and the beam size (2), got 3"),
    ({"nbest": 0}, "--nbest must be between 1 and the beam size (12), got 0"),
    ({"min_len": -1}, "--min-len must be >= 0, got -1"),
])
def test_search_settings_are_checked(values, message):
    with pytest.raises(ReproError, match=message.replace("(", r"\(").replace(")", r"\)")):
        SearchSettings(**values)
