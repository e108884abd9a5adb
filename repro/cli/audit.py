"""`repro audit`: continue a finished run at its final learning rate and report the further gain."""

from __future__ import annotations

import argparse

from repro.train.audit_result import DEFAULT_EVALS


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "audit",
        help="convergence audit: continue a finished run at its final rate and measure what it still gains",
        description="Continue the finished run RUN_DIR from its last checkpoint for --evals more validations at "
        "the learning rate it last trained at, in OUT_DIR (RUN_DIR is only read), and write OUT_DIR/audit.json: "
        "the validation perplexity of each further evaluation and the further gain, the relative drop of the "
        "run's best validation perplexity. A converged run gains (almost) nothing. An interrupted audit resumes.",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a finished run directory of `repro train`")
    parser.add_argument("--out", required=True, metavar="OUT_DIR", help="the audit's own directory")
    parser.add_argument("--evals", type=int, default=DEFAULT_EVALS,
                        help=f"further validations, at the run's train.eval_every_epochs (default {DEFAULT_EVALS})")
    parser.add_argument("--data", metavar="DATA_DIR",
                        help="the prepared data directory (default: the one recorded in RUN_DIR/run.json)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    return parser


def run(args: argparse.Namespace) -> int:
    import sys

    from repro.train.audit import audit_run

    result = audit_run(args.run_dir, args.out, evals=args.evals, data_dir=args.data, progress=not args.quiet)
    print(f"{args.run_dir}: stopped ({result.stop_reason}) at epoch {result.stopped_epoch:.2f} with best valid ppl "
          f"{result.best_valid_ppl:.4f}; {len(result.valid_ppls)} more evaluations at lr {result.final_lr:g} reach "
          f"{min(result.valid_ppls):.4f}: further gain {100 * result.further_gain:.2f}%", file=sys.stderr)
    return 0
