"""The claims the ablations test, computed as data (claims.json) and rendered as a table (claims.md).

Each claim is a :class:`ClaimRow` whose ``measured`` holds the numbers behind it by name; ``ours`` is those
numbers written out for a reader. Tests and the comparison with a reference read ``measured`` and
``verdict``, never the prose.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np

from repro.evaluation.bleu import subset_bleu
from repro.evaluation.bootstrap import bootstrap_contrast
from repro.io import atomic_write
from repro.report import paper
from repro.report.ablations import Ablations
from repro.report.claims import (
    ClaimRow,
    SeedTest,
    Verdict,
    all_hold,
    claims_data,
    claims_markdown,
    format_p,
    threshold_verdict,
    verdict,
)
from repro.report.tables import format_mean_std

# Where each claim comes from: the paper, or the published work that states it.
CITATIONS = {
    "reversal": "paper §3.3; Luong, Pham & Manning 2015, Table 1 (+1.3 BLEU)",
    "teacher_forcing": "Williams & Zipser 1989 (teacher forcing); Bengio et al. 2015 (scheduled sampling)",
    "context": "Cho et al. 2014, On the Properties of Neural Machine Translation (BLEU falls with length); "
               "Bahdanau, Cho & Bengio 2015 (attention)",
    "gradients": "Bengio, Simard & Frasconi 1994; Hochreiter & Schmidhuber 1997; Pascanu, Mikolov & Bengio 2013",
    "cells": "Cho et al. 2014 (GRU); Chung et al. 2014; Britz et al. 2017 (LSTM > GRU >> vanilla RNN)",
    "depth": "paper §3.2",
    "reversal_attention": "paper §3.3 (reversal shortens the source–target distances); Bahdanau, Cho & Bengio "
                          "2015 and Luong, Pham & Manning 2015 (attention reaches every source word)",
}


def _fmt(values: list[float], digits: int = 2) -> str:
    return format_mean_std(values, digits)


def _ci(interval: list[float] | tuple[float, float]) -> list[float]:
    return [float(interval[0]), float(interval[1])]


def _seeds_text(seeds: SeedTest) -> str:
    """The test over seeds, written out: n per side, Δ of the seed means, the larger spread, Welch's p."""
    p = format_p(seeds.p_value)
    return (f"over seeds (n {'/'.join(map(str, seeds.seeds))}): Δ {seeds.difference:+.2f}, larger seed spread "
            f"{seeds.spread:.2f}, p {p}")


def reversal(ab: Ablations) -> ClaimRow:
    """Seed-level: every forward seed against the reversed run of the same seed."""
    seeds = ab.reversal_seeds()
    forward = [ab.plan.run(ab.forward.name, seed) for seed in seeds]
    reversed_ = [ab.plan.run(ab.main.name, seed) for seed in seeds]
    test = ab.compare_runs(forward, reversed_)
    bleu_forward, bleu_reversed = ab.run_bleus(forward), ab.run_bleus(reversed_)
    m = {"seeds": seeds, "bleu_forward": bleu_forward, "bleu_reversed": bleu_reversed,
         "seeds_reversed_better": sum(r > f for f, r in zip(bleu_forward, bleu_reversed)),
         "difference": test["difference"], "ci": _ci(test["difference_ci"]), "seed_test": test["seeds"].as_dict(),
         "valid_ppl_forward": ab.run_valid_ppls(forward), "valid_ppl_reversed": ab.run_valid_ppls(reversed_)}
    ours = (f"BLEU {_fmt(m['bleu_forward'])} → {_fmt(m['bleu_reversed'])} over seeds {seeds}; "
            f"{_seeds_text(test['seeds'])}; over sentences: Δ {m['difference']:+.2f}, 95% CI [{m['ci'][0]:.2f}, "
            f"{m['ci'][1]:.2f}]; reversed better on {m['seeds_reversed_better']} of {len(seeds)} seeds; valid ppl "
            f"{_fmt(m['valid_ppl_forward'])} → {_fmt(m['valid_ppl_reversed'])}")
    return ClaimRow(
        key="reversal",
        claim="Reversing the source helps an encoder–decoder without attention",
        source=CITATIONS["reversal"],
        experiment="reversed vs forward source, same recipe and seeds",
        measured=m,
        ours=ours,
        paper="BLEU 25.9 → 30.6, perplexity 5.8 → 4.7 (§3.3)",
        p_value=test["p_value"],
        verdict=ab.decide(test),
        converged=ab.runs_converged(forward + reversed_),
        p_seeds=test["seeds"].p_value,
    )


