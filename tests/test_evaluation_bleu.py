"""The paper's BLEU = multi-bleu.pl: hand-computed values, a published example, sacreBLEU agreement."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from repro.evaluation.bleu import (
    bleu_details,
    bleu_from_stats,
    corpus_bleu_paper,
    moses_tokenize_lines,
    multibleu_string,
    sacrebleu_scores,
    sentence_stats,
    subset_bleu,
)


def multibleu_formula(correct, total, hyp_len, ref_len):
    """multi-bleu.pl, transcribed: BP on corpus lengths, geometric mean of p1..p4, 0 if any p_n is 0."""
    if any(c == 0 for c in correct):
        return 0.0
    bp = math.exp(1 - ref_len / hyp_len) if hyp_len < ref_len else 1.0
    return 100 * bp * math.exp(sum(math.log(c / t) for c, t in zip(correct, total)) / 4)


def test_identical_is_100():
    assert corpus_bleu_paper(["the cat sat on the mat ."], ["the cat sat on the mat ."]) == pytest.approx(100.0)


def test_hand_computed_short_hypothesis():
    # hyp a b c d e vs ref a b c d f g: p = 4/5, 3/4, 2/3, 1/2; c=5 < r=6.
    expected = 100 * math.exp(1 - 6 / 5) * (4 / 5 * 3 / 4 * 2 / 3 * 1 / 2) ** 0.25
    assert corpus_bleu_paper(["a b c d e"], ["a b c d f g"]) == pytest.approx(expected, rel=1e-12)
    d = bleu_details(sentence_stats(["a b c d e"], ["a b c d f g"]))
    assert d["precisions"] == pytest.approx([80.0, 75.0, 200 / 3, 50.0])
    assert d["bp"] == pytest.approx(math.exp(-0.2)) and d["hyp_len"] == 5 and d["ref_len"] == 6
    assert multibleu_string(d).startswith("BLEU = 54.75, 80.0/75.0/66.7/50.0 (BP=0.819, ratio=0.833, hyp_len=5, ref_len=6)")


def test_clipping_and_zero_precision_gives_zero():
    # "the" x4 against one "the": p1 = 1/4 (clipped), no bigram matches -> 0 (no smoothing).
    stats = sentence_stats(["the the the the"], ["the cat"])
    assert stats[0].tolist() == [4, 2, 1, 0, 0, 0, 4, 3, 2, 1]
    assert bleu_from_stats(stats) == 0.0


def test_corpus_level_aggregation_and_case():
    hyps = ["Le chat est assis sur le tapis .", "il pleut"]
    refs = ["Le chat est assis sur le tapis rouge .", "Il pleut"]
    # Sentence 2 alone has no 2-gram match (case kept: "il" != "Il"), but the corpus does.
    # sent 1: 8 words, ref 9; 1-grams 8/8, 2-grams 6/7 ("tapis ." missing), 3-grams 5/6, 4-grams 4/5.
    # sent 2: 2 words, ref 2; 1-grams 1/2, 2-grams 0/1.
    expected = multibleu_formula([9, 6, 5, 4], [10, 8, 6, 5], 10, 11)
    assert corpus_bleu_paper(hyps, refs) == pytest.approx(expected, rel=1e-12)
    assert corpus_bleu_paper([hyps[1]], [refs[1]]) == 0.0


def test_longer_hypothesis_has_no_brevity_penalty():
    hyp, ref = "a b c x d e", "a b c d e"
    # 1-grams: a b c d e match (5/6); 2-grams ab bc (2/5); 3-grams abc (1/4); 4-grams 0/3 -> 0
    assert corpus_bleu_paper([hyp], [ref]) == 0.0
    hyp, ref = "a b c d e x", "a b c d e"
    # 1: 5/6, 2: 4/5, 3: 3/4, 4: 2/3, c=6 > r=5
    expected = multibleu_formula([5, 4, 3, 2], [6, 5, 4, 3], 6, 5)
    assert corpus_bleu_paper([hyp], [ref]) == pytest.approx(expected, rel=1e-12)


def test_published_nltk_example_multi_reference():
    """NLTK's corpus_bleu doctest (same formula: closest reference length, no smoothing): 0.5920778868801042."""
    hyp1 = "It is a guide to action which ensures that the military always obeys the commands of the party"
    ref1a = "It is a guide to action that ensures that the military will forever heed Party commands"
    ref1b = "It is the guiding principle which guarantees the military forces always being under the command of the Party"
    ref1c = "It is the practical guide for the army always to heed the directions of the party"
    hyp2 = "he read the book because he was interested in world history"
    ref2a = "he was interested in world history because he read the book"
    stats = sentence_stats([hyp1, hyp2], [[ref1a, ref1b, ref1c], [ref2a]])
    assert bleu_from_stats(stats) == pytest.approx(59.20778868801042, abs=1e-9)


