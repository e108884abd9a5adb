"""Perplexity of a model on a split: exp of the mean cross-entropy per target token (<eos> included)."""

from __future__ import annotations

import math

import torch

from repro.data.batching import iterate_collated
from repro.data.sampling import BatchSampler
from repro.data.storage import ParallelSplit
from repro.device import Precision
from repro.models.seq2seq import Seq2Seq
from repro.train.loss import scored_positions, token_losses


@torch.no_grad()
def perplexity(model: Seq2Seq, split: ParallelSplit, batch_size: int = 64,
               precision: Precision = Precision()) -> dict[str, float]:
    """Teacher-forced perplexity of ``model`` (on ``precision.device``) on ``split``, under ``precision``.

    Returns ``{"ppl": exp(nll), "nll": mean nll per target token (nats), "nll_sum": total nats,
    "tokens": target tokens scored (words + <eos>), "sentences": n}``. Batches are length-sorted
    (no randomness); the model's train/eval mode is restored afterwards.
    """
    device = precision.device
    sampler = BatchSampler(split.src.lengths, split.tgt.lengths, batch_size, shuffle=False)
    was_training = model.training
    model.eval()
    nll_sum, tokens = 0.0, 0
    try:
        for batch in iterate_collated(split, sampler.epoch_batches(0)):
            batch = batch.to(device)
            positions = scored_positions(batch.tgt_out)
            with precision.autocast():
                logits = model(batch.src, batch.src_lengths, batch.tgt_in, positions=positions)
            nll_sum += float(token_losses(logits, batch.tgt_out[positions])[1])
            tokens += batch.num_tgt_tokens
    finally:
        model.train(was_training)
    nll = nll_sum / max(tokens, 1)
    return {"ppl": math.exp(nll) if nll < 700 else math.inf, "nll": nll, "nll_sum": nll_sum,
            "tokens": tokens, "sentences": len(split)}
