"""Honesty check of `repro estimate`: its projections against measured wall time, on this machine.

1. The demo (``workflows/config/demo.yaml``) against a finished demo run (``--demo-run DIR``: the directory
   where ``snakemake --cores all`` ran; its ``work/demo/data`` gives the lengths). Two comparisons:
   - every training run: the projected seconds of its steps, validation passes and checkpoints against
     its ``run.json`` ``wall_time_s`` (which counts the same things, without the job's start-up);
   - the whole experiment at the run's ``--cores``: the projected schedule of the train, translate,
     score and perplexity jobs against the wall time from the start of the Snakemake log to the end of
     the last such job (the projection leaves out prepare and the reports; the log's full wall time is
     printed beside it).
2. One Multi30k model (the main model of ``workflows/config/multi30k.yaml``, reversed, seed 1): the
   projection of ``--multi30k-steps`` training steps against a real ``repro train`` of those steps on the
   prepared data (``--multi30k-data``), wall time of the whole command, start-up included. Projection
   and real run alternate ``--repeats`` times; the median ratio is reported.

A ratio is projected / measured; the check passes within ±25%. Ends with one JSON line.

    python benchmarks/estimate_accuracy.py --demo-run /path/to/clone --multi30k-data work/multi30k/data
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import torch
import yaml

from repro.estimate.run import EstimateOptions, estimate
from repro.experiments import plan

REPO = Path(__file__).resolve().parents[1]
TOLERANCE = 0.25
_STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
_FINISHED = re.compile(r"^Finished jobid: \d+ \(Rule: (\w+)\)$")
PROJECTED_RULES = {"train", "translate", "score", "perplexity"}


def load(name: str) -> dict:
    return yaml.safe_load((REPO / "workflows" / "config" / f"{name}.yaml").read_text(encoding="utf-8"))


def snakemake_wall(log: Path) -> tuple[float, float, int]:
    """(seconds to the end of the last projected job, seconds to the end, cores) of a Snakemake log."""
    text = log.read_text(encoding="utf-8").splitlines()
    start = datetime.strptime(next(line.split(":", 1)[1].strip() for line in text if line.strip().startswith("Date:")),
                              "%Y-%m-%d %H:%M:%S")
    cores = int(next(line.split(":")[1] for line in text if line.startswith("Provided cores:")))
    stamp, last_projected, end = start, start, start
    for line in text:
        if match := _STAMP.match(line.strip()):
            stamp = datetime.strptime(match.group(1), "%a %b %d %H:%M:%S %Y")
            end = max(end, stamp)
        elif (match := _FINISHED.match(line.strip())) and match.group(1) in PROJECTED_RULES:
            last_projected = max(last_projected, stamp)
    return (last_projected - start).total_seconds(), (end - start).total_seconds(), cores


def demo_check(run_root: Path, steps: int, repeats: int) -> dict:
    work = run_root / "work" / "demo"
    logs = sorted((run_root / ".snakemake" / "log").glob("*.snakemake.log"), key=lambda p: p.stat().st_size)
    if not logs:
        raise SystemExit(f"{run_root}: no Snakemake log (.snakemake/log/*.snakemake.log); run the demo there first")
    covered_s, total_s, cores = snakemake_wall(logs[-1])  # the largest log: the full run
    measured = {p.parent.name: json.loads(p.read_text())["wall_time_s"] for p in (work / "runs").glob("*/run.json")}
    runs = plan(load("demo")).runs  # which variant each measured run is
    ratios, experiment_ratios = [], []
    for repeat in range(repeats):
        result = estimate(load("demo"), EstimateOptions(data_dir=work / "data", steps=steps, cores=cores,
                                                        progress=False))
        startup = result["totals"]["startup_s"]
        run_s = {model["variant"]: model["run_s"] - startup for model in result["models"]}
        projected = {name: run_s[runs[name].variant.name] for name in measured}
        run_ratios = {run: projected[run] / measured[run] for run in measured}
        ratios.append(statistics.median(run_ratios.values()))
        sum_ratio = sum(projected.values()) / sum(measured.values())
        experiment_ratios.append(result["totals"]["parallel_s"] / covered_s)
        print(f"demo, projection {repeat + 1}: training runs projected/measured median {ratios[-1]:.3f} "
              f"(range {min(run_ratios.values()):.2f}-{max(run_ratios.values()):.2f}; sum {sum_ratio:.3f}); "
              f"experiment on {cores} cores projected {result['totals']['parallel_s'] / 60:.1f} min vs "
              f"{covered_s / 60:.1f} min measured to the last train/translate/score job "
              f"({total_s / 60:.1f} min with prepare and reports): ratio {experiment_ratios[-1]:.3f}", flush=True)
    return {"demo_run_ratio_median": statistics.median(ratios),
            "demo_experiment_ratio": statistics.median(experiment_ratios),
            "demo_measured_s": covered_s, "demo_measured_total_s": total_s, "demo_cores": cores}


def multi30k_check(data_dir: Path, steps: int, repeats: int, projection_steps: int) -> dict:
    config = load("multi30k")
    config["train"] = {**config["train"], "max_steps": steps}
    config["ablations"] = {"enabled": False}
    config["paper"] = {"reversed_seeds": [1], "forward_seeds": [1], "ensembles": [], "table1_beams": [1],
                       "beam_table_beams": [1], "figure_beam": 1}
    threads = config["resources"]["train_threads"]
    ratios = []
    with tempfile.TemporaryDirectory(prefix="estimate-accuracy-") as tmp:
        config_path = Path(tmp) / "multi30k.yaml"
        config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
        for repeat in range(repeats):
            result = estimate(copy.deepcopy(config), EstimateOptions(data_dir=data_dir, steps=projection_steps,
                                                                     progress=False))
            model = next(m for m in result["models"] if m["variant"] == "reversed")
            run_dir = Path(tmp) / f"run{repeat}"
            command = [sys.executable, "-m", "repro.cli", "train", "--data", str(data_dir), "--out", str(run_dir),
                       "--config", str(config_path), "--set", "train.seed=1", "--set", "model.reverse_source=true",
                       "--set", "train.progress=false"]
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True, env={**os.environ, "OMP_NUM_THREADS": str(threads)})
            wall = time.perf_counter() - start
            run = json.loads((run_dir / "run.json").read_text())
            ratios.append(model["run_s"] / wall)
            print(f"multi30k reversed-s1, round {repeat + 1}: {steps} steps projected {model['run_s']:.1f} s "
                  f"({model['tokens_per_s']:,.0f} tokens/s, {model['evaluations']} validations) vs measured "
                  f"{wall:.1f} s wall ({run['tokens_per_s']:,.0f} tokens/s, run.json {run['wall_time_s']:.1f} s): "
                  f"ratio {ratios[-1]:.3f}", flush=True)
    return {"multi30k_model_ratio": statistics.median(ratios), "multi30k_steps": steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--demo-run", type=Path, help="directory where `snakemake --cores all` ran the demo")
    parser.add_argument("--multi30k-data", type=Path, default=REPO / "work" / "multi30k" / "data",
                        help="prepared Multi30k data directory (default: work/multi30k/data)")
    parser.add_argument("--multi30k-steps", type=int, default=200, help="training steps of the real Multi30k run")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per model of each projection")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    print(f"estimate_accuracy: torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs; --steps {args.steps}, --repeats {args.repeats}, Multi30k {args.multi30k_steps} "
          f"steps, tolerance ±{TOLERANCE:.0%}", flush=True)
    figures: dict = {}
    if args.demo_run is None:
        print("demo: skipped (no --demo-run: run `snakemake --cores all` in a clone, then pass its directory)")
    else:
        figures.update(demo_check(args.demo_run, args.steps, args.repeats))
    if not (args.multi30k_data / "stats.json").is_file():
        print(f"multi30k: skipped ({args.multi30k_data} is not prepared: snakemake --cores all --configfile "
              "workflows/config/multi30k.yaml workflows/config/multi30k-local.yaml prepare)")
    else:
        figures.update(multi30k_check(args.multi30k_data, args.multi30k_steps, args.repeats, args.steps))
    checked = [v for k, v in figures.items() if k.endswith("_ratio") or k.endswith("_ratio_median")]
    figures["within_tolerance"] = bool(checked) and all(abs(v - 1) <= TOLERANCE for v in checked)
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    main()
