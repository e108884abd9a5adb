"""The vocabulary loss: the fused output layer + cross-entropy equals the unfused reference."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from repro.train.loss import linear_cross_entropy, scored_positions, token_losses


def inputs(rows: int = 70, hidden: int = 12, vocab: int = 31, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    vectors = torch.randn(rows, hidden, generator=gen, requires_grad=True)
    weight = (torch.randn(vocab, hidden, generator=gen) * 0.3).requires_grad_()
    bias = (torch.randn(vocab, generator=gen) * 0.1).requires_grad_()
    targets = torch.randint(0, vocab, (rows,), generator=gen)
    return vectors, weight, bias, targets


def grads_of(loss, tensors):
    return torch.autograd.grad(loss, tensors)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_fused_equals_the_reference_in_fp32(smoothing):
    vectors, weight, bias, targets = inputs()
    ref_loss, ref_nll = token_losses(F.linear(vectors, weight, bias), targets, smoothing)
    ref_grads = grads_of(ref_loss * 0.37, (vectors, weight, bias))  # a scaled loss, as the trainer's
    loss, nll = linear_cross_entropy(vectors, weight, bias, targets, smoothing)
    assert torch.allclose(loss, ref_loss, rtol=1e-5) and torch.allclose(nll, ref_nll, rtol=1e-5)
    for got, want in zip(grads_of(loss * 0.37, (vectors, weight, bias)), ref_grads):
        assert torch.allclose(got, want, rtol=1e-4, atol=1e-6)
    assert not nll.requires_grad


def test_reference_label_smoothing_is_pytorchs():
    vectors, weight, bias, targets = inputs()
    logits = F.linear(vectors, weight, bias)
    loss, nll = token_losses(logits, targets, 0.2)
    assert torch.allclose(loss, F.cross_entropy(logits, targets, reduction="sum", label_smoothing=0.2))
    assert torch.allclose(nll, F.cross_entropy(logits, targets, reduction="sum"))


@pytest.mark.parametrize("rows", [1, 64, 70])  # padded to a multiple of 64 rows, or not padded
def test_fused_bf16_is_close_to_autocast_and_ignores_the_row_padding(rows):
    vectors, weight, bias, targets = inputs(rows=rows)
    with torch.autocast("cpu", torch.bfloat16):
        logits = F.linear(vectors, weight, bias)
    ref_loss, _ = token_losses(logits, targets)
    ref_grads = grads_of(ref_loss, (vectors, weight, bias))
    loss, nll = linear_cross_entropy(vectors, weight, bias, targets, compute_dtype=torch.bfloat16)
    assert loss.dtype == torch.float32 and torch.allclose(loss, ref_loss, rtol=1e-2)
    grads = grads_of(loss, (vectors, weight, bias))
    assert [g.dtype for g in grads] == [torch.float32] * 3
    for got, want in zip(grads, ref_grads):
        assert torch.allclose(got, want, rtol=5e-2, atol=2e-2 * want.abs().max().item())


def test_scored_positions_are_the_non_pad_targets():
    assert scored_positions(torch.tensor([[5, 3, 0], [3, 0, 0]])).tolist() == [[True, True, False],
                                                                               [True, False, False]]
