"""From measured step times to the cost of an experiment: per run, per decoding, and the whole workflow.

No torch here: the arithmetic of a projection (:func:`run_seconds`) and the schedule of the workflow's
jobs on the user's cores or GPUs (:func:`makespan`), so both can be checked exactly.

A run's time is its training steps to the epoch ceiling (``train.epochs``, or ``train.max_steps`` when
it comes first) at the measured mean step time, plus its validation passes (every
``train.eval_every_epochs``, every ``train.eval_every_steps``, and one at the end), each followed by a
checkpoint (``last.pt`` and, on improvement, ``best.pt``: counted as two), plus the periodic checkpoints
(``train.save_every_steps``) and the start-up of the job.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from repro.experiments import Plan, RunSpec, SystemSpec

_EPS = 1e-9


@dataclass(frozen=True)
class RunCost:
    """The projected cost of one training run to its ceiling."""

    steps: int
    evaluations: int
    checkpoints: int
    train_s: float  # the steps alone
    eval_s: float
    checkpoint_s: float
    startup_s: float

    @property
    def total_s(self) -> float:
        return self.train_s + self.eval_s + self.checkpoint_s + self.startup_s


def run_seconds(*, batches_per_epoch: float, mean_step_s: float, epochs: float, max_steps: int | None,
                eval_every_epochs: float, eval_every_steps: int, save_every_steps: int, eval_pass_s: float,
                save_s: float, startup_s: float) -> RunCost:
    """The cost of a run that trains to its ceiling (see the module docstring)."""
    steps = int(math.ceil(epochs * batches_per_epoch - _EPS))
    if max_steps is not None:
        steps = min(steps, max_steps)
    trained_epochs = steps / batches_per_epoch
    boundaries = int(math.floor(trained_epochs / eval_every_epochs + _EPS)) if eval_every_epochs > 0 else 0
    evaluations = boundaries + (steps // eval_every_steps if eval_every_steps else 0)
    if boundaries * eval_every_epochs < trained_epochs - _EPS:
        evaluations += 1  # the final evaluation, when the end is not on an evaluation boundary
    checkpoints = 2 * evaluations + steps // save_every_steps
    return RunCost(steps, evaluations, checkpoints, steps * mean_step_s, evaluations * eval_pass_s,
                   checkpoints * save_s, startup_s)


@dataclass
class Job:
    """One job of the workflow: how long it runs, how much of the machine it holds, what it waits for."""

    name: Hashable  # what the job is (its str() orders ties)
    seconds: float
    slots: int  # cores (threads) on a CPU, GPUs on a GPU machine; 0: runs beside the others
    after: list[Hashable] = field(default_factory=list)


class Step(StrEnum):
    """The workflow's rules that take time per run or per system (their names in workflows/rules/)."""

    TRAIN = "train"
    PERPLEXITY = "perplexity"
    TRANSLATE = "translate"
    SCORE = "score"


@dataclass(frozen=True)
class JobKey:
    """A job of the workflow: a step of one run or one system."""

    step: Step
    subject: RunSpec | SystemSpec

    def __str__(self) -> str:
        return f"{self.step} {self.subject.name}"


def workflow_jobs(plan: Plan, *, train_s: Callable[[RunSpec], float], perplexity_s: Callable[[RunSpec], float],
                  decode_s: Callable[[SystemSpec], float], startup_s: float, slots: dict[str, Any]) -> list[Job]:
    """The workflow's jobs for ``plan``, each with its duration, its slots and the jobs it waits for: every
    run trained, the paper's runs' test perplexity, every system translated and scored (what `snakemake`
    runs; tests/test_workflow.py checks the counts against a dry run)."""
    jobs = [Job(JobKey(Step.TRAIN, run), train_s(run), slots["train"]) for run in plan.runs.values()]
    jobs += [Job(JobKey(Step.PERPLEXITY, run), perplexity_s(run) + startup_s, slots["score"],
                 [JobKey(Step.TRAIN, run)]) for run in plan.perplexity_runs()]
    for system in plan.systems.values():
        translate = JobKey(Step.TRANSLATE, system)
        jobs.append(Job(translate, decode_s(system) + startup_s, slots["decode"],
                        [JobKey(Step.TRAIN, run) for run in system.runs]))
        jobs.append(Job(JobKey(Step.SCORE, system), startup_s, slots["score"], [translate]))
    return jobs


def makespan(jobs: list[Job], capacity: int) -> float:
    """Wall time of ``jobs`` on ``capacity`` slots, scheduled as a workflow manager would: whenever slots
    are free, start the ready job (all it waits for done) that runs longest, if it fits.

    A job asking for more slots than there are gets them all (Snakemake scales a job's threads down to
    ``--cores``).
    """
    by_name = {job.name: job for job in jobs}
    waiting = {job.name: set(job.after) for job in jobs}
    unknown = {dep for deps in waiting.values() for dep in deps} - set(by_name)
    if unknown:
        raise ValueError(f"jobs wait for unknown jobs: {', '.join(sorted(map(str, unknown)))}")
    ready = [job.name for job in jobs if not job.after]
    running: list[tuple[float, str, Hashable]] = []  # (end time, str(name), name)
    free, now, done = capacity, 0.0, 0
    while done < len(jobs):
        ready.sort(key=lambda name: (-by_name[name].seconds, str(name)))
        for name in list(ready):
            need = min(by_name[name].slots, capacity)
            if need <= free:
                free -= need
                ready.remove(name)
                heapq.heappush(running, (now + by_name[name].seconds, str(name), name))
        if not running:
            raise ValueError("the jobs wait for each other in a cycle")
        now, _, name = heapq.heappop(running)
        free += min(by_name[name].slots, capacity)
        done += 1
        for other, deps in waiting.items():
            if name in deps:
                deps.discard(name)
                if not deps:
                    ready.append(other)
    return now


def format_seconds(seconds: float) -> str:
    """3.2 s, 14 min, 2.5 h, 3.1 days, 2.3 years: the unit a person reads a duration in."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.1f} h"
    if seconds < 86400 * 365:
        return f"{seconds / 86400:.1f} days"
    return f"{seconds / (86400 * 365):.1f} years"


def format_bytes(size: int | None) -> str:
    if size is None:
        return "unknown"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")
