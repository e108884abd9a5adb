"""What several commands share: the model options, the decode settings and their device, run checks, output.

Command modules import these from here and never from one another, so that each command stays a leaf.
Heavy imports (torch, through ``repro.device``) happen inside the functions, for a fast ``repro --help``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from repro.errors import DataError
from repro.inference.config import DecodeConfig
from repro.train.run_dir import is_run_dir

if TYPE_CHECKING:
    import torch


# The decode: keys of a command that runs a model without searching (perplexity, rescore, encode).
DEVICE_KEYS = ("batch_size", "device", "bf16")


# ----------------------------------------------------------------------------------- options
def add_checkpoint_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--checkpoint", choices=("best", "last"), default="best", help=help_text)


def add_quiet_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress bar on stderr")


def add_decode_config_options(parser: argparse.ArgumentParser, uses: Sequence[str], purpose: str = "") -> None:
    """``--config FILE`` (its ``decode:`` section) and ``--set decode.KEY=VALUE``: the decode settings are
    given the way `repro train` is given its own, so that a workflow step passes its step config as is.
    ``uses`` names the ``decode:`` keys the command reads and ``purpose`` what for, for the help."""
    defaults = DecodeConfig().to_dict()
    shown = ", ".join(f"{key}={str(defaults[key]).lower()}" for key in uses)  # YAML's spelling of booleans
    keys = ", ".join(f"decode.{key}" for key in uses)
    parser.add_argument("--config", metavar="FILE.yaml",
                        help=f"experiment config; its 'decode:' section is read (other sections ignored): "
                             f"{keys}{' ' + purpose if purpose else ''}")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a decode: value, e.g. --set decode.batch_size=32 --set decode.device=cpu "
                             f"(repeatable; values are YAML scalars). Defaults: {shown}; device auto = CUDA when "
                             "available, else CPU" + ("; bf16 = bfloat16 autocast (log-softmax and scores stay "
                                                      "fp32), fp32 with a notice where bfloat16 is not supported "
                                                      "natively" if "bf16" in uses else ""))


def add_model_options(parser: argparse.ArgumentParser, uses: Sequence[str], ensemble: bool = True) -> None:
    """The options of a command that runs one or more trained runs (``translate``, ``rescore``)."""
    parser.add_argument("--model", action="append", required=True, metavar="RUN_DIR",
                        help="run directory written by `repro train`" +
                             ("; repeat for an ensemble (per-step log-probabilities averaged)" if ensemble else ""))
    add_checkpoint_option(parser, "which checkpoint of each run: best validation perplexity (default) or last")
    add_decode_config_options(parser, uses)
    add_quiet_option(parser)


def add_run_options(parser: argparse.ArgumentParser, purpose: str = "") -> None:
    """The options of a command that runs one trained run without searching (``encode``, ``perplexity``)."""
    parser.add_argument("--model", required=True, metavar="RUN_DIR", help="run directory written by `repro train`")
    add_checkpoint_option(parser, "which checkpoint: best validation perplexity (default) or last")
    add_decode_config_options(parser, DEVICE_KEYS, purpose)


# ----------------------------------------------------------------------------------- checks and devices
def check_runs(paths: Sequence[str]) -> None:
    """Fail with the option's name when a ``--model`` is not a directory (before loading anything)."""
    for path in paths:
        if Path(path).is_dir():
            if is_run_dir(Path(path)):
                continue
            raise DataError("not a run directory (no run.json, no checkpoints/); give a directory written by "
                            "`repro train` (--model)", path)
        if Path(path).exists():
            raise DataError("is a file, expected a run directory written by `repro train` (--model)", path)
        raise DataError("run directory not found (--model)", path)


def decode_setup(args: argparse.Namespace) -> tuple[DecodeConfig, torch.device]:
    """The ``decode:`` settings of ``--config`` and ``--set`` (checked once, by :class:`DecodeConfig`) and the
    device ``decode.device`` names; errors name the key (``decode.device``, ``decode.length_norm``, ...).

    The returned ``bf16`` is what takes effect on that device: false, with a notice naming ``decode.bf16``,
    where bf16 is not supported natively (the numbers are the same, only slower).
    """
    from repro.config import load_config
    from repro.device import check_bf16, resolve_device

    config = load_config(args.config, args.overrides, reads=("decode",))
    decode = DecodeConfig.from_dict(config.get("decode"))
    device = resolve_device(decode.device, setting="decode.device")
    if decode.bf16:
        decode = replace(decode, bf16=check_bf16(device, "decode.bf16"))
    return decode, device


# ----------------------------------------------------------------------------------- output
def emit_json(result: dict[str, Any], output: str | None, fingerprint: str | None) -> None:
    """Print ``result`` as JSON and, with ``output``, write it there atomically; a ``fingerprint`` (the digest
    of the settings behind it) makes it a record (``repro.records``)."""
    from repro.io import atomic_write

    if fingerprint:
        result = {**result, "fingerprint": fingerprint}
    text = json.dumps(result, indent=2, sort_keys=True)
    print(text)
    if output:
        with atomic_write(output, encoding="utf-8") as handle:
            handle.write(text + "\n")


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
