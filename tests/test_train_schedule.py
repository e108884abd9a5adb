"""The paper's learning-rate schedule: 0.7 for 5 epochs, then halved every half epoch."""

from __future__ import annotations

import pytest

from repro.train.schedule import crossed, halving_lr, learning_rate


@pytest.mark.parametrize("epoch, lr", [(0.0, 0.7), (2.5, 0.7), (4.999, 0.7), (5.0, 0.35), (5.49, 0.35),
                                       (5.5, 0.175), (6.0, 0.0875), (6.5, 0.04375), (7.0, 0.021875),
                                       (7.49, 0.021875)])
def test_paper_schedule(epoch, lr):
    assert halving_lr(epoch, 0.7) == pytest.approx(lr, rel=1e-12)


def test_boundaries_in_steps_are_exact():
    steps_per_epoch = 7  # epoch 5.5 = step 38.5: the rate changes at step 39, not 38
    rates = [halving_lr(step / steps_per_epoch, 0.7) for step in range(34, 40)]
    assert rates == [0.7, 0.35, 0.35, 0.35, 0.35, 0.175]


def test_constant_schedule_and_unknown():
    assert learning_rate("constant", 7.0, 1e-3) == 1e-3
    with pytest.raises(ValueError, match="unknown lr schedule"):
        learning_rate("cosine", 1.0, 1.0)


def test_crossed_half_epochs():
    assert crossed(0.4, 0.5, 0.5) and crossed(0.9, 1.1, 0.5)
    assert not crossed(0.5, 0.6, 0.5) and not crossed(0.1, 0.2, 0)
