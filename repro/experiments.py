"""The experiment matrix: which models a config trains and which systems it decodes.

One function, ``plan(config)``, turns the ``paper`` and ``ablations`` sections of an experiment config
into named training runs (a variant of the base model × a seed) and named decoding systems (one run or
an ensemble of runs × a beam size). The Snakefile builds its jobs from it and the report reads the same
plan, so the workflow and the tables can never disagree about what was run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from repro.errors import ReproError

REVERSED, FORWARD = "reversed", "forward"

PAPER_DEFAULTS: dict[str, Any] = {
    "reversed_seeds": [1, 2, 3, 4, 5],
    "forward_seeds": [1],
    "ensembles": [2, 5],
    "table1_beams": [1, 2, 12],
    "beam_table_beams": [1, 2, 4, 8, 12],
    "figure_beam": 12,
}

ABLATION_DEFAULTS: dict[str, Any] = {
    "enabled": False,
    "seeds": [1, 2, 3],
    "beam": 12,
    "max_train_len": [],  # e.g. [10, 20, 30, 50] (train.max_len caps both sides); the base model is "all"
    "cell": [],  # e.g. [gru, rnn]; the base cell is the reference
    "cell_equal_parameters": False,  # also train each cell at the LSTM's recurrent parameter count
    "num_layers": [],  # e.g. [1, 2, 3]
    "teacher_forcing_ratio": [],  # e.g. [0.5, 0.0]
    "attention": False,  # add a Luong global-attention decoder (reversed and forward)
    "bootstrap_samples": 1000,
}


@dataclass(frozen=True)
class RunSpec:
    """One model to train: a variant of the base config and a seed."""

    name: str
    variant: str
    seed: int
    overrides: tuple[tuple[str, Any], ...]  # ("model.cell", "gru"), ("train.seed", 2), ...

    def override_args(self) -> list[str]:
        return [f"{key}={_yaml_scalar(value)}" for key, value in self.overrides]


@dataclass(frozen=True)
class SystemSpec:
    """One decoding: a single run or an ensemble of runs (``decoder``), at one beam size."""

    name: str  # "<decoder>/beam<beam>"
    runs: tuple[str, ...]
    beam: int

    @property
    def decoder(self) -> str:
        return decoder_name(self.runs)


@dataclass
class Variant:
    name: str
    axis: str  # "paper", "max_train_len", "cell", "num_layers", "teacher_forcing_ratio", "attention"
    label: str  # what a table shows
    overrides: dict[str, Any]


@dataclass
class Plan:
    runs: dict[str, RunSpec] = field(default_factory=dict)
    systems: dict[str, SystemSpec] = field(default_factory=dict)
    variants: dict[str, Variant] = field(default_factory=dict)
    paper: dict[str, Any] = field(default_factory=dict)
    ablations: dict[str, Any] = field(default_factory=dict)

    def runs_of(self, variant: str) -> list[RunSpec]:
        return sorted((r for r in self.runs.values() if r.variant == variant), key=lambda r: r.seed)

    def system_name(self, runs: list[str] | tuple[str, ...], beam: int) -> str:
        """The name of the system that decodes ``runs`` at ``beam`` (registered in ``systems``)."""
        name = _system_name(tuple(runs), beam)
        if name not in self.systems:
            raise KeyError(name)
        return name

    def ensemble_runs(self, size: int) -> tuple[str, ...]:
        return tuple(r.name for r in self.runs_of(REVERSED)[:size])


def run_name(variant: str, seed: int) -> str:
    return f"{variant}-s{seed}"


def decoder_name(runs: tuple[str, ...]) -> str:
    """A run's own name, or ``ensemble-<variant>-s1+2+...`` for several runs of one variant."""
    if len(runs) == 1:
        return runs[0]
    variant = runs[0].rsplit("-s", 1)[0]
    seeds = "+".join(r.rsplit("-s", 1)[1] for r in runs)
    return f"ensemble-{variant}-s{seeds}"


def runs_of_decoder(name: str) -> tuple[str, ...]:
    """Inverse of ``decoder_name``."""
    if not name.startswith("ensemble-"):
        return (name,)
    variant, seeds = name[len("ensemble-"):].rsplit("-s", 1)
    return tuple(run_name(variant, int(seed)) for seed in seeds.split("+"))


def _system_name(runs: tuple[str, ...], beam: int) -> str:
    return f"{decoder_name(runs)}/beam{beam}"


def _yaml_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _section(config: dict[str, Any], name: str, defaults: dict[str, Any]) -> dict[str, Any]:
    given = config.get(name) or {}
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ReproError(f"config section '{name}': unknown key(s) {', '.join(unknown)}; "
                         f"known keys: {', '.join(sorted(defaults))}")
    return {**defaults, **given}


def recurrent_parameter_count(cell: str, hidden: int, embedding: int, layers: int) -> int:
    """Parameters of one stacked RNN: a layer with g gates has g·h·(input + h + 2) (two bias vectors)."""
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[cell]
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


