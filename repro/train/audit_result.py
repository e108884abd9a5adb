"""A convergence audit's result (``repro.train.audit`` makes it): where and why a run stopped, the rate it
was continued at and each further validation. Torch-free, so that the reports and records read audits
without loading the trainer."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from repro.errors import ReproError
from repro.layout import AUDIT_RECORD

DEFAULT_EVALS = 5


@dataclass(frozen=True)
class AuditResult:
    """One run's audit: where and why it stopped, the rate it was continued at, and the validation
    perplexity of each further evaluation."""

    run_dir: str
    stop_reason: str | None
    stopped_epoch: float
    best_valid_ppl: float
    final_lr: float
    epochs: list[float]
    valid_ppls: list[float]

    @property
    def further_gain(self) -> float:
        """Relative drop of the best validation perplexity that the further evaluations bring (>= 0)."""
        return max(0.0, 1.0 - min(self.valid_ppls, default=math.inf) / self.best_valid_ppl)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "further_gain": self.further_gain}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> AuditResult:
        return cls(**{key: values[key] for key in cls.__dataclass_fields__})


def audit_path(out_dir: str | Path) -> Path:
    return Path(out_dir) / AUDIT_RECORD


def read_audit(path: str | Path) -> AuditResult:
    path = Path(path)
    try:
        return AuditResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ReproError(f"{path}: not a readable audit record ({exc})") from exc
