"""``repro translate``: beam-search translation with one model or an ensemble, text in and text out."""

from __future__ import annotations

import argparse

from repro.cli.common import add_model_options, check_runs, decode_setup, write_lines
from repro.errors import ReproError
from repro.inference.config import BEAM_SIZE, MIN_LEN, SearchSettings
from repro.io import check_outputs, read_text_lines

HELP = "translate text with a trained run (or an ensemble of runs) by left-to-right beam search"


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("translate", help=HELP, description=HELP + ". Reads stdin and writes stdout by default. "
                              "A translation has at most floor(decode.max_len_a * source length + decode.max_len_b) "
                              "words; decode.length_norm ALPHA ranks finished hypotheses by score / (length+1)^ALPHA "
                              "(0 = off, as in the paper).")
    add_model_options(p, uses=("batch_size", "device", "max_len_a", "max_len_b", "length_norm", "bf16"))
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
    p.add_argument("--min-len", type=int, default=MIN_LEN, metavar="N",
                   help="<eos> may not follow fewer than N words: 0 = the paper's search, where the empty translation "
                        f"competes; 1 = fairseq's convention (default: {MIN_LEN})")
    return p


def run(args: argparse.Namespace) -> int:
    from repro.inference.nbest import format_nbest
    from repro.inference.translate import Translator

    # --nbest 0 (the default) is the 1-best text output, a search for one hypothesis
    search = SearchSettings(beam_size=args.beam, nbest=args.nbest or 1, min_len=args.min_len)
    if args.nbest and args.tokenized_copy:
        raise ReproError("--tokenized-copy writes 1-best translations; it cannot be combined with --nbest")
    check_outputs({"--output": args.output, "--tokenized-copy": args.tokenized_copy},
                  {"--input": args.input, "--config": args.config}, run_dirs=args.model)
    decode, device = decode_setup(args)
    check_runs(args.model)
    lines = read_text_lines(args.input)
    translator = Translator.from_runs(args.model, which=args.checkpoint, device=device)
    progress = not args.quiet
    if args.nbest:
        nbest = translator.translate_nbest(lines, decode, search, args.tokenized_input, tokenized_output=True,
                                           progress=progress)
        write_lines(args.output, format_nbest(nbest))
    else:
        tokenized = translator.translate(lines, decode, search, args.tokenized_input, tokenized_output=True,
                                         progress=progress)
        if args.tokenized_copy:
            write_lines(args.tokenized_copy, tokenized)
        detok = translator.tgt_tokenizer.detokenize
        write_lines(args.output, tokenized if args.tokenized_output else [detok(t.split()) for t in tokenized])
    return 0
