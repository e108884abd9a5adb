"""Decoding throughput: batched beam search vs a one-sentence-at-a-time reference, in the same run.

Measures sentences/s and generated tokens/s of ``repro.inference.beam_search`` at beam 1, 2 and 12,
batch 1 and batch 64, for one model and an ensemble of five, and of a straightforward
one-sentence-at-a-time beam search written below (same search rules; the beam of one sentence is one
decoder batch of K rows). Every configuration's output is checked against the reference: identical
tokens, scores within 1e-4.

Timing: the contenders of a configuration (reference, batch 1, batch 64, and at the largest beam
batch 64 under bf16 autocast) are timed alternately, ``--rounds`` rounds each in a rotating order, and
each keeps its median, so machine noise hits all alike; the spread of the per-round ratios is printed.
The bf16 row is compared with fp32 batch 64 (speed, identical 1-best, score differences): its output is
not expected to be identical (bf16 logits), only close. It is skipped where bf16 is not supported natively.

Model: the paper's architecture scaled down (4 layers x 256 LSTM cells, 256-d embeddings, 10k-word
vocabularies) with **random weights** (uniform +-0.08, the paper's init), seeded. A random model seldom
prefers <eos>, so hypotheses run to the maximum length; it is set to the source length
(``max_len_a=1, max_len_b=0``) so that target lengths are realistic. Sources: the first sentences of
newstest2014 (the paper's test set), Moses-tokenized, when ../shared/data is present; otherwise
lengths drawn from a similar distribution (said in the output).

    python benchmarks/decode_throughput.py --threads 1   # ~4 minutes on one quiet CPU core (3 rounds)
    python benchmarks/decode_throughput.py --quick    # a smoke run
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch

from repro.device import Precision, check_bf16
from repro.inference.beam_search import Hypothesis, beam_search, max_lengths
from repro.inference.ensemble import Ensemble
from repro.io import iter_text_lines
from repro.models.seq2seq import ModelConfig, Seq2Seq

T = TypeVar("T")

NEWSTEST = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "newstest2014-fren"


# ----------------------------------------------------------------------------------- reference
@torch.inference_mode()
def reference_beam_search(model: Seq2Seq | Ensemble, src: list[int], beam_size: int,
                          max_len: int) -> tuple[list[int], float]:
    """Plain beam search for one sentence, written for clarity (same rules as repro's, no length norm)."""
    cfg = model.config
    K = beam_size
    state = model.init_decoder_state(model.encode(torch.tensor([src]), torch.tensor([len(src)])))
    state = model.reorder_state(state, torch.zeros(1, dtype=torch.long))
    beams = [([], 0.0)]  # (words, score) of each live hypothesis
    finished: list[tuple[list[int], float]] = []
    step = 0
    while True:
        prev = torch.tensor([w[-1] if w else cfg.sos_id for w, _ in beams])
        log_probs, state = model.decode_step(prev, state)
        log_probs[:, cfg.pad_id] = -math.inf
        log_probs[:, cfg.sos_id] = -math.inf
        if step >= max_len:
            eos = log_probs[:, cfg.eos_id].clone()
            log_probs[:] = -math.inf
            log_probs[:, cfg.eos_id] = eos
        V = log_probs.size(1)
        totals = torch.tensor([s for _, s in beams]).unsqueeze(1) + log_probs
        flat = totals.view(-1)
        k = min(2 * K, flat.numel())
        top_scores, top_index = flat.topk(k)
        if int((flat >= top_scores[-1]).sum()) > k:  # a tie straddles the k-th place
            top_scores, top_index = (t[:k] for t in flat.sort(descending=True, stable=True))
        top_index, perm = top_index.sort()  # equal scores: the lower candidate index first
        top_scores, perm2 = top_scores[perm].sort(descending=True, stable=True)
        top_index = top_index[perm2]
        new_beams, parents = [], []
        for rank, (score, index) in enumerate(zip(top_scores.tolist(), top_index.tolist())):
            parent, word = divmod(index, V)
            if word == cfg.eos_id:
                if rank < K and math.isfinite(score):
                    finished.append((beams[parent][0], score))
            elif len(new_beams) < K:
                new_beams.append((beams[parent][0] + [word], score))
                parents.append(parent)
        best_finished = max((s for _, s in finished), default=-math.inf)
        if (len(finished) >= K or step >= max_len or not math.isfinite(new_beams[0][1])
                or new_beams[0][1] < best_finished):
            break
        beams = new_beams
        state = model.reorder_state(state, torch.tensor(parents))
        step += 1
    return max(finished, key=lambda f: f[1])  # first of equal scores, as repro's stable sort


# ----------------------------------------------------------------------------------- setup
def load_sources(n: int, vocab_size: int, seed: int) -> tuple[list[list[int]], str]:
    path = NEWSTEST / "newstest2014.en"
    rng = random.Random(seed)
    if path.exists() or Path(str(path) + ".gz").exists():
        import sacremoses

        text = iter_text_lines(path if path.exists() else Path(str(path) + ".gz"), decompress=True)
        lines = [line.strip() for line in itertools.islice(text, n)]
        tok = sacremoses.MosesTokenizer("en")
        tokenized = [tok.tokenize(line, escape=False) or ["."] for line in lines]
        ids: dict[str, int] = {}
        sources = [[4 + ids.setdefault(w, len(ids)) % (vocab_size - 4) for w in s] for s in tokenized]
        return sources, f"first {n} sentences of {path.name} (Moses-tokenized)"
    lengths = [max(1, min(80, int(rng.gammavariate(3.0, 9.0)))) for _ in range(n)]
    return ([[rng.randrange(4, vocab_size) for _ in range(k)] for k in lengths],
            f"{n} random sentences, lengths ~ Gamma(3, 9) ({path} not found)")


def make_model(seed: int, layers: int, hidden: int, vocab: int) -> Seq2Seq:
    torch.manual_seed(seed)
    cfg = ModelConfig(vocab, vocab, hidden, hidden, layers, init_range=0.08)
    return Seq2Seq(cfg).eval()


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def bf16_available() -> bool:
    return check_bf16(torch.device("cpu"))  # False (with a notice) where bf16 is not native


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sentences", type=int, default=64, help="sentences decoded per configuration (default 64)")
    parser.add_argument("--slow-sentences", type=int, default=16,
                        help="sentences for the one-at-a-time runs (reference, batch 1), a subset spread over "
                             "the same sentences (default 16)")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--vocab", type=int, default=10000)
    parser.add_argument("--ensemble", type=int, default=5)
    parser.add_argument("--beams", default="1,2,12")
    parser.add_argument("--batch", type=int, default=64, help="the large batch size (default 64)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternating timing rounds per configuration; each contender keeps its median (default 3)")
    parser.add_argument("--no-bf16", action="store_true", help="skip the bf16 rows")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (default: torch's choice); on a shared, busy machine use 1, since "
                             "OpenMP threads competing for cores slow small and large ops very unequally")
    parser.add_argument("--quick", action="store_true", help="smoke run: 16 sentences, 4 slow ones, ensemble of 2, 1 round")
    args = parser.parse_args()
    if args.quick:
        args.sentences, args.slow_sentences, args.ensemble, args.batch, args.rounds = 16, 4, 2, 16, 1
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    if args.threads:
        torch.set_num_threads(args.threads)
    sources, where = load_sources(args.sentences, args.vocab, args.seed)
    step = max(1, len(sources) // args.slow_sentences)
    slow_ids = list(range(0, len(sources), step))[: args.slow_sentences]
    models = [make_model(args.seed + i, args.layers, args.hidden, args.vocab) for i in range(args.ensemble)]
    decoders = {"single": models[0], f"ensemble{args.ensemble}": Ensemble(models)}
    beams = [int(b) for b in args.beams.split(",")]
    top = max(beams)
    max_len_a, max_len_b = 1.0, 0.0
    limits = max_lengths([len(s) for s in sources], max_len_a, max_len_b)
    use_bf16 = not args.no_bf16 and bf16_available()

    print("== decode throughput benchmark ==")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    print(f"model: {args.layers} x {args.hidden} LSTM encoder + decoder, {args.hidden}-d embeddings, "
          f"vocab {args.vocab}/{args.vocab}, {sum(p.numel() for p in models[0].parameters()) / 1e6:.1f}M parameters, "
          f"RANDOM weights (uniform +-0.08, seeds {args.seed}..{args.seed + args.ensemble - 1}), reversed source, fp32")
    print(f"sources: {where}; mean length {sum(map(len, sources)) / len(sources):.1f} tokens, "
          f"max {max(map(len, sources))}; max target length = {max_len_a:g} * source + {max_len_b:g}")
    print(f"batched runs: all {len(sources)} sentences; one-at-a-time runs (reference, batch 1): "
          f"{len(slow_ids)} of them, every {step}th")
    print(f"timing: {args.rounds} alternating round(s) per configuration, rotating order, median per contender; "
          f"beams {beams}; bf16 rows (beam {top}, batch {args.batch}, bf16 autocast vs fp32): "
          f"{'yes' if use_bf16 else 'skipped'}")
    print()
    header = (f"{'decoder':<10} {'beam':>4} {'impl':<22} {'sent':>5} {'sent/s':>8} {'tok/s':>9} {'vs ref':>7} "
              f"{'ratio range':>13} {'same':>5}")
    print(header)
    print("-" * len(header))

    rows: list[dict[str, Any]] = []
    mismatches_total = 0
    bf16_stats: dict[str, dict[str, Any]] = {}
    for name, decoder in decoders.items():
        for beam in beams:
            def reference(ids: list[int] = slow_ids, decoder: Seq2Seq | Ensemble = decoder,
                          beam: int = beam) -> list[tuple[list[int], float]]:
                return [reference_beam_search(decoder, sources[i], beam, limits[i]) for i in ids]

            def batched(ids: list[int], batch: int, bf16: bool = False, decoder: Seq2Seq | Ensemble = decoder,
                        beam: int = beam) -> Callable[[], list[list[Hypothesis]]]:
                def run() -> list[list[Hypothesis]]:
                    out: list[list[Hypothesis]] = []
                    with Precision(torch.device("cpu"), bf16).autocast():
                        for k in range(0, len(ids), batch):
                            chunk = ids[k : k + batch]
                            out += beam_search(decoder, [sources[i] for i in chunk], beam, 1, max_len_a, max_len_b)
                    return out
                return run

            all_ids = list(range(len(sources)))
            contenders = [("reference (1 at a time)", slow_ids, reference),
                          ("repro batch 1", slow_ids, batched(slow_ids, 1)),
                          (f"repro batch {args.batch}", all_ids, batched(all_ids, args.batch))]
            if use_bf16 and beam == top:
                contenders.append((f"bf16 batch {args.batch}", all_ids, batched(all_ids, args.batch, bf16=True)))
            # Warm-up (first-call allocations): one sentence each, untimed.
            reference_beam_search(decoder, sources[slow_ids[0]], beam, limits[slow_ids[0]])
            batched(slow_ids[:1], 1)()
            if use_bf16 and beam == top:
                batched(slow_ids[:1], 1, bf16=True)()

            times: dict[str, list[float]] = {label: [] for label, _, _ in contenders}
            outputs: dict[str, Any] = {}
            for r in range(args.rounds):
                shift = r % len(contenders)
                for label, _ids, fn in contenders[shift:] + contenders[:shift]:
                    out, elapsed = timed(fn)
                    times[label].append(elapsed)
                    outputs.setdefault(label, out)

            ref_label = contenders[0][0]
            ref_out = outputs[ref_label]
            ref_time = statistics.median(times[ref_label])
            ref_tokens = sum(len(t) + 1 for t, _ in ref_out)
            ref_rate = len(slow_ids) / ref_time
            print(f"{name:<10} {beam:>4} {ref_label:<22} {len(slow_ids):>5} {ref_rate:>8.2f} "
                  f"{ref_tokens / ref_time:>9.1f} {1.0:>7.2f} {'':>13} {'-':>5}")
            rows.append({"decoder": name, "beam": beam, "impl": "reference", "sentences_per_s": ref_rate,
                         "tokens_per_s": ref_tokens / ref_time, "times_s": times[ref_label]})
            fp32_batched: tuple[list[list[Hypothesis]], float] | None = None
            for label, ids, _ in contenders[1:]:
                hyps = outputs[label]
                elapsed = statistics.median(times[label])
                tokens = sum(len(h[0].tokens) + 1 for h in hyps)
                rate = len(ids) / elapsed
                # Per-round ratios (same round: the closest in time), to show how stable the median is.
                per_round = [(len(ids) / t) / (len(slow_ids) / rt) for t, rt in zip(times[label], times[ref_label])]
                spread = f"{min(per_round):.2f}-{max(per_round):.2f}"
                row = {"decoder": name, "beam": beam, "impl": label, "batch": 1 if ids is slow_ids else args.batch,
                       "sentences_per_s": rate, "tokens_per_s": tokens / elapsed, "ratio_vs_reference": rate / ref_rate,
                       "ratio_range": [min(per_round), max(per_round)], "times_s": times[label]}
                if label.startswith("bf16"):
                    assert fp32_batched is not None  # contenders put fp32 batch {args.batch} before bf16
                    fp32_hyps, fp32_rate = fp32_batched
                    same = sum(a[0].tokens == b[0].tokens for a, b in zip(hyps, fp32_hyps))
                    diffs = [abs(a[0].score - b[0].score) for a, b in zip(hyps, fp32_hyps)]
                    row.update({"bf16": True, "speedup_vs_fp32": rate / fp32_rate, "same_1best_as_fp32": same,
                                "compared_with_fp32": len(hyps), "mean_abs_score_diff": sum(diffs) / len(diffs),
                                "max_abs_score_diff": max(diffs)})
                    bf16_stats[name] = row
                    print(f"{name:<10} {beam:>4} {label:<22} {len(ids):>5} {rate:>8.2f} {tokens / elapsed:>9.1f} "
                          f"{rate / ref_rate:>7.2f} {spread:>13} {'-':>5}   {rate / fp32_rate:.2f}x fp32 batch "
                          f"{args.batch}; same 1-best {same}/{len(hyps)}, |score diff| mean {row['mean_abs_score_diff']:.4f}"
                          f" max {row['max_abs_score_diff']:.4f}")
                    rows.append(row)
                    continue
                if ids is not slow_ids:
                    fp32_batched = (hyps, rate)
                by_id = dict(zip(ids, hyps))
                differ = [(by_id[i][0], ref) for i, ref in zip(slow_ids, ref_out)
                          if by_id[i][0].tokens != ref[0] or abs(by_id[i][0].score - ref[1]) > 1e-4]
                mismatches = len(differ)
                mismatches_total += mismatches
                for hyp, ref in differ:
                    # Float sums can differ in the last bits between batch sizes; with random weights
                    # the distributions are flat, so a near-tie can flip which hypothesis survives.
                    print(f"  differs: repro {len(hyp.tokens)} words, score {hyp.score:.6f}; "
                          f"reference {len(ref[0])} words, score {ref[1]:.6f} (gap {hyp.score - ref[1]:+.2e})")
                print(f"{name:<10} {beam:>4} {label:<22} {len(ids):>5} {rate:>8.2f} {tokens / elapsed:>9.1f} "
                      f"{rate / ref_rate:>7.2f} {spread:>13} {'yes' if mismatches == 0 else f'{mismatches} no':>5}")
                row.update({"mismatches": mismatches, "compared": len(slow_ids)})
                rows.append(row)

    def batch_row(decoder: str, beam: int) -> dict[str, Any]:
        return next(r for r in rows if r["decoder"] == decoder and r["beam"] == beam
                    and r.get("batch") == args.batch and not r.get("bf16"))

    ens = f"ensemble{args.ensemble}"
    print()
    print(f"load average {os.getloadavg()[0]:.2f} at end")
    print(f"batched beam {top} vs one-at-a-time reference: single {batch_row('single', top)['ratio_vs_reference']:.1f}x, "
          f"{ens} {batch_row(ens, top)['ratio_vs_reference']:.1f}x (goal >= 10x); outputs identical: {mismatches_total == 0}")
    if bf16_stats:
        print(f"bf16 autocast, beam {top} batch {args.batch}: single {bf16_stats['single']['speedup_vs_fp32']:.2f}x fp32 "
              f"({bf16_stats['single']['ratio_vs_reference']:.1f}x the fp32 reference), {ens} "
              f"{bf16_stats[ens]['speedup_vs_fp32']:.2f}x fp32 ({bf16_stats[ens]['ratio_vs_reference']:.1f}x)")
    headline = {
        f"beam{top}_batch{args.batch}_tokens_per_s": round(batch_row("single", top)["tokens_per_s"], 1),
        f"beam{top}_batch{args.batch}_ratio_vs_reference": round(batch_row("single", top)["ratio_vs_reference"], 2),
        f"beam{top}_batch{args.batch}_ratio_range": [round(x, 2) for x in batch_row("single", top)["ratio_range"]],
        f"ensemble{args.ensemble}_beam{top}_batch{args.batch}_ratio_vs_reference":
            round(batch_row(ens, top)["ratio_vs_reference"], 2),
        f"beam1_batch{args.batch}_ratio_vs_reference": round(batch_row("single", min(beams))["ratio_vs_reference"], 2),
        "identical_output": mismatches_total == 0,
        "differing_sentences": mismatches_total,
        "compared_sentences": sum(r.get("compared", 0) for r in rows),
    }
    if bf16_stats:
        single, ensemble = bf16_stats["single"], bf16_stats[ens]
        headline.update({
            f"bf16_beam{top}_batch{args.batch}_tokens_per_s": round(single["tokens_per_s"], 1),
            f"bf16_beam{top}_batch{args.batch}_speedup_vs_fp32": round(single["speedup_vs_fp32"], 2),
            f"bf16_beam{top}_batch{args.batch}_ratio_vs_reference": round(single["ratio_vs_reference"], 2),
            f"ensemble{args.ensemble}_bf16_beam{top}_batch{args.batch}_speedup_vs_fp32":
                round(ensemble["speedup_vs_fp32"], 2),
            "bf16_same_1best_as_fp32": f"{single['same_1best_as_fp32'] + ensemble['same_1best_as_fp32']}/"
                                       f"{single['compared_with_fp32'] + ensemble['compared_with_fp32']}",
            "bf16_max_abs_score_diff": round(max(single["max_abs_score_diff"], ensemble["max_abs_score_diff"]), 4),
        })
    else:
        headline["bf16"] = "skipped"
    headline.update({"rounds": args.rounds, "random_weights": True, "threads": torch.get_num_threads()})
    print(json.dumps(headline))


if __name__ == "__main__":
    main()
