"""Claims and their verdicts: one row per claim, decided by a rule stated in the output file.

A verdict rests on two tests. The paired bootstrap over test sentences (repro.evaluation.bootstrap) sees
the sentences' noise; a test over seeds (:class:`SeedTest`: Welch's t-test on the per-seed scores of the
two sides, or a one-sample t-test on per-seed contrasts) sees the training run's. A difference is only
decided when both agree and it is larger than either side's seed-to-seed spread (Reimers & Gurevych 2017;
Dodge et al. 2019 on reporting score distributions over seeds).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

ALPHA = 0.05


class Verdict(StrEnum):
    """A claim's verdict, as claims.md and claims.json write it."""

    HELD = "held"
    NOT_HELD = "did not hold"
    INCONCLUSIVE = "inconclusive"


VERDICT_RULE = (
    f"A claim **held** when two tests agree that the measured difference points in the claimed direction, each "
    f"with p < {ALPHA}: a paired bootstrap resampling test over test sentences (seeds pooled, seed s of one side "
    "paired with seed s of the other) and a test over seeds (Welch's t-test on the two sides' per-seed BLEU, or, "
    "for a difference of differences, a one-sample t-test on its per-seed values), and the difference of the "
    "seed means is larger than either side's seed-to-seed spread (sample standard deviation over seeds). It "
    "**did not hold** when both tests agree on the other direction under the same conditions; otherwise it is "
    "**inconclusive**: with fewer than 2 seeds a side there is no test over seeds, so nothing is decided. Claims "
    "without a statistical test (marked 'descriptive') are judged by the threshold named in their row, on the "
    "mean over seeds: held (or not) only when the mean is beyond the threshold by more than the seed spread. "
    "'converged' counts the models behind a claim whose stop rule ended their training (the last validations at "
    "the final learning rate made no progress), not the epoch ceiling: a claim about models that did not converge measures how fast "
    "they start, not what they can do."
)


def _std(values: Sequence[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


@dataclass(frozen=True)
class SeedTest:
    """A difference measured over training seeds.

    difference: mean of the variant's per-seed values minus the base's (or the mean per-seed contrast).
    spread: the larger of the two sides' sample standard deviations over seeds (of the contrasts, if paired).
    p_value: two-sided p of the test over seeds; None when a side has fewer than 2 seeds or no variance.
    seeds: how many seeds each side has.
    """

    difference: float
    spread: float
    p_value: float | None
    seeds: tuple[int, ...]

    @classmethod
    def welch(cls, base: Sequence[float], variant: Sequence[float]) -> SeedTest:
        """Welch's unequal-variance t-test of ``variant`` against ``base`` (independent training runs)."""
        difference = statistics.mean(variant) - statistics.mean(base)
        p = None
        if min(len(base), len(variant)) >= 2 and (_std(base) > 0 or _std(variant) > 0):
            from scipy.stats import ttest_ind

            p = float(ttest_ind(variant, base, equal_var=False).pvalue)
        return cls(difference, max(_std(base), _std(variant)), _finite(p), (len(base), len(variant)))

    @classmethod
    def paired(cls, contrasts: Sequence[float]) -> SeedTest:
        """One-sample t-test of per-seed contrasts (e.g. a difference of differences) against 0."""
        difference = statistics.mean(contrasts)
        p = None
        if len(contrasts) >= 2 and _std(contrasts) > 0:
            from scipy.stats import ttest_1samp

            p = float(ttest_1samp(contrasts, 0.0).pvalue)
        return cls(difference, _std(contrasts), _finite(p), (len(contrasts),))

    def decides(self, alpha: float = ALPHA) -> bool:
        """Whether the seeds separate the two sides: significant and beyond either side's spread."""
        return self.p_value is not None and self.p_value < alpha and abs(self.difference) > self.spread

    def as_dict(self) -> dict[str, Any]:
        return {"difference": self.difference, "spread": self.spread, "p": self.p_value, "seeds": list(self.seeds)}


def _finite(p: float | None) -> float | None:
    return p if p is not None and math.isfinite(p) else None


@dataclass(kw_only=True)
class ClaimRow:
    """One claim, its evidence and its verdict.

    key: a stable identifier of the claim ("reversal", "depth", ...).
    measured: the numbers behind the verdict, by name (what tests and comparisons read).
    ours: the same numbers written out for a reader (the table's "our number" column).
    """

    key: str
    claim: str
    source: str
    experiment: str
    measured: dict[str, Any]
    ours: str
    paper: str
    p_value: float | None
    verdict: Verdict
    converged: str = ""  # "k/n": how many of the models behind the claim stopped converged
    p_seeds: float | None = None  # the test over seeds (p_value is the bootstrap's over sentences)


def verdict(difference: float, p_value: float | None, claimed_direction: int = 1, alpha: float = ALPHA,
            seeds: SeedTest | None = None) -> Verdict:
    """The verdict for a bootstrap-tested difference claimed to have
    ``claimed_direction``. With ``seeds`` the test over seeds must agree too: same direction, p < alpha and
    the difference beyond either side's seed spread (:meth:`SeedTest.decides`)."""
    if p_value is None or difference == 0 or p_value >= alpha:
        return Verdict.INCONCLUSIVE
    if seeds is not None and (not seeds.decides(alpha) or (seeds.difference > 0) != (difference > 0)):
        return Verdict.INCONCLUSIVE
    return Verdict.HELD if (difference > 0) == (claimed_direction > 0) else Verdict.NOT_HELD


def threshold_verdict(values: Sequence[float], threshold: float, above: bool = True) -> Verdict:
    """For descriptive claims, over seeds: 'held' when the mean of ``values`` is on the claimed side of
    ``threshold`` by more than their spread (sample std; 0 for one value), 'did not hold' when it is on the
    other side by more than that, else 'inconclusive'."""
    margin = statistics.mean(values) - threshold
    if abs(margin) <= _std(values):
        return Verdict.INCONCLUSIVE
    return Verdict.HELD if (margin > 0) == above else Verdict.NOT_HELD


def all_hold(verdicts: Iterable[Verdict]) -> Verdict:
    """A claim about several comparisons: held when every one held, did not hold when any did not."""
    verdicts = list(verdicts)
    if Verdict.NOT_HELD in verdicts:
        return Verdict.NOT_HELD
    return Verdict.HELD if verdicts and all(v == Verdict.HELD for v in verdicts) else Verdict.INCONCLUSIVE


def claims_markdown(rows: list[ClaimRow], title: str, scale_note: str) -> str:
    lines = [f"# {title}", "", scale_note, "", "## Rule", "", VERDICT_RULE, "", "## Claims", "",
             "| # | claim | source | experiment | our number | paper | converged | p (seeds) | p (sentences) | "
             "verdict |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for i, row in enumerate(rows, 1):
        cells = [str(i), row.claim, row.source, row.experiment, row.ours, row.paper or "—", row.converged or "—",
                 format_p(row.p_seeds), format_p(row.p_value), f"**{row.verdict}**"]
        lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def format_p(p: float | None) -> str:
    return "—" if p is None else (f"{p:.3f}" if p >= 0.001 else "<0.001")


def claims_data(rows: list[ClaimRow]) -> list[dict[str, Any]]:
    """The claims as data (claims.json): what the comparison with a reference and the tests read."""
    return [{"number": i, **asdict(row)} for i, row in enumerate(rows, 1)]
