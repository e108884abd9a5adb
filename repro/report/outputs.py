"""Every report output, declared once: what it reads, the files it writes, how it is shown in Snakemake's
HTML report, and its writer. The workflow makes one rule per entry (``workflows/rules/report.smk``) and
``repro report <name>`` runs the entry's writer, so a rule cannot expect a file the code does not write.

Adding a table or a figure is one entry here (plus its writer, and its test in ``tests/test_report_outputs.py``,
which checks that the writer writes exactly the files the entry declares).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from repro.errors import ConfigError
from repro.experiments import Plan
from repro.layout import ResultsLayout
from repro.records import Record, RecordPlan

if TYPE_CHECKING:
    from repro.report.context import ReportContext

TABLE_FORMATS = (".csv", ".md", ".tex")  # repro.report.tables.write_table
FIGURE_FORMATS = (".png", ".pdf")  # repro.report.figures.save_figure


@dataclass(frozen=True)
class Shown:
    """How a file appears in ``snakemake --report``: its caption (a file under workflows/report/), where
    it is filed, and its labels."""

    caption: str
    category: str
    subcategory: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OutputFile:
    path: str
    shown: Shown | None = None  # None: written, not shown in the HTML report


@dataclass(frozen=True)
class ReportOutput:
    """One report: ``repro report <name>``, the workflow's rule ``report_<name>`` and its log."""

    name: str
    doc: str  # the rule's docstring: what it shows and where the paper shows it
    reads: Callable[[RecordPlan], list[Record]]
    files: Callable[[Plan, ResultsLayout], list[OutputFile]]  # []: the config asks for none of it
    write: Callable[[ReportContext, ResultsLayout], object]
    in_all: bool = True  # part of a complete run (`snakemake all`, `repro report all`)
    asked_when: str = ""  # when ``files`` can be []: the setting that asks for it

    def check_asked(self, plan: Plan, config_name: str) -> None:
        if not self.files(plan, ResultsLayout("")):
            raise ConfigError(f"{config_name}: there is no {self.name} report to write: it is written only when "
                              f"{self.asked_when}")

    def paths(self, plan: Plan, out: ResultsLayout) -> list[str]:
        return [file.path for file in self.files(plan, out)]


def table_files(prefix: str, shown: Shown | None) -> list[OutputFile]:
    """A table written by ``write_table``: the CSV shown, its Markdown and LaTeX renderings beside it."""
    return [OutputFile(prefix + TABLE_FORMATS[0], shown), *(OutputFile(prefix + ext) for ext in TABLE_FORMATS[1:])]


def figure_files(prefix: str, shown: Shown | None, with_data: bool = False) -> list[OutputFile]:
    """A figure (PNG shown, PDF beside it), with ``with_data`` the table of the numbers it plots."""
    files = [OutputFile(prefix + FIGURE_FORMATS[0], shown), OutputFile(prefix + FIGURE_FORMATS[1])]
    return files + (table_files(prefix, None) if with_data else [])


# ---- what the reports read


def system_records(records: RecordPlan, systems) -> list[Record]:
    """The records of ``systems``, of the runs behind them and of the test set."""
    runs = sorted({run.name: run for s in systems for run in s.runs}.values(), key=lambda run: run.name)
    return [records.data(), *(records.run(run) for run in runs), *(records.system(s) for s in systems)]


def paper_records(records: RecordPlan) -> list[Record]:
    """What the paper's tables and Figure 3 read: its systems."""
    return system_records(records, records.plan.paper_systems())


def reversal_records(records: RecordPlan) -> list[Record]:
    """The paper's systems, and the test perplexity of its runs (forward and reversed)."""
    return paper_records(records) + [records.perplexity(run) for run in records.plan.perplexity_runs()]


def run_records(records: RecordPlan) -> list[Record]:
    """Every run's record, and the test set's (whose data source the captions name)."""
    return [records.data(), *(records.run(run) for run in records.plan.runs.values())]


# ---- the writers (each imports its module when it runs: the workflow reads this registry when it parses,
# and the writers load pandas and matplotlib)


def _paper_table(name: str) -> Callable[[ReportContext, ResultsLayout], object]:
    def write(ctx: ReportContext, out: ResultsLayout) -> object:
        from repro.report import paper_report

        writer = {"table1": paper_report.table1, "reversal": paper_report.reversal_table,
                  "beam": paper_report.beam_table, "table2": paper_report.table2}[name]
        return writer(ctx, out.table(name))

    return write


def _figure3(ctx: ReportContext, out: ResultsLayout) -> object:
    from repro.report import paper_report

    return paper_report.figure3(ctx, *(out.figure(name) for name in FIG3))


def _figure2(ctx: ReportContext, out: ResultsLayout) -> object:
    from repro.report import paper_report

    return paper_report.figure2(ctx, out.figure(FIG2))


def _ablations(ctx: ReportContext, out: ResultsLayout) -> object:
    from repro.report import ablation_report

    tables = {axis: out.table(ablation_table_name(axis)) for axis in ctx.plan.ablation_axes()}
    return ablation_report.write_all(ctx, tables, out.figure(ABLATION_LENGTH), out.figure(GRADIENT_NORMS), out.claims)


def _runs(ctx: ReportContext, out: ResultsLayout) -> object:
    from repro.report.runs import runs_table

    return runs_table(ctx, out.runs)


def _convergence(ctx: ReportContext, out: ResultsLayout) -> object:
    from repro.report.convergence import convergence_figures

    return convergence_figures(ctx, out.figure(CONVERGENCE), out.figure(CONVERGENCE_RATE))


