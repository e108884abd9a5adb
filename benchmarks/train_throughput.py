"""Training throughput: repro's training step vs a plain PyTorch loop, fp32 and bf16, and MFU.

Four contenders per model size, on the same batch: ``repro`` (``repro.train.step.training_step`` on
``repro.models.seq2seq.Seq2Seq``, the code path of ``repro train``: source reversal, loss over the
scored tokens only, the output layer fused with the cross-entropy, divergence check) and ``plain`` (the
shortest loop one would write by hand: nn.LSTM encoder and decoder, a linear layer, cross-entropy with
``ignore_index``), each in fp32 and in bf16 autocast (parameters, optimizer and loss in fp32; the bf16
contenders are skipped, with a notice, where the CPU has no native bf16). All use
SGD and clip the gradient norm at 5, as the paper. The batch is what bucketing gives: sources of one
length, targets of several (so padding), random token ids (throughput does not depend on the words).

Timing: after two warm-up steps each, the contenders are timed in turn, ``--steps`` steps per
measurement, for ``--rounds`` rounds; the median per contender is kept, so machine noise hits all alike.

MFU = model FLOPs per second / the best torch.mm rate *of the same dtype* measured in the same run.
Model FLOPs count the matrix multiplications only (LSTM input and recurrent projections, output layer,
over the scored target tokens), times 3 for the forward and backward passes (Kaplan et al.; PaLM's MFU).

    python benchmarks/train_throughput.py                 # 2x256 (11k vocab) and 4x512 (16k vocab)
    python benchmarks/train_throughput.py --models 2x256:11000 --steps 5 --rounds 2   # a quick look
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from repro.data.batching import Batch, collate
from repro.data.storage import ParallelSplit, RaggedArray
from repro.device import Precision, check_bf16
from repro.models.seq2seq import ModelConfig, Seq2Seq
from repro.train.config import TrainConfig
from repro.train.step import make_optimizer, training_step

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


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


def plain_step(model: PlainSeq2Seq, opt: torch.optim.Optimizer, batch: Batch, bf16: bool) -> float:
    opt.zero_grad(set_to_none=True)
    with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
        logits = model(batch.src, batch.tgt_in)
    loss = nn.functional.cross_entropy(logits.float().reshape(-1, logits.size(-1)), batch.tgt_out.reshape(-1),
                                       ignore_index=0, reduction="sum") / batch.num_sentences
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
    opt.step()
    return float(loss.detach())


def model_flops(hidden: int, layers: int, vocab: int, src_tokens: int, tgt_tokens: int) -> float:
    """Matmul FLOPs of one training step (forward + backward = 3x forward)."""
    lstm_per_token = layers * 2 * (hidden + hidden) * 4 * hidden  # input + recurrent projections
    return 3.0 * (src_tokens * lstm_per_token + tgt_tokens * (lstm_per_token + 2 * hidden * vocab))


def matmul_peak(dtype: torch.dtype, shapes: list[tuple[int, int, int]], repeats: int = 5) -> tuple[float, dict]:
    """Best torch.mm FLOP/s in ``dtype`` over ``shapes`` (a big square product and the model's own)."""
    rates = {}
    for m, k, n in shapes:
        a, b = torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)
        torch.mm(a, b)
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            torch.mm(a, b)
            best = min(best, time.perf_counter() - t)
        rates[f"{m}x{k}x{n}"] = 2 * m * k * n / best
    return max(rates.values()), rates


def make_batch(vocab: int, batch: int, length: int, seed: int = 0) -> Batch:
    """``batch`` sources of ``length`` words; targets of length-4 .. length+4 words (+ <eos>)."""
    rng = np.random.default_rng(seed)
    tgt_lengths = rng.integers(max(1, length - 4), length + 5, size=batch)
    split = ParallelSplit(RaggedArray.from_sequences(rng.integers(4, vocab, size=(batch, length))),
                          RaggedArray.from_sequences([rng.integers(4, vocab, size=int(n)) for n in tgt_lengths]))
    return collate(split, np.arange(batch))


