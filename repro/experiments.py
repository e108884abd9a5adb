"""The experiment matrix: which models a config trains and which systems it decodes.

``plan(config)`` turns the ``paper`` and ``ablations`` sections of an experiment config into objects
created once and passed around: variants of the base model (:class:`Variant`, whose overrides say what
they change), runs (:class:`RunSpec`: a variant and a seed), decoders (:class:`Decoder`: one run or an
ensemble of runs) and systems (:class:`SystemSpec`: a decoder at one beam size). The Snakefile builds its
jobs from the plan and the reports read the same plan, so the workflow and the tables can never disagree
about what was run, and nothing is recovered by parsing a name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from repro.errors import ConfigError
from repro.experiment_config import AXES, AblationConfig, ExperimentConfig, PaperConfig
from repro.models.forms import ABLATION_ATTENTION_FORMS, CELLS

REVERSED, FORWARD = "reversed", "forward"
PAPER_AXIS = "paper"
FAIRSEQ_MIN_LEN = 1  # fairseq's --min-len: <eos> may not be the first word



@dataclass(frozen=True)
class Variant:
    """A variant of the base model: the settings it changes (``model.cell``, ``train.max_len``, ...)."""

    name: str
    axis: str  # PAPER_AXIS or one of AXES
    label: str  # what a table shows
    overrides: tuple[tuple[str, Any], ...]

    def changes(self, key: str) -> bool:
        return any(k == key for k, _ in self.overrides)

    def override(self, key: str) -> Any:
        """The value this variant sets for ``key`` (KeyError when it leaves it at the base config)."""
        for k, value in self.overrides:
            if k == key:
                return value
        raise KeyError(f"variant {self.name} does not set {key}")


@dataclass(frozen=True)
class RunSpec:
    """One model to train: a variant of the base config and a seed."""

    variant: Variant
    seed: int

    @property
    def name(self) -> str:
        return f"{self.variant.name}-s{self.seed}"

    @property
    def overrides(self) -> tuple[tuple[str, Any], ...]:
        return tuple(sorted((*self.variant.overrides, ("train.seed", self.seed))))

    def override_args(self) -> list[str]:
        """The overrides as ``repro train --set`` arguments."""
        return [f"{key}={_yaml_scalar(value)}" for key, value in self.overrides]


@dataclass(frozen=True)
class Decoder:
    """What a translation comes from: one run, or an ensemble of runs of one variant."""

    runs: tuple[RunSpec, ...]

    def __post_init__(self) -> None:
        if not self.runs or len({run.variant.name for run in self.runs}) != 1:
            raise ValueError("a decoder is one run or an ensemble of runs of one variant")

    @property
    def name(self) -> str:
        """A run's own name, or ``ensemble-<variant>-s1+2+...`` (a path component of its translations)."""
        if len(self.runs) == 1:
            return self.runs[0].name
        return f"ensemble-{self.runs[0].variant.name}-s{'+'.join(str(run.seed) for run in self.runs)}"

    @property
    def is_ensemble(self) -> bool:
        return len(self.runs) > 1


@dataclass(frozen=True)
class SystemSpec:
    """One decoding of the test set: a decoder at one beam size, with the paper's search (``min_len`` 0:
    the empty translation competes) or fairseq's convention (``min_len`` 1: ``<eos>`` never comes first)."""

    decoder: Decoder
    beam: int
    min_len: int = 0

    @property
    def search(self) -> str:
        """The search's part of the name and of the translation's path: ``beam12``, ``beam12-minlen1``."""
        return f"beam{self.beam}" + (f"-minlen{self.min_len}" if self.min_len else "")

    @property
    def name(self) -> str:
        return f"{self.decoder.name}/{self.search}"

    @property
    def runs(self) -> tuple[RunSpec, ...]:
        return self.decoder.runs


@dataclass(frozen=True)
class Part:
    """A part of an experiment (``Plan.parts``): runs, and the systems that decode them."""

    name: str
    runs: tuple[RunSpec, ...]
    systems: tuple[SystemSpec, ...] = ()