def _audit(ctx: ReportContext, out: ResultsLayout) -> object:
    from repro.report.convergence import audit_table

    return audit_table(ctx, out.audit)


# ---- the files

FIG3 = ("fig3_length", "fig3_rarity")  # by source length, by word rarity
FIG2 = "fig2_pca"
CONVERGENCE, CONVERGENCE_RATE = "convergence", "convergence_lr"
ABLATION_LENGTH, GRADIENT_NORMS = "ablation_length", "grad_norms"


def ablation_table_name(axis: str) -> str:
    return f"ablation_{axis}"


def _paper_table_files(name: str) -> Callable[[Plan, ResultsLayout], list[OutputFile]]:
    return lambda plan, out: table_files(out.table(name), Shown("paper_table.rst", "Paper", name, {"table": name}))


def _figure3_files(plan: Plan, out: ResultsLayout) -> list[OutputFile]:
    return [file for name in FIG3
            for file in figure_files(out.figure(name), Shown("fig3.rst", "Paper", "Figure 3", {"figure": name}), True)]


def _ablation_files(plan: Plan, out: ResultsLayout) -> list[OutputFile]:
    """One table per axis, BLEU by length per variant, gradient norms per cell type, the claims; none
    unless ablations.enabled."""
    if not plan.ablations.enabled:
        return []

    def shown(prefix: str) -> Shown:
        return Shown("ablations.rst", "Ablations", labels={"output": prefix.rsplit("/", 1)[-1]})

    files = [file for axis in plan.ablation_axes()
             for file in table_files(out.table(ablation_table_name(axis)), shown(out.table(ablation_table_name(axis))))]
    files += figure_files(out.figure(ABLATION_LENGTH), shown(out.figure(ABLATION_LENGTH)), with_data=True)
    if plan.variants_on("cell"):
        files += figure_files(out.figure(GRADIENT_NORMS), shown(out.figure(GRADIENT_NORMS)))
    return files + [OutputFile(f"{out.claims}.md"), OutputFile(f"{out.claims}.json")]


def _convergence_files(plan: Plan, out: ResultsLayout) -> list[OutputFile]:
    return [file for name in (CONVERGENCE, CONVERGENCE_RATE)
            for file in figure_files(out.figure(name), Shown("convergence.rst", "Runs", labels={"figure": name}))]


REPORTS: dict[str, ReportOutput] = {report.name: report for report in [
    ReportOutput(
        "table1", "§3.6 Table 1: single and ensembled reversed LSTMs against beam size, BLEU the paper's way and "
        "sacreBLEU, with each system's cost.",
        paper_records, _paper_table_files("table1"), _paper_table("table1")),
    ReportOutput(
        "reversal", "§3.3 the reversal result: test perplexity and BLEU of the forward and the reversed models.",
        reversal_records, _paper_table_files("reversal"), _paper_table("reversal")),
    ReportOutput(
        "beam", "§3.6 BLEU against beam size (and fairseq's convention at the widest beam).",
        paper_records, _paper_table_files("beam"), _paper_table("beam")),
    ReportOutput(
        "table2", "§3.6 Table 2, rescoring the SMT baseline's 1000-best lists: the paper's numbers, not run.",
        lambda records: [], _paper_table_files("table2"), _paper_table("table2")),
    ReportOutput(
        "fig3", "§3.7, Figure 3: BLEU of the forward, reversed and ensembled models by source sentence length "
        "and by the average frequency rank of the source words.",
        paper_records, _figure3_files, _figure3),
    ReportOutput(
        "fig2", "§3.8, Figure 2: 2-D PCA of the reversed model's final encoder state for phrases that differ in "
        "word order or voice.",
        lambda records: [records.figure2()],
        lambda plan, out: figure_files(out.figure(FIG2), Shown("fig2.rst", "Paper", "Figure 2", {"figure": FIG2})),
        _figure2),
    ReportOutput(
        "ablations", "The ablations (sequence length, cell type, depth, teacher forcing, attention vs the "
        "fixed-size context vector; §3.3 and the published works claims.md cites): one table per axis, BLEU by "
        "length per variant, gradient norms per cell type, and claims.json/claims.md with a verdict per claim.",
        lambda records: system_records(records, records.plan.ablation_systems()), _ablation_files, _ablations,
        asked_when="ablations.enabled is true"),
    ReportOutput(
        "runs", "The evidence behind every table: one row per trained model with its variant, seed, stop "
        "reason, best epoch and validation perplexity, wall time, tokens/s, device and precision.",
        run_records, lambda plan, out: table_files(out.runs, Shown("runs.rst", "Runs")), _runs),
    ReportOutput(
        "convergence", "The learning curves behind the word 'converged': validation perplexity against epoch "
        "for every run (one panel per variant, seeds overlaid, best checkpoint and stop marked, stop reason in "
        "the legend) and the learning rate each run trained at.",
        run_records, _convergence_files, _convergence),
    ReportOutput(
        "audit", "The convergence audit of every run (`snakemake audit`, after the run): per run, the further "
        "gain at its final rate, and the largest further gain of a run that stopped converged.",
        lambda records: [records.audit(run) for run in records.plan.runs.values()],
        lambda plan, out: table_files(out.audit, Shown("audit.rst", "Runs")), _audit, in_all=False),
]}


def complete_run(plan: Plan) -> list[ReportOutput]:
    """The reports of a complete run that the config asks for (the audit is not one: it trains)."""
    out = ResultsLayout("")
    return [report for report in REPORTS.values() if report.in_all and report.files(plan, out)]
