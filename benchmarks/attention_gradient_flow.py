"""Where the gradient goes with and without the Luong attention layer: a training diagnostic.

Not a speed benchmark: a look at the start of training. Over its first few hundred steps the attention
decoder (``model.attention: luong``: general score, tanh(W_c [context; h]), no input feeding) trains
more slowly than the plain encoder–decoder; trained to convergence it is far better (README). Runs in
fp32, so the bf16 attention-precision bug fixed in ``repro.models.attention.full_precision`` never
touched it. This trains both from the same seed on the same
batches of a prepared data directory (the real trainer's ``training_step``, Adam, clipping at 5) and
prints, per module (``attention.score`` is W_a), the mean gradient norm before clipping, and the
training perplexity of the last 50 steps.

    python benchmarks/attention_gradient_flow.py [--data work/demo/data] [--steps 300] [--batch 64]
        [--layers 2] [--hidden 128] [--embedding 64] [--lr 0.003] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch

from repro.data.batching import collate
from repro.data.sampling import BatchSampler
from repro.data.storage import ParallelSplit, load_split
from repro.models.seq2seq import Seq2Seq
from repro.train.config import TrainConfig
from repro.train.from_data import model_config_for
from repro.train.state import seed_everything
from repro.train.step import make_optimizer, training_step


def module_norms(model: torch.nn.Module, scale: float) -> dict[str, float]:
    """Gradient norm per module that owns parameters (``decoder``, ``attention.score``), rescaled to before
    clipping (clipping scales all alike)."""
    squares: dict[str, float] = {}
    for name, param in model.named_parameters():
        if param.grad is not None:
            owner = name.rsplit(".", 1)[0]
            squares[owner] = squares.get(owner, 0.0) + float(param.grad.norm()) ** 2
    return {name: scale * math.sqrt(value) for name, value in squares.items()}


def run(args: argparse.Namespace, split: ParallelSplit, attention: str) -> dict:
    seed_everything(args.seed)
    cfg = TrainConfig(optimizer="adam", lr=args.lr, batch_size=args.batch, seed=args.seed)
    model = Seq2Seq(model_config_for(args.data, {"num_layers": args.layers, "hidden_size": args.hidden,
                                                 "embedding_size": args.embedding, "attention": attention}))
    optimizer = make_optimizer(model, cfg)
    sampler = BatchSampler(split.src.lengths, split.tgt.lengths, args.batch, seed=args.seed)
    norms: dict[str, list[float]] = {}
    nll, tokens = [], []
    epoch, step = 0, 0
    while step < args.steps:
        for indices in sampler.epoch_batches(epoch):
            result = training_step(model, optimizer, collate(split, indices), clip_norm=cfg.clip_norm)
            scale = max(1.0, result.grad_norm / cfg.clip_norm)
            for name, value in module_norms(model, scale).items():
                norms.setdefault(name, []).append(value)
            nll.append(result.nll_sum)
            tokens.append(result.tokens)
            step += 1
            if step == args.steps:
                break
        epoch += 1
    last = slice(-50, None)
    return {"ppl_last50": math.exp(sum(nll[last]) / sum(tokens[last])),
            "grad_norm": {name: float(np.mean(v)) for name, v in norms.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("work/demo/data"), help="prepared data directory")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=64, help="sentences per batch")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--embedding", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.003, help="Adam learning rate")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"config: data {args.data}, {args.layers}x{args.hidden} LSTM, {args.embedding}-d embeddings, batch "
          f"{args.batch}, Adam {args.lr}, clip 5, {args.steps} steps, seed {args.seed}, threads {args.threads}, "
          f"torch {torch.__version__}")
    split = load_split(args.data, "train")
    results = {attention: run(args, split, attention) for attention in ("none", "luong")}
    modules = sorted(set().union(*(r["grad_norm"] for r in results.values())))
    print(f"{'module':20s} {'none':>10s} {'luong':>10s}   (mean gradient norm before clipping)")
    for name in modules:
        cells = [f"{results[a]['grad_norm'][name]:10.3f}" if name in results[a]["grad_norm"] else f"{'—':>10s}"
                 for a in ("none", "luong")]
        print(f"{name:20s} {cells[0]} {cells[1]}")
    for attention, result in results.items():
        print(f"training perplexity, last 50 of {args.steps} steps, attention {attention}: {result['ppl_last50']:.1f}")
    decoder_ratio = results["luong"]["grad_norm"]["decoder"] / results["none"]["grad_norm"]["decoder"]
    print(json.dumps({"benchmark": "attention_gradient_flow", "ppl_none": round(results["none"]["ppl_last50"], 2),
                      "ppl_luong": round(results["luong"]["ppl_last50"], 2),
                      "decoder_grad_ratio_luong_vs_none": round(decoder_ratio, 3),
                      "attention_score_grad": round(results["luong"]["grad_norm"]["attention.score"], 5)}))


if __name__ == "__main__":
    main()
