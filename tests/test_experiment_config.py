"""One validation of a whole experiment config: every section, as written and per planned run."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from repro.errors import ConfigError
from repro.experiment_config import validate_experiment_config

DEMO = yaml.safe_load((Path(__file__).resolve().parents[1] / "workflows/config/demo.yaml").read_text())


def with_value(section: str, key: str, value: object) -> dict:
    config = copy.deepcopy(DEMO)
    config.setdefault(section, {})[key] = value
    return config


def test_the_demo_is_valid_and_its_plan_is_returned():
    plan = validate_experiment_config(copy.deepcopy(DEMO))
    assert len(plan.runs) == 24 and {"reversed-s3", "forward-s3", "attention-s3", "layers1-s3"} <= set(plan.runs)


@pytest.mark.parametrize(("section", "key", "value", "message"), [
    ("train", "lrr", 0.1, "config section 'train': unknown key(s) lrr (did you mean 'lr'?)"),
    ("train", "max_steps", 2.5, "train.max_steps: expected an integer or null, got 2.5"),
    ("train", "lr", "abc", "train.lr: expected a number, got 'abc'"),
    ("model", "hidden_size", "abc", "model.hidden_size: expected an integer, got 'abc'"),
    ("model", "src_vocab_size", 10, "src_vocab_size come(s) from the prepared data directory"),
    ("decode", "beam_sise", 3, "config section 'decode': unknown key(s) beam_sise"),
    ("decode", "device", "gpu", "decode.device must be one of auto, cpu, cuda, got 'gpu'"),
    ("data", "src_vocab_sise", 10, "config section 'data': unknown key(s) src_vocab_sise"),
])
def test_a_typo_in_any_section_is_an_error_naming_the_key(section, key, value, message):
    with pytest.raises(ConfigError) as info:
        validate_experiment_config(with_value(section, key, value))
    assert message in str(info.value)


def test_a_typo_in_a_source_section_is_an_error():
    config = with_value("data", "synthetic", {**DEMO["data"]["synthetic"], "n_nouns_": 3})
    with pytest.raises(ConfigError, match=r"data.synthetic': unknown key\(s\) n_nouns_"):
        validate_experiment_config(config)


def test_an_unknown_section_is_an_error():
    config = copy.deepcopy(DEMO)
    config["trian"] = {"lr": 0.1}
    with pytest.raises(ConfigError, match="unknown config section"):
        validate_experiment_config(config)


def test_each_planned_run_is_checked_with_its_overrides():
    config = with_value("ablations", "num_layers", [0])  # a variant whose model cannot exist
    with pytest.raises(ConfigError, match=r"run layers0-s1 \(overrides .*model.num_layers=0.*\): .*num_layers must be positive"):
        validate_experiment_config(config)
