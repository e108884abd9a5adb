"""`repro estimate`: what an experiment config costs on this device, measured before it runs."""

from __future__ import annotations

import argparse
import re

from repro.cli.common import add_quiet_option
from repro.config import DEVICES
from repro.errors import ConfigError
from repro.estimate import DEFAULT_STEPS

_UNITS = {"": 1, "B": 1, "K": 1000, "KB": 1000, "KIB": 2**10, "M": 1000**2, "MB": 1000**2, "MIB": 2**20,
          "G": 1000**3, "GB": 1000**3, "GIB": 2**30, "T": 1000**4, "TB": 1000**4, "TIB": 2**40}


def memory_size(text: str) -> int:
    """``512MiB``, ``16GB``, ``2.5GiB`` or a number of bytes."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", text)
    if not match or match.group(2).upper() not in _UNITS:
        raise argparse.ArgumentTypeError(f"not a memory size: {text!r} (e.g. 512MiB, 16GB, 80GiB)")
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "estimate",
        help="measure what an experiment config costs on this device (time, memory, readiness) before running it",
        description="Build each distinct model of the config's experiment plan, time training steps, a "
        "validation pass, a checkpoint and beam search on batches shaped like the config's data, and project "
        "the time per epoch, per run, for decoding and for the whole experiment (one job at a time and with "
        "the workflow's parallelism). Checks the device: CUDA, bf16, NCCL when resources.train_gpus > 1, and "
        "whether each model fits in memory. Exit status 1 when the device is not ready for the config.",
    )
    parser.add_argument("--config", action="append", required=True, metavar="FILE.yaml",
                        help="experiment config (workflows/config/<name>.yaml); repeat to deep-merge override "
                        "files in order, as Snakemake does with several --configfile")
    parser.add_argument("--device", choices=DEVICES, default=None,
                        help="where to measure: auto = CUDA when available, else CPU (default: the config's "
                        "train.device)")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, metavar="N",
                        help=f"timed training steps per model (default: {DEFAULT_STEPS}); more steps, a closer "
                        "projection")
    parser.add_argument("--data", metavar="DATA_DIR",
                        help="prepared data directory whose stats.json gives the lengths (default: "
                        "work/<experiment>/data when prepared; otherwise the config's data source)")
    parser.add_argument("--cores", type=int, metavar="N",
                        help="CPU cores the workflow may use (snakemake --cores; default: this machine's)")
    parser.add_argument("--gpus", type=int, metavar="N", help="GPUs the workflow may use (default: this machine's)")
    parser.add_argument("--memory-budget", type=memory_size, metavar="SIZE",
                        help="memory one job may use, e.g. 16GiB (default: the device's free memory)")
    parser.add_argument("--json", metavar="FILE.json", help="also write the estimate as JSON (atomically)")
    parser.add_argument("--no-startup-timing", dest="startup", action="store_false",
                        help="count no job start-up time instead of timing a new process that imports the suite")
    add_quiet_option(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    import json

    from repro.cli.common import write_lines
    from repro.config import load_config
    from repro.estimate.render import render
    from repro.estimate.run import EstimateOptions, estimate
    from repro.io import check_outputs

    check_outputs({"--json": args.json}, {f"--config {path}": path for path in args.config})
    if args.steps < 1:
        raise ConfigError(f"--steps must be >= 1, got {args.steps}")
    for name in ("cores", "gpus"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise ConfigError(f"--{name} must be >= 1, got {getattr(args, name)}")
    config: dict = {}
    for path in args.config:
        deep_merge(config, load_config(path))
    if "experiment" not in config:
        raise ConfigError(f"{args.config[0]}: no 'experiment' name (the workflow's work/<experiment> directory)")
    options = EstimateOptions(device=args.device, steps=args.steps, data_dir=args.data, cores=args.cores,
                              gpus=args.gpus, memory_budget_bytes=args.memory_budget, startup=args.startup,
                              progress=not args.quiet)
    result = estimate(config, options)
    result["config"]["files"] = list(args.config)
    if args.json:
        write_lines(args.json, [json.dumps(result, indent=2)])
    print(render(result), end="")
    return 0 if result["readiness"]["ready"] else 1


def deep_merge(base: dict, override: dict) -> dict:
    """Merge ``override`` into ``base`` in place: mappings key by key, anything else replaced."""
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            deep_merge(base[key], value)
        else:
            base[key] = value
    return base
