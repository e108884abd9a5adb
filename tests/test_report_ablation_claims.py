"""The ablation claims and tables over seeds (repro.report.ablation_claims, repro.report.ablation_report),
on hand-made translations: a fake report context serves per-sentence BLEU statistics and perplexities."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest

from repro.evaluation.bleu import sentence_stats
from repro.experiments import Plan, RunSpec, SystemSpec, plan
from repro.report import ablation_claims
from repro.report.ablation_report import ablation_table
from repro.report.ablations import Ablations
from repro.train.run_info import RunInfo, Status

SEEDS = [1, 2, 3]
CONFIG = {"model": {"num_layers": 2}, "paper": {"reversed_seeds": SEEDS, "forward_seeds": SEEDS, "ensembles": [2], "table1_beams": [1],
                    "figure_beam": 1, "beam_table_beams": [1]},
          "ablations": {"enabled": True, "seeds": SEEDS, "beam": 1, "cell": ["gru", "rnn"], "num_layers": [1, 3],
                        "bootstrap_samples": 300}}
_WORDS = [f"w{i}" for i in range(50)]


LENGTHS = np.arange(80) % 20 + 1


def _translations(quality: float | np.ndarray, seed: int) -> np.ndarray:
    """Per-sentence BLEU statistics of a system that gets each reference word right with prob ``quality``
    (one for all sentences, or one per sentence)."""
    rng = np.random.default_rng(seed)
    refs = [" ".join(np.random.default_rng(i).choice(_WORDS, 10)) for i in range(len(LENGTHS))]
    quality = np.broadcast_to(quality, len(refs))
    hyps = [" ".join(w if rng.random() < q else "unk" for w in ref.split()) for ref, q in zip(refs, quality)]
    return sentence_stats(hyps, refs)


@dataclass
class FakeContext:
    """What Ablations reads of a ReportContext: a quality (BLEU) and a perplexity per run name."""

    quality: dict[str, float | np.ndarray]
    ppl: dict[str, float] = field(default_factory=dict)
    plan: Plan = field(default_factory=lambda: plan(CONFIG))
    experiment: str = "fake"
    test_src_lengths: np.ndarray = field(default_factory=lambda: LENGTHS)

    def stats(self, system: SystemSpec) -> np.ndarray:
        (run,) = system.decoder.runs
        return _translations(self.quality.get(run.name, 0.6), run.seed)

    def run_info(self, run: RunSpec) -> RunInfo:
        return RunInfo(status=Status.DONE, best_valid_ppl=self.ppl.get(run.name, 3.0))

    def cost(self, runs) -> dict:
        return {"converged": f"{len(runs)}/{len(runs)}", "parameters_M": 0.1 * len(runs), "train_hours": 0.01,
                "device": "cpu"}

    def scale_note(self) -> str:
        return "scale"


def _runs(variant: str, values: list[float]) -> dict[str, float]:
    return {f"{variant}-s{seed}": value for seed, value in zip(SEEDS, values)}


def test_reversal_holds_when_every_seed_separates_the_two_sides():
    ab = Ablations(FakeContext({**_runs("reversed", [0.9, 0.91, 0.89]), **_runs("forward", [0.5, 0.52, 0.48])}))
    row = ablation_claims.reversal(ab)
    assert row.verdict == "held" and row.p_value < 0.05 and row.p_seeds < 0.05
    assert row.measured["seed_test"]["seeds"] == [3, 3] and row.measured["seeds"] == SEEDS
    assert row.measured["seeds_reversed_better"] == 3 and row.converged == "6/6"


def test_reversal_is_inconclusive_when_one_seed_fails():
    # pooled over sentences the reversed model is still better, but one failed seed makes its spread huge
    ab = Ablations(FakeContext({**_runs("reversed", [0.9, 0.92, 0.25]), **_runs("forward", [0.5, 0.52, 0.48])}))
    row = ablation_claims.reversal(ab)
    assert row.measured["difference"] > 0 and row.p_value < 0.05
    assert row.measured["seed_test"]["spread"] > row.measured["seed_test"]["difference"]
    assert row.verdict == "inconclusive"


def test_teacher_forcing_did_not_hold_when_ratio_zero_is_clearly_better():
    config = {**CONFIG, "ablations": {**CONFIG["ablations"], "teacher_forcing_ratio": [0.0]}}
    ctx = FakeContext({**_runs("reversed", [0.5, 0.52, 0.48]), **_runs("tf0", [0.9, 0.91, 0.89])}, plan=plan(config))
    assert ablation_claims.teacher_forcing(Ablations(ctx)).verdict == "did not hold"


def test_cells_needs_every_cell_beyond_half_of_the_lstm():
    good = FakeContext({**_runs("reversed", [0.8] * 3), **_runs("cell-gru", [0.78, 0.8, 0.79]),
                        **_runs("cell-rnn", [0.7, 0.72, 0.71])})
    row = ablation_claims.cells(Ablations(good))
    assert row.verdict == "held" and all(c["verdict"] == "held" for c in row.measured["cells"].values())
    assert len(row.measured["cells"]["gru"]["fraction_of_main_seeds"]) == 3
    bad = FakeContext({**good.quality, **_runs("cell-rnn", [0.05, 0.06, 0.04])})
    row = ablation_claims.cells(Ablations(bad))
    assert row.measured["cells"]["rnn"]["verdict"] == "did not hold" and row.verdict == "did not hold"


def test_depth_is_judged_per_seed_pair_and_spread():
    ppl = {**_runs("layers1", [4.0, 4.1, 3.9]), **_runs("reversed", [3.0, 3.1, 2.9]),
           **_runs("layers3", [2.5, 2.55, 2.45])}
    row = ablation_claims.depth(Ablations(FakeContext({}, ppl)))
    assert row.measured["layers"] == [1, 2, 3] and row.verdict == "held"
    assert row.measured["cut_per_layer_seeds"][0] == pytest.approx([0.25, 1 - 3.1 / 4.1, 1 - 2.9 / 3.9])
    # depth 3 better on average by 5%, but its seeds range from 30% better to 20% worse
    noisy = {**ppl, **_runs("layers3", [2.1, 3.72, 2.45])}
    row = ablation_claims.depth(Ablations(FakeContext({}, noisy)))
    assert row.measured["verdict_per_layer"] == ["held", "inconclusive"] and row.verdict == "inconclusive"


def test_ablation_table_has_n_mean_std_and_a_seed_level_comparison(tmp_path):
    ctx = FakeContext({**_runs("reversed", [0.8, 0.81, 0.79]), **_runs("cell-gru", [0.8, 0.6, 0.95]),
                       **_runs("cell-rnn", [0.2, 0.22, 0.18])})
    df = ablation_table(Ablations(ctx), "cell", tmp_path / "ablation_cell")
    assert list(df["seeds"]) == [3, 3, 3]
    assert all(" ± " in cell for cell in df["BLEU beam 1 (mean ± std)"])
    by_variant = df.set_index("variant")
    assert by_variant.loc["RNN cells, same size", "vs main"] == "lower"
    assert by_variant.loc["GRU cells, same size", "vs main"] == "inconclusive"  # its seeds straddle the main's
    assert pd.isna(by_variant.loc["main model (reversed source)", "vs main"])
    assert "Welch's t-test" in (tmp_path / "ablation_cell.md").read_text(encoding="utf-8").splitlines()[-1]


def test_context_vector_is_tested_per_seed_on_long_minus_short_sources():
    config = {**CONFIG, "ablations": {**CONFIG["ablations"], "attention": True, "attention_forward": False}}
    bottleneck = np.where(LENGTHS > 10, 0.4, 0.9)  # the main model loses long sources, attention does not
    ctx = FakeContext({**_runs("reversed", [bottleneck] * 3), **_runs("attention", [0.9] * 3)}, plan=plan(config))
    row = ablation_claims.context_vector(Ablations(ctx))
    assert row.measured["gain_long"] > 30 and abs(row.measured["gain_short"]) < 5
    assert row.measured["seed_test"]["seeds"] == [3] and row.p_seeds < 0.05 and row.verdict == "held"
    # the same gain on long and short sources: nothing to decide
    ctx = FakeContext({**_runs("reversed", [0.5] * 3), **_runs("attention", [0.9] * 3)}, plan=plan(config))
    assert ablation_claims.context_vector(Ablations(ctx)).verdict == "inconclusive"


def test_an_axis_with_its_own_seeds_compares_the_main_model_on_those_seeds(tmp_path):
    config = {**CONFIG, "paper": {**CONFIG["paper"], "reversed_seeds": [1, 2, 3, 4], "forward_seeds": [1]},
              "ablations": {**CONFIG["ablations"], "seeds": [1], "axis_seeds": {"cell": [2, 3, 4]}}}
    # the main model's seed 1 fails: the depth axis (seed 1) sees it, the cell axis (seeds 2-4) does not
    quality = {"reversed-s1": 0.1, "reversed-s2": 0.8, "reversed-s3": 0.81, "reversed-s4": 0.79,
               "cell-rnn-s2": 0.2, "cell-rnn-s3": 0.22, "cell-rnn-s4": 0.18}
    ab = Ablations(FakeContext(quality, plan=plan(config)))
    cells = ablation_table(ab, "cell", tmp_path / "ablation_cell").set_index("variant")
    assert list(cells["seeds"]) == [3, 3, 3]
    assert min(ab.on("cell").bleus(ab.main)) > 40 > max(ab.on("num_layers").bleus(ab.main))
    assert cells.loc["RNN cells, same size", "vs main"] == "lower"
    depth = ablation_table(ab, "num_layers", tmp_path / "ablation_num_layers")
    assert list(depth["seeds"]) == [1, 1, 1] and set(depth["vs main"].dropna()) == {"inconclusive"}
    assert ablation_claims.cells(ab).measured["bleu_main"] == pytest.approx(ab.on("cell").bleus(ab.main))