def time_alternating(contenders: dict[str, Callable[[], object]], steps: int, rounds: int) -> dict[str, float]:
    """Median seconds per step of each contender, measured in turn."""
    for fn in contenders.values():  # warm-up: allocator, oneDNN primitive caches
        fn(), fn()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            t = time.perf_counter()
            for _ in range(steps):
                fn()
            times[name].append((time.perf_counter() - t) / steps)
    return {name: statistics.median(v) for name, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="2x256:11000,4x512:16000",
                        help="LAYERSxHIDDEN:VOCAB, comma-separated (embedding size = hidden size)")
    parser.add_argument("--batch", type=int, default=128, help="sentences per batch")
    parser.add_argument("--length", type=int, default=25, help="source length; targets vary by +-4 around it")
    parser.add_argument("--rounds", type=int, default=5, help="alternating timing rounds")
    parser.add_argument("--steps", type=int, default=20, help="training steps per measurement")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (0 = torch's default)")
    parser.add_argument("--peak-size", type=int, default=4096,
                        help="side of the square torch.mm that, with the model's own shapes, measures the peak")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    models = []
    for spec in args.models.split(","):
        shape, vocab = spec.split(":")
        layers, hidden = shape.split("x")
        models.append((int(layers), int(hidden), int(vocab)))
    B, L = args.batch, args.length
    # bf16 only where it runs natively: elsewhere it is emulated, and oneDNN has no bf16 LSTM kernel
    use_bf16 = check_bf16(torch.device("cpu"))
    dtypes = {name: dtype for name, dtype in DTYPES.items() if name == "fp32" or use_bf16}
    print(f"config: models={args.models} batch={B} src_len={L} tgt_len={L}+-4 rounds={args.rounds} "
          f"steps/measurement={args.steps} threads={torch.get_num_threads()} optimizer=sgd clip=5 "
          f"dtypes={','.join(dtypes)} torch={torch.__version__} cpu={platform.processor() or platform.machine()}")
    shapes = [(args.peak_size,) * 3] + [(B * L, h, v) for _, h, v in models] + [(B, h, 4 * h) for _, h, _ in models]
    peaks = {}
    for name, dtype in dtypes.items():
        peaks[name], rates = matmul_peak(dtype, shapes)
        print(f"matmul peak {name}: {peaks[name] / 1e9:.0f} GFLOP/s "
              f"({', '.join(f'{k}: {v / 1e9:.0f}' for k, v in rates.items())})")
    results = {}
    for layers, hidden, vocab in models:
        batch = make_batch(vocab, B, L)
        flops = model_flops(hidden, layers, vocab, int(batch.src_lengths.sum()), batch.num_tgt_tokens)
        contenders = {}
        for dtype in dtypes:
            bf16 = dtype == "bf16"
            torch.manual_seed(0)
            model = Seq2Seq(ModelConfig(vocab, vocab, embedding_size=hidden, hidden_size=hidden, num_layers=layers))
            opt = make_optimizer(model, TrainConfig(lr=0.1))
            contenders[f"repro_{dtype}"] = (lambda m=model, o=opt, b=bf16, x=batch: training_step(m, o, x, clip_norm=5.0,
                                                                                          precision=Precision(bf16=b)))
            plain = PlainSeq2Seq(vocab, hidden, layers)
            plain_opt = torch.optim.SGD(plain.parameters(), lr=0.1)
            contenders[f"plain_{dtype}"] = lambda m=plain, o=plain_opt, b=bf16, x=batch: plain_step(m, o, x, b)
        step_s = time_alternating(contenders, args.steps, args.rounds)
        key = f"{layers}x{hidden}"
        row = {name: {"step_s": s, "tokens_per_s": batch.num_tgt_tokens / s,
                      "mfu": flops / s / peaks[name.split("_")[1]]} for name, s in step_s.items()}
        results[key] = row
        print(f"{key} (vocab {vocab}, {flops / 1e9:.0f} GFLOP/step, {batch.num_tgt_tokens} target tokens):")
        for name, r in row.items():
            print(f"  {name:11s} {r['step_s'] * 1000:8.1f} ms/step {r['tokens_per_s']:9.0f} tok/s "
                  f"MFU {100 * r['mfu']:5.1f}% (of the {name.split('_')[1]} peak)")
        if use_bf16:
            print(f"  repro bf16 / plain fp32 {step_s['plain_fp32'] / step_s['repro_bf16']:.2f}x, "
                  f"/ plain bf16 {step_s['plain_bf16'] / step_s['repro_bf16']:.2f}x")
        print(f"  repro fp32 / plain fp32 {step_s['plain_fp32'] / step_s['repro_fp32']:.2f}x")
    headline: dict[str, object] = {"benchmark": "train_throughput",
                                   **{f"peak_gflops_{k}": round(v / 1e9, 1) for k, v in peaks.items()}}
    if not use_bf16:
        headline["bf16"] = "skipped"
    for key, row in results.items():
        if use_bf16:
            headline[f"ratio_bf16_vs_plain_fp32_{key}"] = round(row["plain_fp32"]["step_s"] / row["repro_bf16"]["step_s"], 3)
            headline[f"ratio_bf16_vs_plain_bf16_{key}"] = round(row["plain_bf16"]["step_s"] / row["repro_bf16"]["step_s"], 3)
            headline[f"mfu_bf16_{key}"] = round(row["repro_bf16"]["mfu"], 3)
            headline[f"tokens_per_s_bf16_{key}"] = round(row["repro_bf16"]["tokens_per_s"], 1)
        headline[f"ratio_fp32_vs_plain_fp32_{key}"] = round(row["plain_fp32"]["step_s"] / row["repro_fp32"]["step_s"], 3)
        headline[f"mfu_fp32_{key}"] = round(row["repro_fp32"]["mfu"], 3)
        headline[f"tokens_per_s_fp32_{key}"] = round(row["repro_fp32"]["tokens_per_s"], 1)
    print(json.dumps(headline))


if __name__ == "__main__":
    main()
