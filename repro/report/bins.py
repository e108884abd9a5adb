"""Group test sentences into bins (by length, by word rarity) that each hold enough sentences."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Bin:
    low: float  # inclusive
    high: float  # inclusive
    indices: np.ndarray

    @property
    def count(self) -> int:
        return len(self.indices)

    def label(self, integer: bool = True) -> str:
        if integer:
            lo, hi = int(round(self.low)), int(round(self.high))
            return str(lo) if lo == hi else f"{lo}–{hi}"
        return f"{self.low:.0f}–{self.high:.0f}"


def quantile_bins(values: np.ndarray | list[float], max_bins: int = 8, min_count: int = 30) -> list[Bin]:
    """Split ``values`` into at most ``max_bins`` contiguous ranges with about equal counts.

    Equal-count bins keep every BLEU estimate on a meaningful number of sentences (the paper's
    Figure 3 marks its x axis by the actual lengths for the same reason). Equal values never straddle
    two bins, and a bin smaller than ``min_count`` is merged into its neighbour.
    """
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return []
    n_bins = int(max(1, min(max_bins, values.size // max(min_count, 1))))
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    cuts = [int(round(i * values.size / n_bins)) for i in range(1, n_bins)]
    boundaries: list[int] = []
    for cut in cuts:
        # move the cut to the end of a run of equal values
        while 0 < cut < values.size and sorted_values[cut] == sorted_values[cut - 1]:
            cut += 1
        if 0 < cut < values.size and (not boundaries or cut > boundaries[-1]):
            boundaries.append(cut)
    groups = np.split(order, boundaries)
    merged: list[np.ndarray] = []
    for group in groups:
        if merged and (len(group) < min_count or len(merged[-1]) < min_count):
            merged[-1] = np.concatenate([merged[-1], group])
        else:
            merged.append(group)
    if len(merged) > 1 and len(merged[-1]) < min_count:
        last = merged.pop()
        merged[-1] = np.concatenate([merged[-1], last])
    return [Bin(float(values[g].min()), float(values[g].max()), np.sort(g)) for g in merged if len(g)]