def teacher_forcing(ab: Ablations) -> ClaimRow | None:
    ab = ab.on("teacher_forcing_ratio")
    variants = ab.variants_on("teacher_forcing_ratio")
    if not variants:
        return None
    worst = min(variants, key=lambda v: v.override("train.teacher_forcing_ratio"))
    ratio = worst.override("train.teacher_forcing_ratio")
    test = ab.compare(worst, ab.main)
    m = {"ratio": ratio, "bleu_ratio": ab.bleus(worst), "bleu_main": ab.bleus(ab.main),
         "difference": test["difference"], "seed_test": test["seeds"].as_dict()}
    ours = (f"BLEU {_fmt(m['bleu_ratio'])} (ratio {ratio:g}) vs {_fmt(m['bleu_main'])} (1.0); "
            f"{_seeds_text(test['seeds'])}; over sentences Δ {m['difference']:+.2f}")
    return ClaimRow(
        key="teacher_forcing",
        claim="Training needs teacher forcing: feeding the decoder its own outputs learns "
              "poorly",
        source=CITATIONS["teacher_forcing"],
        experiment=f"teacher forcing 1.0 (main) vs {worst.label}",
        measured=m,
        ours=ours,
        paper="",
        p_value=test["p_value"],
        verdict=ab.decide(test),
        converged=ab.converged([ab.main, worst]),
        p_seeds=test["seeds"].p_value,
    )


def context_vector(ab: Ablations) -> ClaimRow | None:
    """Attention's gain on the longest vs the shortest quarter of test sources (difference of differences)."""
    ab = ab.on("attention")
    attention = ab.attention(reverse_source=True)
    if attention is None:
        return None
    lengths = ab.ctx.test_src_lengths
    n = len(lengths)

    def pool(mask: np.ndarray) -> np.ndarray:
        return np.concatenate([np.flatnonzero(mask) + k * n for k in range(len(ab.seeds))])

    base, attn = ab.pooled(ab.main), ab.pooled(attention)

    def attention_gain(idx: np.ndarray) -> float:
        return subset_bleu(attn, idx) - subset_bleu(base, idx)

    def attention_gain_long_minus_short(groups: list[np.ndarray]) -> float:
        idx_short, idx_long = groups
        return attention_gain(idx_long) - attention_gain(idx_short)

    short, long = lengths <= np.percentile(lengths, 25), lengths >= np.percentile(lengths, 75)
    idx_short, idx_long = pool(short), pool(long)
    test = bootstrap_contrast(attention_gain_long_minus_short, [idx_short, idx_long], ab.samples)
    per_seed = SeedTest.paired([attention_gain(np.flatnonzero(long) + k * n) - attention_gain(np.flatnonzero(short)
                                                                                             + k * n)
                                for k in range(len(ab.seeds))])
    overall = ab.compare(ab.main, attention)
    # If the attention decoder is significantly worse overall, it is not yet a remedy to compare with:
    # a smaller loss on long sentences would say more about its training than about the bottleneck.
    confounded = ab.decide(overall) == Verdict.NOT_HELD
    m = {"gain_long": attention_gain(idx_long), "gain_short": attention_gain(idx_short),
         "difference": test["observed"], "ci": _ci(test["ci"]), "seed_test": per_seed.as_dict(),
         "attention_overall_difference": overall["difference"], "attention_overall_p": overall["p_value"],
         "attention_significantly_worse": confounded}
    ours = (f"gain on long {m['gain_long']:+.2f}, on short {m['gain_short']:+.2f} BLEU (difference "
            f"{m['difference']:+.2f}, 95% CI [{m['ci'][0]:.2f}, {m['ci'][1]:.2f}]; per seed {_seeds_text(per_seed)}); "
            f"attention overall {m['attention_overall_difference']:+.2f} BLEU vs main (p "
            f"{m['attention_overall_p']:.3f})"
            + ("; rule: attention significantly worse overall = no remedy to compare with, so inconclusive"
               if confounded else ""))
    return ClaimRow(
        key="context",
        claim="One fixed-size context vector loses information, more so as the source gets longer",
        source=CITATIONS["context"],
        experiment="attention's BLEU gain over the main model on the longest vs the shortest "
                   "quarter of test sources (difference of differences, bootstrap over sentences, t-test over "
                   "seeds)",
        measured=m,
        ours=ours,
        paper="Bahdanau: RNNencdec-50 17.82 vs RNNsearch-50 26.75 (related work)",
        p_value=test["p_value"],
        verdict=Verdict.INCONCLUSIVE if confounded else verdict(test["observed"], test["p_value"], seeds=per_seed),
        converged=ab.converged([ab.main, attention]),
        p_seeds=per_seed.p_value,
    )


