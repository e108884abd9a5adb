"""Did every model converge? The learning curves, read from each run's record, and the audit table.

``convergence.png``: validation perplexity against epoch, one panel per variant, its seeds overlaid, each
run's best checkpoint (the one every table decodes) and its stop marked, the stop reason in the legend.
``convergence_lr.png``: the learning rate each run trained at, the same panels. ``convergence_audit``: per
run, what ``repro audit`` measured when it continued the finished run at its final rate (the further gain).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from repro.experiments import RunSpec
from repro.report.context import ReportContext
from repro.report.figures import plt, save_figure
from repro.report.tables import RATE_FORMAT, write_table


def _panels(ctx: ReportContext) -> dict[str, list[RunSpec]]:
    """The plan's variants that have runs, each with its runs in seed order."""
    return {name: runs for name in ctx.plan.variants if (runs := ctx.plan.runs_of(name))}


def _grid(count: int):
    cols = min(3, count)
    rows = math.ceil(count / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.flat[count:]:
        ax.set_visible(False)
    return fig, axes.flat


def convergence_figures(ctx: ReportContext, prefix: str | Path, rate_prefix: str | Path) -> list[Path]:
    """Write both figures (PNG and PDF); returns their paths."""
    fig, rate_fig = draw_convergence(ctx)
    return save_figure(fig, prefix) + save_figure(rate_fig, rate_prefix)


def draw_convergence(ctx: ReportContext):
    """The two figures, not yet saved: per variant, a panel of validation perplexity and one of the
    learning rate, one curve per run read from its log."""
    panels = _panels(ctx)
    fig, axes = _grid(len(panels))
    rate_fig, rate_axes = _grid(len(panels))
    for ax, rate_ax, (variant, runs) in zip(axes, rate_axes, panels.items()):
        for run in runs:
            valid, train = ctx.valid_curve(run), ctx.train_curve(run)
            info = ctx.run_info(run)
            epochs, ppls = [e["epoch"] for e in valid], [e["valid_ppl"] for e in valid]
            (line,) = ax.plot(epochs, ppls, linewidth=1.2,
                              label=f"seed {run.seed}: {info.stop_reason or 'not recorded'}")
            best = min(valid, key=lambda e: e["valid_ppl"])
            ax.plot([best["epoch"]], [best["valid_ppl"]], marker="*", markersize=10, color=line.get_color())
            ax.plot([epochs[-1]], [ppls[-1]], marker="x", markersize=7, color=line.get_color())
            rate_ax.step(train["epoch"], train["lr"], where="post", linewidth=1.2,
                         color=line.get_color(), label=f"seed {run.seed}")
        for axis, ylabel in ((ax, "validation perplexity"), (rate_ax, "learning rate")):
            axis.set_yscale("log")
            axis.set_xlabel("epoch")
            axis.set_ylabel(ylabel)
            axis.set_title(variant, fontsize=10)
            axis.grid(True, alpha=0.3, which="both")
            axis.legend(fontsize=7)
    fig.suptitle(f"Experiment '{ctx.experiment}': validation perplexity per run (★ best checkpoint, × stop; "
                 "legend: stop reason)", fontsize=10)
    rate_fig.suptitle(f"Experiment '{ctx.experiment}': the learning rate each run trained at", fontsize=10)
    fig.tight_layout()
    rate_fig.tight_layout()
    return fig, rate_fig


def audit_table(ctx: ReportContext, prefix: str | Path) -> pd.DataFrame:
    """One row per run: its stop, the rate the audit continued it at, the further evaluations' best
    perplexity and the further gain; the caption gives the largest gain among the converged runs."""
    records = []
    for run in ctx.plan.runs.values():
        audit = ctx.audit(run)
        records.append({
            "name": run.name, "variant": run.variant.name, "seed": run.seed,
            "stop reason": audit.stop_reason or "not recorded", "stopped at epoch": round(audit.stopped_epoch, 3),
            "best valid perplexity": audit.best_valid_ppl, "final lr": audit.final_lr,
            "further evaluations": len(audit.valid_ppls),
            "best further perplexity": min(audit.valid_ppls),
            "further gain (%)": round(100 * audit.further_gain, 3),
        })
    df = pd.DataFrame.from_records(records)
    converged = df[df["stop reason"] == "converged"]
    largest = (f"the largest further gain of a run that stopped converged is {converged['further gain (%)'].max():.2f}% "
               f"({converged.loc[converged['further gain (%)'].idxmax(), 'name']})" if len(converged)
               else "no run stopped converged")
    caption = (f"Convergence audit of experiment '{ctx.experiment}': every finished run continued from its last "
               f"checkpoint at the learning rate it ended with, for {df['further evaluations'].min()} more validations "
               "(`repro audit`); the further gain is the relative drop of its best validation perplexity. "
               f"{len(converged)} of {len(df)} runs stopped converged; {largest}.")
    write_table(df, prefix, caption, formats=RATE_FORMAT)
    return df
