"""What a report step reads: the experiment plan and its records (the test set, runs, translations, scores)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from repro.errors import ReproError
from repro.evaluation.bleu import sentence_stats
from repro.experiment_config import ExperimentConfig
from repro.experiments import REVERSED, Plan, RunSpec, SystemSpec, plan
from repro.io import check_input_file, read_text_lines
from repro.layout import Layout
from repro.records import RecordPlan, RecordStore, read_train_curve, record_roots
from repro.train.audit_result import AuditResult
from repro.train.run_info import RunInfo

MISSING_HINT = "has the workflow step that writes it run?"


def read_json(path: str | Path) -> dict[str, Any]:
    return json.loads(check_input_file(path, missing_hint=MISSING_HINT).read_text(encoding="utf-8"))


@dataclass
class ReportContext:
    """The records of an experiment (``repro.records``), as the reports read them: from the work
    directory's ``records/``, else from the directories the config's ``records_from`` names."""

    config: ExperimentConfig
    work_dir: Path
    plan: Plan = field(init=False)
    layout: Layout = field(init=False)
    records: RecordPlan = field(init=False)
    store: RecordStore = field(init=False)

    def __post_init__(self) -> None:
        self.work_dir = Path(self.work_dir)
        if not isinstance(self.config, ExperimentConfig):  # a config as written: parsed here, once
            self.config = ExperimentConfig.from_dict(self.config)
        self.plan = plan(self.config)
        self.layout = Layout(str(self.work_dir))
        self.records = RecordPlan(self.config, self.plan)
        self.store = RecordStore(record_roots(self.config, self.layout))

    @property
    def experiment(self) -> str:
        return self.config.experiment or self.work_dir.name

    @cached_property
    def _data(self) -> dict[str, Any]:
        return self.store.read_json(self.records.data())

    @property
    def meta(self) -> dict[str, Any]:
        return self._data["meta"]

    @cached_property
    def refs_tok(self) -> list[str]:
        record = self.records.data()
        return read_text_lines(self.store.companion(record, self.records.layout.references(tokenized=True)))

    @cached_property
    def test_src_lengths(self) -> np.ndarray:
        return np.array(self._data["test"]["src_length"])

    @cached_property
    def test_src_rarity(self) -> np.ndarray:
        """The average frequency rank of each test source sentence's words (Figure 3, right)."""
        return np.array(self._data["test"]["src_rarity"], dtype=np.float64)

    def _run_record(self, run: RunSpec) -> dict[str, Any]:
        return self.store.read_json(self.records.run(run))

    def run_info(self, run: RunSpec) -> RunInfo:
        record = self.records.run(run)
        return RunInfo.from_dict(self._run_record(run)["run"], self.store.root(record) / record.path)

    def valid_curve(self, run: RunSpec) -> list[dict[str, Any]]:
        """Every validation of the run, as its log wrote it (``epoch``, ``valid_ppl``, ``best``, ...)."""
        return self._run_record(run)["valid"]

    def train_curve(self, run: RunSpec) -> dict[str, list[float]]:
        """Per training interval of the run: ``step``, ``epoch``, ``lr``, ``grad_norm``."""
        record = self.records.run(run)
        return read_train_curve(self.store.companion(record, self.records.layout.train_curve(run.name)))

    def scores(self, system: SystemSpec) -> dict[str, Any]:
        return self.store.read_json(self.records.system(system))

    def translations(self, system: SystemSpec, tokenized: bool = False) -> list[str]:
        record = self.records.system(system)
        name = self.records.layout.translation(system.decoder.name, system.search, tokenized)
        return read_text_lines(self.store.companion(record, name))

    def stats(self, system: SystemSpec) -> np.ndarray:
        """Per-sentence multi-bleu statistics of a system's tokenized test translations."""
        hyps = self.translations(system, tokenized=True)
        if len(hyps) != len(self.refs_tok):
            raise ReproError(f"{system.name}: {len(hyps)} translations, but the test set has {len(self.refs_tok)}")
        return sentence_stats(hyps, self.refs_tok)

    def test_perplexity(self, run: RunSpec) -> float:
        return float(self.store.read_json(self.records.perplexity(run))["ppl"])

    def figure2(self) -> dict[str, Any]:
        return self.store.read_json(self.records.figure2())

    def audit(self, run: RunSpec) -> AuditResult:
        values = self.store.read_json(self.records.audit(run))
        return AuditResult.from_dict(values)

    def cost(self, runs: tuple[RunSpec, ...] | list[RunSpec]) -> dict[str, Any]:
        """Training cost of the runs behind a system: wall time, device, tokens/s, parameters, and how
        many of them stopped converged."""
        infos = [self.run_info(r) for r in runs]
        return {
            "converged": f"{sum(i.converged for i in infos)}/{len(infos)}",
            "train_hours": sum(i.wall_time_s or 0.0 for i in infos) / 3600.0,
            "device": ",".join(sorted({str(i.device or "?") for i in infos})),
            "tokens_per_s": float(np.mean([i.tokens_per_s or 0.0 for i in infos])),
            "parameters_M": sum(i.parameters or 0 for i in infos) / 1e6,
        }

    def _main_setting(self, key: str) -> Any:
        return self.plan.setting(self.plan.variants[REVERSED], key)

    def _training_note(self) -> str:
        setting = self._main_setting
        if setting("train.early_stopping_patience") is None:
            return f"{setting('train.epochs'):g} epochs"
        return (f"trained to convergence (learning rate cut on validation plateaus down to a floor, stopped once "
                f"{setting('train.early_stopping_patience')} validations at the final rate made no progress, a drop "
                f"of more than {setting('train.min_improvement'):.1%} in validation perplexity; ceiling "
                f"{setting('train.epochs'):g} epochs)")

    def scale_note(self) -> str:
        """One sentence on the scale of this run next to the paper's."""
        setting = self._main_setting
        pairs = self.meta.get("splits", {}).get("train", "?")
        src_v, tgt_v = self.meta.get("src_vocab_size", "?"), self.meta.get("tgt_vocab_size", "?")
        source_name = self.meta.get("source", "?")
        return (
            f"Experiment '{self.experiment}': data source {source_name}, {pairs} training pairs, vocabularies "
            f"{src_v}/{tgt_v}; model {setting('model.num_layers')}×{setting('model.hidden_size')} "
            f"{setting('model.cell').upper()}, {setting('model.embedding_size')}-d embeddings; {self._training_note()}. "
            f"The paper: WMT'14 En→Fr, 12M pairs, 160k/80k vocabularies, "
            f"4×1000 LSTM (384M parameters), 7.5 epochs, about 10 days on 8 GPUs."
        )
