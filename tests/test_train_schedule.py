"""Learning-rate schedules: the paper's (0.7 for 5 epochs, then halved every half epoch) and the plateau rule."""

from __future__ import annotations

import pytest

from repro.train.schedule import Convergence, crossed, decays_to_floor, halving_lr, learning_rate


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


def test_a_small_gain_is_a_new_best_but_not_progress():
    conv = Convergence()
    assert conv.update(10.0, 1, 0.5, min_improvement=0.01, plateau_patience=1)
    assert conv.update(9.95, 2, 1.0, min_improvement=0.01, plateau_patience=1)  # a new best (checkpointed) ...
    assert conv.evals_since_best == 0 and conv.best_step == 2
    assert conv.plateau_decays == 1  # ... but not progress: the plateau schedule decays the rate
    assert conv.update(9.0, 3, 1.5, min_improvement=0.01, plateau_patience=1) and conv.plateau_decays == 1


def test_progress_is_measured_from_the_last_progress_so_creeping_gains_add_up():
    conv = Convergence()
    counts, bests = [], []
    for step, ppl in enumerate([10.0, 9.96, 9.92, 9.89, 9.88, 9.875], 1):  # 0.4%, 0.4%, 0.3%, 0.1%, 0.05%
        bests.append(conv.update(ppl, step, step / 2, min_improvement=0.01))
        counts.append(conv.evals_without_progress)
    assert all(bests) and conv.best_valid_ppl == 9.875  # every one a new best ...
    assert counts == [0, 1, 2, 0, 1, 2]  # ... progress once they add up to 1% below 10.0 (9.89 < 9.9)
    assert conv.progress_ppl == 9.89


def test_the_stop_count_restarts_at_every_decay_and_runs_at_the_floor():
    conv = Convergence()
    counts, decays = [], []
    for step, ppl in enumerate([10.0, 11.0, 11.0, 11.0, 9.99, 9.0, 9.5, 8.95], 1):
        conv.update(ppl, step, step / 2, min_improvement=0.01, plateau_patience=1, max_decays=2)
        counts.append(conv.evals_without_progress)
        decays.append(conv.plateau_decays)
    # two decays reach the floor; from then on every evaluation without progress counts (9.99 and 8.95 are
    # new bests, but less than 1% below the last progress)
    assert decays == [0, 1, 2, 2, 2, 2, 2, 2]
    assert counts == [0, 0, 0, 1, 2, 0, 1, 2]
    assert conv.evals_since_best == 0 and conv.best_valid_ppl == 8.95 and conv.progress_ppl == 9.0


def test_floor_of_every_schedule():
    assert learning_rate("plateau", 0.0, 0.005, decay_factor=0.5, plateau_decays=5, min_lr=0.0002) == 0.0002
    assert learning_rate("plateau", 0.0, 0.005, decay_factor=0.5, plateau_decays=4, min_lr=0.0002) == 0.0003125
    assert learning_rate("halving", 9.0, 0.7, min_lr=0.01) == 0.01
    assert learning_rate("halving", 9.0, 0.7) == pytest.approx(0.7 / 2**9)


@pytest.mark.parametrize("lr, factor, floor, decays", [(0.005, 0.5, 0.0002, 5), (0.005, 0.5, 0.0003125, 4),
                                                        (0.005, 0.5, 0.01, 0), (0.005, 0.5, 0.0, None)])
def test_decays_to_floor(lr, factor, floor, decays):
    assert decays_to_floor(lr, factor, floor) == decays
    if decays:  # the last decay reaches the floor, the one before does not
        assert learning_rate("plateau", 0, lr, decay_factor=factor, plateau_decays=decays, min_lr=floor) == floor
        assert learning_rate("plateau", 0, lr, decay_factor=factor, plateau_decays=decays - 1, min_lr=floor) > floor
