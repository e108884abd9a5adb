"""Paired bootstrap resampling (Koehn 2004) between two systems on the same test set.

This is sacreBLEU's paired bootstrap test (``sacrebleu.significance._paired_bs_test``, which
replicates Moses' ``bootstrap-hypothesis-difference-significance.pl``) re-implemented on per-sentence
sufficient statistics, so that it runs for any corpus metric computed from summed statistics — in
particular the paper's multi-bleu BLEU, which sacreBLEU's API cannot score. It draws the same
resamples as sacreBLEU for the same seed (``numpy.random.default_rng(seed).choice``), computes the same
p-value and per-system 95% intervals, and on sacreBLEU's own statistics gives sacreBLEU's numbers
(tested); the one deviation: identical systems get p = 1 (sacreBLEU's strict ``>`` gives
1/(n+1)). It adds what sacreBLEU does not report: the 95% interval of the *difference* B - A.

The p-value (sacreBLEU's definition): the resampled absolute differences are centred on their mean
(the null hypothesis of no difference) and ``p = (#{centred > |observed difference|} + 1) / (n + 1)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from repro.evaluation.bleu import bleu_from_stats


def _interval(scores: np.ndarray) -> tuple[float, float]:
    """sacreBLEU's 95% interval: the order statistics n//40 and n - n//40 - 1 of the sorted scores."""
    ordered = np.sort(scores)
    low = len(ordered) // 40
    return float(ordered[low]), float(ordered[len(ordered) - low - 1])


def resample_indices(n_sentences: int, n_samples: int, seed: int | None) -> np.ndarray:
    """``[n_samples, n_sentences]`` sentence indices drawn with replacement (sacreBLEU's draw)."""
    return np.random.default_rng(seed).choice(n_sentences, size=(n_samples, n_sentences), replace=True)


def paired_bootstrap(
    stats_a: np.ndarray,
    stats_b: np.ndarray,
    n_samples: int = 1000,
    seed: int | None = 12345,
    score_fn: Callable[[np.ndarray], float] = bleu_from_stats,
) -> dict:
    """Paired bootstrap of system B against baseline A from per-sentence statistics ``[N, k]``.

    ``score_fn`` maps summed statistics ``[k]`` to a corpus score (default: the paper's BLEU).
    Returns ``{"score_a", "score_b", "difference" (B - A), "p_value", "difference_ci" (2.5%, 97.5%),
    "mean_a", "ci_a", "mean_b", "ci_b" (sacreBLEU's mean and half-width of the 95% interval),
    "n_samples", "seed"}``.
    """
    stats_a, stats_b = np.asarray(stats_a), np.asarray(stats_b)
    if stats_a.shape != stats_b.shape or stats_a.ndim != 2:
        raise ValueError(f"statistics of both systems must be [N, k] of equal shape, got {stats_a.shape} and {stats_b.shape}")
    if n_samples < 1:
        raise ValueError(f"n_samples must be positive, got {n_samples}")
    n = len(stats_a)
    idx = resample_indices(n, n_samples, seed)
    # Resample sums as (sample x sentence) counts times statistics: memory O(samples x sentences).
    counts = np.zeros((n_samples, n), dtype=np.float64)
    np.add.at(counts, (np.repeat(np.arange(n_samples), n), idx.ravel()), 1.0)
    sums_a = counts @ stats_a.astype(np.float64)
    sums_b = counts @ stats_b.astype(np.float64)
    scores_a = np.array([score_fn(s) for s in sums_a])
    scores_b = np.array([score_fn(s) for s in sums_b])
    score_a, score_b = score_fn(stats_a.sum(axis=0)), score_fn(stats_b.sum(axis=0))
    observed = abs(score_b - score_a)
    sample_diffs = np.abs(scores_b - scores_a)
    centred = sample_diffs - sample_diffs.mean()
    # Identical systems: sacreBLEU would report 1/(n+1), an artefact of the strict ">"; no evidence is p = 1.
    p_value = 1.0 if observed == 0 else (int(np.sum(centred > observed)) + 1) / (n_samples + 1)
    low_a, high_a = _interval(scores_a)
    low_b, high_b = _interval(scores_b)
    return {
        "score_a": score_a,
        "score_b": score_b,
        "difference": score_b - score_a,
        "p_value": p_value,
        "difference_ci": list(_interval(scores_b - scores_a)),
        "mean_a": float(scores_a.mean()),
        "ci_a": 0.5 * (high_a - low_a),
        "mean_b": float(scores_b.mean()),
        "ci_b": 0.5 * (high_b - low_b),
        "n_samples": n_samples,
        "seed": seed,
    }


def bootstrap_contrast(
    contrast: Callable[[list[np.ndarray]], float],
    groups: list[np.ndarray],
    n_samples: int = 1000,
    seed: int | None = 12345,
) -> dict:
    """Percentile bootstrap of a contrast between sentence subsets, e.g. a difference of differences.

    ``groups`` are arrays of sentence indices (say, the shortest and the longest quarter of the test
    set); each is resampled with replacement on its own, and ``contrast`` maps the list of (resampled)
    index arrays to a number, computing every system's score on the same indices so that the systems
    stay paired. Returns ``{"observed", "ci" (2.5%, 97.5%), "p_value", "n_samples", "seed"}``, where
    ``p_value`` is one-sided in the observed direction: ``(#{resampled contrast on the other side of
    0, or at 0} + 1) / (n + 1)``; p = 1 when the observed contrast is 0.
    """
    if n_samples < 1:
        raise ValueError(f"n_samples must be positive, got {n_samples}")
    groups = [np.asarray(g) for g in groups]
    if any(len(g) == 0 for g in groups):
        raise ValueError("every group of sentences must be non-empty")
    rng = np.random.default_rng(seed)
    observed = float(contrast(groups))
    samples = np.array([contrast([rng.choice(g, size=len(g)) for g in groups]) for _ in range(n_samples)])
    if observed == 0:
        p_value = 1.0
    else:
        against = samples <= 0 if observed > 0 else samples >= 0
        p_value = (int(np.sum(against)) + 1) / (n_samples + 1)
    return {"observed": observed, "ci": list(_interval(samples)), "p_value": p_value,
            "n_samples": n_samples, "seed": seed}