def plan(config: dict[str, Any]) -> Plan:
    """Enumerate runs and systems of an experiment config (sections ``paper`` and ``ablations``)."""
    paper = _section(config, "paper", PAPER_DEFAULTS)
    ablations = _section(config, "ablations", ABLATION_DEFAULTS)
    model = config.get("model") or {}
    base_cell = model.get("cell", "lstm")
    # int(): `snakemake --config model={...}` passes YAML scalars as strings
    base_layers = int(model.get("num_layers", 4))
    result = Plan(paper=paper, ablations=ablations)

    def add_variant(variant: Variant, seeds: list[int]) -> None:
        result.variants[variant.name] = variant
        for seed in seeds:
            name = run_name(variant.name, seed)
            overrides = dict(variant.overrides)
            overrides["train.seed"] = seed
            result.runs[name] = RunSpec(name, variant.name, seed, tuple(sorted(overrides.items())))

    def add_system(runs: tuple[str, ...], beam: int) -> None:
        name = _system_name(runs, beam)
        result.systems[name] = SystemSpec(name, runs, beam)

    # ---- the paper's matrix (Table 1, the reversal result, beam table, figures)
    ablation_seeds = list(ablations["seeds"]) if ablations["enabled"] else []
    reversed_seeds = sorted(set(paper["reversed_seeds"]) | set(ablation_seeds))
    forward_seeds = sorted(set(paper["forward_seeds"]) | set(ablation_seeds))
    if not paper["reversed_seeds"] or not paper["forward_seeds"]:
        raise ReproError("config section 'paper': reversed_seeds and forward_seeds must not be empty")
    add_variant(Variant(REVERSED, "paper", "reversed source (paper)", {"model.reverse_source": True}), reversed_seeds)
    add_variant(Variant(FORWARD, "paper", "forward source", {"model.reverse_source": False}), forward_seeds)
    for size in paper["ensembles"]:
        if size > len(paper["reversed_seeds"]):
            raise ReproError(f"config section 'paper': an ensemble of {size} needs {size} reversed_seeds, "
                             f"got {len(paper['reversed_seeds'])}")
    first_reversed = (run_name(REVERSED, paper["reversed_seeds"][0]),)
    first_forward = (run_name(FORWARD, paper["forward_seeds"][0]),)
    beams = sorted(set(paper["table1_beams"]) | set(paper["beam_table_beams"]) | {paper["figure_beam"]})
    for beam in beams:
        add_system(first_reversed, beam)
        for size in paper["ensembles"]:
            add_system(result.ensemble_runs(size), beam)
    add_system(first_forward, paper["figure_beam"])
    for beam in paper["table1_beams"]:
        add_system(first_forward, beam)

    # ---- ablations: each axis is a variant of the base model, trained with every ablation seed
    if ablations["enabled"]:
        seeds = list(ablations["seeds"])
        embedding = int(model.get("embedding_size", 1000))
        hidden = int(model.get("hidden_size", 1000))
        for cap in ablations["max_train_len"]:
            add_variant(Variant(f"maxlen{cap}", "max_train_len", f"train on sources ≤ {cap} words",
                                {"train.max_len": cap}), seeds)
        for cell in ablations["cell"]:
            if cell == base_cell:
                continue
            add_variant(Variant(f"cell-{cell}", "cell", f"{cell.upper()} cells, same size", {"model.cell": cell}), seeds)
            if ablations["cell_equal_parameters"]:
                size = equal_parameter_hidden_size(cell, hidden, embedding, base_layers, base_cell)
                add_variant(Variant(f"cell-{cell}-eqparams", "cell", f"{cell.upper()} cells, hidden {size} "
                                    f"(≈ {base_cell.upper()} parameters)",
                                    {"model.cell": cell, "model.hidden_size": size}), seeds)
        for layers in ablations["num_layers"]:
            if layers == base_layers:
                continue
            add_variant(Variant(f"layers{layers}", "num_layers", f"{layers} layer(s)",
                                {"model.num_layers": layers}), seeds)
        for ratio in ablations["teacher_forcing_ratio"]:
            if ratio == 1.0:
                continue
            add_variant(Variant(f"tf{ratio:g}", "teacher_forcing_ratio", f"teacher forcing ratio {ratio:g}",
                                {"train.teacher_forcing_ratio": ratio}), seeds)
        if ablations["attention"]:
            add_variant(Variant("attention", "attention", "global attention (Luong), reversed source",
                                {"model.attention": "luong", "model.reverse_source": True}), seeds)
            add_variant(Variant("attention-forward", "attention", "global attention (Luong), forward source",
                                {"model.attention": "luong", "model.reverse_source": False}), seeds)
        for spec in list(result.runs.values()):
            if spec.seed in seeds:
                add_system((spec.name,), ablations["beam"])
    return result


@dataclass(frozen=True)
class ExperimentDirs:
    """An experiment's top-level directories, relative to the workflow's directory (the one place they are named).

    work: intermediates (data, runs, translations, scores), regenerable, not committed.
    results: this run's tables, figures, claims and its comparison with the reference, not committed.
    reference: the committed results of the experiment, which a fresh run is compared with.
    """

    work: str
    results: str
    reference: str

    @classmethod
    def of(cls, experiment: str) -> ExperimentDirs:
        return cls(f"work/{experiment}", f"results/{experiment}", f"results/reference/{experiment}")


@dataclass(frozen=True)
class Layout:
    """Where the workflow keeps an experiment's intermediate files (``work/<experiment>/``).

    The rule files under ``workflows/rules/`` write these same paths.
    """

    root: str

    @property
    def data_dir(self) -> str:
        return f"{self.root}/data"

    def run_dir(self, run: str) -> str:
        return f"{self.root}/runs/{run}"

    def translation(self, system: SystemSpec, tokenized: bool = False) -> str:
        return f"{self.root}/decode/{system.decoder}/beam{system.beam}{'.tok' if tokenized else ''}.txt"

    def scores(self, system: SystemSpec) -> str:
        return f"{self.root}/scores/{system.decoder}/beam{system.beam}.json"

    def perplexity(self, run: str) -> str:
        return f"{self.root}/perplexity/{run}.json"

    def encoding(self, run: str) -> str:
        return f"{self.root}/encode/{run}.npz"
