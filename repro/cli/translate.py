"""``repro translate``: beam-search translation with one model or an ensemble, text in and text out."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from repro.errors import DataError, ReproError
from repro.inference.config import DEVICES, DecodeConfig
from repro.io import read_text_lines

# the decode: section's defaults are the command's (repro.inference.config holds them once)
DEFAULTS = DecodeConfig()

HELP = "translate text with a trained run (or an ensemble of runs) by left-to-right beam search"


# ----------------------------------------------------------------------------------- shared helpers
def check_runs(paths: Sequence[str]) -> None:
    """Fail with the option's name when a ``--model`` is not a directory (before loading anything)."""
    for path in paths:
        if Path(path).is_dir():
            continue
        if Path(path).exists():
            raise DataError("is a file, expected a run directory written by `repro train` (--model)", path)
        raise DataError("run directory not found (--model)", path)


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


def add_model_options(parser: argparse.ArgumentParser, ensemble: bool = True) -> None:
    parser.add_argument("--model", action="append", required=True, metavar="RUN_DIR",
                        help="run directory written by `repro train`" +
                             ("; repeat for an ensemble (per-step log-probabilities averaged)" if ensemble else ""))
    parser.add_argument("--checkpoint", choices=("best", "last"), default="best",
                        help="which checkpoint of each run: best validation perplexity (default) or last")
    parser.add_argument("--device", default=DEFAULTS.device, choices=DEVICES,
                        help=f"where to run: auto = CUDA when available, else CPU (default: {DEFAULTS.device})")
    parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size, metavar="N",
                        help=f"sentences per batch (default: {DEFAULTS.batch_size})")
    parser.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    add_bf16_option(parser)


BF16_HELP = ("run the model under bfloat16 autocast (matrix products in bf16: several times faster where the "
             "CPU has AMX/AVX512-BF16 or the GPU supports bf16); log-softmax and scores stay fp32. Where bf16 "
             "is not supported natively, a notice is printed and the model runs in fp32")


def add_bf16_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bf16", action="store_true", help=BF16_HELP)


def resolve(device: str):
    from repro.device import resolve_device

    return resolve_device(device, setting="--device")


def use_bf16(requested: bool, device) -> bool:
    """Whether ``--bf16`` takes effect on ``device``: fp32 where bf16 is not supported (check_bf16 says why)."""
    if not requested:
        return False
    from repro.device import check_bf16

    return check_bf16(device, "--bf16")  # False, with a one-line notice, where bf16 is not supported


# ----------------------------------------------------------------------------------- command
def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("translate", help=HELP, description=HELP + ". Reads stdin and writes stdout by default.")
    add_model_options(p)
    p.add_argument("--beam", type=int, default=12, metavar="K", help="beam size (default: 12, the paper's best)")
    p.add_argument("--input", metavar="FILE", help="source sentences, one per line (default: stdin)")
    p.add_argument("--output", metavar="FILE", help="translations, one per line (default: stdout); written atomically")
    p.add_argument("--nbest", type=int, default=0, metavar="N",
                   help="write the N best hypotheses per sentence in Moses format 'id ||| hypothesis ||| score' "
                        "(0-based ids, tokenized hypotheses, N <= beam); default: 1-best text")
    p.add_argument("--tokenized-input", action="store_true",
                   help="input is already tokenized: split on whitespace instead of running the run's tokenizer")
    p.add_argument("--tokenized-output", action="store_true",
                   help="write tokenized translations (for the paper's multi-bleu BLEU) instead of detokenized text")
    p.add_argument("--tokenized-copy", metavar="FILE",
                   help="also write the tokenized 1-best translations to FILE (one decode for both BLEU flavours)")
    p.add_argument("--max-len-a", type=float, default=DEFAULTS.max_len_a, metavar="A",
                   help=f"maximum translation length is A * source length + B words (default A: {DEFAULTS.max_len_a})")
    p.add_argument("--max-len-b", type=float, default=DEFAULTS.max_len_b, metavar="B",
                   help=f"see --max-len-a (default B: {DEFAULTS.max_len_b:g})")
    p.add_argument("--length-norm", type=float, default=DEFAULTS.length_norm, metavar="ALPHA",
                   help="rank finished hypotheses by score / (length+1)^ALPHA; 0 = off, as in the paper "
                        f"(default: {DEFAULTS.length_norm:g})")
    return p


def run(args: argparse.Namespace) -> int:
    from repro.inference.nbest import format_nbest
    from repro.inference.translate import DecodeOptions, Translator

    if args.beam < 1:
        raise ReproError(f"--beam must be at least 1, got {args.beam}")
    if args.nbest < 0 or args.nbest > args.beam:
        raise ReproError(f"--nbest must be between 1 and the beam size ({args.beam}), got {args.nbest}")
    if args.nbest and args.tokenized_copy:
        raise ReproError("--tokenized-copy writes 1-best translations; it cannot be combined with --nbest")
    if args.batch_size < 1:
        raise ReproError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.length_norm < 0:
        raise ReproError(f"--length-norm must be >= 0, got {args.length_norm}")
    check_runs(args.model)
    lines = read_text_lines(args.input)
    device = resolve(args.device)
    translator = Translator.from_runs(args.model, which=args.checkpoint, device=device)
    options = DecodeOptions(args.beam, max(args.nbest, 1), args.max_len_a, args.max_len_b, args.length_norm,
                            args.batch_size, bf16=use_bf16(args.bf16, device))
    progress = not args.quiet
    if args.nbest:
        nbest = translator.translate_nbest(lines, options, args.tokenized_input, tokenized_output=True,
                                           progress=progress)
        write_lines(args.output, format_nbest(nbest))
    else:
        tokenized = translator.translate(lines, options, args.tokenized_input, tokenized_output=True,
                                         progress=progress)
        if args.tokenized_copy:
            write_lines(args.tokenized_copy, tokenized)
        detok = translator.tgt_tokenizer.detokenize
        write_lines(args.output, tokenized if args.tokenized_output else [detok(t.split()) for t in tokenized])
    return 0
