"""Beam search exactness: greedy, brute force, batching, n-best, limits (tiny models, CPU)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from repro.inference.beam_search import beam_search, greedy_search, max_lengths
from repro.models.seq2seq import ModelConfig, Seq2Seq

PAD, UNK, SOS, EOS = 0, 1, 2, 3


def tiny_model(seed: int = 0, tgt_vocab: int = 7, attention: str = "none", cell: str = "lstm", init: float = 1.0) -> Seq2Seq:
    torch.manual_seed(seed)
    cfg = ModelConfig(src_vocab_size=9, tgt_vocab_size=tgt_vocab, embedding_size=8, hidden_size=8,
                      num_layers=2, cell=cell, attention=attention, init_range=init)
    return Seq2Seq(cfg).eval()


def sequence_log_prob(model: Seq2Seq, src: list[int], words: list[int]) -> float:
    """log P(words, <eos> | src) by teacher forcing through model.forward (independent of decode_step)."""
    src_t = torch.tensor([src])
    tgt_in = torch.tensor([[SOS] + words])
    with torch.no_grad():
        lp = torch.log_softmax(model(src_t, torch.tensor([len(src)]), tgt_in).float(), dim=-1)[0]
    targets = words + [EOS]
    return float(sum(lp[t, y] for t, y in enumerate(targets)))


def brute_force(model: Seq2Seq, src: list[int], max_len: int) -> list[tuple[float, list[int]]]:
    """Every sequence of at most max_len words (pad/sos excluded) followed by <eos>, best first."""
    words = [w for w in range(model.config.tgt_vocab_size) if w not in (PAD, SOS, EOS)]
    scored = []
    for n in range(max_len + 1):
        for seq in itertools.product(words, repeat=n):
            scored.append((sequence_log_prob(model, src, list(seq)), list(seq)))
    scored.sort(key=lambda x: -x[0])
    return scored


def greedy_reference(model: Seq2Seq, src: list[int], max_len: int) -> tuple[list[int], float]:
    """Greedy decoding written independently: re-run the teacher-forced model on the growing prefix."""
    words: list[int] = []
    total = 0.0
    with torch.no_grad():
        while True:
            tgt_in = torch.tensor([[SOS] + words])
            lp = torch.log_softmax(model(torch.tensor([src]), torch.tensor([len(src)]), tgt_in).float(), -1)[0, -1]
            lp[PAD] = lp[SOS] = -math.inf
            token = EOS if len(words) == max_len else int(lp.argmax())
            total += float(lp[token])
            if token == EOS:
                return words, total
            words.append(token)


SOURCES = [[4, 5, 6], [7], [8, 4, 4, 5, 6, 7], [5, 5], [6, 7, 8, 4]]


@pytest.mark.parametrize("attention", ["none", "luong"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_beam_one_equals_greedy(attention, cell):
    model = tiny_model(seed=1, tgt_vocab=12, attention=attention, cell=cell, init=0.5)
    hyps = greedy_search(model, SOURCES, max_len_a=1.0, max_len_b=3)
    for src, hyp in zip(SOURCES, hyps):
        words, score = greedy_reference(model, src, max_lengths([len(src)], 1.0, 3)[0])
        assert hyp.tokens == words
        assert hyp.score == pytest.approx(score, abs=1e-4)


@pytest.mark.parametrize("attention", ["none", "luong"])
def test_wide_beam_finds_brute_force_best(attention):
    max_len = 4  # 4 words (unk, 4, 5, 6) -> 341 sequences; a beam of 64 keeps every live prefix
    found_nongreedy = False
    for seed in range(3):
        model = tiny_model(seed=seed, attention=attention)
        src = [4, 5, 6, 7]
        ranked = brute_force(model, src, max_len)
        hyps = beam_search(model, [src], beam_size=64, nbest=5, max_len_a=0.0, max_len_b=max_len)[0]
        assert hyps[0].tokens == ranked[0][1]
        assert hyps[0].score == pytest.approx(ranked[0][0], abs=1e-4)
        # The n-best list is the brute-force top 5, in order.
        assert [h.tokens for h in hyps] == [seq for _, seq in ranked[:5]]
        greedy = greedy_search(model, [src], 0.0, max_len)[0]
        found_nongreedy |= greedy.tokens != ranked[0][1]
    # The test has teeth only if greedy search misses the optimum somewhere.
    assert found_nongreedy


def test_scores_are_teacher_forced_log_probs():
    model = tiny_model(seed=3, tgt_vocab=15, attention="luong", init=0.5)
    for src, hyps in zip(SOURCES, beam_search(model, SOURCES, beam_size=4, nbest=4, return_step_scores=True)):
        assert 1 <= len(hyps) <= 4
        assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
        for h in hyps:
            assert h.score == pytest.approx(sequence_log_prob(model, src, h.tokens), abs=1e-4)
            assert sum(h.step_scores) == pytest.approx(h.score, abs=1e-4)
            assert len(h.step_scores) == len(h.tokens) + 1
            assert PAD not in h.tokens and SOS not in h.tokens and EOS not in h.tokens


@pytest.mark.parametrize("beam", [1, 2, 5, 12])
def test_batched_equals_one_at_a_time(beam):
    model = tiny_model(seed=4, tgt_vocab=20, attention="luong", init=0.3)
    batched = beam_search(model, SOURCES, beam_size=beam, nbest=min(beam, 3))
    for src, hyps in zip(SOURCES, batched):
        single = beam_search(model, [src], beam_size=beam, nbest=min(beam, 3))[0]
        assert [h.tokens for h in hyps] == [h.tokens for h in single]
        assert [h.score for h in hyps] == pytest.approx([h.score for h in single], abs=1e-5)


def test_max_length_and_unk_kept():
    # A model that never wants to stop: <eos> is made very unlikely, UNK very likely.
    model = tiny_model(seed=5, tgt_vocab=8)
    with torch.no_grad():
        model.output.bias[EOS] = -20.0
        model.output.bias[UNK] = 10.0
    hyps = beam_search(model, [[4, 5], [4, 5, 6, 7, 8]], beam_size=3, max_len_a=1.5, max_len_b=1)
    assert len(hyps[0][0].tokens) == math.floor(1.5 * 2 + 1) == 4
    assert len(hyps[1][0].tokens) == math.floor(1.5 * 5 + 1)
    assert UNK in hyps[0][0].tokens


def test_length_normalisation_prefers_longer():
    model = tiny_model(seed=6, tgt_vocab=10, init=0.5)
    src = [4, 5, 6]
    plain = beam_search(model, [src], beam_size=10, nbest=10, max_len_b=6, max_len_a=0)[0]
    normed = beam_search(model, [src], beam_size=10, nbest=10, max_len_b=6, max_len_a=0, length_norm=1.0)[0]
    for h in normed:
        assert h.ranking_score == pytest.approx(h.score / (len(h.tokens) + 1))
    assert [h.ranking_score for h in normed] == sorted((h.ranking_score for h in normed), reverse=True)
    assert len(normed[0].tokens) >= len(plain[0].tokens)


def test_bad_arguments():
    model = tiny_model()
    with pytest.raises(ValueError, match="nbest"):
        beam_search(model, [[4]], beam_size=2, nbest=3)
    with pytest.raises(ValueError, match="at least one token"):
        beam_search(model, [[]], beam_size=2)
    assert beam_search(model, [], beam_size=2) == []


def test_exact_ties_break_by_lowest_index_whatever_the_batch():
    # A uniform output distribution makes every candidate tie exactly.
    model = tiny_model(seed=7, tgt_vocab=9, attention="luong")
    with torch.no_grad():
        model.output.weight.zero_()
        model.output.bias.zero_()
    sources = [[4, 5, 6], [7], [8, 8]]
    greedy = beam_search(model, sources, beam_size=1, max_len_a=1.0, max_len_b=1)
    # Ties go to the lowest id: UNK (1) beats <eos> (3) and every word, up to the maximum length.
    assert [h[0].tokens for h in greedy] == [[UNK] * 4, [UNK] * 2, [UNK] * 3]
    wide = beam_search(model, sources, beam_size=4, nbest=2, max_len_a=1.0, max_len_b=1)
    for src, hyps in zip(sources, wide):
        assert hyps[0].tokens == []  # <eos> first: every longer hypothesis scores lower
        assert [h.tokens for h in hyps] == [h.tokens for h in beam_search(model, [src], 4, 2, 1.0, 1)[0]]
