"""Paired bootstrap: reproduces sacreBLEU's paired test on its statistics; sensible on clear cases."""

from __future__ import annotations

import random

import numpy as np
import pytest

from repro.evaluation.bleu import sentence_stats, subset_bleu
from repro.evaluation.bootstrap import bootstrap_contrast, paired_bootstrap


def corpus(seed, n=80, noise=0.3):
    rng = random.Random(seed)
    words = "le la les chat chien est sur un une , . de petit grand".split()
    refs = [" ".join(rng.choice(words) for _ in range(rng.randint(4, 14))) for _ in range(n)]
    hyps = [" ".join(w if rng.random() > noise else rng.choice(words) for w in r.split()) for r in refs]
    return hyps, refs


def test_matches_sacrebleu_paired_bootstrap(monkeypatch):
    from sacrebleu.metrics import BLEU
    from sacrebleu.significance import PairedTest

    hyps_a, refs = corpus(0, noise=0.35)
    hyps_b, _ = corpus(0, noise=0.3)
    hyps_b = [h if i % 3 else refs[i] for i, h in enumerate(hyps_b)]
    monkeypatch.setenv("SACREBLEU_SEED", "7")
    metric = BLEU(tokenize="none")  # sacreBLEU's default exp smoothing: a different score_fn than ours
    _, results = PairedTest([("a", hyps_a), ("b", hyps_b)], {"BLEU": metric}, [refs], "bs", n_samples=200)()
    base, system = results["BLEU"]

    def sacre_score(s):
        s = [int(round(x)) for x in s]
        return BLEU.compute_bleu(s[2:6], s[6:10], s[0], s[1], smooth_method="exp").score

    ours = paired_bootstrap(sentence_stats(hyps_a, refs), sentence_stats(hyps_b, refs), 200, seed=7,
                            score_fn=sacre_score)
    assert ours["p_value"] == pytest.approx(system.p_value)
    assert ours["score_b"] == pytest.approx(system.score)
    assert ours["mean_b"] == pytest.approx(system.mean, abs=1e-4)
    assert ours["ci_b"] == pytest.approx(system.ci, abs=1e-4)
    assert ours["score_a"] == pytest.approx(base.score)


def test_clear_difference_is_significant_and_ci_excludes_zero():
    hyps_a, refs = corpus(1, n=150, noise=0.5)
    hyps_b, _ = corpus(1, n=150, noise=0.1)
    out = paired_bootstrap(sentence_stats(hyps_a, refs), sentence_stats(hyps_b, refs), 300, seed=1)
    assert out["difference"] > 10
    assert out["p_value"] < 0.01
    low, high = out["difference_ci"]
    assert 0 < low <= out["difference"] <= high


def test_same_system_is_not_significant_and_seeded():
    hyps, refs = corpus(2)
    stats = sentence_stats(hyps, refs)
    out = paired_bootstrap(stats, stats, 100, seed=3)
    assert out["difference"] == 0 and out["difference_ci"] == [0.0, 0.0]
    assert out["p_value"] == 1.0
    other, _ = corpus(5)
    s2 = sentence_stats(other, refs)
    assert paired_bootstrap(stats, s2, 50, seed=4) == paired_bootstrap(stats, s2, 50, seed=4)
    assert paired_bootstrap(stats, s2, 50, seed=4)["difference_ci"] != paired_bootstrap(stats, s2, 50, seed=5)["difference_ci"]


def test_shape_mismatch():
    with pytest.raises(ValueError, match="equal shape"):
        paired_bootstrap(np.zeros((3, 10)), np.zeros((4, 10)))


def _gap_contrast(good: np.ndarray, bad: np.ndarray):
    """BLEU gain of `good` over `bad` on the second group minus its gain on the first group."""
    def contrast(groups: list[np.ndarray]) -> float:
        first, second = groups
        return (subset_bleu(good, second) - subset_bleu(bad, second)) - (
            subset_bleu(good, first) - subset_bleu(bad, first))
    return contrast


def test_contrast_detects_a_gain_confined_to_one_group():
    hyps, refs = corpus(3, n=120, noise=0.4)
    perfect_second_half = [r if i >= 60 else h for i, (h, r) in enumerate(zip(hyps, refs))]
    good, bad = sentence_stats(perfect_second_half, refs), sentence_stats(hyps, refs)
    groups = [np.arange(60), np.arange(60, 120)]
    result = bootstrap_contrast(_gap_contrast(good, bad), groups, n_samples=200, seed=1)
    # The gain is all in the second group: a large positive contrast, significant, inside its own CI.
    assert result["observed"] > 20
    assert result["p_value"] < 0.01
    assert result["ci"][0] <= result["observed"] <= result["ci"][1] and result["ci"][0] > 0
    # Same direction question asked the other way round: the contrast flips sign, p stays small.
    flipped = bootstrap_contrast(_gap_contrast(good, bad), groups[::-1], n_samples=200, seed=1)
    assert flipped["observed"] == pytest.approx(-result["observed"]) and flipped["p_value"] < 0.01


def test_contrast_without_an_effect_is_not_significant_and_is_seeded():
    hyps_a, refs = corpus(4, n=120, noise=0.35)
    # b is a uniform improvement over a (every other sentence perfect) in both groups alike.
    hyps_b = [r if i % 2 else h for i, (h, r) in enumerate(zip(hyps_a, refs))]
    groups = [np.arange(0, 120, 2), np.arange(1, 120, 2)]  # evens untouched, odds perfect: a real contrast
    mixed = [np.arange(0, 60), np.arange(60, 120)]  # halves: the same mix of both, no contrast expected
    stats_a, stats_b = sentence_stats(hyps_a, refs), sentence_stats(hyps_b, refs)
    none = bootstrap_contrast(_gap_contrast(stats_b, stats_a), mixed, n_samples=300, seed=2)
    assert none["p_value"] > 0.05 and none["ci"][0] < 0 < none["ci"][1]
    real = bootstrap_contrast(_gap_contrast(stats_b, stats_a), groups, n_samples=300, seed=2)
    assert real["p_value"] < 0.01
    assert bootstrap_contrast(_gap_contrast(stats_b, stats_a), mixed, n_samples=300, seed=2) == none
    zero = bootstrap_contrast(lambda groups: 0.0, mixed, n_samples=10, seed=0)
    assert zero["p_value"] == 1.0
    with pytest.raises(ValueError, match="non-empty"):
        bootstrap_contrast(lambda groups: 0.0, [np.arange(3), np.arange(0)])
