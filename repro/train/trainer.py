"""The training loop: the paper's recipe (``repro.train.step``), exact resume, DDP, divergence guard.

``train`` builds a run (``_Run.__init__``: data, model, optimizer, restored state) and trains it. The
run's position and every RNG's state are in the checkpoint (``repro.train.state``), so a run killed at
any point and restarted from ``last.pt`` continues exactly as if it had never stopped: the resumed
``log.jsonl`` (``repro.train.log``) is cut back to the checkpoint's step and then written again with
the same numbers.

Messages for people (resuming, why the run stopped, warnings) go to the ``logging`` logger of this
module; the ``repro`` command shows them on stderr.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from repro.data.batching import iterate_collated
from repro.data.fingerprint import check_fingerprint, fingerprint
from repro.data.sampling import shard
from repro.device import Precision, resolve_device
from repro.errors import Interrupted, ReproError
from repro.models.config import ModelConfig
from repro.models.seq2seq import Seq2Seq
from repro.train import distributed
from repro.train.checkpoint import (
    checkpoint_path,
    copy_data_files,
    environment_info,
    load_checkpoint,
    remove_orphaned_temporaries,
    save_checkpoint,
)
from repro.train.config import RESUMABLE_CHANGES, TrainConfig
from repro.train.distributed import DistInfo
from repro.train.evaluate import perplexity
from repro.train.from_data import load_train_data, model_config_for
from repro.train.log import LogWriter, log_path, truncate_log
from repro.train.run_dir import check_run_dir, clear_run, locked_run_dir
from repro.train.run_info import RunInfo, Status, StopReason, write_run_info
from repro.train.schedule import crossed, decays_to_floor, learning_rate
from repro.train.state import (
    TrainState,
    checkpoint_payload,
    rng_state,
    seed_everything,
    set_rng_state,
)
from repro.train.step import Diverged, make_optimizer, set_lr, training_step

logger = logging.getLogger(__name__)

_EPS = 1e-9
# What a cluster sends before it ends a job: SIGTERM at a time limit or preemption (SLURM, Kubernetes),
# SIGUSR1 as the warning SLURM's --signal asks for. Either saves a checkpoint after the current step.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


def train(data_dir: str | Path, run_dir: str | Path, model_section: dict[str, Any] | None = None,
          train_config: TrainConfig | None = None, overwrite: bool = False) -> RunInfo:
    """Train (or resume, when ``run_dir/checkpoints/last.pt`` exists) and return the final run.json (:class:`RunInfo`).

    ``run_dir`` must be new, empty or this run's (``repro.train.run_dir``); ``overwrite`` starts a finished
    run afresh. A signal of ``STOP_SIGNALS`` saves a checkpoint and raises :class:`Interrupted`.
    """
    data_dir, run_dir = Path(data_dir).resolve(), Path(run_dir)
    cfg = train_config or TrainConfig()
    dist_info = distributed.from_env()
    if dist_info.is_main:
        check_run_dir(run_dir, data_dir, overwrite)  # before any work, and without creating anything
    device = resolve_device(cfg.device, dist_info.local_rank if dist_info.enabled else None)
    precision = Precision.chosen(device, cfg.bf16, "train.bf16")  # once, for the whole run
    distributed.init(dist_info, device)
    try:
        with _stop_signals() as received, locked_run_dir(run_dir, dist_info.rank):
            if dist_info.is_main:
                check_run_dir(run_dir, data_dir, overwrite)  # again, now that no other process can write it
            return _Run(data_dir, run_dir, model_section, cfg, dist_info, precision, overwrite, received).run()
    finally:
        distributed.shutdown()


def resumes_exactly(device: torch.device, model_config: ModelConfig) -> bool:
    """Whether a resumed run continues bit for bit on ``device``: everywhere but under cuDNN with dropout
    between recurrent layers, whose masks come from a state cuDNN keeps to itself (drawn from the CUDA
    generator at first use, then advanced inside cuDNN) that no checkpoint can hold."""
    inter_layer_dropout = model_config.num_layers > 1 and model_config.dropout > 0
    return not (device.type == "cuda" and torch.backends.cudnn.enabled and inter_layer_dropout)


@contextlib.contextmanager
def _stop_signals() -> Iterator[list[int]]:
    """Record the ``STOP_SIGNALS`` received in the block (the loop reads them after each step) instead of
    dying on them; the previous handlers come back afterwards. Python handles signals in the main thread
    only: elsewhere (a test's worker thread) the default handling stays."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = {signum: signal.signal(signum, lambda number, frame: received.append(number))
                for signum in STOP_SIGNALS}
    try:
        yield received
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class _Run:
    """One training run. Building it reads and checks everything (data directory, checkpoint, settings)
    without touching the run directory; :meth:`run` creates or updates the run directory and trains."""

    def __init__(self, data_dir: Path, run_dir: Path, model_section: dict[str, Any] | None, cfg: TrainConfig,
                 dist_info: DistInfo, precision: Precision, overwrite: bool = False,
                 signals: list[int] | None = None) -> None:
        self.data_dir, self.run_dir, self.cfg, self.overwrite = data_dir, run_dir, cfg, overwrite
        self.precision = precision  # train.bf16 where the device supports it (else fp32, with a notice)
        device = precision.device
        self.dist, self.device = dist_info, device
        self.main = dist_info.is_main
        self.model_config = model_config_for(data_dir, model_section)
        self.last_path = checkpoint_path(run_dir, "last")
        self.resume = self.last_path.exists() and not overwrite
        payload = load_checkpoint(self.last_path) if self.resume else None
        self._check_ranks_agree(payload)
        if payload is not None:
            self._check_resume_compatible(payload)
        # a damaged data directory is a DataError here, before run() creates or changes the run directory
        data = load_train_data(data_dir, cfg)
        self.train_split, self.valid_split = data.train_split, data.valid_split
        self.sampler, self.train_pairs = data.sampler, data.train_pairs
        # rank 0 writes the checkpoints and run.json that carry it (and refuses a resume on other data,
        # which ends the launch): the other ranks need not read every file again
        self.fingerprint = fingerprint(data_dir) if self.main else {}
        if payload is not None and self.main:  # a damaged directory is reported as such above; a different one here
            check_fingerprint(payload.get("data_fingerprint"), data_dir, self.last_path,
                              "resume with the --data the run was started with, or give a new --out directory")
        if payload is not None and payload["trainer"].get("train_pairs", self.train_pairs) != self.train_pairs:
            raise ReproError(f"{self.last_path}: the run was trained on {payload['trainer']['train_pairs']} "
                             f"training pairs, {data_dir} has {self.train_pairs}; cannot resume on other data")
        seed_everything(cfg.seed)
        self.model = Seq2Seq(self.model_config).to(device)
        self.optimizer = make_optimizer(self.model, cfg)
        if payload is not None:
            self.state = self._restore(payload)
        else:
            self.state = TrainState()
            if dist_info.enabled:
                seed_everything(cfg.seed + dist_info.rank)  # same init on every rank above, own dropout below
        self.ddp_model: torch.nn.Module = self.model
        if dist_info.enabled:
            from torch.nn.parallel import DistributedDataParallel

            self.ddp_model = DistributedDataParallel(self.model,
                                                     device_ids=[device.index] if device.type == "cuda" else None)
        self.parameters = sum(p.numel() for p in self.model.parameters())
        self.environment = environment_info(device)
        if dist_info.enabled:  # what each rank was given (OMP_NUM_THREADS is the job's share per rank)
            self.environment["num_threads_per_rank"] = distributed.all_gather_objects(torch.get_num_threads(),
                                                                                      dist_info)
        if payload is not None and self.main and not resumes_exactly(device, self.model_config):
            logger.warning(f"warning: {self.run_dir}: resuming on CUDA with dropout between LSTM layers: cuDNN "
                           "draws those dropout masks from a state of its own that no checkpoint holds, so the "
                           "run continues like another draw of the same run, not bit for bit (docs/determinism.md)")
        # A worker whose launcher died (kill -9 of torchrun) is adopted by another process: it saves a
        # checkpoint and stops, as on a stop signal, instead of training on beside a relaunch.
        self.launcher_pid = os.getppid() if dist_info.enabled else None
        self.log = LogWriter(run_dir, enabled=self.main)  # opened by run(), once the run directory exists
        self.lr = 0.0  # the rate of the current step
        self.saved_step: int | None = None  # the step of the last checkpoint this process wrote
        self.signals = signals if signals is not None else []  # the STOP_SIGNALS received so far (train()'s list)

    def _check_ranks_agree(self, payload: dict[str, Any] | None) -> None:
        """Every rank decides from its own file system whether to resume; they must agree on where the run
        stands (else one rank trains from step 0 beside another at step N, and the launch breaks down
        later with an error about connections). A clear error on every rank where they differ."""
        if not self.dist.enabled:
            return
        step = payload["trainer"]["step"] if payload is not None else None
        views = distributed.all_gather_objects((socket.gethostname(), step), self.dist)
        if len({view_step for _, view_step in views}) > 1:
            seen = "; ".join(f"rank {rank} on {host}: " + (f"step {view_step}" if view_step is not None
                                                            else "no checkpoint")
                             for rank, (host, view_step) in enumerate(views))
            raise ReproError(f"{self.last_path}: the ranks see different states of the run ({seen}); every node "
                             "must see the same run directory (a file system shared by the nodes), or give each "
                             "launch a new --out directory")

    def _check_resume_compatible(self, payload: dict[str, Any]) -> None:
        if payload["model_config"] != self.model_config.to_dict():
            raise ReproError(f"{self.last_path}: the model config differs from the one this run was started with; "
                             "use a new --out directory for a different model")
        old = payload["train_config"]
        changed = sorted(k for k, v in self.cfg.to_dict().items() if old.get(k) != v and k not in RESUMABLE_CHANGES)
        if changed:
            raise ReproError(f"{self.last_path}: cannot resume with changed train settings {', '.join(changed)} "
                             f"(only {', '.join(RESUMABLE_CHANGES)} may change); use a new --out directory")

    def _restore(self, payload: dict[str, Any]) -> TrainState:
        """Load the model, the optimizer and the random streams from the checkpoint ``payload``; returns
        the trainer state it holds."""
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        s = TrainState.from_dict(payload["trainer"])
        if self.main:
            logger.info(f"{self.run_dir}: resuming from {self.last_path} at step {s.step} "
                        f"(epoch {s.epoch}, batch {s.batch_in_epoch})")
        rngs = payload["rng"]
        if len(rngs) == self.dist.world_size:
            set_rng_state(rngs[self.dist.rank], self.device)
        else:  # a different number of processes: exact continuation is impossible; stay deterministic
            seed_everything(self.cfg.seed + 7919 * s.step + self.dist.rank)
            if self.main:
                logger.warning(f"warning: resuming with {self.dist.world_size} processes, checkpoint has "
                               f"{len(rngs)}; random streams (dropout, teacher forcing) restart")
        return s

    def run(self) -> RunInfo:
        if self.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        # From here on the run directory exists: whatever stops the run, run.json must not keep saying
        # "running" (that is what a SIGKILL leaves, and what resuming is for).
        try:
            if self.main:
                if self.overwrite:
                    clear_run(self.run_dir)
                remove_orphaned_temporaries(self.run_dir)
                copy_data_files(self.data_dir, self.run_dir)
                path = log_path(self.run_dir)
                if self.resume:
                    truncate_log(path, self.state.step)
                elif path.exists():
                    path.unlink()
            self.log.open()
            self._write_run_json(Status.RUNNING)
            self._loop()
            if self.main:
                logger.info(f"{self.run_dir}: {self._stop_message()}")
        except Diverged as exc:
            last = (f"the last good checkpoint is {self.last_path} (step {self.saved_step})" if self.saved_step
                    is not None else "no checkpoint was saved before it")
            message = (f"{self.run_dir}: training diverged at step {self.state.step + 1} "
                       f"(epoch {self._epoch_float():.3f}, lr {self.lr:g}): {exc}; {last}. "
                       "Try a lower train.lr or train.clip_norm.")
            self._record_stop(Status.DIVERGED, message)
            raise ReproError(message) from None
        except KeyboardInterrupt:
            self._record_stop(Status.INTERRUPTED, "KeyboardInterrupt")
            raise
        except Interrupted as exc:
            self._record_stop(Status.INTERRUPTED, str(exc))
            raise
        except BaseException as exc:
            self._record_stop(Status.FAILED, str(exc) if isinstance(exc, ReproError) else f"{type(exc).__name__}: {exc}")
            raise
        finally:
            self.log.close()
        return self._write_run_json(Status.DONE)

    def _record_stop(self, status: Status, error: str) -> None:
        """Write run.json for a run that stopped early; a failure to write it (a full disk, say) is reported
        but must not hide the exception that stopped the run."""
        try:
            self._write_run_json(status, error, last_resort=True)
        except Exception as exc:  # noqa: BLE001 -- the original exception is re-raised by the caller
            if self.main:
                logger.warning(f"warning: {self.run_dir}: could not record status {status!r} in run.json: {exc}")

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

    def _run_info(self, status: Status, error: str | None = None) -> RunInfo:
        s, conv = self.state, self.state.convergence
        finite = math.isfinite(conv.best_valid_ppl)
        return RunInfo(
            status=status, model=self.model_config.to_dict(), train=self.cfg.to_dict(), data_dir=str(self.data_dir),
            data_fingerprint=self.fingerprint, parameters=self.parameters, device=str(self.device), bf16=self.precision.bf16,
            world_size=self.dist.world_size, environment=self.environment, wall_time_s=round(s.elapsed_s, 3),
            tokens_per_s=round(s.tokens_total / s.train_time_s, 1) if s.train_time_s > 0 else None,
            step=s.step, epoch=round(self._epoch_float(), 6), train_pairs=self.train_pairs,
            best_valid_ppl=conv.best_valid_ppl if finite else None,
            best_epoch=round(conv.best_epoch, 6) if finite else None,
            best_step=conv.best_step if finite else None, evals_since_best=conv.evals_since_best,
            final_lr=self._learning_rate(self._epoch_float()),
            stop_reason=(self._stop() or (None,))[0] if status == Status.DONE else None, error=error)

    def _write_run_json(self, status: Status, error: str | None = None, last_resort: bool = False) -> RunInfo:
        """run.json (rank 0 only); ``error`` says why a run stopped with status failed, interrupted or
        diverged, and is absent otherwise (a resumed run's run.json no longer carries the old error)."""
        info = self._run_info(status, error)
        if self.main:
            write_run_info(self.run_dir, info, last_resort)
        return info

    def _save(self, best: bool) -> None:
        rngs = distributed.all_gather_objects(rng_state(self.device), self.dist)
        if not self.main:
            self.saved_step = self.state.step  # rank 0 writes it
            return
        payload = checkpoint_payload(model_config=self.model_config, model=self.model, optimizer=self.optimizer,
                                     train_config=self.cfg, lr=self.lr, epoch=self._epoch_float(),
                                     state=self.state, world_size=self.dist.world_size,
                                     train_pairs=self.train_pairs, rngs=rngs, data_fingerprint=self.fingerprint)
        if best:
            save_checkpoint(checkpoint_path(self.run_dir, "best"), payload)
        save_checkpoint(self.last_path, payload)
        self.saved_step = self.state.step
        self._write_run_json(Status.RUNNING)

    def _log_train(self) -> None:
        s, acc = self.state, self.state.interval
        if acc["steps"] == 0:
            return
        self.log.write({
            "kind": "train", "step": s.step, "epoch": round(self._epoch_float(), 6),
            "loss": acc["nll"] / acc["sentences"],
            "ppl": math.exp(min(acc["nll"] / acc["tokens"], 700.0)),
            "lr": self.lr, "grad_norm": acc["grad_norm"] / acc["steps"],
            "tokens_per_s": round(acc["tokens"] / acc["time"], 1) if acc["time"] > 0 else None,
        })
        s.reset_interval()

    def _validate(self) -> bool:
        """Valid perplexity (computed on rank 0, shared with every rank so that the schedule and the stop
        rule agree); returns whether it is the best so far."""
        result = None
        if self.main:
            result = perplexity(self.model, self.valid_split, self.cfg.eval_batch_size, self.precision)
        ppl = distributed.broadcast_object(result["ppl"] if result else None, self.dist)
        cfg, s = self.cfg, self.state
        best = s.convergence.update(ppl, s.step, self._epoch_float(), min_improvement=cfg.min_improvement,
                                    plateau_patience=cfg.plateau_patience if cfg.lr_schedule == "plateau" else None,
                                    max_decays=decays_to_floor(cfg.lr, cfg.decay_factor, cfg.min_lr))
        if result is not None:
            self.log.write({"kind": "valid", "step": s.step, "epoch": round(self._epoch_float(), 6),
                            "valid_ppl": result["ppl"], "valid_nll": result["nll"],
                            "valid_tokens": result["tokens"], "best": best,
                            "evals_since_best": s.convergence.evals_since_best,
                            "evals_without_progress": s.convergence.evals_without_progress,
                            "next_lr": self._learning_rate(self._epoch_float())})
        return best

    # ----------------------------------------------------------------------------- the loop
    def _learning_rate(self, epoch: float) -> float:
        cfg = self.cfg
        return learning_rate(cfg.lr_schedule, epoch, cfg.lr, cfg.decay_start_epoch, cfg.decay_every_epochs,
                             cfg.decay_factor, self.state.convergence.plateau_decays, cfg.min_lr)

    def _stop(self) -> tuple[StopReason, str] | None:
        """Why training stops now, as (reason, what triggered it): ``converged`` (the patience ran out:
        ``early_stopping_patience`` evaluations in a row at the rate the run ends with, none of them
        progress, a drop of more than ``min_improvement`` below the last progress), ``epoch_limit``,
        ``max_steps``; None while it goes on. A run still improving when it reaches the ceiling stops as
        ``epoch_limit``, never as converged. Recomputed from the state, so a resumed run with a larger
        patience or ceiling continues."""
        cfg, s, conv = self.cfg, self.state, self.state.convergence
        if cfg.early_stopping_patience and conv.evals_without_progress >= cfg.early_stopping_patience:
            return StopReason.CONVERGED, (f"validation perplexity did not improve by more than {cfg.min_improvement:.2%} in "
                                 f"{conv.evals_without_progress} evaluations at the final learning rate "
                                 f"{self._learning_rate(self._epoch_float()):g}")
        if self._epoch_float() >= cfg.epochs - _EPS:
            return StopReason.EPOCH_LIMIT, f"reached the epoch ceiling train.epochs = {cfg.epochs:g}"
        if cfg.max_steps is not None and s.step >= cfg.max_steps:
            return StopReason.MAX_STEPS, f"reached train.max_steps = {cfg.max_steps}"
        return None

    def _stop_if_signalled(self) -> None:
        """After a step: on a stop signal (received by any rank), save a checkpoint unless this step just
        wrote one, and raise :class:`Interrupted`; every rank stops at the same step."""
        orphaned = self.launcher_pid is not None and os.getppid() != self.launcher_pid
        local = max([*self.signals, *([signal.SIGHUP] if orphaned else [])], default=0)
        signum = distributed.max_over_ranks(local, self.dist, self.device)
        if not signum:
            return
        if self.saved_step != self.state.step:
            self._save(best=False)
        name = signal.Signals(signum).name
        if signum == signal.SIGHUP and not self.signals:
            name = "the death of its launcher (torchrun)"
        raise Interrupted(f"{self.run_dir}: stopped by {name} at step {self.state.step} (epoch "
                          f"{self._epoch_float():.3f}), checkpoint saved; run the same command again to resume",
                          128 + signum)

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
                    self.lr = self._learning_rate(epoch_before)
                    set_lr(self.optimizer, self.lr)
                    result = training_step(self.ddp_model, self.optimizer, batch.to(dev, non_blocking=True),
                                           global_sentences=len(gb), clip_norm=cfg.clip_norm,
                                           teacher_forcing_ratio=cfg.teacher_forcing_ratio,
                                           precision=self.precision, dist_info=self.dist, weight=weight,
                                           label_smoothing=cfg.label_smoothing)
                    s.add_step(result, time.perf_counter() - start)
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix(loss=f"{result.loss:.2f}", lr=f"{self.lr:.3g}", refresh=False)
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
                    if not finished:
                        self._stop_if_signalled()
                    start = wall = time.perf_counter()
                if s.batch_in_epoch >= self.sampler.num_batches(s.epoch):
                    s.epoch += 1
                    s.batch_in_epoch = 0
        finally:
            if bar is not None:
                bar.close()
