"""``repro translate``: beam-search translation with one model or an ensemble, text in and text out."""

from __future__ import annotations

import argparse

from repro.cli.common import DEFAULTS, add_model_options, check_runs, resolve, use_bf16, write_lines
from repro.errors import ReproError
from repro.inference.config import BEAM_SIZE, MIN_LEN
from repro.io import read_text_lines

HELP = "translate text with a trained run (or an ensemble of runs) by left-to-right beam search"


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("translate", help=HELP, description=HELP + ". Reads stdin and writes stdout by default.")
    add_model_options(p)
    p.add_argument("--beam", type=int, default=BEAM_SIZE, metavar="K",
                   help=f"beam size (default: {BEAM_SIZE}, the paper's best)")
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
    p.add_argument("--min-len", type=int, default=MIN_LEN, metavar="N",
                   help="<eos> may not follow fewer than N words: 0 = the paper's search, where the empty translation "
                        f"competes; 1 = fairseq's convention (default: {MIN_LEN})")
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
    if args.min_len < 0:
        raise ReproError(f"--min-len must be >= 0, got {args.min_len}")
    check_runs(args.model)
    lines = read_text_lines(args.input)
    device = resolve(args.device)
    translator = Translator.from_runs(args.model, which=args.checkpoint, device=device)
    options = DecodeOptions(beam_size=args.beam, nbest=max(args.nbest, 1), max_len_a=args.max_len_a,
                            max_len_b=args.max_len_b, length_norm=args.length_norm, min_len=args.min_len,
                            batch_size=args.batch_size,
                            bf16=use_bf16(args.bf16, device))
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
