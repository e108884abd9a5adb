"""``estimate(config)``: time every distinct model of an experiment on this device, project the experiment.

What is measured (:mod:`repro.estimate.measure`) and how it is projected
(:mod:`repro.estimate.projection`) is documented there; this module walks the experiment's plan, measures
each distinct model once (variants that differ only in the source's direction or the seed cost the same),
and assembles the result: a JSON-able dict with the device's readiness, the data profile, one entry per
model variant, one per decoded system, the totals, and what the projection cannot know.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from repro.estimate import DEFAULT_STEPS, measure
from repro.estimate.profile import DataProfile, data_profile
from repro.estimate.projection import RunCost, makespan, run_seconds, workflow_jobs
from repro.estimate.readiness import Readiness, check_device
from repro.experiment_config import ExperimentConfig, ResourcesConfig
from repro.experiments import Plan, RunSpec, SystemSpec
from repro.experiments import plan as make_plan
from repro.layout import ExperimentDirs, Layout
from repro.models.config import ModelConfig
from repro.train.config import TrainConfig

logger = logging.getLogger(__name__)


@dataclass
class EstimateOptions:
    """device: None = the config's ``train.device``; data_dir: None = ``work/<experiment>/data``;
    cores / gpus: what the workflow may use (None = this machine's); memory_budget_bytes: None = the
    device's free memory; startup: measure a job's start-up (a subprocess) rather than count 0."""

    device: str | None = None
    steps: int = DEFAULT_STEPS
    data_dir: str | Path | None = None
    cores: int | None = None
    gpus: int | None = None
    memory_budget_bytes: int | None = None
    startup: bool = True
    progress: bool = True


def run_settings(plan: Plan, run: RunSpec, vocab: tuple[int, int]) -> tuple[ModelConfig, TrainConfig]:
    """The model and training settings of ``run`` (the config's, with its variant's and seed's values), with
    the data's vocabulary sizes."""
    config = plan.config_of(run)
    return replace(config.model, src_vocab_size=vocab[0], tgt_vocab_size=vocab[1]), config.train


def _cost_key(model: ModelConfig, train: TrainConfig) -> str:
    """What a run's cost depends on: not the seed, nor the direction the source is read in."""
    shape = {**model.to_dict(), "reverse_source": None}
    speed = {key: getattr(train, key) for key in ("teacher_forcing_ratio", "max_len", "batch_size", "batch_by",
                                                  "max_tokens", "bucketing", "optimizer", "label_smoothing")}
    return json.dumps([shape, speed], sort_keys=True)


def estimate(config: ExperimentConfig | Mapping[str, Any], options: EstimateOptions | None = None) -> dict[str, Any]:
    """Measure and project ``config`` (an experiment config) on this device; see the module docstring."""
    from tqdm import tqdm

    from repro.device import Precision, resolve_device

    options = options or EstimateOptions()
    if options.steps < 1:
        raise ValueError("steps must be >= 1")
    plan = make_plan(config)
    config = plan.config
    base_train, decode, resources = config.train, config.decode, config.resources
    device = resolve_device(options.device or base_train.device,
                            setting="--device" if options.device else "train.device")
    budget, budget_source = (options.memory_budget_bytes, "--memory-budget") if options.memory_budget_bytes \
        else measure.memory_budget(device)
    readiness = check_device(device, train_bf16=base_train.bf16, decode_bf16=decode.bf16,
                             train_gpus=resources.train_gpus, memory_budget_bytes=budget, memory_source=budget_source)
    data_dir = options.data_dir if options.data_dir is not None else Layout(ExperimentDirs.of(config.experiment).work).data_dir
    profile = data_profile(config.data, data_dir)
    vocab = (profile.src_vocab_size, profile.tgt_vocab_size)
    base_bytes = measure.process_base_bytes()
    startup_s = measure.time_job_startup() if options.startup else 0.0

    settings = {name: run_settings(plan, plan.runs_of(name)[0], vocab) for name in plan.variants}
    keys = {name: _cost_key(*settings[name]) for name in plan.variants}
    beams: dict[str, set[int]] = {}
    for system in plan.systems.values():
        beams.setdefault(keys[system.runs[0].variant.name], set()).add(system.beam)
    slots = _slots(device, resources, options.cores, options.gpus)
    # Snakemake gives a job at most --cores threads
    train_threads, decode_threads = (min(slots[step], slots["capacity"]) for step in ("train", "decode"))
    measured: dict[str, tuple[str, measure.TrainTiming, measure.DecodeTiming | None]] = {}
    # the precision each step runs in, as check_device found it (once, with its notices)
    train_precision, decode_precision = (Precision(device, readiness.dtype(step) == "bf16") for step in ("train", "decode"))
    order = list(dict.fromkeys(keys[name] for name in plan.variants))
    for key in tqdm(order, desc="estimate", unit="model", disable=not options.progress):
        name = next(n for n in plan.variants if keys[n] == key)
        model_config, train_config = settings[name]
        memory = measure.PeakMemory(device, base_bytes if device.type == "cpu" else 0)
        with measure.cpu_threads(device, train_threads):
            timing, model = measure.time_training(model_config, train_config, profile.splits["train"],
                                                  profile.splits["valid"], train_precision, options.steps, memory)
        decoding = None
        if beams.get(key):
            with measure.cpu_threads(device, decode_threads):
                decoding = measure.time_decoding(model, profile.splits["test"], sorted(beams[key]), decode,
                                                 decode_precision)
        del model
        measured[key] = (name, timing, decoding)
    return _assemble(config, plan, profile, readiness, resources, device, settings, keys, measured, startup_s, slots,
                     options)


def _assemble(config: ExperimentConfig, plan: Plan, profile: DataProfile, readiness: Readiness,
              resources: ResourcesConfig, device: torch.device, settings: dict[str, tuple[ModelConfig, TrainConfig]],
              keys: dict[str, str], measured: dict[str, tuple[str, measure.TrainTiming, measure.DecodeTiming | None]],
              startup_s: float, slots: dict[str, Any], options: EstimateOptions) -> dict[str, Any]:
    budget = readiness.memory_budget_bytes
    test_pairs = profile.splits["test"].pairs
    valid_pairs = profile.splits["valid"].pairs
    models, run_costs = [], {}
    for name, variant in plan.variants.items():
        _, train_config = settings[name]
        measured_as, timing, _ = measured[keys[name]]
        cost = _run_cost(timing, train_config, valid_pairs, startup_s)
        for run in plan.runs_of(name):
            run_costs[run.name] = cost
        fits = None if timing.peak_memory_bytes is None or budget is None else timing.peak_memory_bytes <= budget
        if fits is False:
            readiness.problems.append(f"model {name}: a training step on the largest batch needs "
                                      f"{timing.peak_memory_bytes / 2**20:.0f} MiB, more than the "
                                      f"{budget / 2**20:.0f} MiB budget ({readiness.memory_source})")
        per_epoch = run_seconds(batches_per_epoch=timing.batches_per_epoch, mean_step_s=timing.mean_step_s, epochs=1.0,
                                max_steps=None, eval_every_epochs=train_config.eval_every_epochs,
                                eval_every_steps=train_config.eval_every_steps,
                                save_every_steps=train_config.save_every_steps,
                                eval_pass_s=timing.eval_s_per_pair * valid_pairs, save_s=timing.save_s, startup_s=0.0)
        models.append({
            "variant": name, "axis": variant.axis, "runs": len(plan.runs_of(name)), "measured_as": measured_as,
            "parameters": timing.parameters, "dtype": readiness.dtype("train"), "timed_steps": len(timing.step_s),
            "tokens_per_s": round(timing.tokens_per_s, 1), "mean_step_s": timing.mean_step_s,
            "rate_spread": round(timing.rate_spread, 4), "peak_memory_bytes": timing.peak_memory_bytes, "fits": fits,
            "train_pairs": profile.splits["train"].capped(train_config.max_len).pairs,
            "batches_per_epoch": round(timing.batches_per_epoch, 2), "epoch_s": per_epoch.total_s,
            "epochs": train_config.epochs, "max_steps": train_config.max_steps, "steps_to_ceiling": cost.steps,
            "evaluations": cost.evaluations, "run_s": cost.total_s,
            "extrapolation": round(cost.steps / len(timing.step_s), 1),
        })

    def decode_s(system: SystemSpec) -> float:
        _, _, decoding = measured[keys[system.runs[0].variant.name]]
        assert decoding is not None  # every key with a system was decoded
        return decoding.s_per_sentence[system.beam] * test_pairs * len(system.runs)

    def perplexity_s(run: RunSpec) -> float:
        return measured[keys[run.variant.name]][1].eval_s_per_pair * test_pairs

    systems = [{"system": system.name, "variant": system.runs[0].variant.name, "beam": system.beam,
                "models": len(system.runs), "sentences": test_pairs, "decode_s": decode_s(system)}
               for system in plan.systems.values()]
    jobs = workflow_jobs(plan, train_s=lambda run: run_costs[run.name].total_s, perplexity_s=perplexity_s,
                         decode_s=decode_s, startup_s=startup_s, slots=slots)
    capacity = slots["capacity"]
    serial = sum(job.seconds for job in jobs)
    parts = []
    for part in plan.parts().values():  # each holds the runs its systems decode: its jobs wait for nothing else
        subjects = {*part.runs, *part.systems}
        part_jobs = [job for job in jobs if job.name.subject in subjects]
        parts.append({"part": part.name, "target": f"part_{part.name}", "runs": len(part.runs),
                      "systems": len(part.systems), "serial_s": sum(job.seconds for job in part_jobs),
                      "parallel_s": makespan(part_jobs, capacity)})
    totals = {
        "train_s": sum(cost.total_s for cost in run_costs.values()),
        "decode_s": sum(s["decode_s"] for s in systems),
        "startup_s": startup_s, "jobs": len(jobs), "serial_s": serial,
        "parallel_s": makespan(jobs, capacity), "capacity": capacity, "capacity_unit": slots["unit"],
        "slots_per_job": {k: min(v, capacity) for k, v in slots.items() if k in ("train", "decode", "score")},
    }
    return {
        "config": {"experiment": config.experiment, "steps": options.steps},
        "readiness": readiness.to_dict(), "data": profile.summary(), "models": models, "decoding": systems,
        "parts": parts, "totals": totals, "caveats": _caveats(plan, profile, readiness, resources, device, models, settings),
    }


def _run_cost(timing: measure.TrainTiming, cfg: TrainConfig, valid_pairs: int, startup_s: float) -> RunCost:
    return run_seconds(batches_per_epoch=timing.batches_per_epoch, mean_step_s=timing.mean_step_s, epochs=cfg.epochs,
                       max_steps=cfg.max_steps, eval_every_epochs=cfg.eval_every_epochs,
                       eval_every_steps=cfg.eval_every_steps, save_every_steps=cfg.save_every_steps,
                       eval_pass_s=timing.eval_s_per_pair * valid_pairs, save_s=timing.save_s, startup_s=startup_s)


def _slots(device: torch.device, resources: ResourcesConfig, cores: int | None = None,
           gpus: int | None = None) -> dict[str, Any]:
    """What each job holds of the machine (the workflow's rules): threads of ``--cores`` on a CPU, GPUs on CUDA."""
    if device.type == "cuda":
        count = gpus if gpus is not None else torch.cuda.device_count()
        return {"capacity": max(1, count), "unit": "GPUs", "train": max(1, resources.train_gpus), "decode": 1,
                "score": 0}
    count = cores if cores is not None else (os.cpu_count() or 1)
    return {"capacity": max(1, count), "unit": "cores", "train": resources.train_threads,
            "decode": resources.decode_threads, "score": 1}


def _caveats(plan: Plan, profile: DataProfile, readiness: Readiness, resources: ResourcesConfig,
             device: torch.device, models: list[dict[str, Any]], settings: dict) -> list[str]:
    notes = []
    stopping = [name for name, (_, train) in settings.items() if train.early_stopping_patience]
    if stopping:
        notes.append("Early stopping (train.early_stopping_patience) can end runs before their "
                     "epoch ceiling: the training times are for runs that go to the ceiling, an upper bound.")
    else:
        notes.append("No early stopping is configured: every run trains to its epoch ceiling, as projected.")
    notes.append("Decoding is timed with every translation as long as its reference is expected to be "
                 "(target/source length ratio of the test set); a trained model that stops sooner decodes faster. "
                 "An ensemble of n models is projected as n times one model's decoding.")
    notes.append(f"Data: {profile.description}.")
    if profile.origin != "prepared":
        notes.append("For exact lengths and vocabulary sizes, prepare the data first (`snakemake prepare`, which "
                     "writes work/<experiment>/data, read by default; or `repro prepare` and --data).")
    notes.append("Not projected: downloading, preparing the data, and the report jobs (tables, figures, claims).")
    if device.type == "cpu":
        notes.append("Concurrent jobs are assumed to run as fast as one job alone; on a CPU they share memory "
                     "bandwidth and caches, so a full machine can run slower.")
    if device.type == "cuda" and resources.train_gpus > 1:
        notes.append(f"Training under DDP on {resources.train_gpus} GPUs is projected at one GPU's speed (an upper "
                     "bound): the speed-up of data parallelism was not measured.")
    if readiness.bf16_note:
        notes.append(readiness.bf16_note + ".")
    worst = max(models, key=lambda m: m["extrapolation"])
    spread = max(m["rate_spread"] for m in models)
    notes.append(f"Distance from the measurement: up to {worst['extrapolation']:,.0f} training steps projected per "
                 f"timed step ({worst['variant']}); the timed steps' seconds per token spread by up to "
                 f"{100 * spread:.0f}% (max - min over the median). More --steps narrow it.")
    return notes