@dataclass
class Plan:
    """Every variant, run, decoder and system of an experiment, by name."""

    config: ExperimentConfig
    variants: dict[str, Variant] = field(default_factory=dict)
    runs: dict[str, RunSpec] = field(default_factory=dict)
    decoders: dict[str, Decoder] = field(default_factory=dict)
    systems: dict[str, SystemSpec] = field(default_factory=dict)
    _configs: dict[str, ExperimentConfig] = field(default_factory=dict, repr=False)  # config_of, by name

    @property
    def paper(self) -> PaperConfig:
        return self.config.paper

    @property
    def ablations(self) -> AblationConfig:
        return self.config.ablations

    def runs_of(self, variant: str) -> list[RunSpec]:
        return sorted((r for r in self.runs.values() if r.variant.name == variant), key=lambda r: r.seed)

    def run(self, variant: str, seed: int) -> RunSpec:
        return self.runs[RunSpec(self.variants[variant], seed).name]

    def variants_on(self, axis: str) -> list[Variant]:
        return [v for v in self.variants.values() if v.axis == axis]

    def single(self, variant: str) -> Decoder:
        """The single model the paper's tables show for ``reversed`` or ``forward``: its first paper seed."""
        seeds = {REVERSED: self.paper.reversed_seeds, FORWARD: self.paper.forward_seeds}[variant]
        return Decoder((self.run(variant, seeds[0]),))

    def ensemble(self, size: int) -> Decoder:
        """The ensemble of the first ``size`` reversed runs (the paper's seeds come first)."""
        return Decoder(tuple(self.run(REVERSED, seed) for seed in self.paper.reversed_seeds[:size]))

    def system(self, decoder: Decoder | RunSpec, beam: int, min_len: int = 0) -> SystemSpec:
        """The planned system that decodes with ``decoder`` at ``beam`` (KeyError when it is not planned)."""
        decoder = decoder if isinstance(decoder, Decoder) else Decoder((decoder,))
        return self.systems[SystemSpec(decoder, beam, min_len).name]

    def config_of(self, target: RunSpec | Variant | str) -> ExperimentConfig:
        """The experiment config as a run (or a variant's runs) trains with it: the variant's values and the
        run's seed replaced, typed (a ConfigError names the run and what it sets)."""
        target = self.variants[target] if isinstance(target, str) else target
        try:
            if target.name not in self._configs:
                self._configs[target.name] = self.config.with_values(target.overrides)
            return self._configs[target.name]
        except ConfigError as exc:
            what = ", ".join(f"{key}={value}" for key, value in target.overrides)
            raise ConfigError(f"{'run' if isinstance(target, RunSpec) else 'variant'} {target.name} ({what}): "
                              f"{exc}") from None

    def setting(self, variant: Variant | str, key: str) -> Any:
        """A setting (``model.cell``, ``train.clip_norm``, ...) of a variant's runs."""
        section, name = key.split(".", 1)
        return getattr(getattr(self.config_of(variant), section), name)

    def perplexity_runs(self) -> list[RunSpec]:
        """The runs whose test perplexity is measured: the paper's (the reversal result reports it)."""
        return [run for run in self.runs.values() if run.variant.axis == PAPER_AXIS]

    def paper_systems(self) -> list[SystemSpec]:
        """Every system the paper's tables and figures read (runs of the reversed and forward variants)."""
        return [s for s in self.systems.values() if s.runs[0].variant.axis == PAPER_AXIS]

    def ablation_systems(self) -> list[SystemSpec]:
        """The single-run systems at the ablation beam that the ablation report compares: every ablation
        seed of every variant, and every run of the paper's reversed and forward variants."""
        return [s for s in self.systems.values() if self.ablations.enabled and s.beam == self.ablations.beam
                and not s.decoder.is_ensemble and s.min_len == 0 and self.decoded_at_ablation_beam(s.runs[0])]

    def decoded_at_ablation_beam(self, run: RunSpec) -> bool:
        """Every ablation seed of every variant, and every run of the paper's two variants (the main
        model's seed-to-seed spread and the seed-level reversal comparison are measured there too)."""
        return run.variant.axis == PAPER_AXIS or run.seed in self.ablations.seeds_of(run.variant.axis)

    def ablation_axes(self) -> list[str]:
        return [axis for axis in AXES if self.variants_on(axis)]

    def parts(self) -> dict[str, Part]:
        """The experiment in parts that can be trained in separate sittings or on separate machines, each
        holding every run its systems decode (an ensemble's members with it): the paper's matrix (its
        reversed and forward runs, every system decoding them), then one part per ablation axis."""
        parts = {PAPER_AXIS: Part(PAPER_AXIS, tuple(r for r in self.runs.values() if r.variant.axis == PAPER_AXIS))}
        for axis in self.ablation_axes():
            parts[axis] = Part(axis, tuple(r for r in self.runs.values() if r.variant.axis == axis))
        return {name: replace(part, systems=tuple(s for s in self.systems.values() if s.runs[0] in part.runs))
                for name, part in parts.items()}


def _yaml_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def recurrent_parameter_count(cell: str, hidden: int, embedding: int, layers: int) -> int:
    """Parameters of one stacked RNN: a layer with g gates has g·h·(input + h + 2) (two bias vectors)."""
    gates = CELLS[cell].gates
    return gates * hidden * (embedding + hidden + 2) + (layers - 1) * gates * hidden * (2 * hidden + 2)


