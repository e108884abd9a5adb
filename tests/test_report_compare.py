"""A run against the committed reference: what is compared, what is expected, what is reported."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from repro.errors import ReproError
from repro.report import compare
from repro.train.run_info import RunInfo, Status

PLATFORM = {"device_type": "cpu", "device_name": "Some CPU", "torch": "2.13.0+cpu", "num_threads": 1, "dtype": "bf16"}
TABLE = pd.DataFrame({
    "method": ["single, beam 2", "ensemble, beam 2"],
    "BLEU (paper's way)": ["7.097135193545499", "10.3"],
    "valid perplexity (mean ± std)": ["8.51 ± 0.64", "7.90 ± 0.10"],
    "empty translations": ["0", "3"],
    "train hours": ["0.07", "0.30"],
})
CLAIMS = [{"number": 1, "claim": "Reversing helps", "verdict": "held"},
          {"number": 2, "claim": "Depth helps", "verdict": "inconclusive"}]


def write_results(root: Path, table: pd.DataFrame = TABLE, claims: list | None = CLAIMS,
                  platform: dict | None = None) -> Path:
    (root / "tables").mkdir(parents=True)
    table.to_csv(root / "tables" / "table1.csv", index=False)
    if claims is not None:
        (root / "claims.json").write_text(json.dumps(claims))
    (root / "provenance.json").write_text(json.dumps({"platforms": [platform or PLATFORM], "code": {}}))
    return root


def test_identical_results_on_the_same_platform_are_identical(tmp_path):
    run, ref = write_results(tmp_path / "run"), write_results(tmp_path / "ref")
    result = compare.compare(run, ref, "tiny")
    assert result.expectation == "identical" and result.status == "identical"
    # 2 rows x 3 compared columns (train hours is a cost column) + 2 verdicts
    assert result.compared == 8 and result.identical == 8 and not result.differences


def test_any_difference_on_the_same_platform_is_reported_as_differing(tmp_path):
    changed = TABLE.copy()
    changed.loc[0, "BLEU (paper's way)"] = "7.097135193545500"  # the last digit
    changed.loc[1, "train hours"] = "9.99"  # cost: never compared
    run, ref = write_results(tmp_path / "run", changed), write_results(tmp_path / "ref")
    result = compare.compare(run, ref, "tiny")
    assert result.status == "differs"
    (difference,) = result.differences
    assert (difference.row, difference.column) == ("single, beam 2", "BLEU (paper's way)")
    assert difference.within_tolerance  # would pass on another platform, but not on the same one
    assert "DIFFERS" in compare.summary(result)


def test_on_another_platform_the_verdicts_decide_and_each_number_is_marked_close_or_not(tmp_path):
    changed = TABLE.copy()
    changed.loc[0, "BLEU (paper's way)"] = "7.9"  # +0.8 BLEU: close
    changed.loc[0, "valid perplexity (mean ± std)"] = "8.90 ± 0.70"  # +4.6%, and the std +0.06: close
    changed.loc[1, "empty translations"] = "9"  # +6: not close
    gpu = {**PLATFORM, "device_type": "cuda", "device_name": "NVIDIA H100"}
    run, ref = write_results(tmp_path / "run", changed, platform=gpu), write_results(tmp_path / "ref")
    result = compare.compare(run, ref, "tiny")
    assert result.expectation == "verdicts" and "another platform" in result.reason
    assert result.status == "verdicts agree" and len(result.differences) == 3
    assert [d.column for d in result.differences if not d.within_tolerance] == ["empty translations"]
    summary = compare.summary(result)
    assert "VERDICTS AGREE" in summary and "3 identical, 2 close and 1 further apart" in summary
    assert "| table1 | ensemble, beam 2 | empty translations | 3 | 9 | no |" in compare.to_markdown(result)

    same_platform = write_results(tmp_path / "same", changed)  # the same differences where identity is expected
    assert compare.compare(same_platform, ref, "tiny").status == "differs"


def test_a_changed_verdict_always_differs(tmp_path):
    claims = [CLAIMS[0], {**CLAIMS[1], "verdict": "held"}]
    gpu = {**PLATFORM, "device_type": "cuda"}
    run, ref = write_results(tmp_path / "run", claims=claims, platform=gpu), write_results(tmp_path / "ref")
    result = compare.compare(run, ref, "tiny")
    assert result.status == "differs"
    assert [v["same"] for v in result.verdicts] == [True, False]
    assert "| Depth helps | inconclusive | held (changed) |" in compare.to_markdown(result)
    assert ("Verdicts: 1 of 2 agree (Reversing helps); changed: Depth helps (inconclusive → held)."
            in compare.summary(result))


def test_missing_rows_tables_and_claims_are_listed(tmp_path):
    run = write_results(tmp_path / "run", TABLE.iloc[:1], claims=None)
    ref = write_results(tmp_path / "ref")
    TABLE.to_csv(ref / "tables" / "beam.csv", index=False)
    result = compare.compare(run, ref, "tiny")
    assert result.status == "differs"
    assert "table beam: only in the reference" in result.missing
    assert "table table1: row 'ensemble, beam 2' only in the reference" in result.missing
    assert "claims.json: only in the reference (verdicts not compared)" in result.missing

    wider = write_results(tmp_path / "wider", TABLE.assign(converged=["1/1", "2/2"], **{"tokens/s": ["1", "2"]}))
    result = compare.compare(wider, ref, "tiny")
    assert "table table1: column 'converged' only in this run" in result.missing
    assert not any("tokens/s" in m for m in result.missing)  # a cost column


def test_no_reference_is_said_not_failed(tmp_path):
    run = write_results(tmp_path / "run")
    result = compare.compare(run, tmp_path / "nothing", "mine")
    assert result.status == "no reference" and "no committed reference for experiment 'mine'" in compare.summary(result)


def test_publish_copies_the_results_and_replaces_only_a_reference_it_wrote(tmp_path):
    run = write_results(tmp_path / "run")
    (run / "comparison.md").write_text("not part of a reference")
    (run / "records/runs").mkdir(parents=True)
    (run / "records/runs/a.json").write_text("{}")
    (run / "records/.snakemake_timestamp").write_text("")  # Snakemake's marker of a directory output
    ref = tmp_path / "reference" / "tiny"
    assert compare.publish(run, ref) == ["tables", "claims.json", "provenance.json", "records"]
    assert not (ref / "comparison.md").exists()
    assert [p.name for p in (ref / "records").rglob("*")] == ["runs", "a.json"]
    assert compare.compare(run, ref, "tiny").status == "identical"
    (run / "tables" / "table1.csv").write_text("method,BLEU\nx,1\n")
    compare.publish(run, ref)  # its own reference: replaced
    assert (ref / "tables" / "table1.csv").read_text() == "method,BLEU\nx,1\n"

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ReproError, match="that repro report publish did not write"):
        compare.publish(run, foreign)
    assert (foreign / "notes.txt").read_text() == "mine"


def test_another_precision_on_the_same_machine_is_a_new_draw_and_provenance_records_it(tmp_path):
    changed = TABLE.copy()
    changed.loc[0, "BLEU (paper's way)"] = "7.9"
    fp32 = {**PLATFORM, "dtype": "fp32"}
    run, ref = write_results(tmp_path / "run", changed, platform=fp32), write_results(tmp_path / "ref")
    result = compare.compare(run, ref, "tiny")
    assert result.expectation == "verdicts" and result.status == "verdicts agree" and "fp32" in result.reason
    # a reference that does not record its precision cannot promise identical numbers
    old = write_results(tmp_path / "old", platform={k: v for k, v in PLATFORM.items() if k != "dtype"})
    assert compare.compare(write_results(tmp_path / "same", changed), old, "tiny").expectation == "verdicts"
    environment = {k: v for k, v in PLATFORM.items() if k != "dtype"}
    record = compare.provenance([RunInfo(status=Status.DONE, bf16=bf16, environment=environment) for bf16 in (True, False)])
    assert [p["dtype"] for p in record["platforms"]] == ["bf16", "fp32"]


def test_compare_before_the_experiment_ran_is_an_error_that_leaves_nothing_behind(tmp_path, capsys):
    from repro.cli import main

    work, results = tmp_path / "work", tmp_path / "results"
    work.mkdir()
    config = Path(__file__).resolve().parents[1] / "workflows" / "config" / "demo.yaml"
    assert main(["report", "compare", "--config", str(config), "--work", str(work), "--out", str(results)]) == 2
    assert "holds no tables/ to compare; run the experiment first" in capsys.readouterr().err
    (results / compare.TABLES).mkdir(parents=True)  # tables, but no trained runs
    assert main(["report", "compare", "--config", str(config), "--work", str(work), "--out", str(results)]) == 2
    assert "no record runs/reversed-s1.json in" in capsys.readouterr().err
    assert sorted(p.name for p in results.iterdir()) == [compare.TABLES]
