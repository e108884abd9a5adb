"""Learning-rate schedules: the paper's (0.7 for 5 epochs, then halved every half epoch) and the plateau rule."""

from __future__ import annotations

import pytest

from repro.train.schedule import Convergence, crossed, halving_lr, learning_rate


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


def test_plateau_decays_after_patience_evaluations_without_improvement():
    conv = Convergence()
    rates = []
    for step, ppl in enumerate([10.0, 8.0, 8.5, 8.1, 7.9, 8.0, 8.0, 8.0, 8.0], 1):
        conv.update(ppl, step, step / 2, plateau_patience=2)
        rates.append(learning_rate("plateau", step / 2, 1.0, decay_factor=0.5, plateau_decays=conv.plateau_decays))
    # two evaluations without a new best (8.5, 8.1) decay once; 7.9 resets; then every second bad one
    assert rates == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.125]
    assert (conv.best_valid_ppl, conv.best_step, conv.best_epoch) == (7.9, 5, 2.5)
    assert conv.evals_since_best == 4


def test_min_improvement_counts_small_gains_as_no_improvement():
    conv = Convergence()
    assert conv.update(10.0, 1, 0.5, min_improvement=0.01)
    assert conv.update(9.95, 2, 1.0, min_improvement=0.01)  # a new best (checkpointed) ...
    assert conv.evals_since_best == 1  # ... but not an improvement for the stop rule
    assert conv.update(9.0, 3, 1.5, min_improvement=0.01) and conv.evals_since_best == 0
    assert conv.plateau_decays == 0  # no plateau_patience: the rate is not the plateau schedule's
