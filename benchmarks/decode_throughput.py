"""Decoding throughput: batched beam search vs a one-sentence-at-a-time reference, in the same run.

Measures sentences/s and generated tokens/s of ``repro.inference.beam_search`` at beam 1, 2 and 12,
batch 1 and batch 64, for one model and an ensemble of five, and of a straightforward
one-sentence-at-a-time beam search written below (same search rules; the beam of one sentence is one
decoder batch of K rows). Every configuration's output is checked against the reference: identical
tokens, scores within 1e-4.

Model: the paper's architecture scaled down (4 layers x 256 LSTM cells, 256-d embeddings, 10k-word
vocabularies) with **random weights** (uniform +-0.08, the paper's init), seeded. A random model seldom
prefers <eos>, so hypotheses run to the maximum length; it is set to the source length
(``max_len_a=1, max_len_b=0``) so that target lengths are realistic. Sources: the first sentences of
newstest2014 (the paper's test set), Moses-tokenized, when ../shared/data is present; otherwise
lengths drawn from a similar distribution (said in the output).

    python benchmarks/decode_throughput.py --threads 1   # ~2 minutes on one CPU core
    python benchmarks/decode_throughput.py --quick    # a smoke run
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import platform
import random
import time
from pathlib import Path

import torch

from repro.inference.beam_search import beam_search, max_lengths
from repro.inference.ensemble import Ensemble
from repro.models.seq2seq import ModelConfig, Seq2Seq

NEWSTEST = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "newstest2014-fren"


# ----------------------------------------------------------------------------------- reference
@torch.inference_mode()
def reference_beam_search(model, src: list[int], beam_size: int, max_len: int) -> tuple[list[int], float]:
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

        opener = gzip.open if not path.exists() else open
        with opener(path if path.exists() else Path(str(path) + ".gz"), "rt", encoding="utf-8") as handle:
            lines = [line.strip() for _, line in zip(range(n), handle)]
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


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


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
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (default: torch's choice); on a shared, busy machine use 1, since "
                             "OpenMP threads competing for cores slow small and large ops very unequally")
    parser.add_argument("--quick", action="store_true", help="smoke run: 16 sentences, 4 slow ones, ensemble of 2")
    args = parser.parse_args()
    if args.quick:
        args.sentences, args.slow_sentences, args.ensemble, args.batch = 16, 4, 2, 16

    if args.threads:
        torch.set_num_threads(args.threads)
    sources, where = load_sources(args.sentences, args.vocab, args.seed)
    step = max(1, len(sources) // args.slow_sentences)
    slow_ids = list(range(0, len(sources), step))[: args.slow_sentences]
    models = [make_model(args.seed + i, args.layers, args.hidden, args.vocab) for i in range(args.ensemble)]
    decoders = {"single": models[0], f"ensemble{args.ensemble}": Ensemble(models)}
    beams = [int(b) for b in args.beams.split(",")]
    max_len_a, max_len_b = 1.0, 0.0
    limits = max_lengths([len(s) for s in sources], max_len_a, max_len_b)

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
    print()
    header = f"{'decoder':<10} {'beam':>4} {'impl':<22} {'sent':>5} {'sent/s':>8} {'tok/s':>9} {'vs ref':>7} {'same':>5}"
    print(header)
    print("-" * len(header))

    rows = []
    mismatches_total = 0
    for name, decoder in decoders.items():
        for beam in beams:
            # The reference: one sentence at a time.
            ref_out, ref_time = timed(lambda: [reference_beam_search(decoder, sources[i], beam, limits[i])
                                               for i in slow_ids])
            ref_tokens = sum(len(t) + 1 for t, _ in ref_out)
            ref_rate = len(slow_ids) / ref_time
            configs = [("repro batch 1", 1, slow_ids), (f"repro batch {args.batch}", args.batch, list(range(len(sources))))]
            print(f"{name:<10} {beam:>4} {'reference (1 at a time)':<22} {len(slow_ids):>5} {ref_rate:>8.2f} "
                  f"{ref_tokens / ref_time:>9.1f} {1.0:>7.2f} {'-':>5}")
            rows.append({"decoder": name, "beam": beam, "impl": "reference", "sentences_per_s": ref_rate,
                         "tokens_per_s": ref_tokens / ref_time})
            for label, batch, ids in configs:
                def run():
                    out = []
                    for k in range(0, len(ids), batch):
                        chunk = ids[k : k + batch]
                        out += beam_search(decoder, [sources[i] for i in chunk], beam, 1, max_len_a, max_len_b)
                    return out

                hyps, elapsed = timed(run)
                tokens = sum(len(h[0].tokens) + 1 for h in hyps)
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
                rate = len(ids) / elapsed
                print(f"{name:<10} {beam:>4} {label:<22} {len(ids):>5} {rate:>8.2f} {tokens / elapsed:>9.1f} "
                      f"{rate / ref_rate:>7.2f} {'yes' if mismatches == 0 else f'{mismatches} no':>5}")
                rows.append({"decoder": name, "beam": beam, "impl": label, "batch": batch, "sentences_per_s": rate,
                             "tokens_per_s": tokens / elapsed, "ratio_vs_reference": rate / ref_rate,
                             "mismatches": mismatches, "compared": len(slow_ids)})

    def ratio(decoder, beam):
        return next(r["ratio_vs_reference"] for r in rows
                    if r["decoder"] == decoder and r["beam"] == beam and r.get("batch") == args.batch)

    def tok_s(decoder, beam):
        return next(r["tokens_per_s"] for r in rows
                    if r["decoder"] == decoder and r["beam"] == beam and r.get("batch") == args.batch)

    top = max(beams)
    ens = f"ensemble{args.ensemble}"
    print()
    print(f"load average {os.getloadavg()[0]:.2f} at end")
    print(f"batched beam {top} vs one-at-a-time reference: single {ratio('single', top):.1f}x, "
          f"{ens} {ratio(ens, top):.1f}x (goal >= 10x); outputs identical: {mismatches_total == 0}")
    print(json.dumps({
        f"beam{top}_batch{args.batch}_tokens_per_s": round(tok_s("single", top), 1),
        f"beam{top}_batch{args.batch}_ratio_vs_reference": round(ratio("single", top), 2),
        f"ensemble{args.ensemble}_beam{top}_batch{args.batch}_ratio_vs_reference": round(ratio(ens, top), 2),
        f"beam1_batch{args.batch}_ratio_vs_reference": round(ratio("single", min(beams)), 2),
        "identical_output": mismatches_total == 0,
        "differing_sentences": mismatches_total,
        "compared_sentences": sum(r.get("compared", 0) for r in rows),
        "random_weights": True,
        "threads": torch.get_num_threads(),
    }))


if __name__ == "__main__":
    main()
