"""What a checkpoint restores: the trainer's position and accumulators (``TrainState``), every random
generator's state, and the checkpoint payload, written and read by key name.

The run's position is (epoch, batch index within the epoch); the batch order of an epoch is a function
of (seed, epoch) (``repro.data.sampling``), so this state plus the RNG states is all a killed run
needs to continue exactly as if it had never stopped.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import torch

from repro.models.seq2seq import ModelConfig
from repro.train.config import TrainConfig
from repro.train.schedule import Convergence
from repro.train.step import StepResult


def _empty_interval() -> dict[str, float]:
    return {"nll": 0.0, "tokens": 0, "sentences": 0, "grad_norm": 0.0, "steps": 0, "time": 0.0}


@dataclass
class TrainState:
    """The trainer's position and accumulators; checkpointed by field name."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    elapsed_s: float = 0.0  # wall time, evaluation and checkpoints included
    train_time_s: float = 0.0  # time in training steps only
    tokens_total: int = 0
    # sums since the last training log entry
    interval: dict[str, float] = field(default_factory=_empty_interval)
    convergence: Convergence = field(default_factory=Convergence)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainState:
        """The state saved by :meth:`to_dict`; keys it does not know (the checkpoint's ``world_size``,
        ``train_pairs``) are ignored, missing ones keep their defaults."""
        known = {f.name for f in fields(cls)}
        state = cls(**{k: v for k, v in values.items() if k in known})
        state.interval = dict(state.interval)
        if isinstance(state.convergence, dict):
            state.convergence = Convergence(**state.convergence)
        elif "best_valid_ppl" in values:  # a checkpoint from before convergence tracking
            state.convergence = Convergence(best_valid_ppl=values["best_valid_ppl"])
        return state

    def add_step(self, result: StepResult, seconds: float) -> None:
        """Count one finished training step that took ``seconds``."""
        self.step += 1
        self.batch_in_epoch += 1
        acc = self.interval
        acc["nll"] += result.nll_sum
        acc["tokens"] += result.tokens
        acc["sentences"] += result.sentences
        acc["grad_norm"] += result.grad_norm
        acc["steps"] += 1
        acc["time"] += seconds
        self.train_time_s += seconds
        self.tokens_total += result.tokens

    def reset_interval(self) -> None:
        self.interval = {k: 0 if k in ("tokens", "sentences", "steps") else 0.0 for k in self.interval}


def checkpoint_payload(*, model_config: ModelConfig, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                       train_config: TrainConfig, lr: float, epoch: float, state: TrainState, world_size: int,
                       train_pairs: int, rngs: list[dict[str, Any]], data_fingerprint: dict[str, str]
                       ) -> dict[str, Any]:
    """The checkpoint dict (``repro.train.checkpoint`` describes its keys); ``rngs`` holds one
    :func:`rng_state` per rank; ``data_fingerprint`` the digests of the files the run trains on
    (``repro.data.fingerprint``)."""
    return {
        "model_config": model_config.to_dict(),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "train_config": train_config.to_dict(),
        "schedule": {"kind": train_config.lr_schedule, "lr": lr, "epoch": epoch},
        "trainer": {**state.to_dict(), "world_size": world_size, "train_pairs": train_pairs},
        "rng": rngs,
        "data_fingerprint": data_fingerprint,
    }


def rng_state(device: torch.device) -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
