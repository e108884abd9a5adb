"""The experiment config parsed once (ExperimentConfig): every section typed and checked, as written and per
planned run, whose settings are typed replacements of the config's."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from repro.config import apply_override
from repro.errors import ConfigError
from repro.experiment_config import ExperimentConfig
from repro.experiments import plan
from repro.train.config import TrainConfig

DEMO = yaml.safe_load((Path(__file__).resolve().parents[1] / "workflows/config/demo.yaml").read_text())


def with_value(section: str, key: str, value: object) -> dict:
    config = copy.deepcopy(DEMO)
    config.setdefault(section, {})[key] = value
    return config


def validate_experiment_config(config: dict):
    return plan(ExperimentConfig.from_dict(config))


def test_the_demo_parses_into_typed_sections_and_plans_its_runs():
    config = ExperimentConfig.from_dict(copy.deepcopy(DEMO))
    assert config.experiment == "demo" and config.train.lr == DEMO["train"]["lr"]
    assert config.model.hidden_size == DEMO["model"]["hidden_size"] and config.paper.ensembles == [2, 3]
    runs = plan(config).runs
    assert len(runs) == 21 and {"reversed-s3", "forward-s3", "attention-s3", "layers1-s3"} <= set(runs)


def test_values_as_snakemake_config_passes_them_are_typed_once():
    config = ExperimentConfig.from_dict({**DEMO, "train": {**DEMO["train"], "lr": "0.5", "bf16": "false"},
                                         "records_from": "sitting1"})
    assert config.train.lr == 0.5 and config.train.bf16 is False and config.records_from == ("sitting1",)


def test_a_run_s_settings_are_the_config_with_its_values_replaced_typed():
    experiment = plan(copy.deepcopy(DEMO))
    run = experiment.runs["layers1-s2"]
    config = experiment.config_of(run)
    assert (config.model.num_layers, config.train.seed) == (1, 2)
    assert config.model.hidden_size == experiment.config.model.hidden_size  # everything else is the config's
    assert experiment.setting("layers1", "model.num_layers") == 1 and experiment.setting("reversed", "train.seed") == \
        experiment.config.train.seed
    # what `repro train --set ...` makes of the config as written and the run's arguments is the same
    sections = {"train": copy.deepcopy(DEMO["train"]), "model": copy.deepcopy(DEMO["model"])}
    for argument in run.override_args():
        apply_override(sections, argument)
    assert TrainConfig.from_dict(sections["train"]) == config.train
    assert sections["model"]["num_layers"] == config.model.num_layers


def test_with_values_checks_each_value_as_the_section_does():
    config = ExperimentConfig.from_dict(copy.deepcopy(DEMO))
    assert config.with_values([("train.seed", "7")]).train.seed == 7
    with pytest.raises(ConfigError, match="unknown key"):
        config.with_values([("train.sed", 7)])
    with pytest.raises(ConfigError, match="train.lr: expected a number"):
        config.with_values([("train.lr", "fast")])
    with pytest.raises(ConfigError, match="cannot set experiment.name"):
        config.with_values([("experiment.name", "x")])


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
    with pytest.raises(ConfigError, match=r"run layers0-s1 \(model.num_layers=0, train.seed=1\): .*num_layers must be positive"):
        validate_experiment_config(config)
