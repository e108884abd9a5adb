"""``repro report``: the paper's tables and figures (and the ablations) from a finished experiment."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = ("write the paper's tables and figures (Table 1, reversal, beam, Figures 2 and 3, Table 2, ablations, claims) "
        "and runs.csv (every model: why it stopped, best epoch and validation perplexity, cost)")
TARGETS = ("table1", "reversal", "beam", "fig3", "fig2", "table2", "runs", "convergence")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("report", help=HELP, description=HELP + ". Reads the experiment's work directory "
                              "(runs, translations, scores as the workflow writes them) and writes CSV, Markdown "
                              "and LaTeX tables and PNG/PDF figures.")
    p.add_argument("target", choices=TARGETS + ("ablations", "audit", "all", "compare", "publish", "records"),
                   help="what to write; 'convergence' draws every run's learning curves (figures/convergence, "
                        "convergence_lr); 'audit' tabulates the runs' convergence audits (convergence_audit.csv, "
                        "from `repro audit` into WORK/audit/RUN); 'ablations' writes the ablation tables, figures and claims.md (needs "
                        "ablations.enabled); 'all' writes every paper target; 'compare' writes provenance.json "
                        "and compares DIR with the committed reference (comparison.md, comparison.json), after "
                        "gathering every record behind the results into DIR/records; 'publish' makes DIR the "
                        "committed reference, its records gathered again (with the audits made since); 'records' copies the valid records the config asks for that exist "
                        "(in WORK/records or records_from) into the records directory DIR, adding to what it holds "
                        "(a sitting's share of an experiment)")
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
    from repro.layout import ResultsLayout
    from repro.report import convergence, paper_report
    from repro.report.context import ReportContext
    from repro.report.runs import runs_table

    ctx = ReportContext(load_config(args.config, args.set), Path(args.work))
    out = ResultsLayout(args.out)
    if args.target == "records":
        from repro.records import merge

        copied = merge(ctx.records.every(audits=True), ctx.store.roots, args.out)
        print(f"{args.out}: {len(copied)} record(s) copied from {', '.join(map(str, ctx.store.roots))}")
        return 0
    if args.target in ("compare", "publish"):
        return _reference(args, ctx, Path(args.out))
    if args.target == "ablations":
        from repro.report import ablation_report

        if not ctx.plan.ablations.enabled:
            from repro.errors import ConfigError

            raise ConfigError(f"{args.config}: ablations.enabled is false; there are no ablation runs to report")
        ablation_report.write_all(ctx, out)
        print(f"wrote ablations under {args.out}")
        return 0
    writers = {
        "table1": lambda: paper_report.table1(ctx, out.table("table1")),
        "reversal": lambda: paper_report.reversal_table(ctx, out.table("reversal")),
        "beam": lambda: paper_report.beam_table(ctx, out.table("beam")),
        "fig3": lambda: paper_report.figure3(ctx, out),
        "fig2": lambda: paper_report.figure2(ctx, out.figure("fig2_pca")),
        "table2": lambda: paper_report.table2(ctx, out.table("table2")),
        "runs": lambda: runs_table(ctx, out.runs),
        "convergence": lambda: convergence.convergence_figures(ctx, out.figure(convergence.FIGURE),
                                                               out.figure(convergence.RATE_FIGURE)),
        "audit": lambda: convergence.audit_table(ctx, out.audit),
    }
    for target in TARGETS if args.target == "all" else (args.target,):  # the audit is not in 'all': it trains
        writers[target]()
        print(f"wrote {target} under {args.out}")
    return 0


def _reference(args: argparse.Namespace, ctx, out: Path) -> int:
    from repro.layout import RECORDS, ExperimentDirs
    from repro.report import compare

    reference = Path(args.reference or ExperimentDirs.of(ctx.experiment, ctx.config.get("reference")).reference)
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