def gradients(ab: Ablations, grad_summary: dict | None) -> ClaimRow | None:
    """Descriptive: the logged gradient norms of a vanilla RNN against the main model's, and BLEU."""
    ab = ab.on("cell")
    rnn_cells = [v for v in ab.same_size_cells() if v.override("model.cell") == "rnn"]
    if not grad_summary or not rnn_cells:
        return None
    rnn_variant = rnn_cells[0]
    lstm, rnn = grad_summary[ab.main], grad_summary[rnn_variant]
    test = ab.compare(rnn_variant, ab.main)
    m = {"fraction_above_clip_rnn": rnn["fraction_above_clip"], "fraction_above_clip_main": lstm["fraction_above_clip"],
         "max_over_median_rnn": rnn["max"] / rnn["median"], "max_over_median_main": lstm["max"] / lstm["median"],
         "bleu_rnn": ab.bleus(rnn_variant), "bleu_main": ab.bleus(ab.main), "difference": test["difference"],
         "seed_test": test["seeds"].as_dict()}
    ours = (f"steps above the clipping threshold: RNN {m['fraction_above_clip_rnn']:.0%}, LSTM "
            f"{m['fraction_above_clip_main']:.0%}; max/median norm: RNN {m['max_over_median_rnn']:.1f}, LSTM "
            f"{m['max_over_median_main']:.1f}; BLEU RNN {_fmt(m['bleu_rnn'])} vs LSTM {_fmt(m['bleu_main'])}; "
            f"{_seeds_text(test['seeds'])}")
    return ClaimRow(
        key="gradients",
        claim="RNN-based models suffer vanishing/exploding gradients (hence LSTM, hence clipping)",
        source=CITATIONS["gradients"],
        experiment="vanilla RNN vs LSTM: gradient norms (figures/grad_norms) and BLEU",
        measured=m,
        ours=ours,
        paper="",
        p_value=test["p_value"],
        verdict=ab.decide(test),
        converged=ab.converged([ab.main, rnn_variant]),
        p_seeds=test["seeds"].p_value,
    )


def cells(ab: Ablations) -> ClaimRow | None:
    """Descriptive threshold: 'can be used' = reaches at least half of the LSTM's BLEU."""
    ab = ab.on("cell")
    variants = ab.same_size_cells()
    if not variants:
        return None
    bleus = {v: ab.bleus(v) for v in variants}
    main_bleu = statistics.mean(ab.bleus(ab.main))
    fractions = {v: [b / main_bleu if main_bleu else 0.0 for b in bleus[v]] for v in variants}
    verdicts = {v: threshold_verdict(fractions[v], 0.5) for v in variants}
    m = {"bleu_main": ab.bleus(ab.main),
         "cells": {v.override("model.cell"): {"bleu": bleus[v], "fraction_of_main": statistics.mean(fractions[v]),
                                              "fraction_of_main_seeds": fractions[v], "verdict": verdicts[v]}
                   for v in variants},
         "threshold": 0.5}
    ours = ("; ".join(f"{v.label}: BLEU {_fmt(bleus[v])} ({_fmt([100 * f for f in fractions[v]], 0)}% of LSTM, "
                      f"{verdicts[v]})" for v in variants)
            + " (descriptive: 'can be used' = reaches at least half of the LSTM's BLEU, beyond the seed spread)")
    return ClaimRow(
        key="cells",
        claim="LSTM is the usual cell; a vanilla RNN or a GRU can be used instead",
        source=CITATIONS["cells"],
        experiment="GRU and vanilla RNN at the LSTM's layers and hidden size",
        measured=m,
        ours=ours,
        paper=paper.RELATED["britz2017_cells"],
        p_value=None,
        verdict=all_hold(verdicts.values()),
        converged=ab.converged([ab.main, *variants]),
    )


