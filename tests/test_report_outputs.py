"""The registry of report outputs: each writer writes exactly the files its entry declares (what the
workflow's rule expects), from the records its entry says it reads, and refuses before writing anything
when one of them is missing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from repro.cli import main
from repro.config import load_config
from repro.experiments import plan
from repro.layout import ResultsLayout
from repro.records import RecordPlan, RecordStore
from repro.report.context import ReportContext
from repro.report.outputs import REPORTS, complete_run

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "workflows/config/demo.yaml"
DEMO_RECORDS = REPO / "results/reference/demo/records"


def files_under(root: Path) -> set[str]:
    return {str(path) for path in root.rglob("*") if path.is_file()}


@pytest.mark.parametrize("name", list(REPORTS))
def test_a_report_writes_exactly_the_files_it_declares_from_the_records_it_reads(name: str, tmp_path: Path) -> None:
    report = REPORTS[name]
    # only the records the entry reads: a writer that reads anything else fails here
    records = RecordPlan(load_config(DEMO))
    reads = report.reads(records)
    only = tmp_path / "records"
    for record in reads:
        for file in record.files:
            (only / file).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(DEMO_RECORDS / file, only / file)
    ctx = ReportContext({**load_config(DEMO), "records_from": [str(only)]}, tmp_path / "work")
    out = ResultsLayout(str(tmp_path / "results"))
    report.write(ctx, out)
    declared = set(report.paths(ctx.plan, out))
    assert declared and files_under(tmp_path / "results") == declared


def test_the_records_a_report_reads_are_records_of_the_experiment() -> None:
    records = RecordPlan(load_config(DEMO))
    every = {record.path for record in records.every(audits=True)}
    store = RecordStore([DEMO_RECORDS])
    for report in REPORTS.values():
        reads = report.reads(records)
        assert {record.path for record in reads} <= every, report.name
        assert all(store.find(record) for record in reads), report.name
    assert REPORTS["table2"].reads(records) == []  # the paper's numbers: nothing trained


def test_a_complete_run_has_every_report_the_config_asks_for_but_the_audit() -> None:
    demo = load_config(DEMO)
    assert [report.name for report in complete_run(plan(demo))] == [name for name in REPORTS if name != "audit"]
    without = plan({**demo, "ablations": {**demo["ablations"], "enabled": False}})
    assert "ablations" not in [report.name for report in complete_run(without)]


def test_a_missing_record_is_named_before_anything_is_written(tmp_path: Path, capsys) -> None:
    records = tmp_path / "records"
    shutil.copytree(DEMO_RECORDS, records)
    (records / "perplexity/forward-s1.json").unlink()  # the reversal table reads it, Table 1 does not
    config = tmp_path / "demo.yaml"
    config.write_text(DEMO.read_text(encoding="utf-8") + f"\nrecords_from: [{records}]\n", encoding="utf-8")
    out = tmp_path / "results"
    assert main(["report", "reversal", "--config", str(config), "--work", str(tmp_path / "work"),
                 "--out", str(out)]) == 2
    assert "no record perplexity/forward-s1.json" in capsys.readouterr().err
    assert not out.exists()
    assert main(["report", "table1", "--config", str(config), "--work", str(tmp_path / "work"), "--out", str(out)]) == 0
    assert files_under(out) == set(REPORTS["table1"].paths(plan(load_config(config)), ResultsLayout(str(out))))
