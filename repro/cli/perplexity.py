"""``repro perplexity``: a trained run's perplexity on a split of its prepared data, as JSON."""

from __future__ import annotations

import argparse

from repro.cli.common import add_run_options, check_runs, decode_setup, emit_json

HELP = "a trained run's perplexity on a split (per target token, <eos> included), as the reversal result reports it"


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("perplexity", help=HELP, description=HELP + ". Prints one JSON object (ppl, nll, "
                              "nll_sum, tokens, sentences, split, checkpoint, bf16).")
    add_run_options(p, "(how the model runs)")
    p.add_argument("--data", required=True, metavar="DATA_DIR", help="prepared data directory holding the split")
    p.add_argument("--split", default="test", choices=("train", "valid", "test"), help="default: test")
    p.add_argument("--output", metavar="FILE", help="also write the JSON to FILE (atomically)")
    p.add_argument("--fingerprint", help="stamp the JSON with this digest of the settings behind it, making it a "
                   "record (repro.records: the workflow's perplexities)")
    return p


def run(args: argparse.Namespace) -> int:
    from repro.device import Precision
    from repro.evaluation.perplexity import run_perplexity
    from repro.io import check_outputs

    check_outputs({"--output": args.output}, {"--config": args.config}, run_dirs=[args.model])
    check_runs([args.model])
    decode, device = decode_setup(args)
    result = run_perplexity(args.model, args.data, args.split, args.checkpoint, decode.batch_size,
                            Precision(device, decode.bf16))
    emit_json(result, args.output, args.fingerprint)
    return 0
