"""Learning curves and the audit table, from the records of run directories as `repro train` and `repro audit`
leave them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from repro.errors import ReproError
from repro.layout import Layout, ResultsLayout
from repro.records import RecordPlan, write_audit_record, write_run_record
from repro.report.context import ReportContext
from repro.report.convergence import audit_table, convergence_figures, draw_convergence
from repro.train.audit_result import AuditResult
from repro.train.run_info import RunInfo, Status, StopReason, write_run_info

CONFIG = {"experiment": "curves", "paper": {"reversed_seeds": [1, 2], "forward_seeds": [1], "ensembles": []}}
RUNS = {"reversed-s1": ("reversed", "converged"), "reversed-s2": ("reversed", "epoch_limit"),
        "forward-s1": ("forward", "converged")}


def _write_run(work: Path, name: str, stop_reason: str, offset: float) -> list[float]:
    run_dir = work / "runs" / name
    run_dir.mkdir(parents=True)
    ppls = [30.0 / (1 + k) + offset for k in range(6)] + [5.0 + offset + 0.1]
    entries = []
    for k, ppl in enumerate(ppls):
        step = 10 * (k + 1)
        entries.append({"kind": "train", "step": step, "epoch": (k + 1) / 2, "loss": 1.0, "lr": 0.01 / 2**min(k, 3),
                        "grad_norm": 1.0})
        entries.append({"kind": "valid", "step": step, "epoch": (k + 1) / 2, "valid_ppl": ppl})
    (run_dir / "log.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries))
    write_run_info(run_dir, RunInfo(status=Status.DONE, stop_reason=StopReason(stop_reason), best_valid_ppl=min(ppls)))
    records = RecordPlan(CONFIG)
    write_run_record(run_dir, name, Layout(str(work)).records, records.run(records.plan.runs[name]).fingerprint)
    return ppls


@pytest.fixture
def context(tmp_path) -> tuple[ReportContext, dict[str, list[float]]]:
    work = tmp_path / "work"
    logged = {name: _write_run(work, name, reason, offset)
              for offset, (name, (_, reason)) in enumerate(RUNS.items())}
    return ReportContext(CONFIG, work), logged


def test_one_panel_per_variant_one_curve_per_run_from_the_logs(context):
    ctx, logged = context
    fig, rate_fig = draw_convergence(ctx)
    panels = {ax.get_title(): ax for ax in fig.axes if ax.get_visible()}
    assert set(panels) == {"reversed", "forward"}
    for variant, ax in panels.items():
        runs = [name for name, (v, _) in RUNS.items() if v == variant]
        curves = [line for line in ax.get_lines() if len(line.get_ydata()) > 1]
        assert len(curves) == len(runs)
        assert sorted(map(tuple, (line.get_ydata() for line in curves))) == sorted(tuple(logged[r]) for r in runs)
        legend = [text.get_text() for text in ax.get_legend().get_texts()]
        assert legend == [f"seed {name[-1]}: {RUNS[name][1]}" for name in runs]
        # the best checkpoint (★) is the curve's minimum, the stop (×) its last point
        stars = [line for line in ax.get_lines() if line.get_marker() == "*"]
        assert sorted(float(line.get_ydata()[0]) for line in stars) == sorted(min(logged[r]) for r in runs)
        stops = [line for line in ax.get_lines() if line.get_marker() == "x"]
        assert sorted(float(line.get_ydata()[0]) for line in stops) == sorted(logged[r][-1] for r in runs)
    rates = [ax for ax in rate_fig.axes if ax.get_visible()]
    assert sum(len(ax.get_lines()) for ax in rates) == len(RUNS)


def test_figures_are_written_as_png_and_pdf(context, tmp_path):
    ctx, _ = context
    out = ResultsLayout(str(tmp_path / "results"))
    paths = convergence_figures(ctx, out.figure("convergence"), out.figure("convergence_lr"))
    assert sorted(p.name for p in paths) == ["convergence.pdf", "convergence.png", "convergence_lr.pdf",
                                             "convergence_lr.png"]
    assert all(p.stat().st_size > 1000 for p in paths)


def test_a_run_without_validations_has_no_record_and_the_figure_says_which(context):
    ctx, _ = context
    (ctx.work_dir / "runs" / "forward-s1" / "log.jsonl").write_text("")
    with pytest.raises(ReproError, match="forward-s1/log.jsonl: no validation entries"):
        write_run_record(ctx.work_dir / "runs" / "forward-s1", "forward-s1", ctx.layout.records, "x")
    Path(ctx.layout.records.run("forward-s1")).unlink()
    with pytest.raises(ReproError, match="no record runs/forward-s1.json in .*records"):
        draw_convergence(ctx)


def test_audit_table_reports_the_largest_gain_among_converged_runs(context, tmp_path):
    ctx, _ = context
    gains = {"reversed-s1": 0.004, "reversed-s2": 0.05, "forward-s1": 0.008}
    for name, gain in gains.items():
        path = Path(ctx.layout.audit(name))
        path.parent.mkdir(parents=True)
        result = AuditResult(run_dir=name, stop_reason=RUNS[name][1], stopped_epoch=3.5, best_valid_ppl=4.0,
                             final_lr=1e-3, epochs=[4.0, 4.5], valid_ppls=[4.1, 4.0 * (1 - gain)])
        path.write_text(json.dumps(result.to_dict()))
        write_audit_record(path, ctx.layout.records.audit(name), ctx.records.audit(ctx.plan.runs[name]).fingerprint)
    df = audit_table(ctx, tmp_path / "audit")
    assert np.allclose(df.set_index("name")["further gain (%)"].to_dict()["reversed-s2"], 5.0)
    md = (tmp_path / "audit.md").read_text()
    assert "2 of 3 runs stopped converged" in md
    assert "the largest further gain of a run that stopped converged is 0.80% (forward-s1)" in md
    assert list(pd.read_csv(tmp_path / "audit.csv")["name"]) == list(RUNS)
