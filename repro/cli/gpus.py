"""`repro gpus N -- COMMAND ...`: run COMMAND on N GPUs of this machine that no other such job holds."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "gpus",
        help="run a command on GPUs of its own (sets CUDA_VISIBLE_DEVICES for jobs that share a machine)",
        description="Run COMMAND with CUDA_VISIBLE_DEVICES set to COUNT GPUs of this machine that no other "
        "`repro gpus` command holds (a lock file per GPU, held until COMMAND and its children end). The "
        "workflow runs its GPU jobs through it, so that `snakemake --resources gpu=4` puts four one-GPU jobs "
        "on four different GPUs. Where CUDA_VISIBLE_DEVICES is already set (SLURM sets it), where COUNT is 0 "
        "or the machine has no NVIDIA GPU, COMMAND runs unchanged.",
    )
    parser.add_argument("count", type=int, metavar="COUNT", help="GPUs the command needs")
    parser.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND ...",
                        help="the command and its arguments, after --")
    return parser


def run(args: argparse.Namespace) -> int:
    from repro.gpus import run_on_gpus

    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    run_on_gpus(args.count, command)
