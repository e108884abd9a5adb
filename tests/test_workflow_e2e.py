"""The whole pipeline on workflows/config/tiny.yaml: prepare, train, translate, score, every table, figure
and claims.md.

Runs Snakemake on a copy of the workflow in a temporary directory (a few minutes on 2 cores), then
checks the outputs against the files they were computed from, that a rerun does nothing, that a
decoding option reruns decoding and the report but never training, and that the experiment finished in
two sittings gives the published reference (tests/test_reference_records.py rebuilds the demo's committed
reference from its records alone).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from repro.evaluation.bleu import corpus_bleu_paper
from repro.experiments import plan
from repro.train.checkpoint import load_checkpoint
from repro.train.run_info import read_run_info

# The workflow's own small test config (workflows/config/tiny.yaml), as a newcomer runs it.
TINY_CONFIG = "workflows/config/tiny.yaml"
TINY = yaml.safe_load((Path(__file__).resolve().parents[1] / TINY_CONFIG).read_text(encoding="utf-8"))


@pytest.mark.slow
def test_tiny_experiment_end_to_end_then_rerun_does_nothing(tmp_path: Path, copy_workflow, snakemake, job_counts) -> None:
    wf = copy_workflow(tmp_path / "wf")
    config = wf / TINY_CONFIG
    first = snakemake(wf, "--cores", "2", "--configfile", str(config))
    results, work = wf / "results/tiny", wf / "work/tiny"
    # the run ends with the reference check; this experiment has no committed reference yet
    assert "no committed reference for experiment 'tiny'" in first.stdout + first.stderr
    for name in ("table1", "reversal", "beam", "table2", "ablation_cell", "ablation_teacher_forcing_ratio",
                 "ablation_attention"):
        for suffix in (".csv", ".md", ".tex"):
            assert (results / "tables" / f"{name}{suffix}").is_file(), name + suffix
    for name in ("fig3_length", "fig3_rarity", "fig2_pca", "ablation_length", "grad_norms", "convergence",
                 "convergence_lr"):
        assert (results / "figures" / f"{name}.png").read_bytes()[:4] == b"\x89PNG", name
        assert (results / "figures" / f"{name}.pdf").read_bytes()[:4] == b"%PDF", name

    # Table 1's numbers are the BLEU of the translations on disk, and every row carries its cost.
    table1 = pd.read_csv(results / "tables/table1.csv")
    row = table1[table1["method"] == "Single reversed LSTM, beam size 2"].iloc[0]
    refs = (work / "data/test.tok.tgt").read_text(encoding="utf-8").splitlines()
    hyps = (work / "records/systems/reversed-s1/beam2.tok.txt").read_text(encoding="utf-8").splitlines()
    assert row["BLEU (paper's way)"] == pytest.approx(corpus_bleu_paper(hyps, refs), abs=1e-6)
    assert row["device"] == "cpu" and row["parameters (M)"] > 0 and row["train hours"] > 0
    # every run says why it stopped, and the table counts the converged ones (one epoch: the ceiling)
    assert json.loads((work / "runs/reversed-s1/run.json").read_text())["stop_reason"] == "epoch_limit"
    assert row["converged"] == "0/1"
    # runs.csv: every planned run, why it stopped, where its best checkpoint was, what it cost
    runs = pd.read_csv(results / "runs.csv")
    assert sorted(runs["name"]) == sorted(p.name for p in (work / "runs").iterdir())
    first = runs[runs["name"] == "reversed-s1"].iloc[0]
    info = json.loads((work / "runs/reversed-s1/run.json").read_text())
    assert (first["variant"], first["seed"], first["stop reason"]) == ("reversed", 1, "epoch_limit")
    assert first["best valid perplexity"] == pytest.approx(info["best_valid_ppl"])
    assert first["validations after best"] == info["evals_since_best"]
    assert first["final lr"] == pytest.approx(info["final_lr"], rel=1e-3)
    assert first["dtype"] == "fp32" and first["wall time (s)"] > 0 and first["tokens/s"] > 0
    # The beam table keeps the paper's search and adds fairseq's convention at the widest beam: no output
    # of that decoding is empty, and its row counts them from the translations on disk.
    beam_table = pd.read_csv(results / "tables/beam.csv")
    fairseq_row = beam_table[beam_table["search"].str.contains("fairseq")].iloc[0]
    fairseq_lines = (work / "records/systems/reversed-s1/beam2-minlen1.txt").read_text(encoding="utf-8").splitlines()
    assert fairseq_row["beam"] == 2 and fairseq_row["single reversed: empty"] == 0
    assert all(line.strip() for line in fairseq_lines) and len(fairseq_lines) == len(refs)
    paper_rows = beam_table[~beam_table["search"].str.contains("fairseq")]
    assert list(paper_rows["beam"]) == [1, 2]
    ensemble = table1[table1["method"] == "Ensemble of 2 reversed LSTMs, beam size 1"].iloc[0]
    assert ensemble["parameters (M)"] == pytest.approx(2 * row["parameters (M)"])
    assert "signature" in (results / "tables/table1.md").read_text(encoding="utf-8")

    claims_md = (results / "claims.md").read_text(encoding="utf-8")
    assert "## Rule" in claims_md and "Reversing the source helps" in claims_md
    assert "paper §3.3; Luong, Pham & Manning 2015, Table 1" in claims_md  # the paper or a published work
    assert "explainer" not in claims_md and "FACTS" not in claims_md
    claims = {claim["key"]: claim for claim in json.loads((results / "claims.json").read_text(encoding="utf-8"))}
    # reversal, teacher forcing, context vector vs length, gradients, cells, reversal x attention (no depth axis)
    assert list(claims) == ["reversal", "teacher_forcing", "context", "gradients", "cells", "reversal_attention"]
    assert all(claim["verdict"] in ("held", "did not hold", "inconclusive") for claim in claims.values())
    # claims.md is rendered from the data: one row per claim, with its verdict
    rows = [line for line in claims_md.splitlines() if re.match(r"\| \d+ \|", line)]
    assert [re.search(r"\*\*([a-z ]+)\*\* \|$", row)[1] for row in rows] == [c["verdict"] for c in claims.values()]
    # Every claim counts the converged models behind it (one epoch: none converged).
    assert claims["reversal"]["converged"] == "0/4" and claims["teacher_forcing"]["converged"] == "0/4"
    # The seed rule: the reversal decides only when the seeds separate the two sides (Welch's t-test over
    # the 2 seeds a side, and a difference beyond either side's seed spread).
    reversal = claims["reversal"]["measured"]
    assert reversal["seeds"] == [1, 2] and reversal["seed_test"]["seeds"] == [2, 2]
    seed_test = reversal["seed_test"]
    if seed_test["p"] is None or seed_test["p"] >= 0.05 or abs(seed_test["difference"]) <= seed_test["spread"]:
        assert claims["reversal"]["verdict"] == "inconclusive"
    # Claim 3 is inconclusive exactly when attention is significantly worse overall (the stated rule).
    context = claims["context"]["measured"]
    overall = next(row for row in csv.DictReader((results / "tables/ablation_attention.csv").open(encoding="utf-8"))
                   if row["variant"].endswith(", reversed source"))
    confounded = overall["vs main"] == "lower"
    assert context["attention_significantly_worse"] == confounded
    assert ("no remedy to compare with" in claims["context"]["ours"]) == confounded
    if confounded:
        assert claims["context"]["verdict"] == "inconclusive"
    # The reversal x attention row's gains are the mean BLEU over seeds of the translations on disk.
    def mean_bleu(variant: str) -> float:
        return sum(corpus_bleu_paper((work / f"records/systems/{variant}-s{seed}/beam1.tok.txt").read_text(
            encoding="utf-8").splitlines(), refs) for seed in (1, 2)) / 2
    gains = claims["reversal_attention"]["measured"]
    assert gains["gain_without_attention"] == pytest.approx(mean_bleu("reversed") - mean_bleu("forward"), abs=1e-6)
    assert gains["gain_with_attention"] == pytest.approx(mean_bleu("attention") - mean_bleu("attention-forward"),
                                                         abs=1e-6)

    rerun = snakemake(wf, "--cores", "2", "--configfile", str(config))
    assert "Nothing to be done" in rerun.stdout + rerun.stderr

    # The convergence audit, after the run and outside `all`: every run continued 5 validations at the
    # rate it ended with (these runs stopped at their one-epoch ceiling), the run directories only read.
    before = (work / "runs/reversed-s1/log.jsonl").read_bytes()
    snakemake(wf, "audit", "--cores", "2", "--configfile", str(config))
    audit = pd.read_csv(results / "convergence_audit.csv")
    assert sorted(audit["name"]) == sorted(runs["name"]) and set(audit["further evaluations"]) == {5}
    record = json.loads((work / "audit/reversed-s1/audit.json").read_text())
    assert len(record["epochs"]) == 5 and 1.0 < record["epochs"][0] < 2.0 and record["stop_reason"] == "epoch_limit"
    assert (work / "runs/reversed-s1/log.jsonl").read_bytes() == before

    # A decoding option reruns decoding, scoring and the report, never training.
    changed = wf / "changed.yaml"
    changed.write_text(yaml.safe_dump({**TINY, "decode": {**TINY["decode"], "max_len_b": 6}}))
    counts = job_counts(snakemake(wf, "-n", "--cores", "2", "--configfile", str(changed)).stdout)
    assert "train" not in counts and "prepare" not in counts
    assert counts["translate"] > 0  # every table reads the decode: section
    assert all(counts[table] == 1 for table in ("table1", "reversal", "beam", "table2")), counts

    # Published as the reference, its records with it.
    publish = subprocess.run([sys.executable, "-m", "repro.cli", "report", "publish", "--config",
                              str(work / "config/report.yaml"), "--work", "work/tiny", "--out", "results/tiny"],
                             cwd=wf, capture_output=True, text=True)
    assert publish.returncode == 0, publish.stderr
    reference = wf / "results/reference/tiny"
    assert (reference / "claims.json").is_file()
    assert (reference / "records/systems/reversed-s1/beam2.tok.txt").read_text(encoding="utf-8").splitlines() == hyps
    assert not list(reference.rglob("*.pt"))  # records, never a checkpoint
    assert json.loads((reference / "records/audit/reversed-s1.json").read_text())["epochs"] == record["epochs"]

    # Regenerated from nothing in two sittings, as an experiment too long for one: the paper's part (its
    # runs, ensembles and systems), its records moved away with the work directory gone, then a fresh work
    # directory that reads them and trains only the other runs. The reference is reproduced exactly.
    shutil.rmtree(work)
    shutil.rmtree(results)
    parts = plan(TINY).parts()
    snakemake(wf, "part_paper", "--cores", "2", "--configfile", str(config))
    assert sorted(p.stem for p in (work / "records/runs").glob("*.json")) == sorted(r.name for r in parts["paper"].runs)
    shutil.move(work / "records", wf / "sitting1")
    shutil.rmtree(work)
    second_sitting = ["--configfile", str(config), "--config", "records_from=sitting1"]
    counts = job_counts(snakemake(wf, "-n", "--cores", "2", *second_sitting).stdout)
    assert counts["train"] == sum(len(part.runs) for name, part in parts.items() if name != "paper")
    assert counts["translate"] == sum(len(part.systems) for name, part in parts.items() if name != "paper")
    again = snakemake(wf, "--cores", "2", *second_sitting)
    assert_identical(results, again)
    assert sorted(p.name for p in (work / "runs").iterdir()) == sorted(
        run.name for name, part in parts.items() if name != "paper" for run in part.runs)


def assert_identical(results: Path, run: subprocess.CompletedProcess) -> None:
    """The run's comparison with the committed reference found every number and verdict identical."""
    comparison = json.loads((results / "comparison.json").read_text(encoding="utf-8"))
    assert comparison["expectation"] == "identical", comparison["reason"]
    assert comparison["status"] == "identical", comparison["differences"][:5] + comparison["missing"]
    assert comparison["compared"] > 100 and len(comparison["verdicts"]) == 6
    assert "IDENTICAL to the committed reference" in run.stdout + run.stderr


