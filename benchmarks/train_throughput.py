"""Training throughput: repro's training step vs a plain PyTorch loop, and model-FLOPs utilisation.

Both sides run the same shapes on the same synthetic batch (random token ids: throughput does not
depend on the words): an L-layer LSTM encoder and decoder, a linear layer onto a 16k target vocabulary,
cross-entropy, gradient clipping at 5 and SGD, batch 128. "repro" is ``repro.train.trainer.training_step``
on ``repro.models.seq2seq.Seq2Seq`` — the code path of ``repro train`` (source reversal, packed sequences,
pad-aware loss, divergence check). "plain" is the shortest loop one would write by hand. The two are
timed alternately, several rounds each, and the median is kept, so machine noise hits both alike.

MFU = model FLOPs per second / the best torch.mm rate measured in the same run. Model FLOPs count the
matrix multiplications only (LSTM input and recurrent projections, output layer), times 3 for the
forward and backward passes: the usual convention (Kaplan et al.; PaLM's MFU).

    python benchmarks/train_throughput.py [--sizes 256,512] [--layers 4] [--vocab 16000] [--batch 128]
        [--length 25] [--rounds 3] [--steps 1] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np
import torch
from torch import nn

from repro.data.batching import collate
from repro.data.storage import ParallelSplit, RaggedArray
from repro.models.seq2seq import ModelConfig, Seq2Seq
from repro.train.config import TrainConfig
from repro.train.trainer import make_optimizer, training_step


class PlainSeq2Seq(nn.Module):
    def __init__(self, vocab: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.src_emb = nn.Embedding(vocab, hidden)
        self.tgt_emb = nn.Embedding(vocab, hidden)
        self.encoder = nn.LSTM(hidden, hidden, layers, batch_first=True)
        self.decoder = nn.LSTM(hidden, hidden, layers, batch_first=True)
        self.out = nn.Linear(hidden, vocab)
        for p in self.parameters():
            nn.init.uniform_(p, -0.08, 0.08)

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        _, state = self.encoder(self.src_emb(src))
        out, _ = self.decoder(self.tgt_emb(tgt_in), state)
        return self.out(out)


def plain_step(model: PlainSeq2Seq, opt: torch.optim.Optimizer, src, tgt_in, tgt_out) -> float:
    opt.zero_grad(set_to_none=True)
    logits = model(src, tgt_in)
    loss = nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), tgt_out.reshape(-1),
                                       reduction="sum") / src.size(0)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
    opt.step()
    return float(loss.detach())


def model_flops(hidden: int, layers: int, vocab: int, batch: int, src_len: int, tgt_len: int) -> float:
    """Matmul FLOPs of one training step (forward + backward = 3x forward)."""
    lstm_per_token = layers * 2 * (hidden + hidden) * 4 * hidden  # input + recurrent projections
    forward = batch * (src_len * lstm_per_token + tgt_len * (lstm_per_token + 2 * hidden * vocab))
    return 3.0 * forward


def matmul_peak(hidden_sizes: list[int], vocab: int, tokens: int, repeats: int = 3) -> tuple[float, dict]:
    """Best torch.mm FLOP/s over representative shapes: the output layer, the LSTM gate projections,
    and a big square product."""
    shapes = [(4096, 4096, 4096)] + [(tokens, h, vocab) for h in hidden_sizes] + [(tokens, 2 * h, 4 * h)
                                                                                    for h in hidden_sizes]
    rates = {}
    for m, k, n in shapes:
        a, b = torch.randn(m, k), torch.randn(k, n)
        torch.mm(a, b)
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            torch.mm(a, b)
            best = min(best, time.perf_counter() - t)
        rates[f"{m}x{k}x{n}"] = 2 * m * k * n / best
    return max(rates.values()), rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="256,512", help="hidden (= embedding) sizes, comma-separated")
    parser.add_argument("--layers", type=int, default=4, help="LSTM layers in encoder and decoder")
    parser.add_argument("--vocab", type=int, default=16000, help="source and target vocabulary size")
    parser.add_argument("--batch", type=int, default=128, help="sentences per batch")
    parser.add_argument("--length", type=int, default=25, help="source and target sentence length")
    parser.add_argument("--rounds", type=int, default=3, help="alternating timing rounds per configuration")
    parser.add_argument("--steps", type=int, default=1, help="training steps per timing")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = [int(s) for s in args.sizes.split(",")]
    B, L, V = args.batch, args.length, args.vocab
    print(f"config: layers={args.layers} sizes={sizes} vocab={V} batch={B} src_len=tgt_len={L} "
          f"rounds={args.rounds} steps/timing={args.steps} threads={torch.get_num_threads()} "
          f"torch={torch.__version__} cpu={platform.processor() or platform.machine()}")
    rng = np.random.default_rng(0)
    # target lengths L-1 words + <eos> = L scored tokens, as in plain's tgt_out
    split = ParallelSplit(RaggedArray.from_sequences(rng.integers(4, V, size=(B, L))),
                          RaggedArray.from_sequences(rng.integers(4, V, size=(B, L - 1))))
    batch = collate(split, np.arange(B))
    tokens = batch.num_tgt_tokens
    peak, rates = matmul_peak(sizes, V, B * L)
    print(f"matmul peak: {peak / 1e9:.1f} GFLOP/s  ({', '.join(f'{k}: {v / 1e9:.0f}' for k, v in rates.items())})")
    results = {}
    for hidden in sizes:
        torch.manual_seed(0)
        repro_model = Seq2Seq(ModelConfig(V, V, embedding_size=hidden, hidden_size=hidden, num_layers=args.layers))
        repro_opt = make_optimizer(repro_model, TrainConfig(lr=0.1))
        plain_model = PlainSeq2Seq(V, hidden, args.layers)
        plain_opt = torch.optim.SGD(plain_model.parameters(), lr=0.1)
        src, tgt_in, tgt_out = batch.src, batch.tgt_in, batch.tgt_out

        def run_repro() -> None:
            training_step(repro_model, repro_opt, batch, clip_norm=5.0)

        def run_plain() -> None:
            plain_step(plain_model, plain_opt, src, tgt_in, tgt_out)

        run_repro(), run_plain()  # warm-up (allocator, oneDNN primitive caches)
        times: dict[str, list[float]] = {"repro": [], "plain": []}
        for _ in range(args.rounds):
            for name, fn in (("repro", run_repro), ("plain", run_plain)):
                t = time.perf_counter()
                for _ in range(args.steps):
                    fn()
                times[name].append((time.perf_counter() - t) / args.steps)
        flops = model_flops(hidden, args.layers, V, B, L, L)
        row = {}
        for name in ("repro", "plain"):
            step_s = statistics.median(times[name])
            row[name] = {"step_s": step_s, "tokens_per_s": tokens / step_s, "mfu": flops / step_s / peak}
        row["ratio"] = row["repro"]["tokens_per_s"] / row["plain"]["tokens_per_s"]
        results[f"{args.layers}x{hidden}"] = row
        print(f"{args.layers}x{hidden}: {flops / 1e9:.0f} GFLOP/step | repro {row['repro']['tokens_per_s']:.0f} tok/s "
              f"(MFU {100 * row['repro']['mfu']:.1f}%) | plain {row['plain']['tokens_per_s']:.0f} tok/s "
              f"(MFU {100 * row['plain']['mfu']:.1f}%) | ratio repro/plain {row['ratio']:.3f}")
    headline = {
        "benchmark": "train_throughput", "peak_gflops": round(peak / 1e9, 1),
        **{f"tokens_per_s_{k}": round(v["repro"]["tokens_per_s"], 1) for k, v in results.items()},
        **{f"plain_tokens_per_s_{k}": round(v["plain"]["tokens_per_s"], 1) for k, v in results.items()},
        **{f"ratio_vs_reference_{k}": round(v["ratio"], 3) for k, v in results.items()},
        **{f"mfu_{k}": round(v["repro"]["mfu"], 3) for k, v in results.items()},
    }
    print(json.dumps(headline))


if __name__ == "__main__":
    main()
