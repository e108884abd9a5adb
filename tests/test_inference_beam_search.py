"""Beam search exactness: greedy, brute force, batching, n-best, limits (tiny models, CPU)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from repro.inference.beam_search import beam_search, greedy_search, max_lengths
from repro.models.forms import ATTENTIONS
from repro.models.seq2seq import ModelConfig, Seq2Seq

PAD, UNK, SOS, EOS = 0, 1, 2, 3


def tiny_model(seed: int = 0, tgt_vocab: int = 7, attention: str = "none", cell: str = "lstm", init: float = 1.0,
               input_feeding: bool = False) -> Seq2Seq:
    torch.manual_seed(seed)
    cfg = ModelConfig(src_vocab_size=9, tgt_vocab_size=tgt_vocab, embedding_size=8, hidden_size=8,
                      num_layers=2, cell=cell, attention=attention, init_range=init, input_feeding=input_feeding)
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
# Every attention form: (attention, input_feeding).
# every form of the table, with input feeding where it takes it ("none" first)
ATTENTION_FORMS = [(name, False) for name in ATTENTIONS] + [(name, True) for name, form in ATTENTIONS.items()
                                                             if form.input_feeding]


@pytest.mark.parametrize("attention,input_feeding", ATTENTION_FORMS)
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_beam_one_equals_greedy(attention, input_feeding, cell):
    model = tiny_model(seed=1, tgt_vocab=12, attention=attention, cell=cell, init=0.5, input_feeding=input_feeding)
    hyps = greedy_search(model, SOURCES, max_len_a=1.0, max_len_b=3)
    for src, hyp in zip(SOURCES, hyps):
        words, score = greedy_reference(model, src, max_lengths([len(src)], 1.0, 3)[0])
        assert hyp.tokens == words
        assert hyp.score == pytest.approx(score, abs=1e-4)


@pytest.mark.parametrize("attention,input_feeding", ATTENTION_FORMS)
def test_wide_beam_finds_brute_force_best(attention, input_feeding):
    max_len = 4  # 4 words (unk, 4, 5, 6) -> 341 sequences; a beam of 64 keeps every live prefix
    found_nongreedy = False
    for seed in range(3):
        model = tiny_model(seed=seed, attention=attention, input_feeding=input_feeding)
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


def test_min_len_one_finds_the_best_nonempty_translation_fairseqs_convention():
    # Models whose best-scoring output is the empty translation: the paper's search returns it; with
    # min_len 1 a wide beam returns the brute-force best among translations of at least one word.
    max_len, src, checked = 3, [4, 5, 6], 0
    for seed in range(40):
        model = tiny_model(seed=seed, init=1.0)
        ranked = brute_force(model, src, max_len)
        if ranked[0][1]:
            continue
        checked += 1
        assert beam_search(model, [src], beam_size=64, max_len_a=0.0, max_len_b=max_len)[0][0].tokens == []
        nonempty = [(score, seq) for score, seq in ranked if seq]
        hyps = beam_search(model, [src], beam_size=64, nbest=3, max_len_a=0.0, max_len_b=max_len, min_len=1)[0]
        assert [h.tokens for h in hyps] == [seq for _, seq in nonempty[:3]]
        assert hyps[0].score == pytest.approx(nonempty[0][0], abs=1e-4)
        assert greedy_search(model, [src], 0.0, max_len, min_len=1)[0].tokens != []
        if checked == 2:
            break
    assert checked == 2  # the test has teeth only on models that prefer the empty translation


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


@pytest.mark.parametrize("attention,input_feeding", ATTENTION_FORMS[1:])
@pytest.mark.parametrize("beam", [1, 2, 5, 12])
def test_batched_equals_one_at_a_time(beam, attention, input_feeding):
    # Sentences leave the batch at different steps: reorder_state drops their rows, keys and fed vectors too.
    model = tiny_model(seed=4, tgt_vocab=20, attention=attention, init=0.3, input_feeding=input_feeding)
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
    with pytest.raises(ValueError, match="min_len"):
        beam_search(tiny_model(), [[4]], beam_size=2, min_len=-1)
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


@pytest.mark.parametrize("rounding", ["float32", "bfloat16"])
def test_top_candidates_equal_a_stable_full_sort(rounding):
    # _top_candidates pools the best chunks of long rows and resolves ties at the k-th place without
    # sorting a row: it must pick what a stable descending sort picks (ties by the lower index).
    from repro.inference.beam_search import _CHUNK, _top_candidates

    gen = torch.Generator().manual_seed(0)
    chunked = 0
    for trial in range(60):
        rows, n = 3, int(torch.randint(50, 160 * _CHUNK, (), generator=gen))
        k = int(torch.randint(1, 16, (), generator=gen))
        scores = torch.randn(rows, n, generator=gen) * 3
        scores = scores.to(getattr(torch, rounding)).float()  # bf16 rounding: many exact ties
        if trial % 4 == 1:
            scores = scores.clamp(max=1.0)  # a large tie at the top
        if trial % 4 == 2:
            scores[:, : n // 2] = -math.inf
        if trial % 10 == 3:
            scores.fill_(0.0)
        chunked += n // _CHUNK >= 4 * (k + 1)
        top, index = _top_candidates(scores, k)
        expected, expected_index = scores.sort(dim=1, descending=True, stable=True)
        assert torch.equal(top, expected[:, :k])
        finite = torch.isfinite(top)  # which -inf candidates fill the last places does not matter
        assert torch.equal(index[finite], expected_index[:, :k][finite])
    assert chunked >= 20  # the pooled path was exercised


@pytest.mark.parametrize("flat", [False, True])
def test_batched_equals_one_at_a_time_large_vocabulary(flat):
    # A vocabulary large enough for the pooled top-k (beam x vocabulary candidates per sentence); flat:
    # every candidate ties, so the tie resolution runs at every step.
    model = tiny_model(seed=8, tgt_vocab=3000, attention="luong", init=0.3)
    if flat:
        with torch.no_grad():
            model.output.weight.zero_()
            model.output.bias.zero_()
    batched = beam_search(model, SOURCES, beam_size=4, nbest=2, max_len_a=1.0, max_len_b=2)
    for src, hyps in zip(SOURCES, batched):
        single = beam_search(model, [src], beam_size=4, nbest=2, max_len_a=1.0, max_len_b=2)[0]
        assert [h.tokens for h in hyps] == [h.tokens for h in single]
        assert [h.score for h in hyps] == pytest.approx([h.score for h in single], abs=1e-5)
        for h in hyps:
            assert h.score == pytest.approx(sequence_log_prob(model, src, h.tokens), abs=1e-4)
        if flat:  # <eos> first, then the lowest word id (UNK) repeated
            assert [h.tokens for h in hyps] == [[], [UNK]]


@pytest.mark.parametrize("attention", ["luong", "bahdanau"])
def test_reorder_state_keeps_memory_within_sentences(attention):
    # Following parents within each sentence's beam leaves every row on its source: the attention
    # memory (and Bahdanau's keys) is reused, not copied; dropping or mixing sentences selects rows as before.
    model = tiny_model(seed=9, attention=attention)
    src = torch.tensor([[4, 5, 6], [7, 8, 0]])
    state = model.init_decoder_state(model.encode(src, torch.tensor([3, 2])))
    beams = model.reorder_state(state, torch.tensor([0, 0, 0, 1, 1, 1]))
    assert torch.equal(beams.memory[4], state.memory[1]) and torch.equal(beams.mask[2], state.mask[0])
    within = model.reorder_state(beams, torch.tensor([2, 0, 0, 5, 3, 3]))
    assert within.memory is beams.memory and within.mask is beams.mask and within.keys is beams.keys
    torch.testing.assert_close(within.rnn[0][:, 0], beams.rnn[0][:, 2])
    _, stepped = model.decode_step(torch.tensor([4, 5, 6, 4, 5, 6]), within)
    dropped = model.reorder_state(stepped, torch.tensor([4, 3, 3]))  # sentence 0 done
    assert dropped.memory.size(0) == 3
    for row in range(3):
        assert torch.equal(dropped.memory[row], state.memory[1]) and torch.equal(dropped.mask[row], state.mask[1])
        if attention == "bahdanau":
            assert torch.equal(dropped.keys[row], state.keys[1])
    mixed = model.reorder_state(beams, torch.tensor([3, 0, 0, 5, 3, 3]))  # row 0 moves to sentence 1
    assert torch.equal(mixed.memory[0], state.memory[1]) and torch.equal(mixed.memory[1], state.memory[0])
    if attention == "bahdanau":
        assert torch.equal(mixed.keys[0], state.keys[1]) and torch.equal(mixed.keys[1], state.keys[0])
