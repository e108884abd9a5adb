"""``repro score``: the paper's BLEU, sacreBLEU + chrF and the paired bootstrap of translations, as JSON (a run's
perplexity is ``repro perplexity``)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from repro.cli.common import emit_json
from repro.errors import ReproError

if TYPE_CHECKING:
    import numpy as np

    from repro.data.tokenize import Tokenizer

# (path of a tokenized file or None, raw lines to tokenize or None, option suffix) -> tokenized lines
TokenizedReader = Callable[[str | None, list[str] | None, str], list[str]]

HELP = "score translations: the paper's multi-bleu BLEU, sacreBLEU, chrF, paired bootstrap"


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("score", help=HELP, description=HELP + ". Prints one JSON object.")
    p.add_argument("--hyp", metavar="FILE", help="detokenized hypotheses, one per line (sacreBLEU, chrF; "
                                                 "Moses-tokenized for the paper's BLEU unless --tokenized-hyp)")
    p.add_argument("--ref", metavar="FILE", help="detokenized references, one per line")
    p.add_argument("--src", metavar="FILE", help="source sentences: only checked to be aligned with --ref")
    p.add_argument("--tokenized-hyp", metavar="FILE", help="Moses-tokenized hypotheses for the paper's BLEU")
    p.add_argument("--tokenized-ref", metavar="FILE", help="Moses-tokenized references for the paper's BLEU")
    p.add_argument("--tgt-lang", default="fr",
                   help="language of the Moses tokenizer for raw text, when no --data/--model says (default: fr)")
    p.add_argument("--hyp2", metavar="FILE", help="second system's detokenized hypotheses (with --bootstrap)")
    p.add_argument("--tokenized-hyp2", metavar="FILE", help="second system's Moses-tokenized hypotheses")
    p.add_argument("--bootstrap", type=int, default=0, metavar="N",
                   help="paired bootstrap resampling with N samples between --hyp (A) and --hyp2 (B)")
    p.add_argument("--seed", type=int, default=12345, help="bootstrap seed, >= 1 (default: 12345, sacreBLEU's)")
    p.add_argument("--data", metavar="DATA_DIR",
                   help="prepared data directory: its Moses tokenizer settings tokenize raw text for the paper's BLEU")
    p.add_argument("--output", metavar="FILE", help="also write the JSON to FILE (atomically)")
    p.add_argument("--fingerprint", help="stamp the JSON with this digest of the settings behind it, making it a "
                   "record (repro.records: the workflow's scores)")
    return p


def _moses_tokenizer(args: argparse.Namespace) -> Tokenizer:
    """The data's Moses tokenizer when the data was Moses-tokenized, else default Moses settings."""
    from repro.data.storage import load_meta
    from repro.data.tokenize import MosesTokenizer, load_tokenizers

    if args.data:  # a prepared directory (load_meta fails on a typo rather than change the tokenizer)
        meta = load_meta(Path(args.data))
        if meta.get("tokenizer", {}).get("kind") == "moses":
            return load_tokenizers(Path(args.data))[1]
        return MosesTokenizer(meta.get("tgt_lang", args.tgt_lang))
    return MosesTokenizer(args.tgt_lang)


def _aligned(name_a: str, a: Sequence[str], name_b: str, b: Sequence[str]) -> None:
    if len(a) != len(b):
        raise ReproError(f"{name_a} has {len(a)} lines but {name_b} has {len(b)}")


def _not_empty(hyp_path: str, hyp: list[str], ref_path: str, ref: list[str]) -> None:
    """Aligned but empty files have no score (sacreBLEU fails on them); say so rather than print 0."""
    if not hyp and not ref:
        raise ReproError(f"no sentences to score in {hyp_path} and {ref_path} (both files are empty)")


