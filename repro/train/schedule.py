"""Learning-rate schedules, as functions of the fractional epoch (step / steps per epoch).

Paper §3.4: lr 0.7; "after 5 epochs, we begun halving the learning rate every half epoch"; 7.5 epochs.
So the rate is 0.7 for epochs [0, 5), 0.35 for [5, 5.5), 0.175 for [5.5, 6), ... 0.021875 for [7, 7.5).
The schedule is stateless: resuming at a step recomputes the same rate. ``plateau`` is the rate
decayed by validation (Joey NMT's and OpenNMT's recipe for small data): its only state is how many
times it has been decayed, which the trainer keeps in its checkpoint (``Convergence``). Every schedule
stops at a floor, ``min_lr`` (torch's ``ReduceLROnPlateau(min_lr=...)``): the rate a run ends at.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SCHEDULES = ("halving", "constant", "plateau")

# Fractional epochs are ratios of integers; a tiny slack puts e.g. 5.5 - 1e-16 on the right side.
_EPS = 1e-9


def halving_lr(epoch: float, base_lr: float, decay_start_epoch: float = 5.0, decay_every_epochs: float = 0.5,
               decay_factor: float = 0.5) -> float:
    """The paper's rate at fractional ``epoch``: constant until ``decay_start_epoch``, then multiplied
    by ``decay_factor`` at the start of every ``decay_every_epochs``."""
    if epoch + _EPS < decay_start_epoch:
        return base_lr
    halvings = math.floor((epoch - decay_start_epoch) / decay_every_epochs + _EPS) + 1
    return base_lr * decay_factor**halvings


def learning_rate(kind: str, epoch: float, base_lr: float, decay_start_epoch: float = 5.0,
                  decay_every_epochs: float = 0.5, decay_factor: float = 0.5, plateau_decays: int = 0,
                  min_lr: float = 0.0) -> float:
    """The rate of schedule ``kind`` at fractional ``epoch``, never below the floor ``min_lr``."""
    if kind == "constant":
        rate = base_lr
    elif kind == "plateau":
        rate = base_lr * decay_factor**plateau_decays
    elif kind == "halving":
        rate = halving_lr(epoch, base_lr, decay_start_epoch, decay_every_epochs, decay_factor)
    else:
        raise ValueError(f"unknown lr schedule {kind!r}; choose one of {', '.join(SCHEDULES)}")
    return max(rate, min_lr)


def decays_to_floor(base_lr: float, decay_factor: float, min_lr: float) -> int | None:
    """How many plateau decays take ``base_lr`` to the floor ``min_lr`` (None: no floor); a decay after
    those would leave the rate where it is."""
    if min_lr <= 0:
        return None
    decays = 0
    while base_lr * decay_factor**decays > min_lr * (1 + _EPS):
        decays += 1
    return decays


def crossed(before: float, after: float, every: float) -> bool:
    """Whether the fractional epoch passed a multiple of ``every`` in (before, after]."""
    if every <= 0:
        return False
    return math.floor(after / every + _EPS) > math.floor(before / every + _EPS)


@dataclass
class Convergence:
    """What validation has said so far: the best perplexity and when it was reached (the checkpoint every
    table decodes), the last *progress* (a drop of more than ``min_improvement``, relative, below the
    perplexity of the previous progress: ``progress_ppl``), how many evaluations have passed without a new
    best and without progress, and how often the plateau schedule has decayed the rate. Saved and
    restored by name in checkpoints.

    Progress is measured against the last progress, not against the best, as Keras' ``min_delta`` and
    torch's ``ReduceLROnPlateau(threshold=...)`` do: a run that creeps down by less than the threshold per
    evaluation still makes progress once its gains add up to it, and noise-sized new bests never do.
    Both rules read it. The plateau schedule decays the rate after ``plateau_patience`` evaluations without
    progress; the stop rule (``repro.train.trainer``) counts ``evals_without_progress``, which a decay
    restarts, so that a run stops only once the rate it ends with has brought no progress for the
    patience."""

    best_valid_ppl: float = math.inf
    best_step: int = 0
    best_epoch: float = 0.0
    progress_ppl: float = math.inf
    evals_since_best: int = 0
    evals_without_progress: int = 0  # at the current rate: the stop rule's count
    evals_since_decay: int = 0  # without progress since the last progress or decay (plateau)
    plateau_decays: int = 0

    def update(self, ppl: float, step: int, epoch: float, *, min_improvement: float = 0.0,
               plateau_patience: int | None = None, max_decays: int | None = None) -> bool:
        """Record one evaluation; returns whether it is a new best. With ``plateau_patience``, that many
        evaluations without progress decay the rate once, unless it has decayed ``max_decays`` times
        already (it is at its floor)."""
        best = ppl < self.best_valid_ppl
        if best:
            self.best_valid_ppl, self.best_step, self.best_epoch = ppl, step, epoch
            self.evals_since_best = 0
        else:
            self.evals_since_best += 1
        if ppl < self.progress_ppl * (1.0 - min_improvement):
            self.progress_ppl = ppl
            self.evals_since_decay = self.evals_without_progress = 0
            return best
        self.evals_since_decay += 1
        self.evals_without_progress += 1
        at_floor = max_decays is not None and self.plateau_decays >= max_decays
        if plateau_patience is not None and self.evals_since_decay >= plateau_patience and not at_floor:
            self.plateau_decays += 1
            self.evals_since_decay = self.evals_without_progress = 0
        return best
