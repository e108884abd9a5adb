"""perplexity(): exp of the mean cross-entropy per target token, <eos> included, batch-size free."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from repro.data.storage import ParallelSplit, RaggedArray
from repro.data.vocab import EOS_ID, SOS_ID
from repro.models.seq2seq import ModelConfig, Seq2Seq
from repro.train.evaluate import perplexity


def test_perplexity_matches_a_sentence_by_sentence_computation():
    torch.manual_seed(0)
    model = Seq2Seq(ModelConfig(src_vocab_size=15, tgt_vocab_size=13, embedding_size=6, hidden_size=7, num_layers=2))
    rng = np.random.default_rng(0)
    src = [rng.integers(4, 15, size=int(k)) for k in rng.integers(1, 6, size=9)]
    tgt = [rng.integers(4, 13, size=int(k)) for k in rng.integers(0, 6, size=9)]
    split = ParallelSplit(RaggedArray.from_sequences(src), RaggedArray.from_sequences(tgt), "test")
    model.train()
    nll, tokens = 0.0, 0
    with torch.no_grad():
        for s, t in zip(src, tgt):
            logits = model.eval()(torch.from_numpy(s).long()[None], torch.tensor([len(s)]), torch.tensor([[SOS_ID, *t.tolist()]]))
            target = torch.tensor([*t.tolist(), EOS_ID])
            nll += float(torch.nn.functional.cross_entropy(logits[0], target, reduction="sum"))
            tokens += len(t) + 1
    model.train()
    for batch_size in (1, 4, 64):
        result = perplexity(model, split, batch_size)
        assert result["tokens"] == tokens
        assert result["nll"] == pytest.approx(nll / tokens, rel=1e-5)
        assert result["ppl"] == pytest.approx(math.exp(nll / tokens), rel=1e-5)
    assert model.training  # mode restored
