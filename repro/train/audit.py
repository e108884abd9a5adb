"""The convergence audit: would more training at a run's final learning rate still have helped?

A finished run is continued from its last checkpoint for ``evals`` more validations at the rate it last
trained at (the schedule held constant, no stop rule but that ceiling), in a directory of its own: the
run itself is only read. The figure is the *further gain*, the relative drop of the best validation
perplexity over those evaluations (0 when none beats the run's best). A run that has converged in the
sense a reader gives the word has a further gain near 0; one stopped mid-descent does not.

The continuation is the trainer's own exact resume (same batches, same random streams), with only the
schedule and the stop settings replaced, so the audit measures the run, not a re-implementation of it.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import replace
from pathlib import Path

from repro.errors import ReproError
from repro.io import atomic_write
from repro.models.config import DATA_DEFINED_KEYS
from repro.train.audit_result import DEFAULT_EVALS, AuditResult, audit_path
from repro.train.checkpoint import checkpoint_path, load_checkpoint, save_checkpoint
from repro.train.config import TrainConfig
from repro.train.log import read_log
from repro.train.run_dir import check_run_dir
from repro.train.run_info import RUN_JSON, RunInfo, Status, read_run_info


def audit_run(run_dir: str | Path, out_dir: str | Path, evals: int = DEFAULT_EVALS,
              data_dir: str | Path | None = None, progress: bool = False) -> AuditResult:
    """Continue the finished run ``run_dir`` for ``evals`` validations at its final rate in ``out_dir``
    (resumable: a killed audit continues from ``out_dir``'s checkpoint) and write ``out_dir/audit.json``."""
    from repro.train.trainer import train

    if evals < 1:
        raise ReproError(f"the audit needs at least one evaluation, got {evals}")
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    if out_dir.resolve() == run_dir.resolve():
        raise ReproError(f"{out_dir}: the audit writes a directory of its own; give another --out than the run")
    info = _finished_run_info(run_dir)
    payload = load_checkpoint(checkpoint_path(run_dir, "last"))
    cfg = TrainConfig.from_dict(payload["train_config"])
    if not cfg.eval_every_epochs > 0:
        raise ReproError(f"{run_dir}: the audit counts evaluations every train.eval_every_epochs, which is "
                         f"{cfg.eval_every_epochs:g} for this run")
    final_lr = float(payload["schedule"]["lr"])
    stopped_epoch = float(payload["schedule"]["epoch"])
    # the evaluation grid of the run itself: the next ``evals`` multiples of eval_every_epochs
    every = cfg.eval_every_epochs
    ceiling = (math.floor(stopped_epoch / every + 1e-9) + evals) * every
    held = replace(cfg, lr_schedule="constant", lr=final_lr, early_stopping_patience=None, min_lr=0.0,
                   epochs=ceiling, max_steps=None, progress=progress)

    data_dir = Path(data_dir or info.data_dir)
    seeded = checkpoint_path(out_dir, "last")
    if not seeded.exists():  # else: an interrupted audit, resumed by the trainer
        check_run_dir(out_dir, data_dir)  # the audit's directory is a run directory: new, empty or its own
        save_checkpoint(seeded, {**payload, "train_config": held.to_dict()})
    model_section = {k: v for k, v in payload["model_config"].items() if k not in DATA_DEFINED_KEYS}
    train(data_dir, out_dir, model_section, held)

    further = [entry for entry in read_log(out_dir) if entry["kind"] == "valid" and entry["step"] > info.step]
    result = AuditResult(run_dir=str(run_dir), stop_reason=info.stop_reason, stopped_epoch=stopped_epoch,
                         best_valid_ppl=float(info.best_valid_ppl), final_lr=final_lr,
                         epochs=[e["epoch"] for e in further], valid_ppls=[e["valid_ppl"] for e in further])
    with atomic_write(audit_path(out_dir), encoding="utf-8") as handle:
        json.dump(result.to_dict(), handle, indent=2)
        handle.write("\n")
    # the continued model is of no further use, and two checkpoints per run add up
    shutil.rmtree(out_dir / "checkpoints", ignore_errors=True)
    return result


def _finished_run_info(run_dir: Path) -> RunInfo:
    info = read_run_info(run_dir)
    if info.status != Status.DONE or info.best_valid_ppl is None:
        raise ReproError(f"{run_dir / RUN_JSON}: the run is not finished (status '{info.status}'); audit a finished run")
    return info
