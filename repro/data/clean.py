"""Corpus cleaning: which pairs to drop and why (Moses clean-corpus-n style, counted per reason).

Only the training split is length-filtered; valid and test keep every non-empty pair so that test sets
stay comparable with published numbers.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

EMPTY, TOO_LONG, RATIO = "empty", "too_long", "ratio"
REASONS = (EMPTY, TOO_LONG, RATIO)


@dataclass
class Cleaner:
    """Decide whether a tokenized pair is kept. ``max_len``/``max_len_ratio`` of None disable a filter."""

    max_len: int | None = 100
    max_len_ratio: float | None = 3.0
    filter_length: bool = True
    dropped: Counter = field(default_factory=Counter)

    def reason(self, n_src: int, n_tgt: int) -> str | None:
        """Why a pair with ``n_src``/``n_tgt`` tokens is dropped, or None to keep it."""
        if n_src == 0 or n_tgt == 0:
            return EMPTY
        if not self.filter_length:
            return None
        if self.max_len is not None and (n_src > self.max_len or n_tgt > self.max_len):
            return TOO_LONG
        if self.max_len_ratio is not None and max(n_src, n_tgt) > self.max_len_ratio * min(n_src, n_tgt):
            return RATIO
        return None

    def keep(self, n_src: int, n_tgt: int) -> bool:
        """``reason`` plus counting: returns True if kept, else counts the reason."""
        why = self.reason(n_src, n_tgt)
        if why is None:
            return True
        self.dropped[why] += 1
        return False

    def dropped_dict(self) -> dict[str, int]:
        return {reason: int(self.dropped.get(reason, 0)) for reason in REASONS}


def n_tokens(tokenized: str) -> int:
    """Token count of a single-space-joined tokenized string."""
    return tokenized.count(" ") + 1 if tokenized else 0
