"""Learning-rate schedules, as functions of the fractional epoch (step / steps per epoch).

Paper §3.4: lr 0.7; "after 5 epochs, we begun halving the learning rate every half epoch"; 7.5 epochs.
So the rate is 0.7 for epochs [0, 5), 0.35 for [5, 5.5), 0.175 for [5.5, 6), ... 0.021875 for [7, 7.5).
The schedule is stateless: resuming at a step recomputes the same rate. ``plateau`` is the rate
decayed by validation (Joey NMT's and OpenNMT's recipe for small data): its only state is how many
times it has been decayed, which the trainer keeps in its checkpoint (``Convergence``).
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
                  decay_every_epochs: float = 0.5, decay_factor: float = 0.5, plateau_decays: int = 0) -> float:
    if kind == "constant":
        return base_lr
    if kind == "plateau":
        return base_lr * decay_factor**plateau_decays
    if kind == "halving":
        return halving_lr(epoch, base_lr, decay_start_epoch, decay_every_epochs, decay_factor)
    raise ValueError(f"unknown lr schedule {kind!r}; choose one of {', '.join(SCHEDULES)}")


def crossed(before: float, after: float, every: float) -> bool:
    """Whether the fractional epoch passed a multiple of ``every`` in (before, after]."""
    if every <= 0:
        return False
    return math.floor(after / every + _EPS) > math.floor(before / every + _EPS)


@dataclass
class Convergence:
    """What validation has said so far: the best perplexity, when it was reached, how many evaluations
    have passed without an improvement, and how often the plateau schedule has decayed the rate.
    Saved and restored by name in checkpoints."""

    best_valid_ppl: float = math.inf
    best_step: int = 0
    best_epoch: float = 0.0
    evals_since_best: int = 0  # for early stopping
    evals_since_decay: int = 0  # without improvement since the best or the last decay (plateau)
    plateau_decays: int = 0

    def update(self, ppl: float, step: int, epoch: float, *, min_improvement: float = 0.0,
               plateau_patience: int | None = None) -> bool:
        """Record one evaluation; returns whether it is a new best. An evaluation counts as an
        improvement when it lowers the best by more than ``min_improvement`` (relative); with
        ``plateau_patience``, that many evaluations without one decay the rate once."""
        improved = ppl < self.best_valid_ppl * (1.0 - min_improvement)
        best = ppl < self.best_valid_ppl
        if best:
            self.best_valid_ppl, self.best_step, self.best_epoch = ppl, step, epoch
        if improved:
            self.evals_since_best = self.evals_since_decay = 0
        else:
            self.evals_since_best += 1
            self.evals_since_decay += 1
            if plateau_patience is not None and self.evals_since_decay >= plateau_patience:
                self.plateau_decays += 1
                self.evals_since_decay = 0
        return best
