"""Timed measurements on the user's device: training steps, a validation pass, a checkpoint, beam search.

Every measurement runs the suite's own code (``repro.train.step.training_step``, ``repro.train.evaluate
.perplexity``, ``repro.inference.beam_search.beam_search``) on a model built from the config, fed with
random word ids in batches shaped like the config's data (:mod:`repro.estimate.profile`): the speed of an
LSTM does not depend on which words it reads, only on how many and how they are padded.

Training steps are stratified: the epoch's batches (cut by the config's own ``BatchSampler``) are ranked
by padded size and the timed ones are taken at evenly spaced quantiles, so their mean step time
estimates the epoch's mean; each timed batch runs once untimed first (allocations, kernel selection).
Beam search runs untrained models, which would end sentences at random: ``<eos>`` is kept out of the
search until the length limit, set so that each translation is as long as its reference is expected to be.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from repro.data.batching import collate
from repro.data.sampling import BatchSampler
from repro.data.special_tokens import EOS_ID, SPECIALS
from repro.data.storage import ParallelSplit, RaggedArray
from repro.device import Precision
from repro.estimate.profile import SplitLengths, mean_ratio
from repro.inference.config import DecodeConfig
from repro.models.config import ModelConfig
from repro.train.config import TrainConfig

# Pairs of the validation split a validation pass is timed on (the rest is scaled by pairs).
EVAL_PAIRS = 512


@dataclass
class TrainTiming:
    """Training steps timed on one model, and what an epoch of the config's data would take."""

    parameters: int
    step_s: list[float]
    step_tokens: list[int]  # target tokens (words + <eos>) of each timed step
    batches_per_epoch: float
    peak_memory_bytes: int | None
    eval_s_per_pair: float  # a teacher-forced validation (or test perplexity) pass, per sentence pair
    save_s: float  # one checkpoint: model, optimizer and trainer state

    @property
    def mean_step_s(self) -> float:
        return float(np.mean(self.step_s))

    @property
    def tokens_per_s(self) -> float:
        return sum(self.step_tokens) / sum(self.step_s)

    @property
    def epoch_train_s(self) -> float:
        return self.batches_per_epoch * self.mean_step_s

    @property
    def rate_spread(self) -> float:
        """Relative spread (max - min) / median of the seconds per target token of the timed steps."""
        per_token = np.array(self.step_s) / np.maximum(np.array(self.step_tokens), 1)
        return float((per_token.max() - per_token.min()) / np.median(per_token))


@dataclass
class DecodeTiming:
    """Beam search timed on a batch of test-shaped sources: seconds per sentence, per beam size."""

    sentences: int
    s_per_sentence: dict[int, float] = field(default_factory=dict)


# ----------------------------------------------------------------------------------- memory
class PeakMemory:
    """The peak memory of what runs between :meth:`start` and :meth:`peak`, in bytes.

    CUDA: the caching allocator's peak reservation. CPU (Linux): the process's resident-set high-water
    mark (reset through ``/proc/self/clear_refs``, freed heap returned with ``malloc_trim`` first) above
    its size at :meth:`start`, plus the ``base`` bytes a process of the suite holds before its model
    (the interpreter, torch). None where neither is available.
    """

    def __init__(self, device: torch.device, base: int = 0) -> None:
        self.device, self.base, self._start = device, base, 0

    def start(self) -> None:
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)
            return
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self._start = _proc_status_bytes("VmRSS")
        except OSError:
            self._start = -1

    def peak(self) -> int | None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            return int(torch.cuda.max_memory_reserved(self.device))
        if self._start < 0:
            return None
        try:
            return self.base + max(0, _proc_status_bytes("VmHWM") - self._start)
        except OSError:
            return None


def _proc_status_bytes(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) * 1024
    raise OSError(f"/proc/self/status has no {key}")


def process_base_bytes() -> int:
    """Resident memory of this process now (a training job before it builds its model); 0 if unknown."""
    try:
        return _proc_status_bytes("VmRSS")
    except OSError:
        return 0


def memory_budget(device: torch.device) -> tuple[int | None, str]:
    """How much memory a job may use on ``device``, and where the figure comes from."""
    if device.type == "cuda":
        free, total = torch.cuda.mem_get_info(device)
        return int(free), f"free memory of {torch.cuda.get_device_name(device)} ({total / 2**30:.1f} GiB in all)"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024, "available memory of this machine (/proc/meminfo)"
    except OSError:
        pass
    return None, "unknown on this platform"


# ----------------------------------------------------------------------------------- helpers
@contextlib.contextmanager
def cpu_threads(device: torch.device, threads: int) -> Iterator[None]:
    """Run with the thread count the workflow gives the job (``resources.*_threads``) on the CPU."""
    if device.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def random_split(lengths: SplitLengths, src_vocab: int, tgt_vocab: int, seed: int, name: str) -> ParallelSplit:
    """A split of random word ids (never a special token) with exactly the given lengths."""
    rng = np.random.default_rng(seed)
    first = len(SPECIALS)

    def side(lens: np.ndarray, vocab: int) -> RaggedArray:
        offsets = np.zeros(len(lens) + 1, dtype=np.int64)
        np.cumsum(lens, out=offsets[1:])
        ids = rng.integers(first, max(vocab, first + 1), size=int(offsets[-1]), dtype=np.int32)
        return RaggedArray(ids, offsets)

    return ParallelSplit(side(lengths.src, src_vocab), side(lengths.tgt, tgt_vocab), name)