def depth(ab: Ablations) -> ClaimRow | None:
    """Paper §3.2: each extra layer cut perplexity by nearly 10% (descriptive: held if every one cuts ≥ 5%)."""
    ab = ab.on("num_layers")
    variants = ab.variants_on("num_layers")
    if not variants:
        return None
    ppl = {ab.plan.setting(v, "model.num_layers"): ab.valid_ppls(v) for v in [ab.main] + variants}
    order = sorted(ppl)
    # seed s of one depth against seed s of the next: the cut per seed, then its mean and spread
    cuts = [[1 - b / a for a, b in zip(ppl[shallow], ppl[deep])] for shallow, deep in zip(order, order[1:])]
    verdicts = [threshold_verdict(per_seed, 0.05) for per_seed in cuts]
    m = {"layers": order, "valid_ppl": [statistics.mean(ppl[k]) for k in order],
         "valid_ppl_seeds": [ppl[k] for k in order], "cut_per_layer": [statistics.mean(c) for c in cuts],
         "cut_per_layer_seeds": cuts, "verdict_per_layer": verdicts, "threshold": 0.05}
    ours = ("valid perplexity " + " → ".join(_fmt(ppl[k]) for k in order) + " (cut per layer: "
            + ", ".join(f"{_fmt([100 * c for c in per_seed], 0)}% ({v})" for per_seed, v in zip(cuts, verdicts))
            + "; descriptive: held if every extra layer cuts ≥ 5%, beyond the seed spread)")
    return ClaimRow(
        key="depth",
        claim="Each additional layer reduces perplexity by nearly 10%",
        source=CITATIONS["depth"],
        experiment="depth " + ", ".join(map(str, order)),
        measured=m,
        ours=ours,
        paper="nearly 10% per layer (§3.2)",
        p_value=None,
        verdict=all_hold(verdicts),
        converged=ab.converged([ab.main, *variants]),
    )


def reversal_with_attention(ab: Ablations) -> ClaimRow | None:
    """Reversal should matter less once the decoder can attend: the two reversal gains, bootstrapped."""
    ab = ab.on("attention")
    attention, attention_forward = ab.attention(reverse_source=True), ab.attention(reverse_source=False)
    if attention is None or attention_forward is None:
        return None
    variants = (ab.main, ab.forward, attention, attention_forward)
    stats = {v: ab.pooled(v) for v in variants}

    def reversal_gain_without_minus_with(groups: list[np.ndarray]) -> float:
        (idx,) = groups
        main, forward, attn, attn_forward = (subset_bleu(stats[v], idx) for v in variants)
        return (main - forward) - (attn - attn_forward)

    everything = np.arange(len(stats[ab.main]))
    test = bootstrap_contrast(reversal_gain_without_minus_with, [everything], ab.samples)
    n = len(ab.ctx.test_src_lengths)
    per_seed = SeedTest.paired([reversal_gain_without_minus_with([np.arange(n) + k * n])
                                for k in range(len(ab.seeds))])
    mean = {v: statistics.mean(ab.bleus(v)) for v in variants}
    m = {"gain_without_attention": mean[ab.main] - mean[ab.forward],
         "gain_with_attention": mean[attention] - mean[attention_forward],
         "difference": test["observed"], "ci": _ci(test["ci"]), "seed_test": per_seed.as_dict()}
    ours = (f"reversal gain: no attention {m['gain_without_attention']:+.2f}, attention "
            f"{m['gain_with_attention']:+.2f} BLEU (mean over seeds); difference {m['difference']:+.2f}, 95% CI "
            f"[{m['ci'][0]:.2f}, {m['ci'][1]:.2f}]; per seed {_seeds_text(per_seed)}")
    return ClaimRow(
        key="reversal_attention",
        claim="Reversing the source matters less once the decoder has attention",
        source=CITATIONS["reversal_attention"],
        experiment="reversal gain without attention minus reversal gain with "
                   "attention (bootstrap over sentences, t-test over seeds)",
        measured=m,
        ours=ours,
        paper="",
        p_value=test["p_value"],
        verdict=verdict(test["observed"], test["p_value"], seeds=per_seed),
        converged=ab.converged(variants),
        p_seeds=per_seed.p_value,
    )


def compute_claims(ab: Ablations, grad_summary: dict | None) -> list[ClaimRow]:
    """One row per claim the configured ablations can test, in a fixed order."""
    rows = [reversal(ab), teacher_forcing(ab), context_vector(ab), gradients(ab, grad_summary), cells(ab),
            depth(ab), reversal_with_attention(ab)]
    return [row for row in rows if row is not None]


def write_claims(ab: Ablations, grad_summary: dict | None, prefix: str | Path) -> list[ClaimRow]:
    """claims.json (the data) and claims.md (the table rendered from it)."""
    rows = compute_claims(ab, grad_summary)
    prefix = Path(prefix)
    text = claims_markdown(rows, f"Claims tested in experiment '{ab.ctx.experiment}'", ab.ctx.scale_note())
    with atomic_write(prefix.with_suffix(".json"), encoding="utf-8") as handle:
        json.dump(claims_data(rows), handle, indent=1, ensure_ascii=False)
        handle.write("\n")
    with atomic_write(prefix.with_suffix(".md"), encoding="utf-8") as handle:
        handle.write(text)
    return rows
