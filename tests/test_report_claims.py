"""The verdict rule (repro.report.claims): direction, significance over sentences and over seeds, spread."""

from __future__ import annotations

import pytest
from scipy import stats

from repro.report.claims import ClaimRow, SeedTest, Verdict, all_hold, claims_markdown, threshold_verdict, verdict

SEPARATED = SeedTest.welch([30.0, 30.5, 29.5], [40.0, 40.4, 39.6])  # Δ +10, spread 0.5, p tiny


def test_verdict_needs_direction_and_significance():
    assert verdict(2.0, 0.01) == "held"
    assert verdict(-2.0, 0.01) == "did not hold"
    assert verdict(-2.0, 0.01, claimed_direction=-1) == "held"
    assert verdict(2.0, 0.2) == "inconclusive"
    assert verdict(2.0, None) == "inconclusive"
    assert verdict(0.0, 0.0) == "inconclusive"


def test_welch_matches_the_textbook_formula():
    base, variant = [30.0, 31.0, 29.0], [33.0, 35.0, 34.5]
    test = SeedTest.welch(base, variant)
    assert test.difference == pytest.approx(34.1666667 - 30.0)
    assert test.spread == pytest.approx(stats.tstd(variant))  # the larger of the two sample stds
    va, vb = stats.tvar(base) / 3, stats.tvar(variant) / 3
    t = test.difference / (va + vb) ** 0.5
    df = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 2)  # Welch–Satterthwaite
    assert test.p_value == pytest.approx(2 * stats.t.sf(abs(t), df))
    assert test.seeds == (3, 3)


def test_seed_test_needs_two_seeds_a_side_and_some_variance():
    assert SeedTest.welch([30.0], [40.0, 41.0, 39.0]).p_value is None
    assert SeedTest.welch([30.0, 30.0], [40.0, 40.0]).p_value is None  # no variance: no t statistic
    assert SeedTest.paired([1.0]).p_value is None
    paired = SeedTest.paired([2.0, 2.5, 1.5])
    assert paired.difference == pytest.approx(2.0) and paired.spread == pytest.approx(0.5)
    assert paired.p_value == pytest.approx(stats.ttest_1samp([2.0, 2.5, 1.5], 0).pvalue)


def test_both_tests_must_agree():
    assert verdict(10.0, 0.001, seeds=SEPARATED) == "held"
    assert verdict(-10.0, 0.001, claimed_direction=-1, seeds=SeedTest.welch([40, 40.4, 39.6], [30, 30.5, 29.5])) \
        == "held"
    # the sentences say significant, the seeds do not (one seed far off): inconclusive
    noisy = SeedTest.welch([30.0, 30.5, 29.5], [40.0, 41.0, 20.0])
    assert noisy.p_value > 0.05 and verdict(10.0, 0.001, seeds=noisy) == "inconclusive"
    # the seeds say significant, the sentences do not
    assert verdict(10.0, 0.3, seeds=SEPARATED) == "inconclusive"
    # the two tests point opposite ways (pooled BLEU is not the mean of per-seed BLEU)
    assert verdict(-0.5, 0.01, seeds=SEPARATED) == "inconclusive"
    # no test over seeds (one seed a side): nothing is decided
    assert verdict(10.0, 0.001, seeds=SeedTest.welch([30.0], [40.0])) == "inconclusive"


def test_a_difference_inside_either_sides_seed_spread_is_inconclusive():
    # many seeds make a small shift significant, but it stays inside the variant's spread
    base = [30.0 + 0.01 * k for k in range(20)]
    variant = [31.0 + (3.0 if k % 2 else -3.0) for k in range(20)]
    wide = SeedTest.welch(base, variant)
    assert wide.difference > 0 and abs(wide.difference) <= wide.spread
    assert not wide.decides() and verdict(1.0, 0.001, seeds=wide) == "inconclusive"
    # the same spread on the base's side counts as much
    assert not SeedTest.welch(variant, base).decides()


def test_threshold_verdict_over_seeds():
    assert threshold_verdict([0.7], 0.5) == "held" and threshold_verdict([0.3], 0.5) == "did not hold"
    assert threshold_verdict([0.7, 0.72, 0.68], 0.5) == "held"
    assert threshold_verdict([0.2, 0.25, 0.3], 0.5) == "did not hold"
    assert threshold_verdict([0.9, 0.2, 0.6], 0.5) == "inconclusive"  # mean 0.57 but spread 0.35
    assert threshold_verdict([0.3, 0.32], 0.5, above=False) == "held"
    assert threshold_verdict([0.5, 0.5], 0.5) == "inconclusive"


def test_all_hold_combines_comparisons():
    assert all_hold(["held", "held"]) == "held"
    assert all_hold(["held", "inconclusive"]) == "inconclusive"
    assert all_hold(["inconclusive", "did not hold", "held"]) == "did not hold"
    assert all_hold([]) == "inconclusive"


def test_claims_markdown_states_rule_and_escapes_cells():
    row = ClaimRow(key="k", claim="a|b", source="§3.3", experiment="x", measured={"bleu": [1.0]}, ours="1.0 ± 0.1",
                   paper="", p_value=0.0001, verdict=Verdict.HELD, p_seeds=0.02)
    text = claims_markdown([row], "Claims", "scale")
    assert "## Rule" in text and "p < 0.05" in text and "Welch" in text
    assert "| 1 | a\\|b | §3.3 | x | 1.0 ± 0.1 | — | — | 0.020 | <0.001 | **held** |" in text


def test_claims_markdown_has_a_converged_column():
    row = ClaimRow(key="k", claim="c", source="§3.2", experiment="x", measured={}, ours="ours", paper="", p_value=None,
                   verdict=Verdict.HELD, converged="3/4")
    line = next(line for line in claims_markdown([row], "Claims", "scale").splitlines() if line.startswith("| 1 |"))
    assert "| 3/4 | — | — | **held** |" in line
