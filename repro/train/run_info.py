"""``run.json``: what a run is and why it stopped, as one dataclass the trainer writes and every reader reads.

The trainer rewrites it at every checkpoint (status ``running``) and once more when the run ends; the
workflow's run record (``repro.records``) carries it unchanged, so runs.csv, the tables' "converged"
column, the provenance of a comparison and the convergence audit all read the same fields.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from repro.cpu_isa import describe_isa_limits
from repro.errors import DataError, ReproError
from repro.io import atomic_write

RUN_JSON = "run.json"


class Status(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    DIVERGED = "diverged"


class StopReason(StrEnum):
    """Why a finished run stopped (``repro.train.trainer``): its stop rule, or a ceiling that came first."""

    CONVERGED = "converged"  # the last validations at the final learning rate made no progress
    EPOCH_LIMIT = "epoch_limit"  # train.epochs reached, the run still improving
    MAX_STEPS = "max_steps"  # train.max_steps reached, the run still improving


@dataclass
class RunInfo:
    """One run: its settings, where and how fast it trained, and where its best checkpoint is.

    ``best_*`` are None until a validation was finite; ``stop_reason`` is None until ``status`` is done;
    ``error`` says why a run stopped with status failed, interrupted or diverged.
    """

    status: Status
    model: dict[str, Any] = field(default_factory=dict)  # the resolved ModelConfig
    train: dict[str, Any] = field(default_factory=dict)  # the resolved TrainConfig
    data_dir: str | None = None
    data_fingerprint: dict[str, str] = field(default_factory=dict)  # repro.data.fingerprint
    parameters: int | None = None
    device: str | None = None
    bf16: bool | None = None  # whether it trained in bf16 (train.bf16 where the device has it)
    world_size: int = 1
    environment: dict[str, Any] = field(default_factory=dict)  # repro.train.checkpoint.environment_info
    wall_time_s: float | None = None
    tokens_per_s: float | None = None
    step: int | None = None
    epoch: float | None = None
    train_pairs: int | None = None
    best_valid_ppl: float | None = None
    best_epoch: float | None = None
    best_step: int | None = None
    evals_since_best: int | None = None
    final_lr: float | None = None
    stop_reason: StopReason | None = None
    error: str | None = None

    @property
    def converged(self) -> bool:
        return self.stop_reason == StopReason.CONVERGED

    @property
    def dtype(self) -> str | None:
        """The precision the run trained in (bf16 or fp32); None where it was not recorded."""
        return None if self.bf16 is None else ("bf16" if self.bf16 else "fp32")

    @property
    def device_name(self) -> str | None:
        """The device it trained on, with the instruction-set limits it ran under where any were set."""
        name = self.environment.get("device_name") or self.device
        limits = self.environment.get("isa_limits") or {}
        return f"{name} ({describe_isa_limits(limits)})" if limits else name

    @property
    def seed(self) -> int | None:
        return self.train.get("seed")

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        if self.error is None:
            del values["error"]
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str | Path = "run.json") -> RunInfo:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise DataError(f"unknown field(s) {', '.join(unknown)}; a run.json of another version of repro?", source)
        if "status" not in values:
            raise DataError("no 'status'", source)
        try:
            status = Status(values["status"])
            reason = None if values.get("stop_reason") is None else StopReason(values["stop_reason"])
        except ValueError as exc:
            raise DataError(str(exc), source) from None
        return cls(**{**values, "status": status, "stop_reason": reason})


def read_run_info(run_dir: str | Path) -> RunInfo:
    path = Path(run_dir) / RUN_JSON
    if not path.is_file():
        raise ReproError(f"{run_dir}: not a run directory (no {RUN_JSON}); train one with `repro train`")
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DataError(f"not valid JSON ({exc})", path) from None
    if not isinstance(values, dict):
        raise DataError("not a JSON object", path)
    return RunInfo.from_dict(values, path)


def write_run_info(run_dir: str | Path, info: RunInfo, last_resort: bool = False) -> None:
    """Write run.json atomically. ``last_resort`` (recording why a run stopped): when there is no room
    for the temporary copy (a full disk), rewrite the existing file in place rather than leave it saying
    ``running``; it is small, and its blocks are reused."""
    path = Path(run_dir) / RUN_JSON
    text = json.dumps(info.to_dict(), indent=2, sort_keys=True) + "\n"
    try:
        with atomic_write(path, encoding="utf-8") as handle:
            handle.write(text)
    except ReproError:
        if not (last_resort and path.is_file()):
            raise
        with open(path, "r+", encoding="utf-8") as handle:
            handle.write(text)
            handle.truncate()
