"""Ensembles: one model = itself, identical copies = one, the step score is the mean of log-probs."""

from __future__ import annotations

import copy

import pytest
import torch

from repro.errors import ReproError
from repro.inference.beam_search import beam_search
from repro.inference.ensemble import Ensemble, as_decoder
from repro.models.seq2seq import ModelConfig, Seq2Seq

SOURCES = [[4, 5, 6], [7], [8, 4, 4, 5, 6, 7], [5, 5]]


def model(seed: int, attention: str = "none", tgt_vocab: int = 16, input_feeding: bool = False) -> Seq2Seq:
    torch.manual_seed(seed)
    return Seq2Seq(ModelConfig(9, tgt_vocab, 8, 8, 2, attention=attention, init_range=0.5,
                               input_feeding=input_feeding)).eval()


def as_tuples(results):
    return [[(h.tokens, h.score) for h in hyps] for hyps in results]


@pytest.mark.parametrize("attention,input_feeding", [("none", False), ("luong", False), ("luong", True),
                                                     ("bahdanau", False)])
@pytest.mark.parametrize("beam", [1, 4])
def test_ensemble_of_one_equals_model(beam, attention, input_feeding):
    m = model(0, attention, input_feeding=input_feeding)
    assert as_tuples(beam_search(Ensemble([m]), SOURCES, beam, nbest=beam)) == as_tuples(
        beam_search(m, SOURCES, beam, nbest=beam))


@pytest.mark.parametrize("beam", [1, 4])
def test_ensemble_of_two_identical_copies_equals_one(beam):
    m = model(1)
    twin = copy.deepcopy(m)
    assert as_tuples(beam_search(Ensemble([m, twin]), SOURCES, beam, nbest=beam)) == as_tuples(
        beam_search(m, SOURCES, beam, nbest=beam))


def test_step_score_is_mean_of_log_probs_and_differs_from_members():
    a, b = model(2), model(3, "luong")
    ens = Ensemble([a, b])
    hyps = beam_search(ens, SOURCES, 3, nbest=3)
    for src, sent in zip(SOURCES, hyps):
        for h in sent:
            src_t, lens = torch.tensor([src]), torch.tensor([len(src)])
            tgt_in = torch.tensor([[2] + h.tokens])
            with torch.no_grad():
                lp = [torch.log_softmax(m(src_t, lens, tgt_in), -1)[0] for m in (a, b)]
            targets = h.tokens + [3]
            expected = sum(float((lp[0][t, y] + lp[1][t, y]) / 2) for t, y in enumerate(targets))
            assert h.score == pytest.approx(expected, abs=1e-4)
    # ...and the ensemble is a different decoder from either member.
    assert as_tuples(hyps) != as_tuples(beam_search(a, SOURCES, 3, nbest=3))
    assert as_tuples(hyps) != as_tuples(beam_search(b, SOURCES, 3, nbest=3))


def test_batched_ensemble_equals_one_at_a_time():
    # Members with different attention forms, each with its own kind of state.
    ens = Ensemble([model(4), model(5, "bahdanau"), model(6, "luong"), model(7, "luong", input_feeding=True)])
    batched = beam_search(ens, SOURCES, 5, nbest=2)
    for src, hyps in zip(SOURCES, batched):
        single = beam_search(ens, [src], 5, nbest=2)[0]
        assert [h.tokens for h in hyps] == [h.tokens for h in single]
        assert [h.score for h in hyps] == pytest.approx([h.score for h in single], abs=1e-5)


def test_vocabulary_mismatch_is_a_clear_error():
    with pytest.raises(ReproError, match="tgt_vocab_size"):
        Ensemble([model(0, tgt_vocab=16), model(1, tgt_vocab=17)])


def test_as_decoder():
    m = model(0)
    assert as_decoder(m) is m
    assert as_decoder([m]) is m
    assert isinstance(as_decoder([m, model(1)]), Ensemble)
