"""repro.data.batching: padding, <sos>/<eos>, an empty source named, DataLoader workers give the same batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from repro.data.batching import collate, iterate_collated
from repro.data.storage import ParallelSplit, RaggedArray
from repro.data.vocab import EOS_ID, PAD_ID, SOS_ID
from repro.errors import ReproError


def tiny_split() -> ParallelSplit:
    src = RaggedArray.from_sequences([[5, 6, 7], [8], [9, 10]])
    tgt = RaggedArray.from_sequences([[11, 12], [13, 14, 15], []])
    return ParallelSplit(src, tgt, "train")


def test_collate_pads_and_adds_sos_eos():
    batch = collate(tiny_split(), [0, 1, 2])
    assert batch.src.dtype == torch.long
    assert batch.src.tolist() == [[5, 6, 7], [8, PAD_ID, PAD_ID], [9, 10, PAD_ID]]
    assert batch.src_lengths.tolist() == [3, 1, 2]
    assert batch.tgt_in.tolist() == [[SOS_ID, 11, 12, PAD_ID], [SOS_ID, 13, 14, 15], [SOS_ID, PAD_ID, PAD_ID, PAD_ID]]
    assert batch.tgt_out.tolist() == [[11, 12, EOS_ID, PAD_ID], [13, 14, 15, EOS_ID], [EOS_ID, PAD_ID, PAD_ID, PAD_ID]]
    assert batch.num_tgt_tokens == 3 + 4 + 1


def test_collate_rejects_empty_source_naming_the_pair():
    split = ParallelSplit(RaggedArray.from_sequences([[5], []]), RaggedArray.from_sequences([[6], [7]]), "valid")
    with pytest.raises(ReproError, match="valid.*pair 1.*empty source"):
        collate(split, [0, 1])


def test_background_workers_give_the_same_batches():
    split = tiny_split()
    order = [np.array([2, 0]), np.array([1])]
    direct = [b.tgt_out.tolist() for b in iterate_collated(split, order, 0)]
    workers = [b.tgt_out.tolist() for b in iterate_collated(split, order, 2)]
    assert direct == workers and len(direct) == 2
