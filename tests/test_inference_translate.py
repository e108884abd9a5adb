"""translate_ids: length-sorted batches restore input order; empty lines; Translator round trip."""

from __future__ import annotations

import torch

from repro.data.vocab import Vocab
from repro.inference.beam_search import beam_search
from repro.inference.translate import DecodeOptions, Translator, translate_ids
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
    out = translate_ids(m, sources, DecodeOptions(beam_size=3, nbest=2, batch_size=2))
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
    hyps = translate_ids(m, t.source_ids(lines), DecodeOptions(beam_size=2))
    expected = ["~".join(Vocab(words).decode(h[0].tokens)) for h in hyps]
    assert t.translate(lines, DecodeOptions(beam_size=2)) == expected
    assert t.translate(lines, DecodeOptions(beam_size=2), tokenized_output=True) == [e.replace("~", " ") for e in expected]
    assert t.translate(lines, DecodeOptions(beam_size=2))[1] == ""
    nbest = t.translate_nbest(lines, DecodeOptions(beam_size=3, nbest=3))
    assert all(1 <= len(s) <= 3 for s in nbest)
    assert [s[0][0] for s in nbest] == t.translate(lines, DecodeOptions(beam_size=3), tokenized_output=False)
