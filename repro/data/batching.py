"""Minibatches as tensors for training and scoring: the sentences ``repro.data.sampling`` puts in each
batch (length-bucketed or random, deterministic, resumable, shardable), padded and collated, read by
DataLoader workers when asked."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from repro.data.storage import ParallelSplit
from repro.data.vocab import EOS_ID, PAD_ID, SOS_ID
from repro.errors import ReproError


@dataclass
class Batch:
    """A padded batch. ``src`` is in natural order (the model reverses it); pad id is 0."""

    src: torch.Tensor  # [B, S] int64
    src_lengths: torch.Tensor  # [B] int64, on the CPU (packing wants them there)
    tgt_in: torch.Tensor  # [B, T] = <sos> y1 .. yn, padded
    tgt_out: torch.Tensor  # [B, T] = y1 .. yn <eos>, padded
    indices: np.ndarray  # sentence indices into the split

    @property
    def num_sentences(self) -> int:
        return int(self.src.size(0))

    @property
    def num_tgt_tokens(self) -> int:
        """Target tokens that are scored: every word plus <eos>."""
        return int((self.tgt_out != PAD_ID).sum())

    @property
    def num_src_tokens(self) -> int:
        return int(self.src_lengths.sum())

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        return Batch(
            self.src.to(device, non_blocking=non_blocking),
            self.src_lengths,
            self.tgt_in.to(device, non_blocking=non_blocking),
            self.tgt_out.to(device, non_blocking=non_blocking),
            self.indices,
        )


def collate(split: ParallelSplit, indices: Sequence[int] | np.ndarray) -> Batch:
    """Pad the pairs ``indices`` of ``split`` into a :class:`Batch`."""
    indices = np.asarray(indices, dtype=np.int64)
    srcs = [split.src[int(i)] for i in indices]
    tgts = [split.tgt[int(i)] for i in indices]
    src_len = np.fromiter((len(s) for s in srcs), dtype=np.int64, count=len(srcs))
    if len(indices) == 0:
        raise ReproError("empty batch")
    if (src_len == 0).any():
        bad = int(indices[int(np.argmax(src_len == 0))])
        raise ReproError(f"split {split.name!r}, pair {bad}: empty source sentence (nothing to encode)")
    tgt_len = np.fromiter((len(t) for t in tgts), dtype=np.int64, count=len(tgts)) + 1
    src = np.full((len(srcs), int(src_len.max())), PAD_ID, dtype=np.int64)
    tgt_in = np.full((len(tgts), int(tgt_len.max())), PAD_ID, dtype=np.int64)
    tgt_out = np.full_like(tgt_in, PAD_ID)
    for row, (s, t) in enumerate(zip(srcs, tgts)):
        src[row, : len(s)] = s
        tgt_in[row, 0] = SOS_ID
        tgt_in[row, 1 : len(t) + 1] = t
        tgt_out[row, : len(t)] = t
        tgt_out[row, len(t)] = EOS_ID
    return Batch(torch.from_numpy(src), torch.from_numpy(src_len), torch.from_numpy(tgt_in),
                 torch.from_numpy(tgt_out), indices)


def _identity(x):
    return x


class _BatchDataset(torch.utils.data.Dataset):
    def __init__(self, split: ParallelSplit, batches: list[np.ndarray]) -> None:
        self.split, self.batches = split, batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> Batch:
        return collate(self.split, self.batches[i])


def iterate_collated(split: ParallelSplit, batches: list[np.ndarray], num_workers: int = 0) -> Iterator[Batch]:
    """Collate ``batches`` in order, in ``num_workers`` background processes when > 0.

    The order is fixed by ``batches`` (workers only pad), so results never depend on ``num_workers``.
    """
    if num_workers <= 0:
        for b in batches:
            yield collate(split, b)
        return
    loader = torch.utils.data.DataLoader(_BatchDataset(split, batches), batch_size=None, shuffle=False,
                                         num_workers=num_workers, collate_fn=_identity, prefetch_factor=4,
                                         persistent_workers=False)
    yield from loader
