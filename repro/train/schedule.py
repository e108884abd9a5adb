"""Learning-rate schedules, as functions of the fractional epoch (step / steps per epoch).

Paper §3.4: lr 0.7; "after 5 epochs, we begun halving the learning rate every half epoch"; 7.5 epochs.
So the rate is 0.7 for epochs [0, 5), 0.35 for [5, 5.5), 0.175 for [5.5, 6), ... 0.021875 for [7, 7.5).
The schedule is stateless: resuming at a step recomputes the same rate.
"""

from __future__ import annotations

import math

SCHEDULES = ("halving", "constant")

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
                  decay_every_epochs: float = 0.5, decay_factor: float = 0.5) -> float:
    if kind == "constant":
        return base_lr
    if kind == "halving":
        return halving_lr(epoch, base_lr, decay_start_epoch, decay_every_epochs, decay_factor)
    raise ValueError(f"unknown lr schedule {kind!r}; choose one of {', '.join(SCHEDULES)}")


def crossed(before: float, after: float, every: float) -> bool:
    """Whether the fractional epoch passed a multiple of ``every`` in (before, after]."""
    if every <= 0:
        return False
    return math.floor(after / every + _EPS) > math.floor(before / every + _EPS)
