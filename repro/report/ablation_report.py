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

from repro.evaluation.bleu import subset_bleu
from repro.experiments import AXES, Variant
from repro.report.ablation_claims import write_claims
from repro.report.ablations import Ablations
from repro.report.bins import quantile_bins
from repro.report.claims import Verdict
from repro.report.context import ReportContext
from repro.report.figures import plot_binned_bleu, plot_curves
from repro.report.tables import format_mean_std, write_table


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
            record["vs main"] = {Verdict.HELD: "higher", Verdict.NOT_HELD: "lower"}.get(ab.decide(test), "inconclusive")
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


def length_figure(ab: Ablations, prefix: str | Path, min_count: int = 30) -> pd.DataFrame:
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
                     Path(prefix))
    df = pd.DataFrame({"bin": labels, "sentences": counts, **series})
    write_table(df, prefix, f"BLEU per source-length bin for each ablation variant (the data behind "
                f"{Path(prefix).name}). " + ctx.scale_note())
    return df


def gradient_curves(ab: Ablations, prefix: str | Path) -> dict[Variant, dict[str, float]]:
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
                f"Gradient norms per cell type (clipping threshold {clip})", Path(prefix), log_y=True)
    return summary


def write_all(ctx: ReportContext, tables: dict[str, str], length_prefix: str, gradients_prefix: str,
              claims_prefix: str) -> None:
    """Every ablation table (``tables``: axis → prefix), BLEU by length per variant, gradient norms per cell
    type (when the cell axis has variants) and the claims (claims.md and claims.json)."""
    if not ctx.plan.ablations.enabled:
        raise ValueError("the config's ablations section is not enabled")
    ab = Ablations(ctx)
    for axis in ctx.plan.ablation_axes():
        ablation_table(ab, axis, tables[axis])
    length_figure(ab, length_prefix)
    grads = gradient_curves(ab, gradients_prefix) if ab.variants_on("cell") else None
    write_claims(ab, grads, claims_prefix)
