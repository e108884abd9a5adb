"""Length-bucketed vs random minibatches: training tokens/s on a realistic sentence-length distribution.

The paper (§3.4) reports a 2x speed-up from minibatches of sentences of roughly equal length. Both
samplers here are ``repro.data.sampling.BatchSampler`` (``bucketing=True`` / ``False``) feeding the real
training step (``repro.train.step.training_step``). Sentence lengths come from the Multi30k En–Fr
training text (whitespace tokens of ../shared/data/multi30k-enfr/train.{en,fr}.gz) when present, else
from a synthetic long-tailed distribution; token ids are random (speed does not depend on them).
Tokens/s counts real target tokens (words + <eos>), not padding. Bucketed and random batches are timed
alternately, batch by batch, so machine noise hits both alike.

    python benchmarks/bucketing_speedup.py [--layers 2] [--hidden 256] [--vocab 8000] [--batch 128]
        [--batches 16] [--corpus PATH_PREFIX]
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from pathlib import Path

import numpy as np
import torch

from repro.data.batching import collate
from repro.data.sampling import BatchSampler
from repro.data.storage import ParallelSplit, RaggedArray
from repro.models.seq2seq import ModelConfig, Seq2Seq
from repro.train.config import TrainConfig
from repro.train.step import make_optimizer, training_step

DEFAULT_CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "multi30k-enfr" / "train"


def corpus_lengths(prefix: Path) -> tuple[np.ndarray, np.ndarray, str] | None:
    src, tgt = Path(f"{prefix}.en.gz"), Path(f"{prefix}.fr.gz")
    if not (src.exists() and tgt.exists()):
        return None

    def lengths(path: Path) -> np.ndarray:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            return np.array([len(line.split()) for line in handle], dtype=np.int64)

    s, t = lengths(src), lengths(tgt)
    keep = (s > 0) & (t > 0)
    return s[keep], t[keep], f"{src.resolve()} / {tgt.name} (whitespace tokens)"


def synthetic_lengths(n: int = 30000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    rng = np.random.default_rng(seed)
    src = np.clip(np.round(rng.lognormal(mean=2.5, sigma=0.5, size=n)), 1, 80).astype(np.int64)
    tgt = np.clip(np.round(src * rng.normal(1.15, 0.15, size=n)), 1, 90).astype(np.int64)
    return src, tgt, "synthetic log-normal lengths (median 12, long tail to 80)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=2, help="LSTM layers")
    parser.add_argument("--hidden", type=int, default=256, help="hidden and embedding size")
    parser.add_argument("--vocab", type=int, default=8000, help="source and target vocabulary size")
    parser.add_argument("--batch", type=int, default=128, help="sentences per batch")
    parser.add_argument("--batches", type=int, default=16, help="timed batches per sampler")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS,
                        help="path prefix of PREFIX.en.gz / PREFIX.fr.gz for the length distribution")
    args = parser.parse_args()
    found = corpus_lengths(args.corpus)
    if found is None:
        print(f"note: {args.corpus}.{{en,fr}}.gz not found; using synthetic lengths")
    src_len, tgt_len, origin = found or synthetic_lengths()
    rng = np.random.default_rng(0)
    split = ParallelSplit(RaggedArray.from_sequences(rng.integers(4, args.vocab, size=int(n)) for n in src_len),
                          RaggedArray.from_sequences(rng.integers(4, args.vocab, size=int(n)) for n in tgt_len))
    print(f"config: {args.layers}x{args.hidden} LSTM, vocab {args.vocab}, batch {args.batch} sentences, "
          f"{args.batches} batches per sampler, threads {torch.get_num_threads()}, torch {torch.__version__}")
    print(f"lengths: {origin}: {len(src_len)} pairs, source mean {src_len.mean():.1f} max {src_len.max()}, "
          f"target mean {tgt_len.mean():.1f} max {tgt_len.max()}")
    samplers = {name: BatchSampler(src_len, tgt_len, args.batch, bucketing=bucketing, seed=1)
                for name, bucketing in (("bucketed", True), ("random", False))}
    batches = {name: [collate(split, b) for b in s.epoch_batches(0)
                      if len(b) == args.batch][: args.batches] for name, s in samplers.items()}
    torch.manual_seed(0)
    model = Seq2Seq(ModelConfig(args.vocab, args.vocab, embedding_size=args.hidden, hidden_size=args.hidden,
                                num_layers=args.layers))
    optimizer = make_optimizer(model, TrainConfig(lr=0.1))
    for name in batches:  # warm-up
        training_step(model, optimizer, batches[name][0])
    elapsed = {name: 0.0 for name in batches}
    tokens = {name: 0 for name in batches}
    padded = {name: 0 for name in batches}
    for i in range(args.batches):
        for name in batches:
            batch = batches[name][i]
            t = time.perf_counter()
            training_step(model, optimizer, batch)
            elapsed[name] += time.perf_counter() - t
            tokens[name] += batch.num_tgt_tokens
            padded[name] += batch.src.numel() + batch.tgt_out.numel()
    rate = {name: tokens[name] / elapsed[name] for name in batches}
    real = {name: (tokens[name] + sum(int(b.src_lengths.sum()) for b in batches[name])) / padded[name]
            for name in batches}
    for name in batches:
        print(f"{name:9s}: {rate[name]:8.0f} target tokens/s, {100 * (1 - real[name]):.1f}% of the padded "
              f"positions are padding")
    speedup = rate["bucketed"] / rate["random"]
    print(f"speed-up of length-bucketed batches over random batches: {speedup:.2f}x (paper: 2x)")
    print(json.dumps({"benchmark": "bucketing_speedup", "speedup": round(speedup, 3),
                      "tokens_per_s_bucketed": round(rate["bucketed"], 1),
                      "tokens_per_s_random": round(rate["random"], 1),
                      "padding_bucketed": round(1 - real["bucketed"], 4),
                      "padding_random": round(1 - real["random"], 4), "lengths": "multi30k" if found else "synthetic"}))


if __name__ == "__main__":
    main()
