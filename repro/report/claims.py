"""Claims and their verdicts: one row per claim, decided by a rule stated in the output file."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

ALPHA = 0.05

VERDICT_RULE = (
    "A claim **held** when the measured difference points in the claimed direction and a paired bootstrap "
    f"resampling test over test sentences (pooled over seeds) gives p < {ALPHA}; it **did not hold** when the "
    f"difference points the other way with p < {ALPHA}; otherwise it is **inconclusive**. Seed rule: a variant "
    "trained with fewer seeds than the main model is compared on the seeds it has, and a bootstrap over "
    "sentences does not see the seed's noise, so a difference from the main model no larger than the main "
    "model's seed-to-seed spread (BLEU standard deviation over all its seeds) is **inconclusive** whatever p "
    "says. Claims without a statistical test (marked 'descriptive') state the numbers and are judged by the "
    "threshold named in their row. 'converged' counts the models behind a claim whose stop rule ended their "
    "training (validation perplexity stopped improving), not the epoch ceiling: a claim about models that did "
    "not converge measures how fast they start, not what they can do."
)


@dataclass
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
    verdict: str
    converged: str = ""  # "k/n": how many of the models behind the claim stopped converged


def verdict(difference: float, p_value: float | None, claimed_direction: int = 1, alpha: float = ALPHA,
            seed_spread: float = 0.0) -> str:
    """'held' / 'did not hold' / 'inconclusive' for a difference claimed to have ``claimed_direction``;
    a difference no larger than ``seed_spread`` (the main model's seed-to-seed BLEU std) is inconclusive."""
    if p_value is None or difference == 0 or p_value >= alpha or abs(difference) <= seed_spread:
        return "inconclusive"
    return "held" if (difference > 0) == (claimed_direction > 0) else "did not hold"


def threshold_verdict(value: float, threshold: float, above: bool = True) -> str:
    """For descriptive claims: 'held' when ``value`` is on the claimed side of ``threshold``."""
    return "held" if (value > threshold) == above else "did not hold"


def claims_markdown(rows: list[ClaimRow], title: str, scale_note: str) -> str:
    lines = [f"# {title}", "", scale_note, "", "## Rule", "", VERDICT_RULE, "", "## Claims", "",
             "| # | claim | source | experiment | our number | paper | converged | p | verdict |",
             "|---|---|---|---|---|---|---|---|---|"]
    for i, row in enumerate(rows, 1):
        p = "—" if row.p_value is None else (f"{row.p_value:.3f}" if row.p_value >= 0.001 else "<0.001")
        cells = [str(i), row.claim, row.source, row.experiment, row.ours, row.paper or "—", row.converged or "—", p,
                 f"**{row.verdict}**"]
        lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def claims_data(rows: list[ClaimRow]) -> list[dict[str, Any]]:
    """The claims as data (claims.json): what the comparison with a reference and the tests read."""
    return [{"number": i, **asdict(row)} for i, row in enumerate(rows, 1)]
