"""``repro report``: the paper's tables and figures (and the ablations) from a finished experiment."""

from __future__ import annotations

import argparse
from pathlib import Path

from repro.report.outputs import REPORTS

HELP = ("write the paper's tables and figures (Table 1, reversal, beam, Figures 2 and 3, Table 2, ablations, claims) "
        "and runs.csv (every model: why it stopped, best epoch and validation perplexity, cost)")
ACTIONS = ("all", "compare", "publish", "records")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("report", help=HELP, description=HELP + ". Reads the experiment's records (as the "
                              "workflow writes them into WORK/records, or records_from) and writes CSV, Markdown "
                              "and LaTeX tables and PNG/PDF figures.")
    reports = "; ".join(f"'{report.name}': {report.doc.rstrip('.')}" for report in REPORTS.values())
    p.add_argument("target", choices=tuple(REPORTS) + ACTIONS,
                   help=f"what to write. {reports}; 'all' writes every report of a complete run that the config "
                        "asks for (not the audit: it needs `repro audit` run first, into WORK/audit/RUN); 'compare' writes provenance.json "
                        "and compares DIR with the committed reference (comparison.md, comparison.json), after "
                        "gathering every record behind the results into DIR/records; 'publish' makes DIR the "
                        "committed reference, its records gathered again (with the audits made since); 'records' "
                        "copies the valid records the config asks for that exist (in WORK/records or records_from) "
                        "into the records directory DIR, adding to what it holds (a sitting's share of an experiment)")
    p.add_argument("--config", required=True, metavar="FILE.yaml",
                   help="the experiment config (its paper:/ablations: sections say what was run)")
    p.add_argument("--work", required=True, metavar="DIR", help="the experiment's work directory (work/<experiment>)")
    p.add_argument("--out", required=True, metavar="DIR", help="results directory (results/<experiment>); tables go "
                   "to DIR/tables, figures to DIR/figures")
    p.add_argument("--reference", metavar="DIR", help="the committed reference of the experiment, for compare and "
                   "publish (default: results/reference/<experiment>)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value")
    return p


def run(args: argparse.Namespace) -> int:
    from repro.config import load_config
    from repro.experiment_config import ExperimentConfig
    from repro.layout import ResultsLayout
    from repro.report.context import ReportContext
    from repro.report.outputs import complete_run

    ctx = ReportContext(ExperimentConfig.from_dict(load_config(args.config, args.set)), Path(args.work))
    out = ResultsLayout(args.out)
    if args.target == "records":
        from repro.records import merge

        copied = merge(ctx.records.every(audits=True), ctx.store.roots, args.out)
        print(f"{args.out}: {len(copied)} record(s) copied from {', '.join(map(str, ctx.store.roots))}")
        return 0
    if args.target in ("compare", "publish"):
        return _reference(args, ctx, Path(args.out))
    reports = complete_run(ctx.plan) if args.target == "all" else [REPORTS[args.target]]
    for report in reports:
        report.check_asked(ctx.plan, args.config)
        for record in report.reads(ctx.records):
            ctx.store.root(record)  # every input before anything is written: an error names the missing record
        report.write(ctx, out)
        print(f"wrote {report.name} under {args.out}")
    return 0


def _reference(args: argparse.Namespace, ctx, out: Path) -> int:
    from repro.layout import RECORDS, ExperimentDirs
    from repro.report import compare

    reference = Path(args.reference or ExperimentDirs.of(ctx.experiment, ctx.config.reference).reference)
    if args.target == "publish":
        compare.check_results(out)
        gather_records(ctx, out / RECORDS)  # again: with the audits made since the comparison
        copied = compare.publish(out, reference)
        print(f"published {', '.join(copied)} from {out} as the reference {reference}")
        return 0
    compare.check_results(out)
    infos = [ctx.run_info(run) for run in ctx.plan.runs.values()]  # before anything is written
    gather_records(ctx, out / RECORDS)
    comparison = compare.write_comparison(out, reference, ctx.experiment, infos)
    print(compare.summary(comparison))
    return 0


def gather_records(ctx, into: Path) -> None:
    """Every record behind a complete report (with the audits that exist) into ``into``, replacing what a
    previous gathering left there; a missing or stale record is an error before anything is written."""
    from repro.io import atomic_dir
    from repro.records import merge

    needed = ctx.records.every()
    for record in needed:
        ctx.store.root(record)  # raises naming the record
    audits = [r for r in (ctx.records.audit(run) for run in ctx.plan.runs.values()) if ctx.store.find(r)]
    with atomic_dir(into, owned=lambda path: (path / "data.json").is_file(), writer="repro report compare") as tmp:
        merge(needed + audits, ctx.store.roots, tmp)
