"""TrainConfig: the paper's recipe as defaults, unknown or bad keys rejected clearly."""

from __future__ import annotations

import pytest

from repro.errors import ReproError
from repro.train.config import TrainConfig


def test_defaults_are_the_paper_recipe():
    c = TrainConfig()
    assert (c.optimizer, c.lr, c.epochs, c.decay_start_epoch, c.decay_every_epochs, c.decay_factor) == (
        "sgd", 0.7, 7.5, 5.0, 0.5, 0.5)
    assert (c.batch_size, c.batch_by, c.bucketing, c.clip_norm, c.teacher_forcing_ratio) == (
        128, "sentences", True, 5.0, 1.0)


def test_from_dict_rejects_unknown_keys():
    with pytest.raises(ReproError, match="section 'train': unknown key.*learning_rate"):
        TrainConfig.from_dict({"learning_rate": 0.1})


@pytest.mark.parametrize("values, problem", [({"optimizer": "rmsprop"}, "optimizer"), ({"batch_size": 0}, "batch_size"),
                                             ({"teacher_forcing_ratio": 1.5}, "teacher_forcing_ratio"),
                                             ({"device": "tpu"}, "device"), ({"batch_by": "words"}, "batch_by")])
def test_bad_values_are_named(values, problem):
    with pytest.raises(ReproError, match=problem):
        TrainConfig.from_dict(values)


def test_round_trip():
    c = TrainConfig.from_dict({"optimizer": "adam", "lr": 1e-3, "max_steps": 10})
    assert TrainConfig.from_dict(c.to_dict()) == c
