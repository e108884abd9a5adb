"""Equal-count bins: every sentence in exactly one bin, ties kept together, small bins merged."""

from __future__ import annotations

import numpy as np

from repro.report.bins import quantile_bins


def test_bins_partition_the_sentences_with_ordered_ranges():
    values = np.random.default_rng(1).integers(1, 80, size=997)
    bins = quantile_bins(values, max_bins=8, min_count=40)
    indices = np.concatenate([b.indices for b in bins])
    assert sorted(indices.tolist()) == list(range(997))
    assert all(b.count >= 40 for b in bins)
    assert all(a.high < b.low for a, b in zip(bins, bins[1:]))
    for b in bins:
        assert values[b.indices].min() == b.low and values[b.indices].max() == b.high


def test_equal_values_never_straddle_bins_and_small_tails_merge():
    values = [3] * 50 + [4] * 50 + [90] * 5
    bins = quantile_bins(values, max_bins=4, min_count=20)
    assert [(b.low, b.high, b.count) for b in bins] == [(3, 3, 50), (4, 90, 55)]
    assert quantile_bins([], 4, 10) == []
    assert len(quantile_bins(list(range(10)), 8, 30)) == 1  # too few sentences for two bins
