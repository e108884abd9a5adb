"""repro.data.sampling: which sentences each batch holds (bucketed, deterministic, resumable, sharded)."""

from __future__ import annotations

import numpy as np
import pytest

from repro.data.sampling import BatchSampler, shard


def lengths(n: int = 1000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    src = rng.integers(1, 50, size=n)
    return src, np.maximum(1, src + rng.integers(-3, 4, size=n))


def sampler(**kw) -> BatchSampler:
    src, tgt = lengths()
    kw.setdefault("batch_size", 16)
    return BatchSampler(src, tgt, pool_batches=10, seed=3, **kw)


@pytest.mark.parametrize("bucketing", [True, False])
def test_each_epoch_covers_every_sentence_once_and_is_deterministic(bucketing):
    a, b = sampler(bucketing=bucketing), sampler(bucketing=bucketing)
    for epoch in (0, 1):
        batches = a.epoch_batches(epoch)
        assert np.array_equal(np.sort(np.concatenate(batches)), np.arange(1000))
        assert all(len(x) <= 16 for x in batches)
        assert [x.tolist() for x in batches] == [x.tolist() for x in b.epoch_batches(epoch)]
    assert [x.tolist() for x in a.epoch_batches(0)] != [x.tolist() for x in a.epoch_batches(1)]
    other_seed = BatchSampler(*lengths(), batch_size=16, pool_batches=10, seed=4, bucketing=bucketing)
    assert [x.tolist() for x in other_seed.epoch_batches(0)] != [x.tolist() for x in a.epoch_batches(0)]
    # the order of epoch 1 does not depend on whether epoch 0 was built first
    assert [x.tolist() for x in b.epoch_batches(1)] == [x.tolist() for x in sampler(bucketing=bucketing).epoch_batches(1)]


def test_number_of_sentence_batches_is_the_same_every_epoch():
    s = sampler()
    assert len({s.num_batches(e) for e in range(5)}) == 1


def test_bucketed_batches_hold_similar_lengths_random_ones_do_not():
    src, _ = lengths()

    def mean_spread(s: BatchSampler) -> float:
        return float(np.mean([src[b].max() - src[b].min() for b in s.epoch_batches(0)]))

    bucketed, random = mean_spread(sampler(bucketing=True)), mean_spread(sampler(bucketing=False))
    assert bucketed < 6 and random > 30  # a pool of 160 holds ~3 sentences of each length


def test_bucketed_batches_are_shuffled_not_sorted():
    src, _ = lengths()
    firsts = [int(src[b].min()) for b in sampler().epoch_batches(0)]
    assert firsts != sorted(firsts)


def test_resume_at_batch_k_gives_the_remaining_batches():
    full = [b.tolist() for b in sampler().iter_batches(2)]
    resumed = [b.tolist() for b in sampler().iter_batches(2, start=17)]  # a fresh sampler, as after a restart
    assert resumed == full[17:]


@pytest.mark.parametrize("world_size", [2, 3])
def test_shards_of_a_step_union_to_the_global_batch(world_size):
    s = sampler()
    global_batches = s.epoch_batches(0)
    per_rank = [list(s.iter_batches(0, rank=r, world_size=world_size)) for r in range(world_size)]
    for step, gb in enumerate(global_batches):
        parts = [per_rank[r][step] for r in range(world_size)]
        assert sorted(np.concatenate(parts).tolist()) == sorted(gb.tolist())
        assert max(len(p) for p in parts) - min(len(p) for p in parts) <= 1
    assert shard(np.array([7]), 1, 2).size == 0


def test_token_batches_respect_max_tokens():
    src, tgt = lengths()
    s = BatchSampler(src, tgt, batch_by="tokens", max_tokens=300, pool_batches=10, seed=1)
    batches = s.epoch_batches(0)
    assert np.array_equal(np.sort(np.concatenate(batches)), np.arange(1000))
    for b in batches:
        width = max(src[b].max(), tgt[b].max() + 1)
        assert len(b) == 1 or len(b) * width <= 300
    assert np.mean([len(b) for b in batches]) > 5  # short sentences make big batches


def test_scoring_order_is_sorted_and_seed_free():
    src, tgt = lengths()
    s = BatchSampler(src, tgt, 16, shuffle=False)
    order = np.concatenate(s.epoch_batches(0))
    assert np.all(np.diff(src[order]) >= 0)
