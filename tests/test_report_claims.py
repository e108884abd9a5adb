"""The verdict rule: direction and significance both required."""

from __future__ import annotations

from repro.report.claims import ClaimRow, claims_markdown, threshold_verdict, verdict


def test_verdict_needs_direction_and_significance():
    assert verdict(2.0, 0.01) == "held"
    assert verdict(-2.0, 0.01) == "did not hold"
    assert verdict(-2.0, 0.01, claimed_direction=-1) == "held"
    assert verdict(2.0, 0.2) == "inconclusive"
    assert verdict(2.0, None) == "inconclusive"
    assert verdict(0.0, 0.0) == "inconclusive"
    assert threshold_verdict(0.3, 0.5) == "did not hold" and threshold_verdict(0.7, 0.5) == "held"


def test_claims_markdown_states_rule_and_escapes_cells():
    text = claims_markdown([ClaimRow("k", "a|b", "§3.3", "x", {"bleu": [1.0]}, "1.0 ± 0.1", "", 0.0001, "held")], "Claims", "scale")
    assert "## Rule" in text and "p < 0.05" in text
    assert "| 1 | a\\|b | §3.3 | x | 1.0 ± 0.1 | — | — | <0.001 | **held** |" in text


def test_seed_rule_makes_a_difference_within_the_seed_spread_inconclusive():
    assert verdict(0.8, 0.001) == "held"
    assert verdict(0.8, 0.001, seed_spread=1.0) == "inconclusive"  # whatever the bootstrap's p
    assert verdict(-1.5, 0.001, seed_spread=1.0) == "did not hold"
    assert verdict(1.5, 0.2, seed_spread=1.0) == "inconclusive"


def test_claims_markdown_has_a_converged_column():
    row = ClaimRow("k", "c", "§3.2", "x", {}, "ours", "", None, "held", converged="3/4")
    line = next(line for line in claims_markdown([row], "Claims", "scale").splitlines() if line.startswith("| 1 |"))
    assert "| 3/4 | — | **held** |" in line
