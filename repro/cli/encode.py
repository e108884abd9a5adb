"""``repro encode``: the encoder's final state (the context vector) of given sentences, for Figure 2."""

from __future__ import annotations

import argparse

from repro.cli.common import add_quiet_option, add_run_options, check_runs, decode_setup
from repro.errors import DataError, ReproError

HELP = "write the encoder's final state of every layer for each input sentence (.npy or .tsv)"


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("encode", help=HELP, description=HELP + ". Row i is line i; columns are "
                              "model.context_vector: every layer's h, then (LSTM) every layer's c.")
    add_run_options(p)
    p.add_argument("--input", metavar="FILE", help="sentences, one per line (default: stdin)")
    p.add_argument("--tokenized-input", action="store_true",
                   help="input is already tokenized: split on whitespace instead of running the run's tokenizer")
    p.add_argument("--output", required=True, metavar="FILE.npy|FILE.tsv",
                   help="float32 [sentences, dims] .npy, or a .tsv with one tab-separated row per sentence")
    add_quiet_option(p)
    return p


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from repro.inference.encode import encode_sentences
    from repro.inference.translate import Translator
    from repro.io import atomic_save, atomic_write, check_outputs, read_text_lines

    if not args.output.endswith((".npy", ".tsv")):
        raise ReproError(f"--output {args.output}: must end in .npy or .tsv")
    check_outputs({"--output": args.output}, {"--input": args.input, "--config": args.config}, run_dirs=[args.model])
    decode, device = decode_setup(args)
    check_runs([args.model])
    lines = read_text_lines(args.input)
    translator = Translator.from_runs([args.model], which=args.checkpoint, device=device)
    ids = translator.source_ids(lines, args.tokenized_input)
    for lineno, sentence in enumerate(ids, 1):
        if not sentence:
            raise DataError("empty sentence (nothing to encode)", args.input or "<stdin>", lineno)
    vectors = encode_sentences(translator.decoder, ids, decode.batch_size, progress=not args.quiet, bf16=decode.bf16)
    if args.output.endswith(".npy"):
        def save(tmp: str) -> None:
            with open(tmp, "wb") as handle:
                np.save(handle, vectors)

        atomic_save(save, args.output)
    else:
        with atomic_write(args.output, encoding="utf-8", newline="\n") as handle:
            for row in vectors:
                handle.write("\t".join(repr(float(x)) for x in row) + "\n")
    return 0