def _launcher_of(partial: Path) -> int | None:
    """The pid of the torchrun launcher training into ``partial`` (its workers' command lines hold no
    --nproc_per_node)."""
    for proc in Path("/proc").iterdir():
        try:
            args = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if "--nproc_per_node" in args and str(partial) in args:
            return int(proc.name)
    return None


@pytest.mark.slow
def test_a_training_job_stopped_at_its_time_limit_finishes_in_its_retry_as_if_uninterrupted(tmp_path: Path,
                                                                                          copy_workflow, snakemake,
                                                                                          hang_ceiling_s) -> None:
    """A cluster's time limit: SIGTERM to the job's launcher (torchrun, two gloo ranks). The job fails
    having saved a checkpoint; Snakemake's retry (resources.train_retries: the next allocation on SLURM)
    resumes it, and the run ends exactly where an uninterrupted one does."""
    longer = {"train": {"epochs": 20, "save_every_steps": 5},
              "resources": {"train_gpus": 2, "train_threads": 1, "train_retries": 1}}
    target = "work/tiny/runs/reversed-s1"
    runs = {}
    for name in ("interrupted", "uninterrupted"):
        wf = copy_workflow(tmp_path / name)
        (wf / "longer.yaml").write_text(yaml.safe_dump(longer), encoding="utf-8")
        cmd = [sys.executable, "-m", "snakemake", target, "--cores", "2", "--configfile", TINY_CONFIG, "longer.yaml"]
        job = subprocess.Popen(cmd, cwd=wf, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            if name == "interrupted":
                partial = wf / "work/tiny/runs-partial/reversed-s1"
                deadline = time.monotonic() + hang_ceiling_s
                while not (partial / "checkpoints/last.pt").exists() or _launcher_of(partial.relative_to(wf)) is None:
                    assert time.monotonic() < deadline and job.poll() is None, "no checkpoint before the job ended"
                    time.sleep(0.05)
                os.kill(_launcher_of(partial.relative_to(wf)), signal.SIGTERM)  # the time limit
            output, _ = job.communicate(timeout=hang_ceiling_s)
        finally:
            job.kill()
        assert job.returncode == 0, output[-3000:]
        runs[name] = wf / target
    log = (runs["interrupted"].parents[1] / "logs/train/reversed-s1.log").read_text(encoding="utf-8")
    assert "resuming from" in log  # the retry continued the partial run
    final = {name: load_checkpoint(run / "checkpoints" / "last.pt") for name, run in runs.items()}
    assert final["interrupted"]["trainer"]["step"] == final["uninterrupted"]["trainer"]["step"] > 100
    for key, value in final["uninterrupted"]["model"].items():
        assert torch.equal(final["interrupted"]["model"][key], value), key
    infos = [read_run_info(run) for run in runs.values()]
    assert infos[0].best_valid_ppl == infos[1].best_valid_ppl and infos[0].status == "done"
    # each rank ran the job's 2 threads (--cores 2) shared between its 2 ranks, not the job's 2 each
    assert [info.environment["num_threads_per_rank"] for info in infos] == [[1, 1], [1, 1]]
