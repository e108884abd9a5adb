"""What several commands share: the model options, device and bf16 choice, run checks, writing output lines.

Command modules import these from here and never from one another, so that each command stays a leaf.
Heavy imports (torch, through ``repro.device``) happen inside the functions, for a fast ``repro --help``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from repro.errors import DataError
from repro.config import DEVICES
from repro.inference.config import DecodeConfig

if TYPE_CHECKING:
    import torch

# the decode: section's defaults are the commands' too (repro.inference.config holds them once)
DEFAULTS = DecodeConfig()

BF16_HELP = ("run the model under bfloat16 autocast (matrix products in bf16: several times faster where the "
             "CPU has AMX/AVX512-BF16 or the GPU supports bf16); log-softmax and scores stay fp32. Where bf16 "
             "is not supported natively, a notice is printed and the model runs in fp32")


# ----------------------------------------------------------------------------------- options
def add_checkpoint_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--checkpoint", choices=("best", "last"), default="best", help=help_text)


def add_device_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    """``--device``, defaulting to ``decode.device``; ``help_text`` should state the default (``DEFAULTS.device``)."""
    parser.add_argument("--device", default=DEFAULTS.device, choices=DEVICES, help=help_text)


def add_batch_size_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    """``--batch-size``, defaulting to ``decode.batch_size``; ``help_text`` should state the default."""
    parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size, metavar="N", help=help_text)


def add_quiet_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress bar on stderr")


def add_bf16_option(parser: argparse.ArgumentParser, help_text: str = BF16_HELP) -> None:
    parser.add_argument("--bf16", action="store_true", help=help_text)


def add_model_options(parser: argparse.ArgumentParser, ensemble: bool = True) -> None:
    """The options of a command that runs one or more trained runs (``translate``, ``rescore``)."""
    parser.add_argument("--model", action="append", required=True, metavar="RUN_DIR",
                        help="run directory written by `repro train`" +
                             ("; repeat for an ensemble (per-step log-probabilities averaged)" if ensemble else ""))
    add_checkpoint_option(parser, "which checkpoint of each run: best validation perplexity (default) or last")
    add_device_option(parser, f"where to run: auto = CUDA when available, else CPU (default: {DEFAULTS.device})")
    add_batch_size_option(parser, f"sentences per batch (default: {DEFAULTS.batch_size})")
    add_quiet_option(parser)
    add_bf16_option(parser)


# ----------------------------------------------------------------------------------- checks and devices
def check_runs(paths: Sequence[str]) -> None:
    """Fail with the option's name when a ``--model`` is not a directory (before loading anything)."""
    for path in paths:
        if Path(path).is_dir():
            continue
        if Path(path).exists():
            raise DataError("is a file, expected a run directory written by `repro train` (--model)", path)
        raise DataError("run directory not found (--model)", path)


def resolve(device: str) -> torch.device:
    """The device ``--device`` names (``auto``: CUDA when available); errors name ``--device``."""
    from repro.device import resolve_device

    return resolve_device(device, setting="--device")


def use_bf16(requested: bool, device: torch.device) -> bool:
    """Whether ``--bf16`` takes effect on ``device``: fp32 where bf16 is not supported (check_bf16 says why)."""
    if not requested:
        return False
    from repro.device import check_bf16

    return check_bf16(device, "--bf16")  # False, with a one-line notice, where bf16 is not supported


# ----------------------------------------------------------------------------------- output
def write_lines(path: str | None, lines: Sequence[str]) -> None:
    """Write lines atomically to ``path`` (nothing half-written), or to stdout."""
    from repro.io import atomic_write

    text = "".join(line + "\n" for line in lines)
    if path in (None, "-"):
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    with atomic_write(path, encoding="utf-8", newline="\n") as handle:
        handle.write(text)
