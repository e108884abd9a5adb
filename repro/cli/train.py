"""`repro train`: train a model on a prepared data directory (resumes when RUN_DIR has a checkpoint)."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "train",
        help="train an encoder-decoder (the paper's recipe by default); resumes an interrupted run",
        description="Train on DATA_DIR (from `repro prepare`) into RUN_DIR. If RUN_DIR/checkpoints/last.pt "
        "exists the run resumes exactly where it stopped. RUN_DIR must be new, empty or a run directory; one "
        "process at a time trains in it (RUN_DIR/run.lock). SIGTERM or SIGUSR1 (a cluster's time limit) saves "
        "a checkpoint after the current step and exits with 128 + the signal's number. Multi-GPU: torchrun --nproc_per_node N -m repro.cli "
        "train ... (WORLD_SIZE/RANK/LOCAL_RANK are read from the environment).",
    )
    parser.add_argument("--data", required=True, metavar="DATA_DIR", help="prepared data directory (repro prepare --out)")
    parser.add_argument("--out", required=True, metavar="RUN_DIR",
                        help="run directory: run.json, log.jsonl, checkpoints/{last,best}.pt, data/")
    parser.add_argument("--overwrite", action="store_true",
                        help="RUN_DIR holds a finished run that cannot be resumed (no checkpoints/last.pt): "
                        "delete it and train afresh (without this, such a run is never replaced)")
    parser.add_argument("--config", metavar="FILE.yaml",
                        help="experiment config; its 'model:' and 'train:' sections are read (others ignored)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set train.lr=0.5 --set model.hidden_size=256 "
                        "(repeatable; values are YAML scalars)")
    return parser


def run(args: argparse.Namespace) -> int:
    import sys

    from repro.config import load_config
    from repro.train.config import TrainConfig
    from repro.train.run_info import Status
    from repro.train.trainer import train

    config = load_config(args.config, args.overrides, reads=("model", "train"))
    train_config = TrainConfig.from_dict(config.get("train"))
    info = train(args.data, args.out, config.get("model"), train_config, overwrite=args.overwrite)
    print(f"{args.out}: {info.status} at step {info.step} (epoch {info.epoch:.3f}), "
          f"best valid ppl {info.best_valid_ppl}, {info.tokens_per_s} target tokens/s", file=sys.stderr)
    return 0 if info.status == Status.DONE else 1
