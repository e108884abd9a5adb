"""The committed demo reference carries its records, and the workflow rebuilds every file of the reference
from them alone: no model, nothing trained or decoded, every number and verdict identical."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from repro.config import load_config
from repro.records import RecordPlan, RecordStore

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "results/reference/demo"
DEMO = REPO / "workflows/config/demo.yaml"


def test_the_demo_reference_holds_a_valid_record_of_everything_its_config_asks_for() -> None:
    records = RecordPlan(load_config(DEMO))
    store = RecordStore([REFERENCE / "records"])
    missing = [record.path for record in records.every(audits=True) if store.find(record) is None]
    assert not missing, f"{len(missing)} records missing or of other settings, e.g. {missing[:3]}"
    assert not [path for path in (REFERENCE / "records").rglob("*") if path.suffix == ".pt"]  # never a checkpoint


SITTINGS = REPO / "results/sittings/multi30k"


@pytest.mark.parametrize("sitting", sorted(path.name for path in SITTINGS.iterdir() if path.is_dir()))
def test_every_record_of_a_multi30k_sitting_is_valid_for_the_config_it_continues(sitting: str) -> None:
    """A sitting's records serve the next sittings only while multi30k.yaml gives them the same
    fingerprints: a changed setting must come with new records, never leave stale ones behind."""
    records = RecordPlan(load_config(REPO / "workflows/config/multi30k.yaml"))
    held = {str(path.relative_to(SITTINGS / sitting)) for path in (SITTINGS / sitting).rglob("*.json")}
    store = RecordStore([SITTINGS / sitting])
    valid = {record.path for record in records.every(audits=True) if store.find(record) is not None}
    assert held and held == valid, f"not valid for multi30k.yaml: {sorted(held - valid)[:3]}"
    assert not [path for path in (SITTINGS / sitting).rglob("*") if path.suffix == ".pt"]


@pytest.mark.slow
def test_the_demo_reference_is_rebuilt_from_its_records(tmp_path: Path, copy_workflow, snakemake, job_counts) -> None:
    wf = copy_workflow(tmp_path / "wf")
    shutil.copytree(REFERENCE, wf / "results/reference/demo")
    from_records = ["--config", "records_from=results/reference/demo/records"]
    counts = job_counts(snakemake(wf, "-n", "--cores", "2", *from_records).stdout)
    assert not {"prepare", "train", "translate", "score", "perplexity"} & set(counts), counts
    assert not [rule for rule in counts if rule.startswith("record")], counts
    run = snakemake(wf, "--cores", "2", *from_records)
    comparison = json.loads((wf / "results/demo/comparison.json").read_text(encoding="utf-8"))
    assert comparison["expectation"] == "identical", comparison["reason"]
    assert comparison["status"] == "identical", comparison["differences"][:5] + comparison["missing"]
    claims = json.loads((REFERENCE / "claims.json").read_text(encoding="utf-8"))
    assert comparison["compared"] > 250 and len(comparison["verdicts"]) == len(claims) >= 5
    assert "IDENTICAL to the committed reference" in run.stdout + run.stderr
    # the convergence audit too, from its records: no run is continued
    counts = job_counts(snakemake(wf, "audit", "-n", "--cores", "2", *from_records).stdout)
    assert "audit_run" not in counts and counts["audit"] == 1, counts
    snakemake(wf, "audit", "--cores", "2", *from_records)
    assert not (wf / "work/demo/runs").exists() and not (wf / "work/demo/audit").exists()
    # every text file of the reference (tables, claims, runs, audit) byte for byte; figures are drawn
    # from the same numbers, provenance.json names the code that ran
    rebuilt = wf / "results/demo"
    texts = [path.relative_to(REFERENCE) for path in REFERENCE.rglob("*")
             if path.suffix in (".csv", ".md", ".tex") or path.name == "claims.json"]
    texts = [path for path in texts if path.parts[0] != "records"]
    assert len(texts) > 30
    differing = [str(path) for path in texts if (rebuilt / path).read_bytes() != (REFERENCE / path).read_bytes()]
    assert not differing, differing
