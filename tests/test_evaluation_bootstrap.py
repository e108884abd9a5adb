"""Paired bootstrap: reproduces sacreBLEU's paired test on its statistics; sensible on clear cases."""

from __future__ import annotations

import random

import numpy as np
import pytest

from repro.evaluation.bleu import sentence_stats
from repro.evaluation.bootstrap import paired_bootstrap


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
