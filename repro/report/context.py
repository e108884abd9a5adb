"""What a report step reads: the experiment plan, the prepared test set, runs, translations, scores."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from repro.data.storage import load_meta, load_split
from repro.data.vocab import Vocab
from repro.errors import ReproError
from repro.evaluation.bleu import sentence_stats
from repro.experiments import REVERSED, Plan, RunSpec, SystemSpec, plan
from repro.io import check_input_file, read_text_lines
from repro.layout import Layout

MISSING_HINT = "has the workflow step that writes it run?"


def read_json(path: str | Path) -> dict[str, Any]:
    return json.loads(check_input_file(path, missing_hint=MISSING_HINT).read_text(encoding="utf-8"))


@dataclass
class ReportContext:
    config: dict[str, Any]
    work_dir: Path
    plan: Plan = field(init=False)
    layout: Layout = field(init=False)

    def __post_init__(self) -> None:
        self.work_dir = Path(self.work_dir)
        self.plan = plan(self.config)
        self.layout = Layout(str(self.work_dir))

    @property
    def experiment(self) -> str:
        return str(self.config.get("experiment", self.work_dir.name))

    @property
    def data_dir(self) -> Path:
        return Path(self.layout.data_dir)

    @cached_property
    def meta(self) -> dict[str, Any]:
        return load_meta(self.data_dir)

    @cached_property
    def refs_tok(self) -> list[str]:
        return read_text_lines(self.data_dir / "test.tok.tgt", missing_hint=MISSING_HINT)

    @cached_property
    def src_vocab(self) -> Vocab:
        return Vocab.load(self.data_dir / "vocab.src.txt")

    @cached_property
    def test_src_ids(self) -> list[np.ndarray]:
        split = load_split(self.data_dir, "test")
        return [np.asarray(split.src[i]) for i in range(len(split))]

    @cached_property
    def test_src_lengths(self) -> np.ndarray:
        return np.array([len(s) for s in self.test_src_ids])

    def run_info(self, run: RunSpec) -> dict[str, Any]:
        return read_json(Path(self.layout.run_dir(run.name)) / "run.json")

    def scores(self, system: SystemSpec) -> dict[str, Any]:
        return read_json(self.layout.scores(system.decoder.name, system.search))

    def translations(self, system: SystemSpec, tokenized: bool = False) -> list[str]:
        return read_text_lines(self.layout.translation(system.decoder.name, system.search, tokenized),
                               missing_hint=MISSING_HINT)

    def stats(self, system: SystemSpec) -> np.ndarray:
        """Per-sentence multi-bleu statistics of a system's tokenized test translations."""
        hyps = self.translations(system, tokenized=True)
        if len(hyps) != len(self.refs_tok):
            raise ReproError(f"{self.layout.translation(system.decoder.name, system.search, True)}: {len(hyps)} "
                             f"lines, but the test set has {len(self.refs_tok)}")
        return sentence_stats(hyps, self.refs_tok)

    def test_perplexity(self, run: RunSpec) -> float:
        return float(read_json(self.layout.perplexity(run.name))["ppl"])

    def cost(self, runs: tuple[RunSpec, ...] | list[RunSpec]) -> dict[str, Any]:
        """Training cost of the runs behind a system: wall time, device, tokens/s, parameters, and how
        many of them stopped converged (``stop_reason``; runs from before it was recorded count as not)."""
        infos = [self.run_info(r) for r in runs]
        return {
            "converged": f"{sum(i.get('stop_reason') == 'converged' for i in infos)}/{len(infos)}",
            "train_hours": sum(float(i.get("wall_time_s", 0.0)) for i in infos) / 3600.0,
            "device": ",".join(sorted({str(i.get("device", "?")) for i in infos})),
            "tokens_per_s": float(np.mean([float(i.get("tokens_per_s", 0.0)) for i in infos])),
            "parameters_M": sum(int(i.get("parameters", 0)) for i in infos) / 1e6,
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