def test_whitespace_is_perls():
    # Extra ASCII spaces and tabs do not matter; a no-break space is part of a token, as in multi-bleu.pl.
    assert corpus_bleu_paper(["  a b\tc  d "], ["a b c d"]) == pytest.approx(100.0)
    assert sentence_stats(["a\u00a0b c d"], ["a b c d"])[0, 0] == 3


def random_corpus(seed, n=60):
    rng = random.Random(seed)
    words = "le la les chat chien est sur un une , . de".split()
    refs = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 15))) for _ in range(n)]
    hyps = []
    for ref in refs:
        toks = ref.split()
        toks = [w if rng.random() < 0.7 else rng.choice(words) for w in toks][: rng.randint(1, len(toks) + 2)]
        hyps.append(" ".join(toks + ([rng.choice(words)] if rng.random() < 0.3 else [])))
    return hyps, refs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_sacrebleu_without_tokenization_or_smoothing(seed):
    from sacrebleu.metrics import BLEU

    hyps, refs = random_corpus(seed)
    ours = sentence_stats(hyps, refs)
    sb = BLEU(tokenize="none", smooth_method="none")
    assert ours.tolist() == np.asarray(sb._extract_corpus_statistics(hyps, [refs]), dtype=np.int64).tolist()
    assert bleu_from_stats(ours) == pytest.approx(sb.corpus_score(hyps, [refs]).score, abs=1e-9)


def test_subset_bleu_is_bleu_of_the_subset():
    hyps, refs = random_corpus(3)
    stats = sentence_stats(hyps, refs)
    subset = [1, 5, 7, 20, 33]
    expected = corpus_bleu_paper([hyps[i] for i in subset], [refs[i] for i in subset])
    assert subset_bleu(stats, subset) == pytest.approx(expected)
    mask = np.zeros(len(hyps), dtype=bool)
    mask[subset] = True
    assert subset_bleu(stats, mask) == pytest.approx(expected)
    assert bleu_from_stats(stats.sum(axis=0)) == pytest.approx(corpus_bleu_paper(hyps, refs))


def test_sacrebleu_scores_have_signatures():
    out = sacrebleu_scores(["The cat sat on the mat."], ["The cat sat on the mat."])
    assert out["sacrebleu"] == pytest.approx(100.0)
    assert out["sacrebleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:")
    assert out["chrf_signature"].startswith("nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:")
    assert out["chrf"] == pytest.approx(100.0)
    worse = sacrebleu_scores(["A dog stood."], ["The cat sat on the mat."])
    assert worse["sacrebleu"] < 20 and worse["chrf"] < 30


def test_moses_tokenization_for_raw_text():
    # repro's preparation settings: punctuation normalised (« » -> "), French elision split, no escaping.
    assert moses_tokenize_lines(["Le chat, c'est « ça » & co."], "fr") == ['Le chat , c\' est " ça " & co .']


def test_mismatched_lengths():
    with pytest.raises(ValueError, match="2 hypotheses but 1 references"):
        sentence_stats(["a", "b"], ["a"])


def test_sacrebleu_scores_of_nothing_is_an_error_not_an_index_error():
    # sacreBLEU itself fails with IndexError on empty input; `repro score` relies on this clear message
    with pytest.raises(ValueError, match="no sentences to score"):
        sacrebleu_scores([], [])
    with pytest.raises(ValueError, match="0 hypotheses but 1 references"):
        sacrebleu_scores([], ["Le chat."])
