"""What `repro estimate` times: batches shaped like the data, the suite's own step, decoding and memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from repro.data.batching import collate
from repro.data.sampling import BatchSampler
from repro.data.special_tokens import EOS_ID, SPECIALS
from repro.device import Precision
from repro.estimate.measure import (
    PeakMemory,
    quantile_subset,
    random_split,
    stratified_batches,
    time_decoding,
    time_training,
)
from repro.estimate.profile import SplitLengths
from repro.inference.config import DecodeConfig
from repro.models.config import ModelConfig
from repro.models.seq2seq import Seq2Seq
from repro.train.config import TrainConfig


def lengths(n: int, seed: int = 0) -> SplitLengths:
    rng = np.random.default_rng(seed)
    src = rng.integers(1, 15, size=n)
    return SplitLengths(src, src + rng.integers(0, 3, size=n), pairs=n * 10)


def test_random_split_has_the_lengths_and_no_special_token() -> None:
    split = random_split(lengths(50), 20, 30, seed=1, name="x")
    assert split.src.lengths.tolist() == lengths(50).src.tolist()
    assert split.tgt.lengths.tolist() == lengths(50).tgt.tolist()
    assert split.src.ids.min() >= len(SPECIALS) and split.src.ids.max() < 20 and split.tgt.ids.max() < 30


def test_quantile_subset_spans_the_length_range() -> None:
    full = lengths(1000)
    subset = quantile_subset(full, 10)
    assert len(subset.src) == 10 and subset.pairs == full.pairs
    assert subset.src.min() <= np.quantile(full.src, 0.1) and subset.src.max() >= np.quantile(full.src, 0.9)
    assert quantile_subset(full, 5000) is full


def test_stratified_batches_take_the_largest_and_evenly_spaced_sizes() -> None:
    data = lengths(400)
    batches = BatchSampler(data.src, data.tgt, 16, seed=3).epoch_batches(0)
    largest, picks = stratified_batches(batches, data, 4)

    def size(b: np.ndarray) -> int:
        return len(b) * (data.src[b].max() + data.tgt[b].max() + 1)

    sizes = sorted(size(b) for b in batches)
    assert size(largest) == sizes[-1]
    assert [size(b) for b in picks] == [sizes[int((i + 0.5) * len(sizes) / 4)] for i in range(4)]


def test_time_training_runs_the_timed_batches_and_projects_the_sampler_epoch() -> None:
    model = ModelConfig(src_vocab_size=40, tgt_vocab_size=40, embedding_size=8, hidden_size=8, num_layers=1)
    cfg = TrainConfig(batch_size=16, max_len=10, device="cpu", optimizer="adam", lr=0.01)
    train = lengths(300)
    timing, _ = time_training(model, cfg, train, lengths(40, 1), Precision(), 3,
                              PeakMemory(torch.device("cpu")))
    kept = train.capped(10)
    sampler = BatchSampler(kept.src, kept.tgt, 16, seed=cfg.seed)
    assert timing.batches_per_epoch == pytest.approx(sampler.num_batches(0) * kept.pairs / len(kept.src))
    assert len(timing.step_s) == 3 and all(s > 0 for s in timing.step_s)
    _, picks = stratified_batches(sampler.epoch_batches(0), kept, 3)
    split = random_split(kept, 40, 40, cfg.seed, "train")
    assert timing.step_tokens == [collate(split, b).num_tgt_tokens for b in picks]
    assert timing.parameters == sum(p.numel() for p in Seq2Seq(model).parameters())
    assert timing.eval_s_per_pair > 0 and timing.save_s > 0


def test_decoding_runs_every_sentence_to_its_reference_length(monkeypatch: pytest.MonkeyPatch) -> None:
    from repro.inference import beam_search as search_module

    torch.manual_seed(0)
    model = Seq2Seq(ModelConfig(src_vocab_size=30, tgt_vocab_size=30, embedding_size=8, hidden_size=8, num_layers=1))
    test = SplitLengths(np.array([4, 6, 8, 10]), np.array([5, 7, 9, 11]), pairs=4)
    lengths_seen = []
    real = search_module.beam_search

    def spy(*args, **kwargs):
        result = real(*args, **kwargs)
        lengths_seen.append([len(hyps[0].tokens) for hyps in result])
        return result

    monkeypatch.setattr(search_module, "beam_search", spy)
    timing = time_decoding(model, test, [1, 3], DecodeConfig(batch_size=10), Precision())
    assert sorted(timing.s_per_sentence) == [1, 3] and timing.sentences == 4
    ratio = 32 / 28
    expected = [int(np.floor(ratio * n + 1.0)) for n in (4, 6, 8, 10)]
    assert lengths_seen[1] == expected and lengths_seen[2] == expected  # no early <eos>, at both beams
    assert float(model.output.bias.detach()[EOS_ID]) < -1e3


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="peak RSS needs Linux /proc")
def test_peak_memory_sees_an_allocation_between_start_and_peak() -> None:
    memory = PeakMemory(torch.device("cpu"), base=1000)
    memory.start()
    block = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
    del block
    peak = memory.peak()
    assert peak is not None and peak >= 1000 + 60 * 2**20
