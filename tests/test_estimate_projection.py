"""The arithmetic of a projection and the schedule of the workflow's jobs, checked exactly."""

from __future__ import annotations

import pytest

from repro.estimate.projection import Job, format_bytes, format_seconds, makespan, run_seconds, workflow_jobs
from repro.experiments import plan


def cost(**overrides):
    settings = dict(batches_per_epoch=10, mean_step_s=0.5, epochs=2.5, max_steps=None, eval_every_epochs=0.5,
                    eval_every_steps=0, save_every_steps=1000, eval_pass_s=2.0, save_s=0.25, startup_s=3.0)
    settings.update(overrides)
    return run_seconds(**settings)


def test_a_run_to_its_epoch_ceiling() -> None:
    run = cost()
    assert run.steps == 25
    assert run.evaluations == 5  # epochs 0.5, 1, 1.5, 2, 2.5: the last is the final evaluation
    assert run.checkpoints == 10  # last.pt and best.pt after each evaluation
    assert run.total_s == pytest.approx(25 * 0.5 + 5 * 2.0 + 10 * 0.25 + 3.0)


def test_an_end_off_the_evaluation_grid_adds_the_final_evaluation() -> None:
    assert cost(epochs=2.25).steps == 23  # ceil(22.5)
    assert cost(epochs=2.25).evaluations == 5  # 4 on the grid + the final one


def test_max_steps_and_step_intervals() -> None:
    run = cost(max_steps=7)
    assert run.steps == 7 and run.evaluations == 2  # epoch 0.5, then the final one at 0.7
    assert cost(eval_every_steps=10).evaluations == 5 + 2
    assert cost(save_every_steps=10).checkpoints == 10 + 2


def test_makespan_starts_the_longest_ready_job_first() -> None:
    jobs = [Job("a", 3, 1), Job("b", 2, 1), Job("c", 2, 1)]
    assert makespan(jobs, 2) == 4  # a and b at 0, c when b ends
    assert makespan(jobs, 1) == 7  # one slot: one after another
    assert makespan(jobs, 3) == 3


def test_makespan_waits_for_dependencies_and_slot_sizes() -> None:
    jobs = [Job("train", 1, 1), Job("decode", 5, 1, ["train"]), Job("other", 4, 1)]
    assert makespan(jobs, 2) == 6
    wide = [Job("wide", 2, 2), Job("narrow", 2, 1)]
    assert makespan(wide, 2) == 4  # the two-slot job cannot share the machine
    assert makespan([Job("huge", 2, 8), Job("x", 1, 1)], 2) == 3  # more slots than there are: all of them
    assert makespan([Job("gpu", 5, 1), Job("cpu-side", 5, 0)], 1) == 5  # slot-free jobs run beside


def test_makespan_rejects_unknown_and_cyclic_dependencies() -> None:
    with pytest.raises(ValueError, match="unknown"):
        makespan([Job("a", 1, 1, ["b"])], 1)
    with pytest.raises(ValueError, match="cycle"):
        makespan([Job("a", 1, 1, ["b"]), Job("b", 1, 1, ["a"])], 1)


def test_durations_and_sizes_read_as_a_person_would() -> None:
    assert format_seconds(42) == "42.0 s"
    assert format_seconds(90) == "1.5 min"
    assert format_seconds(5400) == "1.5 h"
    assert format_seconds(86400 * 3) == "3.0 days"
    assert format_seconds(86400 * 365 * 2) == "2.0 years"
    assert format_bytes(512) == "512 B" and format_bytes(3 * 2**20) == "3.0 MiB" and format_bytes(None) == "unknown"


def test_the_workflow_jobs_wait_for_what_their_rules_read():
    experiment = plan({"paper": {"reversed_seeds": [1, 2], "forward_seeds": [1], "ensembles": [2],
                                 "table1_beams": [1], "beam_table_beams": [1], "figure_beam": 1,
                                 "beam_table_fairseq_row": False}})
    jobs = workflow_jobs(experiment, train_s=lambda run: 10.0 * run.seed, perplexity_s=lambda run: 1.0,
                         decode_s=lambda system: 2.0 * len(system.runs), startup_s=0.5,
                         slots={"train": 1, "decode": 1, "score": 0})
    by_name = {str(job.name): job for job in jobs}
    ensemble = by_name["translate ensemble-reversed-s1+2/beam1"]
    assert [str(key) for key in ensemble.after] == ["train reversed-s1", "train reversed-s2"]
    assert ensemble.seconds == 4.5 and ensemble.slots == 1
    assert [str(key) for key in by_name["score ensemble-reversed-s1+2/beam1"].after] == [str(ensemble.name)]
    assert sorted(name for name in by_name if name.startswith("perplexity")) == [
        "perplexity forward-s1", "perplexity reversed-s1", "perplexity reversed-s2"]
    # on one slot: the trains (10 + 20 + 10 s), the decodings (2 + 4 + 2 s, each with its start-up), the
    # perplexities and scores beside them (no slot), the last score (its start-up) after the last decoding
    assert makespan(jobs, 1) == pytest.approx(40 + 2.5 + 4.5 + 2.5 + 0.5)