def run(args: argparse.Namespace) -> int:
    from repro.evaluation.bleu import (
        bleu_details,
        moses_tokenize_lines,
        multibleu_string,
        sacrebleu_scores,
        sentence_stats,
    )
    from repro.io import check_outputs, read_text_lines

    check_outputs({"--output": args.output},
                  {option: getattr(args, option[2:].replace("-", "_"))
                   for option in ("--hyp", "--ref", "--src", "--tokenized-hyp", "--tokenized-ref", "--hyp2",
                                  "--tokenized-hyp2")})
    result: dict[str, Any] = {}
    if not (args.hyp or args.tokenized_hyp):
        raise ReproError("nothing to score: give --hyp/--tokenized-hyp with --ref/--tokenized-ref "
                         "(a run's perplexity: repro perplexity --model RUN_DIR --data DATA_DIR)")
    if not (args.ref or args.tokenized_ref):
        raise ReproError("--ref or --tokenized-ref is required to score hypotheses")
    tokenizer = None
    hyp = read_text_lines(args.hyp, "--hyp") if args.hyp else None
    ref = read_text_lines(args.ref, "--ref") if args.ref else None

    def tokenized(tok_path: str | None, raw: list[str] | None, name: str) -> list[str]:
        nonlocal tokenizer
        if tok_path:
            return read_text_lines(tok_path, f"--tokenized-{name}")
        tokenizer = tokenizer or _moses_tokenizer(args)
        return moses_tokenize_lines(raw, args.tgt_lang, tokenizer)

    hyp_tok = tokenized(args.tokenized_hyp, hyp, "hyp")
    ref_tok = tokenized(args.tokenized_ref, ref, "ref")
    hyp_name = f"hypotheses ({args.tokenized_hyp or args.hyp})"
    ref_name = f"references ({args.tokenized_ref or args.ref})"
    _aligned(hyp_name, hyp_tok, ref_name, ref_tok)
    _not_empty(args.tokenized_hyp or args.hyp, hyp_tok, args.tokenized_ref or args.ref, ref_tok)
    if args.src:
        _aligned(f"--src ({args.src})", read_text_lines(args.src, "--src"), ref_name, ref_tok)
    stats = sentence_stats(hyp_tok, ref_tok)
    details = bleu_details(stats)
    result["sentences"] = len(hyp_tok)
    result["bleu_paper"] = details["bleu"]
    result["bleu_paper_details"] = {**details, "multi_bleu": multibleu_string(details),
                                    "method": "multi-bleu.pl: cased, Moses-tokenized, no smoothing"}
    if hyp is not None and ref is not None:
        _aligned(f"--hyp ({args.hyp})", hyp, f"--ref ({args.ref})", ref)
        _not_empty(args.hyp, hyp, args.ref, ref)
        result.update(sacrebleu_scores(hyp, ref))
    if args.bootstrap:
        result["bootstrap"] = _bootstrap(args, stats, ref, ref_tok, hyp, tokenized)
    emit_json(result, args.output, args.fingerprint)
    return 0


def _bootstrap(args: argparse.Namespace, stats_a: np.ndarray, ref: list[str] | None, ref_tok: list[str],
               hyp: list[str] | None, tokenized: TokenizedReader) -> dict[str, Any]:
    from repro.evaluation.bleu import sentence_stats
    from repro.evaluation.bootstrap import paired_bootstrap
    from repro.io import read_text_lines

    if not (args.hyp2 or args.tokenized_hyp2):
        raise ReproError("--bootstrap needs a second system: --hyp2 or --tokenized-hyp2")
    if args.bootstrap < 1 or args.seed < 1:
        raise ReproError("--bootstrap and --seed must be positive")
    hyp2 = read_text_lines(args.hyp2, "--hyp2") if args.hyp2 else None
    hyp2_tok = tokenized(args.tokenized_hyp2, hyp2, "hyp2")
    _aligned(f"--hyp2 ({args.tokenized_hyp2 or args.hyp2})", hyp2_tok, f"references ({args.tokenized_ref or args.ref})", ref_tok)
    out = {"paper_bleu": paired_bootstrap(stats_a, sentence_stats(hyp2_tok, ref_tok), args.bootstrap, args.seed),
           "method": "paired bootstrap resampling (Koehn 2004) as in sacreBLEU, on per-sentence multi-bleu "
                     "statistics (repro.evaluation.bootstrap); difference = B - A"}
    if hyp is not None and hyp2 is not None and ref is not None:
        out["sacrebleu"] = _sacrebleu_paired(hyp, hyp2, ref, args.bootstrap, args.seed)
    return out


def _sacrebleu_paired(hyp_a: Sequence[str], hyp_b: Sequence[str], ref: Sequence[str], n_samples: int,
                      seed: int) -> dict[str, Any]:
    """sacreBLEU's own paired bootstrap test (sacrebleu.significance.PairedTest, test_type='bs')."""
    from sacrebleu.metrics import BLEU
    from sacrebleu.significance import PairedTest

    previous = os.environ.get("SACREBLEU_SEED")
    os.environ["SACREBLEU_SEED"] = str(seed)  # PairedTest reads its seed from the environment
    try:
        test = PairedTest([("A", list(hyp_a)), ("B", list(hyp_b))], {"BLEU": BLEU()}, [list(ref)], "bs", n_samples)
        signatures, results = test()
    finally:
        if previous is None:
            os.environ.pop("SACREBLEU_SEED", None)
        else:
            os.environ["SACREBLEU_SEED"] = previous
    base, system = results["BLEU"]
    return {"score_a": base.score, "mean_a": base.mean, "ci_a": base.ci, "score_b": system.score,
            "mean_b": system.mean, "ci_b": system.ci, "p_value": system.p_value,
            "signature": str(signatures["BLEU"])}
