"""An experiment config, parsed and checked once: :class:`ExperimentConfig`, one typed field per section.

``ExperimentConfig.from_dict`` reads what a YAML file (and ``snakemake --config``) gives: each section by the
dataclass of the command that reads it, which rejects an unknown key or a value of the wrong type naming
the key. The workflow parses it once when Snakemake parses the Snakefile, so ``snakemake -n`` catches a
typo in any section before anything runs, and each ``repro`` command parses the config it is given the
same way. A run's settings are the config with its variant's and seed's values replaced, typed
(:meth:`ExperimentConfig.with_values`); strings are made only where a step's command line is written.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from repro.config import SECTIONS, coerce, dataclass_from_dict
from repro.data.config import PrepareConfig
from repro.errors import ConfigError
from repro.inference.config import DecodeConfig
from repro.models.config import DATA_DEFINED_KEYS, ModelConfig
from repro.models.forms import ABLATION_ATTENTION_FORMS, CELLS, DEFAULT_ABLATION_ATTENTION_FORM
from repro.train.config import TrainConfig

# The ablation axes, in the order the report shows them, with what each one varies.
AXES: dict[str, str] = {
    "max_train_len": "maximum training sentence length",
    "cell": "cell type",
    "num_layers": "depth",
    "teacher_forcing_ratio": "teacher forcing ratio",
    "attention": "attention vs the fixed-size context vector",
}



@dataclass
class PaperConfig:
    """The ``paper:`` section: the paper's matrix (Table 1, the reversal result, the beam table, figures)."""

    reversed_seeds: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 5])
    forward_seeds: list[int] = field(default_factory=lambda: [1])
    ensembles: list[int] = field(default_factory=lambda: [2, 5])
    table1_beams: list[int] = field(default_factory=lambda: [1, 2, 12])
    beam_table_beams: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 12])
    # The beam table's extra row: the widest beam with fairseq's convention (<eos> never first), beside
    # the paper's search, in which a weak model's best-scoring output can be the empty translation.
    beam_table_fairseq_row: bool = True
    figure_beam: int = 12

    @property
    def fairseq_row_beam(self) -> int | None:
        """The beam of the beam table's fairseq-convention row (the widest), or None without that row."""
        return max(self.beam_table_beams) if self.beam_table_fairseq_row and self.beam_table_beams else None

    def __post_init__(self) -> None:
        if not self.reversed_seeds or not self.forward_seeds:
            raise ConfigError("config section 'paper': reversed_seeds and forward_seeds must not be empty")
        for size in self.ensembles:
            if not 2 <= size <= len(self.reversed_seeds):
                raise ConfigError(f"config section 'paper': an ensemble of {size} needs {size} reversed_seeds "
                                  f"(and at least 2 members), got {len(self.reversed_seeds)}")
        if min([*self.table1_beams, *self.beam_table_beams, self.figure_beam]) < 1:
            raise ConfigError("config section 'paper': beam sizes must be >= 1")