def quantile_subset(lengths: SplitLengths, n: int) -> SplitLengths:
    """``n`` pairs at evenly spaced quantiles of the source length (the whole split when it is smaller)."""
    if len(lengths.src) <= n:
        return lengths
    order = np.argsort(lengths.src, kind="stable")
    picks = order[((np.arange(n) + 0.5) * len(order) / n).astype(np.int64)]
    return SplitLengths(lengths.src[picks], lengths.tgt[picks], lengths.pairs)


def stratified_batches(batches: list[np.ndarray], lengths: SplitLengths, n: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """The largest batch (by padded tokens) and ``n`` batches at evenly spaced quantiles of that size."""
    size = np.array([len(b) * (lengths.src[b].max() + lengths.tgt[b].max() + 1) for b in batches])
    order = np.argsort(size, kind="stable")
    picks = order[np.minimum(((np.arange(n) + 0.5) * len(order) / n).astype(np.int64), len(order) - 1)]
    return batches[int(order[-1])], [batches[int(i)] for i in picks]


# ----------------------------------------------------------------------------------- training
def time_training(model_config: ModelConfig, train_config: TrainConfig, train: SplitLengths, valid: SplitLengths,
                  precision: Precision, steps: int, memory: PeakMemory) -> tuple[TrainTiming, torch.nn.Module]:
    """Time ``steps`` training steps of a fresh model; returns the timing and the trained model (for decoding)."""
    from repro.models.seq2seq import Seq2Seq
    from repro.train.evaluate import perplexity
    from repro.train.step import make_optimizer, training_step

    cfg, device = train_config, precision.device
    lengths = train.capped(cfg.max_len)
    sampler = BatchSampler(lengths.src, lengths.tgt, cfg.batch_size, batch_by=cfg.batch_by, max_tokens=cfg.max_tokens,
                           bucketing=cfg.bucketing, pool_batches=cfg.bucket_pool_batches, seed=cfg.seed)
    batches = sampler.epoch_batches(0)
    batches_per_epoch = len(batches) * lengths.scale
    largest, timed = stratified_batches(batches, lengths, steps)
    split = random_split(lengths, model_config.src_vocab_size, model_config.tgt_vocab_size, cfg.seed, "train")
    torch.manual_seed(cfg.seed)

    memory.start()
    model = Seq2Seq(model_config).to(device)
    optimizer = make_optimizer(model, cfg)

    def step(indices: np.ndarray) -> tuple[float, int]:
        batch = collate(split, indices).to(device)
        _sync(device)
        start = time.perf_counter()
        result = training_step(model, optimizer, batch, clip_norm=cfg.clip_norm,
                               teacher_forcing_ratio=cfg.teacher_forcing_ratio, precision=precision,
                               label_smoothing=cfg.label_smoothing)
        _sync(device)
        return time.perf_counter() - start, result.tokens

    step(largest)  # the largest batch first: its peak is the run's
    peak = memory.peak()
    step_s, step_tokens = [], []
    for indices in timed:
        step(indices)
        seconds, tokens = step(indices)
        step_s.append(seconds)
        step_tokens.append(tokens)

    eval_lengths = quantile_subset(valid, EVAL_PAIRS)
    eval_split = random_split(eval_lengths, model_config.src_vocab_size, model_config.tgt_vocab_size, cfg.seed + 1,
                              "valid")
    _sync(device)
    start = time.perf_counter()
    perplexity(model, eval_split, cfg.eval_batch_size, precision)
    _sync(device)
    eval_s_per_pair = (time.perf_counter() - start) / len(eval_lengths.src)

    save_s = _time_checkpoint(model, optimizer)
    parameters = sum(p.numel() for p in model.parameters())
    return TrainTiming(parameters, step_s, step_tokens, batches_per_epoch, peak, eval_s_per_pair, save_s), model


def _time_checkpoint(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> float:
    """Seconds to write one checkpoint of model and optimizer state with the trainer's (atomic) writer."""
    from repro.train.checkpoint import save_checkpoint

    with tempfile.TemporaryDirectory(prefix="repro-estimate-") as tmp:
        start = time.perf_counter()
        save_checkpoint(Path(tmp) / "last.pt", {"model": model.state_dict(), "optimizer": optimizer.state_dict()})
        return time.perf_counter() - start


# ----------------------------------------------------------------------------------- decoding
@torch.no_grad()
def time_decoding(model: torch.nn.Module, test: SplitLengths, beams: list[int], decode: DecodeConfig,
                  precision: Precision, seed: int = 0) -> DecodeTiming:
    """Seconds per test sentence of beam search at each of ``beams``, on one decoder batch of test-shaped
    sources (``decode.batch_size`` sentences at evenly spaced quantiles of the test lengths)."""
    from repro.inference.beam_search import beam_search

    model.eval()
    model.output.bias[EOS_ID] = -1e4  # an untrained model would stop at random; stop at the limit instead
    sample = quantile_subset(test, decode.batch_size)
    rng = np.random.default_rng(seed)
    first = len(SPECIALS)
    sources = [rng.integers(first, model.config.src_vocab_size, size=int(n)).tolist() for n in sample.src]
    ratio = mean_ratio(test)
    timing, device = DecodeTiming(len(sources)), precision.device
    with precision.autocast():
        beam_search(model, sources[:2], 1, max_len_a=0.0, max_len_b=2.0)  # warm-up
        for beam in beams:
            _sync(device)
            start = time.perf_counter()
            beam_search(model, sources, beam, max_len_a=ratio, max_len_b=1.0)
            _sync(device)
            timing.s_per_sentence[beam] = (time.perf_counter() - start) / len(sources)
    return timing


# ----------------------------------------------------------------------------------- job start-up
def time_job_startup() -> float:
    """Seconds a workflow job spends before its work: a new Python process importing torch and the suite."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import repro.train.trainer, repro.inference.translate"], check=True,
                   capture_output=True)
    return time.perf_counter() - start
