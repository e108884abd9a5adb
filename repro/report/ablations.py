"""The ablation runs' statistics, computed once per report: per-variant BLEU (per seed and pooled over
seeds), validation perplexities, and the two comparisons with the main (reversed) model every ablation
table and claim rests on (the paired bootstrap over sentences, Welch's t-test over seeds)."""

from __future__ import annotations

import numpy as np

from repro.evaluation.bleu import bleu_from_stats
from repro.evaluation.bootstrap import paired_bootstrap
from repro.experiments import FORWARD, REVERSED, RunSpec, Variant
from repro.report.claims import SeedTest, Verdict, verdict
from repro.report.context import ReportContext


class Ablations:
    """Per-variant statistics of the ablation runs (the plan's variants and seeds), computed once per report.

    ``seeds`` are those every table and test of this object reads: ``ablations.seeds``, or, for the view
    :meth:`on` returns, one axis's seeds (``ablations.axis_seeds``), on which the main model is compared too.
    """

    def __init__(self, ctx: ReportContext, seeds: list[int] | None = None,
                 stats: dict[RunSpec, np.ndarray] | None = None) -> None:
        self.ctx = ctx
        self.plan = ctx.plan
        self.seeds = list(ctx.plan.ablations.seeds if seeds is None else seeds)
        self.beam = ctx.plan.ablations.beam
        self.samples = ctx.plan.ablations.bootstrap_samples
        self.main = ctx.plan.variants[REVERSED]
        self.forward = ctx.plan.variants[FORWARD]
        self._stats: dict[RunSpec, np.ndarray] = {} if stats is None else stats

    def on(self, axis: str) -> Ablations:
        """The same statistics over the seeds of ``axis`` (its variants', and the main model's on those)."""
        return Ablations(self.ctx, self.plan.ablations.seeds_of(axis), self._stats)

    def runs(self, variant: Variant) -> list[RunSpec]:
        return [self.plan.run(variant.name, seed) for seed in self.seeds]

    def all_runs(self, variant: Variant) -> list[RunSpec]:
        """Every run of a variant (the main and forward models have the paper's seeds besides the ablation's)."""
        return self.plan.runs_of(variant.name)

    def decide(self, test: dict, claimed_direction: int = 1) -> Verdict:
        """The verdict of a comparison from :meth:`compare_runs`: the bootstrap and the test over seeds."""
        return verdict(test["difference"], test["p_value"], claimed_direction, seeds=test["seeds"])

    def converged(self, variants: list[Variant] | tuple[Variant, ...]) -> str:
        """How many of the runs behind a comparison of variants stopped converged, as 'k/n'."""
        return self.runs_converged([run for v in variants for run in self.runs(v)])

    def runs_converged(self, runs: list[RunSpec]) -> str:
        return self.ctx.cost(runs)["converged"]

    def stats(self, run: RunSpec) -> np.ndarray:
        if run not in self._stats:
            self._stats[run] = self.ctx.stats(self.plan.system(run, self.beam))
        return self._stats[run]

    def pooled(self, variant: Variant) -> np.ndarray:
        """Per-sentence statistics of all seeds stacked: seed-major, so seed s rows pair across variants."""
        return self.pooled_runs(self.runs(variant))

    def pooled_runs(self, runs: list[RunSpec]) -> np.ndarray:
        return np.concatenate([self.stats(run) for run in runs])

    def bleus(self, variant: Variant) -> list[float]:
        return self.run_bleus(self.runs(variant))

    def run_bleus(self, runs: list[RunSpec]) -> list[float]:
        return [bleu_from_stats(self.stats(run)) for run in runs]

    def valid_ppls(self, variant: Variant) -> list[float]:
        return self.run_valid_ppls(self.runs(variant))

    def run_valid_ppls(self, runs: list[RunSpec]) -> list[float]:
        return [float(self.ctx.run_info(run).best_valid_ppl) for run in runs]

    def compare(self, base: Variant, variant: Variant) -> dict:
        return self.compare_runs(self.runs(base), self.runs(variant))

    def compare_runs(self, base: list[RunSpec], runs: list[RunSpec]) -> dict:
        """``runs`` against ``base`` (equal lengths: the i-th runs pair up): the paired bootstrap's result
        (difference, difference_ci, p_value) and, under "seeds", Welch's t-test on the per-seed BLEU."""
        test = paired_bootstrap(self.pooled_runs(base), self.pooled_runs(runs), n_samples=self.samples, seed=12345)
        return {**test, "seeds": SeedTest.welch(self.run_bleus(base), self.run_bleus(runs))}

    def reversal_seeds(self) -> list[int]:
        """The seeds with both a forward and a reversed run: the seed-level reversal comparison."""
        reversed_seeds = {run.seed for run in self.all_runs(self.main)}
        return [run.seed for run in self.all_runs(self.forward) if run.seed in reversed_seeds]

    def variants_on(self, axis: str) -> list[Variant]:
        return self.plan.variants_on(axis)

    def label(self, variant: Variant) -> str:
        return "main model (reversed source)" if variant == self.main else variant.label

    def same_size_cells(self) -> list[Variant]:
        """The cell variants at the main model's hidden size (not the equal-parameter ones)."""
        return [v for v in self.variants_on("cell") if not v.changes("model.hidden_size")]

    def attention(self, reverse_source: bool) -> Variant | None:
        found = [v for v in self.variants_on("attention")
                 if self.plan.setting(v, "model.reverse_source") == reverse_source]
        return found[0] if found else None
