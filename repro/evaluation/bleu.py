"""BLEU the paper's way (multi-bleu.pl on Moses-tokenized text) and the modern way (sacreBLEU, chrF).

**The paper's BLEU** (§3.6: "cased BLEU, multi-bleu.pl, on tokenized predictions and ground truth") is
computed here from per-sentence sufficient statistics with multi-bleu.pl's exact rules:

* tokens are the fields of the line split on ASCII whitespace (Perl's ``split``), case kept;
* clipped n-gram matches for n = 1..4, summed over the corpus, then precision p_n = correct_n / total_n;
* brevity penalty ``exp(1 - r/c)`` when the hypothesis corpus is shorter than the reference corpus
  (``r`` sums each sentence's *closest* reference length; with one reference, its length);
* no smoothing: BLEU = 0 as soon as one p_n is zero (multi-bleu.pl's ``my_log(0) = -9999999999``).

The statistics use sacreBLEU's layout — ``[hyp_len, ref_len, correct_1..4, total_1..4]`` per sentence —
so they sum over any subset of sentences (per-bin BLEU for Figure 3) and feed the paired bootstrap.
On text whose whitespace is ASCII, the result equals sacreBLEU's ``BLEU(tokenize="none",
smooth_method="none")`` (tested), which is the same formula; we keep our own splitter so that non-ASCII
whitespace is treated as multi-bleu.pl treats it (as part of a token).

**sacreBLEU** (detokenized text, its own 13a tokenizer) and **chrF** come from the sacrebleu library,
with their signature strings.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

MAX_ORDER = 4
NUM_STATS = 2 + 2 * MAX_ORDER  # hyp_len, ref_len, correct_1..4, total_1..4
_PERL_WHITESPACE = re.compile(r"[ \t\n\r\f\v]+")


def multibleu_tokens(line: str) -> list[str]:
    """Perl's ``split`` of a line: fields separated by ASCII whitespace, leading/trailing ignored."""
    return [t for t in _PERL_WHITESPACE.split(line) if t]


def _ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def sentence_stats(hyps_tok: Sequence[str], refs_tok: Sequence[str] | Sequence[Sequence[str]]) -> np.ndarray:
    """Per-sentence BLEU sufficient statistics, int64 ``[N, 10]`` (see the module docstring).

    ``refs_tok`` is one tokenized reference per sentence, or a sequence of references per sentence
    (the closest reference length is used, ties to the shorter, as multi-bleu.pl does).
    """
    if len(hyps_tok) != len(refs_tok):
        raise ValueError(f"{len(hyps_tok)} hypotheses but {len(refs_tok)} references")
    stats = np.zeros((len(hyps_tok), NUM_STATS), dtype=np.int64)
    for i, (hyp, refs) in enumerate(zip(hyps_tok, refs_tok)):
        refs = [refs] if isinstance(refs, str) else list(refs)
        hyp_words = multibleu_tokens(hyp)
        ref_words = [multibleu_tokens(r) for r in refs]
        hyp_len = len(hyp_words)
        closest = min((abs(len(r) - hyp_len), len(r)) for r in ref_words)[1]
        stats[i, 0], stats[i, 1] = hyp_len, closest
        for n in range(1, MAX_ORDER + 1):
            hyp_counts = _ngrams(hyp_words, n)
            max_ref: Counter = Counter()
            for r in ref_words:
                max_ref |= _ngrams(r, n)  # element-wise max over references
            stats[i, 1 + n] = sum(min(c, max_ref[g]) for g, c in hyp_counts.items())
            stats[i, 1 + MAX_ORDER + n] = max(hyp_len - n + 1, 0)
    return stats