def equal_parameter_hidden_size(cell: str, reference_hidden: int, embedding: int, layers: int = 4,
                                reference_cell: str = "lstm") -> int:
    """The hidden size at which ``cell`` has the recurrent parameter count of ``reference_cell``."""
    target = recurrent_parameter_count(reference_cell, reference_hidden, embedding, layers)
    hidden = 1
    while recurrent_parameter_count(cell, hidden + 1, embedding, layers) <= target:
        hidden += 1
    nxt = recurrent_parameter_count(cell, hidden + 1, embedding, layers)
    return hidden + 1 if nxt - target < target - recurrent_parameter_count(cell, hidden, embedding, layers) else hidden


def plan(config: ExperimentConfig | Mapping[str, Any]) -> Plan:
    """Enumerate variants, runs, decoders and systems of an experiment config (as written, or parsed), and
    check the settings of every run."""
    config = config if isinstance(config, ExperimentConfig) else ExperimentConfig.from_dict(config)
    result = Plan(config)
    paper, ablations = result.paper, result.ablations

    def add_variant(name: str, axis: str, label: str, overrides: dict[str, Any],
                    seeds: list[int] | None = None) -> Variant:
        """A variant trained with ``seeds``; without them, an ablation variant with its axis's seeds."""
        seeds = ablations.seeds_of(axis) if seeds is None else seeds
        variant = Variant(name, axis, label, tuple(sorted(overrides.items())))
        result.variants[name] = variant
        for seed in seeds:
            run = RunSpec(variant, seed)
            result.runs[run.name] = run
        return variant

    def add_system(decoder: Decoder, beam: int, min_len: int = 0) -> None:
        system = SystemSpec(decoder, beam, min_len)
        result.decoders[decoder.name] = decoder
        result.systems[system.name] = system

    # ---- the paper's matrix (Table 1, the reversal result, beam table, figures)
    ablation_seeds = ablations.all_seeds() if ablations.enabled else []
    add_variant(REVERSED, PAPER_AXIS, "reversed source (paper)", {"model.reverse_source": True},
                sorted(set(paper.reversed_seeds) | set(ablation_seeds)))
    add_variant(FORWARD, PAPER_AXIS, "forward source", {"model.reverse_source": False},
                sorted(set(paper.forward_seeds) | set(ablation_seeds)))
    beams = sorted(set(paper.table1_beams) | set(paper.beam_table_beams) | {paper.figure_beam})
    for beam in beams:
        add_system(result.single(REVERSED), beam)
        for size in paper.ensembles:
            add_system(result.ensemble(size), beam)
    if paper.fairseq_row_beam is not None:
        add_system(result.single(REVERSED), paper.fairseq_row_beam, FAIRSEQ_MIN_LEN)
        if paper.ensembles:
            add_system(result.ensemble(max(paper.ensembles)), paper.fairseq_row_beam, FAIRSEQ_MIN_LEN)
    for beam in sorted({paper.figure_beam, *paper.table1_beams}):
        add_system(result.single(FORWARD), beam)

    # ---- ablations: each axis is a variant of the base model, trained with its axis's seeds
    if ablations.enabled:
        base = result.variants[REVERSED]
        base_cell, base_layers = result.setting(base, "model.cell"), result.setting(base, "model.num_layers")
        hidden, embedding = result.setting(base, "model.hidden_size"), result.setting(base, "model.embedding_size")
        for cap in ablations.max_train_len:
            add_variant(f"maxlen{cap}", "max_train_len", f"train on sources ≤ {cap} words", {"train.max_len": cap})
        for cell in ablations.cell:
            if cell == base_cell:
                continue
            add_variant(f"cell-{cell}", "cell", f"{cell.upper()} cells, same size", {"model.cell": cell})
            if ablations.cell_equal_parameters:
                size = equal_parameter_hidden_size(cell, hidden, embedding, base_layers, base_cell)
                add_variant(f"cell-{cell}-eqparams", "cell",
                            f"{cell.upper()} cells, hidden {size} (≈ {base_cell.upper()} parameters)",
                            {"model.cell": cell, "model.hidden_size": size})
        for layers in ablations.num_layers:
            if layers != base_layers:
                add_variant(f"layers{layers}", "num_layers", f"{layers} layer(s)", {"model.num_layers": layers})
        for ratio in ablations.teacher_forcing_ratio:
            if ratio != 1.0:
                add_variant(f"tf{ratio:g}", "teacher_forcing_ratio", f"teacher forcing ratio {ratio:g}",
                            {"train.teacher_forcing_ratio": ratio})
        if ablations.attention:
            form = ABLATION_ATTENTION_FORMS[ablations.attention_form]
            add_variant("attention", "attention", f"{form.label}, reversed source",
                        {**form.settings, "model.reverse_source": True})
            if ablations.attention_forward:
                add_variant("attention-forward", "attention", f"{form.label}, forward source",
                            {**form.settings, "model.reverse_source": False})
        for run in list(result.runs.values()):
            if result.decoded_at_ablation_beam(run):
                add_system(Decoder((run,)), ablations.beam)
    for run in result.runs.values():
        result.config_of(run)
    return result
