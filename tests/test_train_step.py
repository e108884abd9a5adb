"""One training step: loss = summed token cross-entropy / sentences, clip after that division, SGD,
and a NaN/inf guard that never touches the parameters."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from repro.data.batching import collate
from repro.data.storage import ParallelSplit, RaggedArray
from repro.device import Precision
from repro.models.seq2seq import ModelConfig, Seq2Seq
from repro.train.config import TrainConfig
from repro.train.step import Diverged, make_optimizer, training_step


def setup(seed: int = 0):
    torch.manual_seed(seed)
    model = Seq2Seq(ModelConfig(src_vocab_size=20, tgt_vocab_size=18, embedding_size=8, hidden_size=8, num_layers=2))
    rng = np.random.default_rng(seed)
    src = [rng.integers(4, 20, size=k) for k in (3, 5, 1, 4)]
    tgt = [rng.integers(4, 18, size=k) for k in (2, 6, 3, 1)]
    batch = collate(ParallelSplit(RaggedArray.from_sequences(src), RaggedArray.from_sequences(tgt)), range(4))
    return model, batch


def reference_gradient(model, batch):
    """The paper's definition written out: per-sentence summed cross-entropy, averaged over sentences."""
    model = copy.deepcopy(model)
    logits = model(batch.src, batch.src_lengths, batch.tgt_in)
    per_sentence = []
    for b in range(batch.num_sentences):
        n = int((batch.tgt_out[b] != 0).sum())
        per_sentence.append(F.cross_entropy(logits[b, :n], batch.tgt_out[b, :n], reduction="sum"))
    loss = torch.stack(per_sentence).mean()
    loss.backward()
    return float(loss.detach()), [p.grad.clone() for p in model.parameters()]


def test_loss_is_summed_over_tokens_and_averaged_over_sentences_then_sgd():
    model, batch = setup()
    loss, grads = reference_gradient(model, batch)
    before = [p.detach().clone() for p in model.parameters()]
    opt = make_optimizer(model, TrainConfig(lr=0.7))
    result = training_step(model, opt, batch, clip_norm=1e9)
    assert result.loss == pytest.approx(loss, rel=1e-6)
    assert result.tokens == batch.num_tgt_tokens == 3 + 7 + 4 + 2
    norm = math.sqrt(sum(float((g * g).sum()) for g in grads))
    assert result.grad_norm == pytest.approx(norm, rel=1e-5)
    for p, p0, g in zip(model.parameters(), before, grads):
        torch.testing.assert_close(p.detach(), p0 - 0.7 * g, rtol=1e-5, atol=1e-7)


def test_gradient_norm_is_clipped_after_the_division_and_reported_before():
    model, batch = setup()
    _, grads = reference_gradient(model, batch)
    norm = math.sqrt(sum(float((g * g).sum()) for g in grads))
    clip = norm / 4
    before = [p.detach().clone() for p in model.parameters()]
    result = training_step(model, make_optimizer(model, TrainConfig(lr=1.0)), batch, clip_norm=clip)
    assert result.grad_norm == pytest.approx(norm, rel=1e-5)  # logged before clipping
    step = math.sqrt(sum(float(((p.detach() - p0) ** 2).sum()) for p, p0 in zip(model.parameters(), before)))
    assert step == pytest.approx(clip, rel=1e-4)  # the update has norm lr * 5-equivalent


def test_global_sentences_divides_the_loss():
    """Under DDP the divisor is the global batch: half the sentences per rank, same divisor."""
    model, batch = setup()
    _, grads = reference_gradient(model, batch)
    twin = copy.deepcopy(model)
    opt = make_optimizer(twin, TrainConfig(lr=1.0))
    training_step(twin, opt, batch, global_sentences=8, clip_norm=None)
    for p, p0, g in zip(twin.parameters(), model.parameters(), grads):
        torch.testing.assert_close(p.detach(), p0.detach() - 0.5 * g, rtol=1e-5, atol=1e-7)