def bleu_details(stats: np.ndarray) -> dict:
    """multi-bleu.pl's numbers from summed (or per-sentence ``[N, 10]``) statistics; BLEU in 0..100."""
    total = np.asarray(stats, dtype=np.float64)
    if total.ndim == 2:
        total = total.sum(axis=0)
    hyp_len, ref_len = float(total[0]), float(total[1])
    correct, counts = total[2 : 2 + MAX_ORDER], total[2 + MAX_ORDER :]
    precisions = [float(c / t) if t > 0 else 0.0 for c, t in zip(correct, counts)]
    if hyp_len == 0:
        bp = 0.0
    elif hyp_len < ref_len:
        bp = math.exp(1.0 - ref_len / hyp_len)
    else:
        bp = 1.0
    if ref_len == 0 or any(p == 0.0 for p in precisions):
        bleu = 0.0
    else:
        bleu = 100.0 * bp * math.exp(sum(math.log(p) for p in precisions) / MAX_ORDER)
    return {
        "bleu": bleu,
        "precisions": [100.0 * p for p in precisions],
        "bp": bp,
        "ratio": hyp_len / ref_len if ref_len else 0.0,
        "hyp_len": int(hyp_len),
        "ref_len": int(ref_len),
    }


def bleu_from_stats(stats: np.ndarray) -> float:
    """The paper's BLEU (0..100) from sufficient statistics: ``[10]`` sums or ``[N, 10]`` per sentence."""
    return bleu_details(stats)["bleu"]


def subset_bleu(stats: np.ndarray, subset: np.ndarray | Sequence[int] | Sequence[bool]) -> float:
    """BLEU of a subset of sentences (indices or a boolean mask) from their summed n-gram statistics."""
    return bleu_from_stats(np.asarray(stats)[np.asarray(subset)].reshape(-1, NUM_STATS))


def multibleu_string(details: dict) -> str:
    """The line multi-bleu.pl prints."""
    p = details["precisions"]
    return (f"BLEU = {details['bleu']:.2f}, {p[0]:.1f}/{p[1]:.1f}/{p[2]:.1f}/{p[3]:.1f} "
            f"(BP={details['bp']:.3f}, ratio={details['ratio']:.3f}, hyp_len={details['hyp_len']}, "
            f"ref_len={details['ref_len']})")


def corpus_bleu_paper(hyps_tok: Sequence[str], refs_tok: Sequence[str]) -> float:
    """The paper's BLEU: cased multi-bleu.pl on Moses-tokenized hypotheses and references (0..100)."""
    return bleu_from_stats(sentence_stats(hyps_tok, refs_tok))


def sacrebleu_scores(hyps: Sequence[str], refs: Sequence[str]) -> dict:
    """sacreBLEU (default 13a tokenization, cased, exp smoothing) and chrF on detokenized text."""
    from sacrebleu.metrics import BLEU, CHRF

    if len(hyps) != len(refs):
        raise ValueError(f"{len(hyps)} hypotheses but {len(refs)} references")
    if not hyps:
        raise ValueError("no sentences to score (sacreBLEU needs at least one hypothesis)")
    bleu, chrf = BLEU(), CHRF()
    bleu_score = bleu.corpus_score(list(hyps), [list(refs)])
    chrf_score = chrf.corpus_score(list(hyps), [list(refs)])
    return {
        "sacrebleu": bleu_score.score,
        "sacrebleu_signature": str(bleu.get_signature()),
        "sacrebleu_string": bleu_score.format(),
        "chrf": chrf_score.score,
        "chrf_signature": str(chrf.get_signature()),
    }


def moses_tokenize_lines(lines: Sequence[str], lang: str, tokenizer=None) -> list[str]:
    """Moses-tokenize raw lines for the paper's BLEU: with ``tokenizer`` (e.g. the run's target
    tokenizer from ``load_tokenizers``) when given, else repro's default Moses settings for ``lang``."""
    if tokenizer is None:
        from repro.data.tokenize import MosesTokenizer

        tokenizer = MosesTokenizer(lang)
    return [" ".join(tokenizer.tokenize(line)) for line in lines]
