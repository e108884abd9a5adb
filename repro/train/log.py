"""The training log: ``log.jsonl`` in the run directory (one JSON object per logged training interval
or validation, with its ``kind`` "train" or "valid" and its ``step``), mirrored to TensorBoard when
the optional tensorboard package is installed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

from repro.io import atomic_write

LOG_NAME = "log.jsonl"


def log_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / LOG_NAME


def truncate_log(path: Path, last_step: int) -> None:
    """Keep the entries up to ``last_step`` (a killed run may have logged past its checkpoint, or
    left half a line)."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue  # the half-written last line of a killed run
        if entry.get("step", 0) <= last_step:
            kept.append(line)
    with atomic_write(path, encoding="utf-8", newline="\n") as handle:
        handle.write("".join(k + "\n" for k in kept))


def read_log(run_dir: str | Path) -> list[dict[str, Any]]:
    """Every entry of the run's log.jsonl, in order, as written (``kind``, ``step``, ``loss``,
    ``grad_norm``, ``valid_ppl``, ...); an empty list when there is no log."""
    path = log_path(run_dir)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class LogWriter:
    """Appends entries to log.jsonl (flushed per line) and TensorBoard; writes nothing when disabled
    (every rank but 0). Nothing is opened before :meth:`open`, so that building the writer does not
    touch the run directory."""

    def __init__(self, run_dir: Path, enabled: bool) -> None:
        self.run_dir = run_dir
        self.enabled = enabled
        self.handle: IO[str] | None = None
        self.tb: Any = None  # a SummaryWriter, when tensorboard is installed

    def open(self) -> None:
        if not self.enabled:
            return
        self.handle = open(log_path(self.run_dir), "a", encoding="utf-8")
        try:
            # needs the optional tensorboard package
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(self.run_dir / "tensorboard"))
        except ImportError:
            self.tb = None

    def write(self, entry: dict[str, Any]) -> None:
        if self.handle is None:
            return
        self.handle.write(json.dumps(entry) + "\n")
        self.handle.flush()
        if self.tb is not None:
            prefix = entry.get("kind", "train")
            for key, value in entry.items():
                if key not in ("kind", "step") and isinstance(value, (int, float)):
                    self.tb.add_scalar(f"{prefix}/{key}", value, entry["step"])

    def close(self) -> None:
        if self.handle:
            self.handle.close()
        if self.tb is not None:
            self.tb.close()
