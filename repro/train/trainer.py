"""The training loop: the paper's recipe, exact resume, DDP, divergence guard.

One step (``training_step``): forward with teacher forcing, loss = summed target-token cross-entropy
divided by the number of sentences in the (global) batch — the paper divides the gradient by 128 — then
the gradient norm is clipped at 5 (computed after that division) and SGD steps. Under DDP each rank
scales its loss by ``world_size / global_sentences`` so that DDP's gradient *average* is the gradient of
one process on the whole batch.

The run's position is (epoch, batch index within the epoch); the batch order of an epoch is a function
of (seed, epoch) (``repro.data.batching``), and every RNG's state is in the checkpoint, so a run killed at
any point and restarted from ``last.pt`` continues exactly as if it had never stopped: the resumed
``log.jsonl`` is cut back to the checkpoint's step and then written again with the same numbers.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.utils import clip_grad_norm_

from repro.data.batching import Batch, BatchSampler, iterate_collated, shard
from repro.data.storage import load_meta, load_split
from repro.errors import ReproError
from repro.io import atomic_write
from repro.models.seq2seq import ModelConfig, Seq2Seq
from repro.train import distributed
from repro.train.checkpoint import (
    checkpoint_path,
    copy_data_files,
    environment_info,
    load_checkpoint,
    remove_orphaned_temporaries,
    save_checkpoint,
    write_run_json,
)
from repro.train.config import RESUMABLE_CHANGES, TrainConfig
from repro.device import autocast, check_bf16, resolve_device
from repro.train.distributed import DistInfo
from repro.train.evaluate import perplexity
from repro.train.loss import linear_cross_entropy, scored_positions, token_losses
from repro.train.schedule import Convergence, crossed, learning_rate

_EPS = 1e-9


class Diverged(ReproError):
    """The loss or the gradient norm became NaN or infinite."""


# ------------------------------------------------------------------------------------------- one step
@dataclass
class StepResult:
    nll_sum: float  # summed over the global batch
    tokens: int  # target tokens (words + <eos>) in the global batch
    sentences: int
    grad_norm: float  # before clipping

    @property
    def loss(self) -> float:
        """The optimised quantity: summed cross-entropy per sentence."""
        return self.nll_sum / max(self.sentences, 1)


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    # Multi-tensor updates instead of a Python loop over the parameters. Adam's fused kernel (CPU and CUDA)
    # was 3.6x faster than foreach on a 2x256 model with 11k vocabularies on one CPU thread (126 -> 35 ms
    # a step); SGD's fused kernel gains nothing on the CPU, so it stays foreach.
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.0, foreach=True)
    return torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=tuple(cfg.adam_betas), eps=cfg.adam_eps,
                            fused=True)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def training_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: Batch,
    *,
    global_sentences: int | None = None,
    clip_norm: float | None = 5.0,
    teacher_forcing_ratio: float = 1.0,
    device: torch.device = torch.device("cpu"),
    bf16: bool = False,
    dist_info: DistInfo = DistInfo(),
    weight: float = 1.0,
    label_smoothing: float = 0.0,
) -> StepResult:
    """One optimisation step on ``batch`` (already on ``device``); raises :class:`Diverged` *before*
    updating the parameters when the loss or the gradient norm is not finite.

    ``global_sentences``: sentences in the whole (all-rank) batch, the loss divisor (default: this
    batch's). ``weight`` 0 marks a placeholder batch of a rank whose share of a tiny global batch is
    empty: it takes part in DDP's gradient all-reduce but contributes nothing.
    """
    global_sentences = global_sentences or batch.num_sentences
    optimizer.zero_grad(set_to_none=True)
    positions = scored_positions(batch.tgt_out)
    targets = batch.tgt_out[positions]
    if teacher_forcing_ratio >= 1.0:  # the output layer and the loss fused (repro.train.loss)
        with autocast(device, bf16):
            vectors = model(batch.src, batch.src_lengths, batch.tgt_in, positions=positions, vectors=True)
        output = getattr(model, "module", model).output  # DDP wraps the model
        objective, nll = linear_cross_entropy(vectors, output.weight, output.bias, targets, label_smoothing,
                                              torch.bfloat16 if bf16 else torch.float32)
    else:
        with autocast(device, bf16):
            logits = model(batch.src, batch.src_lengths, batch.tgt_in, teacher_forcing_ratio=teacher_forcing_ratio,
                           positions=positions)
        objective, nll = token_losses(logits, targets, label_smoothing)
    loss = objective * (weight * dist_info.world_size / global_sentences)
    loss.backward()
    params = [p for p in model.parameters() if p.grad is not None]
    grad_norm = clip_grad_norm_(params, clip_norm if clip_norm else math.inf, foreach=True)
    stats = torch.stack([nll.detach().double() * weight,
                         torch.tensor(float(batch.num_tgt_tokens * weight), dtype=torch.float64, device=nll.device),
                         torch.tensor(float(batch.num_sentences * weight), dtype=torch.float64, device=nll.device)])
    stats = distributed.all_reduce_sum(stats, dist_info).tolist()
    norm = float(grad_norm)
    result = StepResult(stats[0], int(round(stats[1])), int(round(stats[2])), norm)
    if not (math.isfinite(result.nll_sum) and math.isfinite(norm)):
        what = "loss" if not math.isfinite(result.nll_sum) else "gradient norm"
        raise Diverged(f"{what} is {result.nll_sum if what == 'loss' else norm}")
    optimizer.step()
    return result


# ------------------------------------------------------------------------------------------- helpers
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


def model_config_for(data_dir: Path, model_section: dict[str, Any] | None) -> ModelConfig:
    """ModelConfig from the ``model:`` section; vocabulary sizes come from the data directory."""
    from repro.config import dataclass_from_dict
    from repro.models.config import DATA_DEFINED_KEYS

    meta = read_meta(data_dir)
    values = dict(model_section or {})
    for key in DATA_DEFINED_KEYS:
        if key in values:
            raise ReproError(f"config section 'model': {key} comes from the data directory "
                             f"({data_dir}/meta.json), remove it from the config")
    values["src_vocab_size"] = int(meta["src_vocab_size"])
    values["tgt_vocab_size"] = int(meta["tgt_vocab_size"])
    return dataclass_from_dict(ModelConfig, values, "model")  # a ConfigError names the key


def read_meta(data_dir: Path) -> dict[str, Any]:
    """The data directory's meta.json, which must name both vocabulary sizes."""
    meta = load_meta(data_dir)
    for key in ("src_vocab_size", "tgt_vocab_size"):
        if key not in meta:
            raise ReproError(f"{Path(data_dir) / 'meta.json'}: missing key {key!r}")
    return meta


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
    path = Path(run_dir) / "log.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class _Logger:
    """log.jsonl (flushed per line), TensorBoard when installed; rank 0 only."""

    def __init__(self, run_dir: Path, enabled: bool) -> None:
        self.enabled = enabled
        self.handle = open(run_dir / "log.jsonl", "a", encoding="utf-8") if enabled else None
        self.tb = None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter  # needs the optional tensorboard package

                self.tb = SummaryWriter(str(run_dir / "tensorboard"))
            except ImportError:
                self.tb = None

    def write(self, entry: dict[str, Any]) -> None:
        if not self.enabled:
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


@dataclass
class _State:
    """The trainer's position and accumulators; checkpointed by field name."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    elapsed_s: float = 0.0  # wall time, evaluation and checkpoints included
    train_time_s: float = 0.0  # time in training steps only
    tokens_total: int = 0
    # sums since the last training log entry
    interval: dict[str, float] = field(default_factory=lambda: {"nll": 0.0, "tokens": 0, "sentences": 0,
                                                                 "grad_norm": 0.0, "steps": 0, "time": 0.0})
    convergence: Convergence = field(default_factory=Convergence)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> _State:
        known = {f.name for f in fields(cls)}
        state = cls(**{k: v for k, v in values.items() if k in known})
        state.interval = dict(state.interval)
        if isinstance(state.convergence, dict):
            state.convergence = Convergence(**state.convergence)
        elif "best_valid_ppl" in values:  # a checkpoint from before convergence tracking
            state.convergence = Convergence(best_valid_ppl=values["best_valid_ppl"])
        return state


# ------------------------------------------------------------------------------------------- the loop
def train(data_dir: str | Path, run_dir: str | Path, model_section: dict[str, Any] | None = None,
          train_config: TrainConfig | None = None) -> dict[str, Any]:
    """Train (or resume, when ``run_dir/checkpoints/last.pt`` exists) and return the final run.json."""
    data_dir, run_dir = Path(data_dir).resolve(), Path(run_dir)
    cfg = train_config or TrainConfig()
    dist_info = distributed.from_env()
    device = resolve_device(cfg.device, dist_info.local_rank if dist_info.enabled else None)
    bf16 = cfg.bf16 and check_bf16(device, "train.bf16")
    distributed.init(dist_info, device)
    try:
        return _Run(data_dir, run_dir, model_section, cfg, dist_info, device, bf16).run()
    finally:
        distributed.shutdown()


class _Run:
    def __init__(self, data_dir: Path, run_dir: Path, model_section: dict[str, Any] | None, cfg: TrainConfig,
                 dist_info: DistInfo, device: torch.device, bf16: bool) -> None:
        self.data_dir, self.run_dir, self.cfg = data_dir, run_dir, cfg
        self.bf16 = bf16  # train.bf16 where the device supports it (else fp32, with a notice)
        self.dist, self.device = dist_info, device
        self.main = dist_info.is_main
        self.model_config = model_config_for(data_dir, model_section)
        self.last_path = checkpoint_path(run_dir, "last")
        self.resume = self.last_path.exists()
        self.payload = load_checkpoint(self.last_path) if self.resume else None
        if self.payload is not None:
            self._check_resume_compatible(self.payload)

    def _check_resume_compatible(self, payload: dict[str, Any]) -> None:
        if payload["model_config"] != self.model_config.to_dict():
            raise ReproError(f"{self.last_path}: the model config differs from the one this run was started with; "
                             "use a new --out directory for a different model")
        old = payload["train_config"]
        changed = sorted(k for k, v in self.cfg.to_dict().items() if old.get(k) != v and k not in RESUMABLE_CHANGES)
        if changed:
            raise ReproError(f"{self.last_path}: cannot resume with changed train settings {', '.join(changed)} "
                             f"(only {', '.join(RESUMABLE_CHANGES)} may change); use a new --out directory")

    # ----------------------------------------------------------------------------- setup
    def _load_data(self) -> None:
        """Open and check (``load_split``: readable arrays, offsets, ids within the vocabularies) the splits
        training reads; a damaged data directory is a DataError here, before the run directory is touched."""
        cfg = self.cfg
        self.train_split = load_split(self.data_dir, "train")
        self.valid_split = load_split(self.data_dir, "valid")
        src_len, tgt_len = self.train_split.src.lengths, self.train_split.tgt.lengths
        keep = src_len >= 1  # an empty source has nothing to encode
        if cfg.max_len is not None:
            keep &= (src_len <= cfg.max_len) & (tgt_len <= cfg.max_len)
        self.sampler = BatchSampler(src_len, tgt_len, cfg.batch_size, batch_by=cfg.batch_by,
                                    max_tokens=cfg.max_tokens, bucketing=cfg.bucketing,
                                    pool_batches=cfg.bucket_pool_batches, seed=cfg.seed,
                                    indices=np.flatnonzero(keep))
        self.train_pairs = int(keep.sum())

    def run(self) -> dict[str, Any]:
        cfg, dev = self.cfg, self.device
        self._load_data()  # first: a bad data directory must not create or change the run directory
        if self.payload is not None and self.payload["trainer"].get("train_pairs", self.train_pairs) != self.train_pairs:
            raise ReproError(f"{self.last_path}: the run was trained on {self.payload['trainer']['train_pairs']} "
                             f"training pairs, {self.data_dir} has {self.train_pairs}; cannot resume on other data")
        seed_everything(cfg.seed)
        self.model = Seq2Seq(self.model_config).to(dev)
        self.optimizer = make_optimizer(self.model, cfg)
        state = _State()
        if self.payload is not None:
            self.model.load_state_dict(self.payload["model"])
            self.optimizer.load_state_dict(self.payload["optimizer"])
            state = _State.from_dict(self.payload["trainer"])
            if self.main:
                print(f"{self.run_dir}: resuming from {self.last_path} at step {state.step} "
                      f"(epoch {state.epoch}, batch {state.batch_in_epoch})", file=sys.stderr)
            rngs = self.payload["rng"]
            if len(rngs) == self.dist.world_size:
                set_rng_state(rngs[self.dist.rank], dev)
            else:  # a different number of processes: exact continuation is impossible; stay deterministic
                seed_everything(cfg.seed + 7919 * state.step + self.dist.rank)
                if self.main:
                    print(f"warning: resuming with {self.dist.world_size} processes, checkpoint has {len(rngs)}; "
                          "random streams (dropout, teacher forcing) restart", file=sys.stderr)
        elif self.dist.enabled:
            seed_everything(cfg.seed + self.dist.rank)  # same init on every rank above, own dropout below
        self.ddp_model: torch.nn.Module = self.model
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            self.ddp_model = DistributedDataParallel(self.model, device_ids=[dev.index] if dev.type == "cuda" else None)
        self.parameters = sum(p.numel() for p in self.model.parameters())
        self.environment = environment_info(dev)
        self.state = state
        if self.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        # From here on the run directory exists: whatever stops the run, run.json must not keep saying
        # "running" (that is what a SIGKILL leaves, and what resuming is for).
        logger: _Logger | None = None
        try:
            if self.main:
                remove_orphaned_temporaries(self.run_dir)
                copy_data_files(self.data_dir, self.run_dir)
                log_path = self.run_dir / "log.jsonl"
                if self.resume:
                    truncate_log(log_path, state.step)
                elif log_path.exists():
                    log_path.unlink()
            self.logger = logger = _Logger(self.run_dir, self.main)
            self._write_run_json("running")
            self._loop()
            if self.main:
                print(f"{self.run_dir}: {self._stop_message()}", file=sys.stderr)
        except Diverged as exc:
            last = (f"the last good checkpoint is {self.last_path} (step {self._saved_step})" if self._saved_step
                    is not None else "no checkpoint was saved before it")
            message = (f"{self.run_dir}: training diverged at step {state.step + 1} "
                       f"(epoch {self._epoch_float():.3f}, lr {self._lr:g}): {exc}; {last}. "
                       "Try a lower train.lr or train.clip_norm.")
            self._record_stop("diverged", message)
            raise ReproError(message) from None
        except KeyboardInterrupt:
            self._record_stop("interrupted", "KeyboardInterrupt")
            raise
        except BaseException as exc:
            self._record_stop("failed", str(exc) if isinstance(exc, ReproError) else f"{type(exc).__name__}: {exc}")
            raise
        finally:
            if logger is not None:
                logger.close()
        return self._write_run_json("done")

    def _record_stop(self, status: str, error: str) -> None:
        """Write run.json for a run that stopped early; a failure to write it (a full disk, say) is reported
        but must not hide the exception that stopped the run."""
        try:
            self._write_run_json(status, error)
        except Exception as exc:  # noqa: BLE001 -- the original exception is re-raised by the caller
            if self.main:
                print(f"warning: {self.run_dir}: could not record status {status!r} in run.json: {exc}",
                      file=sys.stderr)

    def _stop_message(self) -> str:
        s, conv = self.state, self.state.convergence
        reason, why = self._stop() or (None, "")
        best = (f"; best validation perplexity {conv.best_valid_ppl:.3f} at epoch {conv.best_epoch:.2f} "
                f"(step {conv.best_step})" if math.isfinite(conv.best_valid_ppl) else "")
        return f"stopped at step {s.step} (epoch {self._epoch_float():.2f}): {reason}, {why}{best}"

    # ----------------------------------------------------------------------------- bookkeeping
    def _epoch_float(self) -> float:
        s = self.state
        return s.epoch + s.batch_in_epoch / self.sampler.num_batches(s.epoch)

    def _total_steps_estimate(self) -> int:
        total = int(math.ceil(self.cfg.epochs * self.sampler.num_batches(0) - _EPS))
        return min(total, self.cfg.max_steps) if self.cfg.max_steps else total

    def _run_info(self, status: str) -> dict[str, Any]:
        s, conv = self.state, self.state.convergence
        finite = math.isfinite(conv.best_valid_ppl)
        return {"data_dir": str(self.data_dir), "model": self.model_config.to_dict(), "train": self.cfg.to_dict(),
                "parameters": self.parameters, "device": str(self.device), "bf16": self.bf16,
                "world_size": self.dist.world_size,
                "status": status, "wall_time_s": round(s.elapsed_s, 3), "step": s.step,
                "epoch": round(self._epoch_float(), 6), "train_pairs": self.train_pairs,
                "tokens_per_s": round(s.tokens_total / s.train_time_s, 1) if s.train_time_s > 0 else None,
                "best_valid_ppl": conv.best_valid_ppl if finite else None,
                "best_epoch": round(conv.best_epoch, 6) if finite else None,
                "best_step": conv.best_step if finite else None,
                "stop_reason": (self._stop() or (None,))[0] if status == "done" else None,
                "environment": self.environment}

    def _write_run_json(self, status: str, error: str | None = None) -> dict[str, Any]:
        """run.json (rank 0 only); ``error`` says why a run stopped with status failed, interrupted or
        diverged, and is absent otherwise (a resumed run's run.json no longer carries the old error)."""
        info = self._run_info(status)
        if error is not None:
            info["error"] = error
        if self.main:
            write_run_json(self.run_dir, info)
        return info

    _saved_step: int | None = None
    _lr: float = 0.0

    def _save(self, best: bool) -> None:
        s = self.state
        rngs = distributed.all_gather_objects(rng_state(self.device), self.dist)
        if not self.main:
            return
        payload = {
            "model_config": self.model_config.to_dict(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "train_config": self.cfg.to_dict(),
            "schedule": {"kind": self.cfg.lr_schedule, "lr": self._lr, "epoch": self._epoch_float()},
            "trainer": {**s.to_dict(), "world_size": self.dist.world_size, "train_pairs": self.train_pairs},
            "rng": rngs,
        }
        if best:
            save_checkpoint(checkpoint_path(self.run_dir, "best"), payload)
        save_checkpoint(self.last_path, payload)
        self._saved_step = s.step
        self._write_run_json("running")

    def _log_train(self) -> None:
        s, acc = self.state, self.state.interval
        if acc["steps"] == 0:
            return
        self.logger.write({
            "kind": "train", "step": s.step, "epoch": round(self._epoch_float(), 6),
            "loss": acc["nll"] / acc["sentences"],
            "ppl": math.exp(min(acc["nll"] / acc["tokens"], 700.0)),
            "lr": self._lr, "grad_norm": acc["grad_norm"] / acc["steps"],
            "tokens_per_s": round(acc["tokens"] / acc["time"], 1) if acc["time"] > 0 else None,
        })
        s.interval = {k: 0 if k in ("tokens", "sentences", "steps") else 0.0 for k in acc}

    def _validate(self) -> bool:
        """Valid perplexity (computed on rank 0, shared with every rank so that the schedule and the stop
        rule agree); returns whether it is the best so far."""
        result = None
        if self.main:
            result = perplexity(self.model, self.valid_split, self.cfg.eval_batch_size, self.device, self.bf16)
        ppl = distributed.broadcast_object(result["ppl"] if result else None, self.dist)
        cfg, s = self.cfg, self.state
        best = s.convergence.update(ppl, s.step, self._epoch_float(), min_improvement=cfg.min_improvement,
                                    plateau_patience=cfg.plateau_patience if cfg.lr_schedule == "plateau" else None)
        if result is not None:
            self.logger.write({"kind": "valid", "step": s.step, "epoch": round(self._epoch_float(), 6),
                               "valid_ppl": result["ppl"], "valid_nll": result["nll"],
                               "valid_tokens": result["tokens"], "best": best,
                               "evals_since_best": s.convergence.evals_since_best})
        return best

    # ----------------------------------------------------------------------------- the loop
    def _learning_rate(self, epoch: float) -> float:
        cfg = self.cfg
        return learning_rate(cfg.lr_schedule, epoch, cfg.lr, cfg.decay_start_epoch, cfg.decay_every_epochs,
                             cfg.decay_factor, self.state.convergence.plateau_decays)

    def _stop(self) -> tuple[str, str] | None:
        """Why training stops now, as (reason, what triggered it): ``converged`` (early stopping, or the
        rate fell below ``min_lr``), ``epoch_limit``, ``max_steps``; None while it goes on. Recomputed
        from the state, so a resumed run with a larger patience or ceiling continues."""
        cfg, s, conv = self.cfg, self.state, self.state.convergence
        if cfg.early_stopping_patience and conv.evals_since_best >= cfg.early_stopping_patience:
            return "converged", f"validation perplexity did not improve in {conv.evals_since_best} evaluations"
        if cfg.min_lr > 0 and self._learning_rate(self._epoch_float()) < cfg.min_lr * (1 - _EPS):
            return "converged", f"the learning rate fell below train.min_lr = {cfg.min_lr:g}"
        if self._epoch_float() >= cfg.epochs - _EPS:
            return "epoch_limit", f"reached the epoch ceiling train.epochs = {cfg.epochs:g}"
        if cfg.max_steps is not None and s.step >= cfg.max_steps:
            return "max_steps", f"reached train.max_steps = {cfg.max_steps}"
        return None

    def _done(self) -> bool:
        return self._stop() is not None

    def _loop(self) -> None:
        cfg, s, dev = self.cfg, self.state, self.device
        if self._done():
            return
        self.model.train()
        bar = None
        if cfg.progress and self.main:
            from tqdm import tqdm

            bar = tqdm(total=self._total_steps_estimate(), initial=s.step, unit="step", dynamic_ncols=True,
                       file=sys.stderr)
        try:
            while not self._done():
                global_batches = self.sampler.epoch_batches(s.epoch)[s.batch_in_epoch:]
                local, weights = [], []
                for gb in global_batches:
                    part = shard(gb, self.dist.rank, self.dist.world_size)
                    local.append(part if len(part) else gb[:1])
                    weights.append(1.0 if len(part) else 0.0)
                start = wall = time.perf_counter()
                for gb, weight, batch in zip(global_batches, weights,
                                             iterate_collated(self.train_split, local, cfg.num_workers)):
                    if self._done():
                        break
                    epoch_before = self._epoch_float()
                    self._lr = self._learning_rate(epoch_before)
                    set_lr(self.optimizer, self._lr)
                    result = training_step(self.ddp_model, self.optimizer, batch.to(dev, non_blocking=True),
                                           global_sentences=len(gb), clip_norm=cfg.clip_norm,
                                           teacher_forcing_ratio=cfg.teacher_forcing_ratio, device=dev,
                                           bf16=self.bf16, dist_info=self.dist, weight=weight,
                                           label_smoothing=cfg.label_smoothing)
                    now = time.perf_counter()
                    s.step += 1
                    s.batch_in_epoch += 1
                    acc = s.interval
                    acc["nll"] += result.nll_sum
                    acc["tokens"] += result.tokens
                    acc["sentences"] += result.sentences
                    acc["grad_norm"] += result.grad_norm
                    acc["steps"] += 1
                    acc["time"] += now - start
                    s.train_time_s += now - start
                    s.tokens_total += result.tokens
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix(loss=f"{result.loss:.2f}", lr=f"{self._lr:.3g}", refresh=False)
                    finished = self._done()
                    if s.step % cfg.log_every_steps == 0 or finished:
                        self._log_train()
                    evaluate = (crossed(epoch_before, self._epoch_float(), cfg.eval_every_epochs)
                                or (cfg.eval_every_steps and s.step % cfg.eval_every_steps == 0) or finished)
                    best = self._validate() if evaluate else False
                    if evaluate and not finished and self._done():  # converged: log the last steps too
                        self._log_train()
                    s.elapsed_s += time.perf_counter() - wall
                    wall = time.perf_counter()
                    if evaluate or s.step % cfg.save_every_steps == 0:
                        self._save(best)
                    s.elapsed_s += time.perf_counter() - wall
                    start = wall = time.perf_counter()
                if self.state.batch_in_epoch >= self.sampler.num_batches(s.epoch):
                    s.epoch += 1
                    s.batch_in_epoch = 0
        finally:
            if bar is not None:
                bar.close()