@dataclass
class AblationConfig:
    """The ``ablations:`` section: variants of the base model, each trained with every seed."""

    enabled: bool = False
    seeds: list[int] = field(default_factory=lambda: [1, 2, 3])
    # Other seeds for some axes (axis -> seeds), e.g. more where a claim rests on an axis, fewer where a
    # variant is dear; an axis not named here trains with ``seeds``.
    axis_seeds: dict[str, list[int]] = field(default_factory=dict)
    beam: int = 12
    max_train_len: list[int] = field(default_factory=list)  # train.max_len caps both sides; the base is "all"
    cell: list[str] = field(default_factory=list)  # e.g. [gru, rnn]; the base cell is the reference
    cell_equal_parameters: bool = False  # also train each cell at the LSTM's recurrent parameter count
    num_layers: list[int] = field(default_factory=list)
    teacher_forcing_ratio: list[float] = field(default_factory=list)
    attention: bool = False  # add an attention decoder (reversed and forward source)
    attention_form: str = DEFAULT_ABLATION_ATTENTION_FORM  # which one: a key of ABLATION_ATTENTION_FORMS
    attention_forward: bool = True  # also on the forward source (the reversal-with-attention claim)
    bootstrap_samples: int = 1000

    def __post_init__(self) -> None:
        if self.enabled and not self.seeds:
            raise ConfigError("config section 'ablations': seeds must not be empty")
        for axis, seeds in self.axis_seeds.items():
            if axis not in AXES:
                raise ConfigError(f"ablations.axis_seeds: unknown axis {axis!r}; choose from {', '.join(AXES)}")
            self.axis_seeds[axis] = coerce(seeds, list[int], f"ablations.axis_seeds.{axis}")
            if not self.axis_seeds[axis]:
                raise ConfigError(f"ablations.axis_seeds.{axis} must not be empty")
        unknown = [cell for cell in self.cell if cell not in CELLS]
        if unknown:
            raise ConfigError(f"ablations.cell: unknown cell(s) {', '.join(unknown)}; choose from {', '.join(CELLS)}")
        if self.attention_form not in ABLATION_ATTENTION_FORMS:
            raise ConfigError(f"ablations.attention_form: unknown form {self.attention_form!r}; choose from "
                              f"{', '.join(ABLATION_ATTENTION_FORMS)}")
        if self.beam < 1 or self.bootstrap_samples < 1:
            raise ConfigError("config section 'ablations': beam and bootstrap_samples must be >= 1")
        # A variant's own values (num_layers, max_train_len, teacher_forcing_ratio) are checked by the
        # dataclass that reads them, once per planned run (repro.experiment_config).

    def seeds_of(self, axis: str) -> list[int]:
        """The seeds every variant on ``axis`` trains with (and the main model is compared on)."""
        return list(self.axis_seeds.get(axis, self.seeds))

    def all_seeds(self) -> list[int]:
        """Every ablation seed of any axis: the main and forward models train with each of them."""
        return sorted({*self.seeds, *(seed for seeds in self.axis_seeds.values() for seed in seeds)})


@dataclass
class ResourcesConfig:
    """The ``resources:`` section: how the workflow schedules jobs (read by the workflow, not by a command).

    train_threads: CPU threads of each training process (each rank under torchrun); decode_threads: of a
    decoding job.
    train_gpus: GPUs per training job, on one node; more than one trains under torchrun (DDP), one rank
    per GPU.
    train_mem_mb: host memory per training process (a job asks for it times its ranks).
    train_runtime_min: the time limit a training job asks for (minutes; SLURM's ``-t``). A run that
    reaches it saves a checkpoint and resumes in the next attempt: ``train_retries`` more attempts
    (allocations) after the first.
    """

    train_threads: int = 4
    decode_threads: int = 2
    train_gpus: int = 1
    train_mem_mb: int = 16000
    # a day: within the limit of the usual 24- and 48-hour GPU partitions
    train_runtime_min: int = 24 * 60
    # with a day each, a week of allocations in all: a model on an older GPU, days long, finishes
    train_retries: int = 6

    def __post_init__(self) -> None:
        if self.train_threads < 1 or self.decode_threads < 1 or self.train_gpus < 0:
            raise ConfigError("config section 'resources': threads must be >= 1 and train_gpus >= 0")
        if self.train_mem_mb < 1 or self.train_runtime_min < 1 or self.train_retries < 0:
            raise ConfigError("config section 'resources': train_mem_mb and train_runtime_min must be >= 1 "
                              "and train_retries >= 0")

    @property
    def train_ranks(self) -> int:
        """Processes of a training job: one per GPU under torchrun, else one."""
        return max(1, self.train_gpus)

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> ResourcesConfig:
        return dataclass_from_dict(cls, values, "resources")


# The model: section's vocabulary sizes come from the prepared data (`repro train` sets them, with the
# special tokens' ids); until then the typed section holds this placeholder.
VOCAB_FROM_DATA = 1


def _model_section(values: dict[str, Any] | None) -> ModelConfig:
    values = {} if values is None else values
    if isinstance(values, dict):
        given = [key for key in DATA_DEFINED_KEYS if key in values]
        if given:
            raise ConfigError(f"config section 'model': {', '.join(given)} come(s) from the prepared data "
                              "directory (meta.json); remove it from the config")
        values = {**values, "src_vocab_size": VOCAB_FROM_DATA, "tgt_vocab_size": VOCAB_FROM_DATA}
    return dataclass_from_dict(ModelConfig, values, "model")


