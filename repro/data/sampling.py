"""Which sentences go into each minibatch: length-bucketed or random, deterministic, resumable, shardable
(torch-free; ``repro.data.batching`` collates them into tensors).

The paper (§3.4) made sure that "all sentences in a minibatch are roughly of the same length", for a 2x
speed-up. We do it the usual way (fairseq, OpenNMT, GNMT): shuffle the corpus, cut it into large pools,
sort each pool by length, cut the pools into batches, and shuffle the batches. The order of epoch ``e``
is a pure function of ``(seed, e)``, so a resumed run can skip to batch ``k`` of epoch ``e`` and see
exactly the batches an uninterrupted run would. Under DDP every rank builds the same global batches and
takes its own strided share of each one: the union over ranks of one step is the single-process batch.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from repro.errors import ReproError

BATCH_BY = ("sentences", "tokens")


def _epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    # A fresh generator per (seed, epoch): the order never depends on how many epochs ran before.
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(epoch), 0x5EC2]))


class BatchSampler:
    """Global batches of sentence indices, epoch by epoch.

    ``batch_by="sentences"``: ``batch_size`` sentences per batch (the last batch of a pool may be
    smaller). ``batch_by="tokens"``: as many sentences as fit in ``max_tokens`` padded tokens,
    counted as ``sentences * max(longest source, longest target + 1)``.
    ``bucketing``: sort by length within shuffled pools of ``pool_batches`` batches; otherwise the
    batches are random. ``shuffle=False`` (scoring) sorts the whole split by length, no randomness.
    """

    def __init__(
        self,
        src_lengths: np.ndarray,
        tgt_lengths: np.ndarray,
        batch_size: int = 128,
        *,
        batch_by: str = "sentences",
        max_tokens: int = 4096,
        bucketing: bool = True,
        pool_batches: int = 100,
        shuffle: bool = True,
        seed: int = 1,
        indices: np.ndarray | None = None,
    ) -> None:
        if batch_by not in BATCH_BY:
            raise ReproError(f"batch_by must be one of {', '.join(BATCH_BY)}, got {batch_by!r}")
        if batch_size < 1 or max_tokens < 1 or pool_batches < 1:
            raise ReproError("batch_size, max_tokens and pool_batches must be positive")
        self.src_lengths = np.asarray(src_lengths, dtype=np.int64)
        self.tgt_lengths = np.asarray(tgt_lengths, dtype=np.int64)
        self.indices = (np.arange(len(self.src_lengths), dtype=np.int64) if indices is None
                        else np.asarray(indices, dtype=np.int64))
        if len(self.indices) == 0:
            raise ReproError("no sentences to batch (empty split after length filtering?)")
        self.batch_size = batch_size
        self.batch_by = batch_by
        self.max_tokens = max_tokens
        self.bucketing = bucketing
        self.pool_batches = pool_batches
        self.shuffle = shuffle
        self.seed = seed
        self._cache: tuple[int, list[np.ndarray]] | None = None

    # ------------------------------------------------------------------------------------ building
    def _sort_by_length(self, idx: np.ndarray) -> np.ndarray:
        # Stable: ties keep the (shuffled) input order, so the result is a function of the input.
        order = np.lexsort((self.tgt_lengths[idx], self.src_lengths[idx]))
        return idx[order]

    def _cut(self, idx: np.ndarray) -> list[np.ndarray]:
        if self.batch_by == "sentences":
            return [idx[i : i + self.batch_size] for i in range(0, len(idx), self.batch_size)]
        widths = np.maximum(self.src_lengths[idx], self.tgt_lengths[idx] + 1)
        batches, start, longest = [], 0, 0
        for i, width in enumerate(widths):
            longest_if_added = max(longest, int(width))
            if i > start and longest_if_added * (i - start + 1) > self.max_tokens:
                batches.append(idx[start:i])
                start, longest_if_added = i, int(width)
            longest = longest_if_added
        batches.append(idx[start:])
        return batches

    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        """All global batches of ``epoch`` in training order (cached for the current epoch)."""
        if self._cache is not None and self._cache[0] == epoch:
            return self._cache[1]
        if not self.shuffle:
            batches = self._cut(self._sort_by_length(self.indices))
        else:
            rng = _epoch_rng(self.seed, epoch)
            idx = self.indices[rng.permutation(len(self.indices))]
            if self.bucketing:
                pool = self.pool_batches * (self.batch_size if self.batch_by == "sentences"
                                            else max(1, self.max_tokens // 32))
                batches = []
                for start in range(0, len(idx), pool):
                    batches.extend(self._cut(self._sort_by_length(idx[start : start + pool])))
                order = rng.permutation(len(batches))
                batches = [batches[i] for i in order]
            else:
                batches = self._cut(idx)
        self._cache = (epoch, batches)
        return batches

    def num_batches(self, epoch: int) -> int:
        return len(self.epoch_batches(epoch))

    def iter_batches(self, epoch: int, start: int = 0, rank: int = 0, world_size: int = 1) -> Iterator[np.ndarray]:
        """Batches ``start``, ``start+1``, ... of ``epoch``: this rank's share of each global batch."""
        for batch in self.epoch_batches(epoch)[start:]:
            yield shard(batch, rank, world_size)


def shard(batch: np.ndarray, rank: int, world_size: int) -> np.ndarray:
    """This rank's part of a global batch: every ``world_size``-th sentence (strided, so that the
    ranks of a length-sorted batch get equally long sentences). May be empty for tiny batches."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} out of range for world size {world_size}")
    return batch[rank::world_size]
