"""``runs.csv``: the evidence behind every table, one row per trained model.

Each row says which variant and seed a run is, why its training stopped (``converged``: the last
validations at the final learning rate made no progress, ``repro.train.schedule.Convergence``;
``epoch_limit`` / ``max_steps``: the ceiling came first, the run still improving),
where its best checkpoint was, and what it cost on which device in which precision.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from repro.report.context import ReportContext
from repro.report.tables import RATE_FORMAT, write_table


def runs_table(ctx: ReportContext, prefix: str | Path) -> pd.DataFrame:
    records = []
    for run in ctx.plan.runs.values():
        info = ctx.run_info(run)
        records.append({
            "name": run.name,
            "variant": run.variant.name,
            "axis": run.variant.axis,
            "seed": run.seed,
            "stop reason": str(info.stop_reason or "not recorded"),
            "best epoch": info.best_epoch,
            "best valid perplexity": info.best_valid_ppl,
            "validations after best": info.evals_since_best,
            "final lr": info.final_lr,
            "steps": info.step,
            "wall time (s)": info.wall_time_s,
            "tokens/s": info.tokens_per_s,
            "device": info.device_name,
            "dtype": info.dtype or "fp32",
            "parameters": info.parameters,
        })
    df = pd.DataFrame.from_records(records)
    converged = int((df["stop reason"] == "converged").sum()) if len(df) else 0
    caption = (f"Every model of experiment '{ctx.experiment}': {converged} of {len(df)} stopped converged (the last "
               "validations at the final learning rate made no progress); 'epoch_limit' or 'max_steps' means the "
               "ceiling came first, the run still improving. Best epoch and perplexity are those of the checkpoint "
               "every table decodes (selected on validation data); 'validations after best' counts the validations "
               f"that followed it. {ctx.scale_note()}")
    write_table(df, prefix, caption, formats=RATE_FORMAT)
    return df
