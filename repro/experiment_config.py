"""One validation of a whole experiment config, run when Snakemake parses it (so ``snakemake -n`` catches
a typo in any section before anything runs) and equal to what each ``repro`` command checks later.

Each section is checked by the dataclass of the command that reads it; the ``model:`` and ``train:``
sections are checked once as written and once per planned run, with that run's overrides applied.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from repro.config import SECTIONS, apply_override, dataclass_from_dict
from repro.errors import ConfigError
from repro.experiments import Plan, RunSpec, plan


@dataclass
class ResourcesConfig:
    """The ``resources:`` section: how the workflow schedules jobs (read by the workflow, not by a command).

    train_threads, decode_threads: CPU threads per training and per decoding job.
    train_gpus: GPUs per training job; more than one trains under torchrun (DDP on one node).
    """

    train_threads: int = 4
    decode_threads: int = 2
    train_gpus: int = 1

    def __post_init__(self) -> None:
        if self.train_threads < 1 or self.decode_threads < 1 or self.train_gpus < 0:
            raise ConfigError("config section 'resources': threads must be >= 1 and train_gpus >= 0")

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> ResourcesConfig:
        return dataclass_from_dict(cls, values, "resources")


def validate_experiment_config(config: dict[str, Any]) -> Plan:
    """Check every section of ``config``; return its plan. Raises ConfigError naming the key."""
    from repro.data.config import PrepareConfig, make_source
    from repro.inference.config import DecodeConfig

    unknown = sorted(set(config) - set(SECTIONS), key=str)
    if unknown:
        raise ConfigError(f"unknown config section(s) {', '.join(map(repr, unknown))}; "
                          f"known sections: {', '.join(SECTIONS)}")
    make_source(PrepareConfig.from_dict(config.get("data")))
    DecodeConfig.from_dict(config.get("decode"))
    ResourcesConfig.from_dict(config.get("resources"))
    check_model_train(config.get("model"), config.get("train"))
    experiment_plan = plan(config)
    for run in experiment_plan.runs.values():
        effective = run_sections(config, run)
        try:
            check_model_train(effective["model"], effective["train"])
        except ConfigError as exc:
            raise ConfigError(f"run {run.name} (overrides {', '.join(run.override_args())}): {exc}") from None
    return experiment_plan


def run_sections(config: dict[str, Any], run: RunSpec) -> dict[str, dict[str, Any]]:
    """The ``model:`` and ``train:`` sections of ``run``: the config's, with the run's overrides applied
    (what ``repro train --set`` makes of them)."""
    sections = {"model": copy.deepcopy(config.get("model") or {}), "train": copy.deepcopy(config.get("train") or {})}
    for item in run.override_args():
        apply_override(sections, item)
    return sections


def check_model_train(model: dict[str, Any] | None, train: dict[str, Any] | None) -> None:
    """The ``model:`` and ``train:`` sections as ``repro train`` reads them (vocabulary sizes are placeholders)."""
    from repro.config import dataclass_from_dict
    from repro.models.config import DATA_DEFINED_KEYS, ModelConfig
    from repro.train.config import TrainConfig

    values = dict(model or {}) if model is None or isinstance(model, dict) else model
    if isinstance(values, dict):
        given = [key for key in DATA_DEFINED_KEYS if key in values]
        if given:
            raise ConfigError(f"config section 'model': {', '.join(given)} come(s) from the prepared data "
                              "directory (meta.json); remove it from the config")
        values.update(src_vocab_size=1, tgt_vocab_size=1)
    dataclass_from_dict(ModelConfig, values, "model")
    TrainConfig.from_dict(train)

