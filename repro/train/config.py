"""Training settings. The defaults are the paper's recipe (§3.4)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from repro.config import DEVICES, dataclass_from_dict
from repro.data.sampling import BATCH_BY
from repro.errors import ConfigError
from repro.train.schedule import SCHEDULES

OPTIMIZERS = ("sgd", "adam")


@dataclass
class TrainConfig:
    # optimisation: plain SGD, no momentum, lr 0.7; after 5 epochs halve every half epoch; 7.5 epochs
    optimizer: str = "sgd"
    lr: float = 0.7
    adam_betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    adam_eps: float = 1e-8
    epochs: float = 7.5
    lr_schedule: str = "halving"
    decay_start_epoch: float = 5.0
    decay_every_epochs: float = 0.5
    decay_factor: float = 0.5
    # convergence (off by default, so the paper's fixed recipe is unchanged). Progress is a drop of
    # validation perplexity by more than min_improvement (relative) below the last progress. lr_schedule
    # "plateau": multiply the rate by decay_factor after plateau_patience evaluations without progress
    # (torch's ReduceLROnPlateau), never below the floor min_lr. Stop, as converged, once
    # early_stopping_patience evaluations in a row at the final rate made no progress (Keras'
    # EarlyStopping(min_delta, patience), counted at one rate); epochs stays the ceiling, and a run that
    # reaches it stops as epoch_limit, not converged.
    plateau_patience: int = 1
    early_stopping_patience: int | None = None
    min_lr: float = 0.0
    min_improvement: float = 0.0
    # loss = sum of target-token cross-entropies / sentences in the batch; clip ||g|| at 5 after that
    clip_norm: float | None = 5.0
    teacher_forcing_ratio: float = 1.0
    # label smoothing of the training loss (Szegedy et al. 2016); perplexities stay the true ones
    label_smoothing: float = 0.0
    # batches: 128 sentences of similar length
    batch_size: int = 128
    batch_by: str = "sentences"
    max_tokens: int = 4096
    bucketing: bool = True
    bucket_pool_batches: int = 100
    max_len: int | None = None
    # runtime
    seed: int = 1
    device: str = "auto"
    bf16: bool = False
    num_workers: int = 0
    eval_batch_size: int = 128
    eval_every_epochs: float = 0.5
    eval_every_steps: int = 0
    log_every_steps: int = 10
    save_every_steps: int = 1000
    max_steps: int | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        def bad(message: str) -> ConfigError:
            return ConfigError(f"config section 'train': {message}")

        if self.optimizer not in OPTIMIZERS:
            raise bad(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.lr_schedule not in SCHEDULES:
            raise bad(f"lr_schedule must be one of {', '.join(SCHEDULES)}, got {self.lr_schedule!r}")
        if self.batch_by not in BATCH_BY:
            raise bad(f"batch_by must be one of {', '.join(BATCH_BY)}, got {self.batch_by!r}")
        if self.device not in DEVICES:
            raise bad(f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        if not self.lr > 0 or not self.epochs > 0:
            raise bad("lr and epochs must be positive")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise bad(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if not 0.0 < self.decay_factor < 1.0:
            raise bad(f"decay_factor must be in (0, 1), got {self.decay_factor}")
        if self.min_lr < 0 or self.min_improvement < 0:
            raise bad("min_lr and min_improvement must be >= 0")
        if self.early_stopping_patience is not None and self.early_stopping_patience < 1:
            raise bad(f"early_stopping_patience must be positive or null, got {self.early_stopping_patience}")
        if (self.lr_schedule == "plateau" and self.early_stopping_patience is not None and self.min_lr == 0
                and self.early_stopping_patience >= self.plateau_patience):
            # every plateau_patience evaluations without progress decay the rate, and a decay restarts the count
            raise bad(f"early_stopping_patience {self.early_stopping_patience} counts evaluations at the final "
                      f"rate, but with no floor (min_lr 0) the plateau schedule decays the rate every "
                      f"{self.plateau_patience} evaluation(s) without progress, so the run would never stop: "
                      "set min_lr, the rate the run ends at")
        if not 0.0 <= self.teacher_forcing_ratio <= 1.0:
            raise bad(f"teacher_forcing_ratio must be in [0, 1], got {self.teacher_forcing_ratio}")
        for name in ("batch_size", "max_tokens", "bucket_pool_batches", "eval_batch_size", "log_every_steps",
                     "save_every_steps", "plateau_patience"):
            if int(getattr(self, name)) < 1:
                raise bad(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("eval_every_steps", "num_workers"):
            if int(getattr(self, name)) < 0:
                raise bad(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.max_steps is not None and self.max_steps < 1:
            raise bad(f"max_steps must be positive or null, got {self.max_steps}")
        if self.max_len is not None and self.max_len < 1:
            raise bad(f"max_len must be positive or null, got {self.max_len}")
        if len(self.adam_betas) != 2:
            raise bad(f"adam_betas must be two numbers, got {self.adam_betas}")
        if self.clip_norm is not None and self.clip_norm <= 0:
            raise bad(f"clip_norm must be positive or null, got {self.clip_norm}")
        self.adam_betas = [float(b) for b in self.adam_betas]

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> TrainConfig:
        return dataclass_from_dict(cls, values, "train")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Settings that may change when a run is resumed: they do not change what the run computes
# (epochs / max_steps only move the end; the patience only decides when a run counts as converged).
RESUMABLE_CHANGES = ("epochs", "max_steps", "early_stopping_patience", "eval_every_steps", "log_every_steps", "save_every_steps",
                     "num_workers", "progress", "device", "eval_batch_size")
