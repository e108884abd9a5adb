"""``repro prepare``: tokenize, clean, build vocabularies and integer-encode a corpus into DATA_DIR."""

from __future__ import annotations

import argparse

from repro.data.sources import SOURCES

# command-line flag -> key of the data: section (top level) or of data.local
_TOP_LEVEL = {
    "source": "source", "src_lang": "src_lang", "tgt_lang": "tgt_lang", "tokenizer": "tokenizer",
    "src_vocab_size": "src_vocab_size", "tgt_vocab_size": "tgt_vocab_size", "max_len": "max_len",
    "max_len_ratio": "max_len_ratio", "workers": "workers", "seed": "seed", "chunk_size": "chunk_size",
    "spm_vocab_size": "spm_vocab_size",
}
_LOCAL = {
    "train_src": "train_src", "train_tgt": "train_tgt", "valid_src": "valid_src", "valid_tgt": "valid_tgt",
    "test_src": "test_src", "test_tgt": "test_tgt", "format": "format", "valid_size": "valid_size",
    "test_size": "test_size",
}


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "prepare",
        help="prepare a parallel corpus (tokenize, clean, vocabularies, integer-encoded splits)",
        description="Prepare DATA_DIR from the data: section of an experiment config, or from your own files "
        "with --source local. Flags override the config; --set data.KEY=VALUE sets any other key "
        "(e.g. --set data.synthetic.train_size=2000, --set data.wmt14.max_train_pairs=1000000).",
    )
    p.add_argument("--config", help="experiment config YAML (its data: section is used)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. data.src_vocab_size=30000 (repeatable)")
    p.add_argument("--out", required=True,
                   help="output DATA_DIR, written atomically; an existing one is replaced only if `repro prepare` "
                        "wrote it or it is empty (never the current directory, nor one holding the input files)")
    p.add_argument("--source", choices=SOURCES,
                   help="data source (default: the config's, else synthetic)")
    g = p.add_argument_group("local files (--source local)")
    g.add_argument("--train-src", help="training source-language file (for --format tsv: the tsv file)")
    g.add_argument("--train-tgt", help="training target-language file (not with --format tsv)")
    g.add_argument("--valid-src", help="validation source file (default: carve --valid-size pairs from train)")
    g.add_argument("--valid-tgt", help="validation target file")
    g.add_argument("--test-src", help="test source file (default: carve --test-size pairs from train)")
    g.add_argument("--test-tgt", help="test target file")
    g.add_argument("--format", choices=["plain", "tsv", "sgm"],
                   help="file format: plain aligned lines (.gz ok), tsv 'src<TAB>tgt' lines, or WMT sgm")
    g.add_argument("--valid-size", type=int, help="pairs carved from train for validation (default 3000)")
    g.add_argument("--test-size", type=int, help="pairs carved from train for test (default 3000)")
    g = p.add_argument_group("preparation")
    g.add_argument("--src-lang", help="source language code (default en)")
    g.add_argument("--tgt-lang", help="target language code (default fr)")
    g.add_argument("--tokenizer", choices=["moses", "sentencepiece", "pretokenized"],
                   help="tokenizer (default moses; pre-tokenized sources are never re-tokenized)")
    g.add_argument("--src-vocab-size", type=int, help="source vocabulary: K most frequent words (default 160000)")
    g.add_argument("--tgt-vocab-size", type=int, help="target vocabulary: K most frequent words (default 80000)")
    g.add_argument("--max-len", type=int, help="drop training pairs longer than this many tokens (default 100)")
    g.add_argument("--max-len-ratio", type=float, help="drop training pairs with a length ratio above this (default 3)")
    g.add_argument("--spm-vocab-size", type=int, help="sentencepiece vocabulary size per side (default 32000)")
    g.add_argument("--workers", type=int, help="tokenizer processes (0 = all cores; default 0)")
    g.add_argument("--chunk-size", type=int, help="pairs per worker task (default 2000)")
    g.add_argument("--seed", type=int, help="seed for random splits and the synthetic language (default 1)")
    g.add_argument("--no-progress", action="store_true", help="do not show progress bars")
    return p


def run(args: argparse.Namespace) -> int:
    import json

    from repro.config import load_config
    from repro.data.config import PrepareConfig
    from repro.data.prepare import prepare

    config = load_config(args.config, args.overrides, reads=("data",))
    data = dict(config.get("data") or {})
    for flag, key in _TOP_LEVEL.items():
        if getattr(args, flag) is not None:
            data[key] = getattr(args, flag)
    local = dict(data.get("local") or {})
    for flag, key in _LOCAL.items():
        if getattr(args, flag) is not None:
            local[key] = getattr(args, flag)
    if local:
        data["local"] = local
        if args.train_src is not None and args.source is None and "source" not in data:
            data["source"] = "local"
    prepare_config = PrepareConfig.from_dict(data)
    stats = prepare(prepare_config, args.out, progress=not args.no_progress,
                    inputs=[args.config] if args.config else [])
    summary = {split: {"pairs": s["pairs"], "dropped": s["dropped"], "src_oov_rate": round(s["src_oov_rate"], 4),
                       "tgt_oov_rate": round(s["tgt_oov_rate"], 4)} for split, s in stats["splits"].items()}
    print(f"prepared {args.out} from {prepare_config.source} ({stats['tokenizer']['kind']} tokens, "
          f"vocab {stats['vocab']['src']['size']}/{stats['vocab']['tgt']['size']}, {stats['wall_time_s']} s)")
    print(json.dumps(summary))
    return 0
