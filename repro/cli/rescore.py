"""``repro rescore``: rerank an existing n-best list by mixing its scores with the model's log-probability."""

from __future__ import annotations

import argparse
import json

from repro.cli.common import DEVICE_KEYS, add_model_options, check_runs, decode_setup, write_lines
from repro.errors import DataError, ReproError

HELP = "rescore an n-best list (e.g. the baseline SMT's 1000-best) with a run or an ensemble; write the 1-best"


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("rescore", help=HELP, description=HELP + ". New score = WEIGHT * model log-prob + "
                              "(1 - WEIGHT) * list score (paper Table 2: the average, WEIGHT 0.5).")
    add_model_options(p, uses=DEVICE_KEYS)
    p.add_argument("--nbest", required=True, metavar="FILE",
                   help="n-best list in Moses format 'id ||| tokenized hypothesis ||| [features |||] score', 0-based ids")
    p.add_argument("--src", required=True, metavar="FILE", help="source sentences, line i = sentence id i")
    p.add_argument("--tokenized-input", action="store_true",
                   help="--src is already tokenized: split on whitespace instead of running the run's tokenizer")
    p.add_argument("--weight", type=float, default=0.5,
                   help="weight of the model's log-probability, in [0, 1] (default: 0.5, the paper's average)")
    p.add_argument("--output", required=True, metavar="FILE",
                   help="the chosen (tokenized) hypothesis per source line; written atomically")
    p.add_argument("--scores", metavar="FILE",
                   help="also write every entry with its model and combined score as JSON lines")
    return p


def run(args: argparse.Namespace) -> int:
    from repro.inference.nbest import read_nbest
    from repro.inference.rescore import rescore_nbest, sequence_log_probs
    from repro.inference.translate import Translator
    from repro.io import check_outputs, read_text_lines

    if not 0.0 <= args.weight <= 1.0:
        raise ReproError(f"--weight must be in [0, 1], got {args.weight}")
    check_outputs({"--output": args.output, "--scores": args.scores},
                  {"--nbest": args.nbest, "--src": args.src, "--config": args.config}, run_dirs=args.model)
    decode, device = decode_setup(args)
    check_runs(args.model)
    sources = read_text_lines(args.src, "--src")
    entries = read_nbest(args.nbest, "--nbest")
    if not entries:
        raise DataError("the n-best list is empty: there is nothing to rescore (--nbest)", args.nbest)
    for lineno, e in enumerate(entries, 1):
        if e.sent_id >= len(sources):
            raise DataError(f"sentence id {e.sent_id} but --src has only {len(sources)} lines", args.nbest, lineno)
    translator = Translator.from_runs(args.model, which=args.checkpoint, device=device)
    src_ids = translator.source_ids(sources, args.tokenized_input)
    for lineno, ids in enumerate(src_ids, 1):
        if not ids:
            raise DataError("empty source sentence (nothing to encode)", args.src, lineno)
    hyp_ids = [translator.tgt_vocab.encode(e.hypothesis.split()) for e in entries]
    lstm = sequence_log_probs(translator.decoder, [src_ids[e.sent_id] for e in entries], hyp_ids,
                              decode.batch_size, progress=not args.quiet, bf16=decode.bf16)
    chosen = rescore_nbest(entries, lstm, len(sources), args.weight)
    write_lines(args.output, [c.best.hypothesis if c.best else "" for c in chosen])
    if args.scores:
        write_lines(args.scores, [json.dumps({"id": e.sent_id, "hypothesis": e.hypothesis, "list_score": e.score,
                                              "model_score": s,
                                              "combined": args.weight * s + (1 - args.weight) * e.score})
                                  for e, s in zip(entries, lstm)])
    return 0