def test_infinite_loss_raises_before_touching_the_parameters():
    model, batch = setup()
    with torch.no_grad():
        model.output.bias[5] = math.inf
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(Diverged, match="not finite|nan|inf"):
        training_step(model, make_optimizer(model, TrainConfig()), batch)
    for p, p0 in zip(model.parameters(), before):
        assert torch.equal(p.detach(), p0) or (p0.isinf().any() and torch.equal(p.isinf(), p0.isinf()))


def test_teacher_forcing_ratio_zero_feeds_predictions_and_trains():
    model, batch = setup()
    twin = copy.deepcopy(model)
    forced = training_step(model, make_optimizer(model, TrainConfig()), batch, teacher_forcing_ratio=1.0)
    free = training_step(twin, make_optimizer(twin, TrainConfig()), batch, teacher_forcing_ratio=0.0)
    assert math.isfinite(free.loss) and free.grad_norm > 0
    assert free.loss != pytest.approx(forced.loss, rel=1e-6)  # a different path was taken
    assert any(not torch.equal(a, b) for a, b in zip(model.parameters(), twin.parameters()))


@pytest.mark.native_bf16
def test_one_bf16_step_stays_close_to_one_fp32_step():
    """bf16 autocast changes the matmuls' precision only: parameters, optimizer state and the loss stay
    fp32, so one step's loss, gradient norm and update differ from fp32 by bf16 rounding, no more."""
    model, batch = setup()
    twin = copy.deepcopy(model)
    cfg = TrainConfig(optimizer="adam", lr=1e-2)
    fp32 = training_step(model, make_optimizer(model, cfg), batch, precision=Precision(bf16=False))
    bf16 = training_step(twin, make_optimizer(twin, cfg), batch, precision=Precision(bf16=True))
    assert bf16.loss == pytest.approx(fp32.loss, rel=1e-2) and bf16.loss != fp32.loss
    assert bf16.grad_norm == pytest.approx(fp32.grad_norm, rel=5e-2)
    assert all(p.dtype == torch.float32 for p in twin.parameters())
    # Adam's first step moves every weight by about lr; bf16 may flip only near-zero gradients' signs
    moved = [(a - b).abs().max().item() for a, b in zip(model.parameters(), twin.parameters())]
    assert max(moved) <= 2.5e-2 and sorted(moved)[len(moved) // 2] < 5e-3


@pytest.mark.bf16_fallback
def test_one_bf16_step_without_native_bf16_is_the_fp32_step():
    """Where the CPU has no native bf16, a step asked to run in bf16 runs in fp32: the model and the fused
    loss alike, so loss, gradient norm and update are fp32's to the last bit."""
    model, batch = setup()
    twin = copy.deepcopy(model)
    cfg = TrainConfig(optimizer="adam", lr=1e-2)
    fp32 = training_step(model, make_optimizer(model, cfg), batch, precision=Precision(bf16=False))
    asked = training_step(twin, make_optimizer(twin, cfg), batch, precision=Precision(bf16=True))
    assert (asked.loss, asked.grad_norm) == (fp32.loss, fp32.grad_norm)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), twin.parameters()))


def test_label_smoothing_is_pytorchs_and_reports_the_true_nll():
    model, batch = setup()
    twin = copy.deepcopy(model)
    plain = training_step(model, make_optimizer(model, TrainConfig(lr=0.0001)), batch)
    smoothed = training_step(twin, make_optimizer(twin, TrainConfig(lr=0.0001)), batch, label_smoothing=0.1)
    assert smoothed.nll_sum == pytest.approx(plain.nll_sum, rel=1e-6)  # the reported quantity is the NLL
    # the optimised one is PyTorch's label-smoothed cross-entropy: compare its gradient
    reference = copy.deepcopy(setup()[0])
    logits = reference(batch.src, batch.src_lengths, batch.tgt_in)
    loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), batch.tgt_out.reshape(-1), ignore_index=0,
                           reduction="sum", label_smoothing=0.1) / batch.num_sentences
    loss.backward()
    norm = torch.cat([p.grad.flatten() for p in reference.parameters() if p.grad is not None]).norm()
    assert smoothed.grad_norm == pytest.approx(float(norm), rel=1e-5)
    assert smoothed.grad_norm != pytest.approx(plain.grad_norm, rel=1e-3)