@dataclass(frozen=True)
class ExperimentConfig:
    """An experiment config: what it is called, where its records may come from, and one typed section per
    step of the method (``data`` for prepare, ``model`` and ``train`` for train, ``decode`` for translate
    and perplexity, ``paper`` and ``ablations`` for the plan, ``resources`` for the workflow's jobs)."""

    experiment: str | None = None
    reference: str | None = None  # the experiment whose committed results this one is compared with
    records_from: tuple[str, ...] = ()  # directories of records made elsewhere (earlier sittings, machines)
    data: PrepareConfig = field(default_factory=PrepareConfig)
    model: ModelConfig = field(default_factory=lambda: _model_section(None))
    train: TrainConfig = field(default_factory=TrainConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    paper: PaperConfig = field(default_factory=PaperConfig)
    ablations: AblationConfig = field(default_factory=AblationConfig)
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)

    @classmethod
    def from_dict(cls, config: Mapping[str, Any] | None) -> ExperimentConfig:
        """Parse and check every section of ``config``; a ConfigError names the section and key."""
        config = dict(config or {})
        unknown = sorted(set(config) - set(SECTIONS), key=str)
        if unknown:
            raise ConfigError(f"unknown config section(s) {', '.join(map(repr, unknown))}; "
                              f"known sections: {', '.join(SECTIONS)}")
        records_from = config.get("records_from") or []
        data = PrepareConfig.from_dict(config.get("data"))
        data.source_options()  # the source's own section, checked by its options type (its files are not looked at)
        return cls(
            experiment=None if config.get("experiment") is None else str(config["experiment"]),
            reference=None if config.get("reference") is None else str(config["reference"]),
            records_from=(records_from,) if isinstance(records_from, str) else tuple(map(str, records_from)),
            data=data,
            model=_model_section(config.get("model")),
            train=TrainConfig.from_dict(config.get("train")),
            decode=DecodeConfig.from_dict(config.get("decode")),
            paper=dataclass_from_dict(PaperConfig, config.get("paper"), "paper"),
            ablations=dataclass_from_dict(AblationConfig, config.get("ablations"), "ablations"),
            resources=ResourcesConfig.from_dict(config.get("resources")),
        )

    def with_values(self, values: Iterable[tuple[str, Any]]) -> ExperimentConfig:
        """This config with ``section.key`` values replaced (a run's variant and seed), each checked as its
        section's dataclass checks a value read from a file."""
        by_section: dict[str, dict[str, Any]] = {}
        for key, value in values:
            section, _, name = key.partition(".")
            by_section.setdefault(section, {})[name] = value
        changed = {}
        for section, section_values in by_section.items():
            current = getattr(self, section, None)
            if section not in SETTABLE_SECTIONS or not section_values or "" in section_values:
                raise ConfigError(f"cannot set {', '.join(f'{section}.{name}' for name in section_values)}: "
                                  f"give section.key with a section among {', '.join(SETTABLE_SECTIONS)}")
            hints = typing.get_type_hints(type(current))
            unknown = sorted(set(section_values) - set(hints))
            if unknown:
                raise ConfigError(f"config section '{section}': unknown key(s) {', '.join(unknown)}")
            typed = {name: coerce(value, hints[name], f"{section}.{name}") for name, value in section_values.items()}
            try:
                changed[section] = replace(current, **typed)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"config section '{section}': {exc}") from exc
        return replace(self, **changed)


# The sections a value can be set in (typed settings; the other fields name things).
SETTABLE_SECTIONS = tuple(f.name for f in fields(ExperimentConfig)
                          if f.name not in ("experiment", "reference", "records_from"))
if tuple(f.name for f in fields(ExperimentConfig)) != SECTIONS:  # repro.config reads YAML before any parse
    raise ImportError("repro.config.SECTIONS must list ExperimentConfig's fields, in order")
