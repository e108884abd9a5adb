"""Ablations and claims: one table per axis, BLEU by length per variant, gradient norms, claims.md.

Every variant is trained with every ablation seed. A table cell is mean ± std over seeds and says how many
seeds it has; each variant is compared with the main (reversed) model twice: by paired bootstrap resampling
on the test sentences, pooled over seeds (seed s of the variant is paired with seed s of the main model),
which sees the sentences' noise, and by Welch's t-test on the per-seed BLEU, which sees the seeds'. A
difference is decided only when both tests agree and it is larger than either side's seed spread
(:func:`repro.report.claims.verdict`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from repro.evaluation.bleu import bleu_from_stats, subset_bleu
from repro.evaluation.bootstrap import paired_bootstrap
from repro.experiments import AXES, FORWARD, REVERSED, RunSpec, Variant
from repro.layout import ResultsLayout
from repro.report.bins import quantile_bins
from repro.report.claims import HELD, NOT_HELD, SeedTest, verdict
from repro.report.context import ReportContext
from repro.report.figures import plot_binned_bleu, plot_curves
from repro.report.tables import format_mean_std, write_table


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

    def decide(self, test: dict, claimed_direction: int = 1) -> str:
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


def ablation_table(ab: Ablations, axis: str, prefix: str | Path) -> pd.DataFrame:
    ab = ab.on(axis)
    ctx = ab.ctx
    records = []
    for variant in [ab.main] + ab.variants_on(axis):
        bleus, ppls = ab.bleus(variant), ab.valid_ppls(variant)
        record = {
            "variant": ab.label(variant),
            "seeds": len(bleus),
            f"BLEU beam {ab.beam} (mean ± std)": format_mean_std(bleus),
            "valid perplexity (mean ± std)": format_mean_std(ppls),
        }
        if variant != ab.main:
            test = ab.compare(ab.main, variant)
            seeds = test["seeds"]
            record["Δ BLEU vs main (seed means)"] = round(seeds.difference, 2)
            record["larger seed spread"] = round(seeds.spread, 2)
            record["p (Welch, seeds)"] = None if seeds.p_value is None else round(seeds.p_value, 4)
            record["95% CI of Δ (bootstrap)"] = f"[{test['difference_ci'][0]:.2f}, {test['difference_ci'][1]:.2f}]"
            record["p (paired bootstrap)"] = round(test["p_value"], 4)
            record["vs main"] = {HELD: "higher", NOT_HELD: "lower"}.get(ab.decide(test), "inconclusive")
        cost = ctx.cost(ab.runs(variant))
        record["parameters (M)"] = round(cost["parameters_M"] / len(ab.seeds), 3)
        record["train hours (all seeds)"] = round(cost["train_hours"], 3)
        record["converged"] = cost["converged"]
        record["device"] = cost["device"]
        records.append(record)
    df = pd.DataFrame.from_records(records)
    caption = (
        f"Ablation: {AXES[axis]}. BLEU is the paper's way (cased multi-bleu.pl, tokenized) at beam "
        f"{ab.beam}, mean ± std over seeds {ab.seeds} ('seeds' = n). Each variant is compared with the main "
        f"model over seeds (Δ of the seed means, Welch's t-test) and over test sentences (paired bootstrap, "
        f"{ab.samples} samples, seeds pooled); 'vs main' is higher or lower only when both give p < 0.05 in the "
        f"same direction and |Δ| exceeds the larger seed spread (either side's BLEU std over seeds), else "
        f"inconclusive. 'converged' counts the runs whose stop rule ended them (the last validations at the final "
        f"learning rate made no progress), not the epoch ceiling. {ctx.scale_note()}"
    )
    write_table(df, prefix, caption)
    return df


def length_figure(ab: Ablations, out: ResultsLayout, min_count: int = 30) -> pd.DataFrame:
    """BLEU against test source length, one line per variant (seeds pooled), attention included."""
    ctx = ab.ctx
    lengths = ctx.test_src_lengths
    bins = quantile_bins(lengths, max_bins=6, min_count=max(1, min(min_count, len(lengths) // 4)))
    n = len(lengths)
    variants = [ab.main, ab.forward] + [v for axis in ("max_train_len", "attention") for v in ab.variants_on(axis)]
    series = {}
    for variant in variants:
        view = ab.on(variant.axis)  # each variant over its axis's seeds (the paper's two: ablations.seeds)
        pooled = view.pooled(variant)
        series["main model (reversed, no attention)" if variant == ab.main else variant.label] = [
            subset_bleu(pooled, np.concatenate([b.indices + k * n for k in range(len(view.seeds))])) for b in bins
        ]
    labels, counts = [b.label() for b in bins], [b.count for b in bins]
    plot_binned_bleu(labels, counts, series, "source sentence length (words)",
                     f"BLEU by test sentence length per variant (beam {ab.beam}, seeds pooled)",
                     Path(out.figure("ablation_length")))
    df = pd.DataFrame({"bin": labels, "sentences": counts, **series})
    write_table(df, out.figure("ablation_length"), "BLEU per source-length bin for each ablation variant (the data "
                "behind ablation_length). " + ctx.scale_note())
    return df


def gradient_curves(ab: Ablations, out: ResultsLayout) -> dict[Variant, dict[str, float]]:
    """Gradient norm (before clipping) against step for each cell type, first ablation seed."""
    ab = ab.on("cell")
    curves, summary = {}, {}
    clip = ab.plan.setting(ab.main, "train.clip_norm")
    for variant in [ab.main] + ab.variants_on("cell"):
        run = ab.plan.run(variant.name, ab.seeds[0])
        curve = ab.ctx.train_curve(run)
        steps, norms = curve["step"], curve["grad_norm"]
        label = (f"main model ({ab.plan.setting(ab.main, 'model.cell').upper()})" if variant == ab.main
                 else variant.label)
        curves[label] = (steps, norms)
        summary[variant] = {
            "median": float(np.median(norms)), "max": float(np.max(norms)),
            "fraction_above_clip": float(np.mean(np.asarray(norms) > clip)) if clip else 0.0,
            "coefficient_of_variation": float(np.std(norms) / np.mean(norms)) if np.mean(norms) else 0.0,
        }
    plot_curves(curves, "training step", "gradient norm before clipping (interval mean)",
                f"Gradient norms per cell type (clipping threshold {clip})", Path(out.figure("grad_norms")), log_y=True)
    return summary


def write_all(ctx: ReportContext, out: ResultsLayout) -> None:
    """Every ablation table, the two figures and the claims (claims.md and claims.json)."""
    from repro.report.ablation_claims import write_claims

    if not ctx.plan.ablations.enabled:
        raise ValueError("the config's ablations section is not enabled")
    ab = Ablations(ctx)
    for axis in ctx.plan.ablation_axes():
        ablation_table(ab, axis, out.table(f"ablation_{axis}"))
    length_figure(ab, out)
    grads = gradient_curves(ab, out) if ab.variants_on("cell") else None
    write_claims(ab, grads, out.claims)
