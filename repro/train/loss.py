"""The training loss over the target vocabulary, in float32 whatever the matmuls' precision.

``token_losses`` is the reference: cross-entropy on logits, autograd does the rest.
``linear_cross_entropy`` is the same loss fused with the output layer for training: one pass computes
the logits, the loss and, right away, the gradients of the output layer and of its input (softmax minus
the target distribution), so the [tokens × vocabulary] log-softmax, its saved output and the zero-filled
gradient of the unfused backward are never built. The vocabulary projection is the largest matrix
product of a step and its log-softmax the largest elementwise one, so this is where a step's non-model
time goes (``benchmarks/train_throughput.py``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from repro.data.vocab import PAD_ID
from repro.models.seq2seq import CPU_BF16_ROWS


def scored_positions(tgt_out: Tensor) -> Tensor:
    """The target positions that count (words and <eos>, not padding), as a bool mask."""
    return tgt_out != PAD_ID


def token_losses(logits: Tensor, targets: Tensor, label_smoothing: float = 0.0) -> tuple[Tensor, Tensor]:
    """(training loss, true NLL), both summed over the rows of ``logits [N, V]`` and in float32.

    The loss is PyTorch's label-smoothed cross-entropy, (1 - eps) * NLL + eps / V * sum_v -log p_v;
    the NLL is the unsmoothed one, which perplexities report. Without smoothing they are one tensor.
    """
    logits = logits.float()
    if label_smoothing == 0.0:
        nll = F.cross_entropy(logits, targets, reduction="sum")
        return nll, nll
    log_probs = torch.log_softmax(logits, dim=-1)
    nll = -log_probs.gather(1, targets.unsqueeze(1)).sum()
    uniform = -log_probs.sum() / logits.size(-1)
    return (1.0 - label_smoothing) * nll + label_smoothing * uniform, nll


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, vectors: Tensor, weight: Tensor, bias: Tensor, targets: Tensor, label_smoothing: float,
                compute_dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        rows, vocab = vectors.size(0), weight.size(0)
        pad = -rows % CPU_BF16_ROWS if (vectors.device.type == "cpu" and compute_dtype != torch.float32) else 0
        x = vectors.to(compute_dtype)
        if pad:
            x = torch.cat([x, x.new_zeros(pad, x.size(1))])
        w = weight.to(compute_dtype)
        logits = torch.addmm(bias.to(compute_dtype), x, w.t()).float()  # [rows + pad, V]
        if pad:
            logits[rows:] = 0.0
        log_z = torch.logsumexp(logits, dim=-1, keepdim=True)
        nll = (log_z[:rows, 0] - logits[:rows].gather(1, targets.unsqueeze(1))[:, 0]).sum()
        if label_smoothing:
            uniform = (log_z[:rows, 0] * vocab - logits[:rows].sum(dim=-1)).sum() / vocab
            loss = (1.0 - label_smoothing) * nll + label_smoothing * uniform
        else:
            loss = nll.clone()  # a tensor of its own: nll is returned as non-differentiable
        # d loss / d logits = softmax - (1 - eps) * onehot(target) - eps / V, written over the logits
        grad = logits.sub_(log_z).exp_()
        grad[:rows].scatter_add_(1, targets.unsqueeze(1),
                                 torch.full((rows, 1), -(1.0 - label_smoothing), device=grad.device))
        if label_smoothing:
            grad[:rows] -= label_smoothing / vocab
        if pad:
            grad[rows:] = 0.0
        grad_bias = grad.sum(dim=0)
        grad = grad.to(compute_dtype)
        grad_vectors = (grad @ w)[:rows].to(vectors.dtype)
        grad_weight = (grad.t() @ x).float()
        ctx.save_for_backward(grad_vectors, grad_weight, grad_bias)
        ctx.mark_non_differentiable(nll)
        return loss, nll

    @staticmethod
    def backward(ctx, grad_loss: Tensor, _grad_nll: Tensor):
        grad_vectors, grad_weight, grad_bias = ctx.saved_tensors
        return (grad_vectors * grad_loss.to(grad_vectors.dtype), grad_weight * grad_loss, grad_bias * grad_loss,
                None, None, None)


def linear_cross_entropy(vectors: Tensor, weight: Tensor, bias: Tensor, targets: Tensor,
                         label_smoothing: float = 0.0,
                         compute_dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """``token_losses(F.linear(vectors, weight, bias), targets, label_smoothing)``, fused, for training:
    the matmuls run in ``compute_dtype`` (bf16 under autocast), everything else in float32. Its gradients
    are computed in the forward pass, so call ``backward`` on the loss it returns (once)."""
    with torch.autocast(vectors.device.type, enabled=False):
        return _LinearCrossEntropy.apply(vectors, weight, bias, targets, float(label_smoothing), compute_dtype)
