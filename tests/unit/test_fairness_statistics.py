"""Rates, intervals and tests behind the fairness checks, against closed forms and scipy."""

from __future__ import annotations

import math

import pytest
from scipy import stats
from scipy.stats.contingency import relative_risk

from twinbank.core.fairness import (
    InvalidCounts,
    RateTest,
    choose_test,
    difference_interval,
    fisher_exact_test,
    holm_adjusted,
    ratio_interval,
    two_proportion_z_test,
    wilson_interval,
)

Z95 = stats.norm.ppf(0.975)


def closed_form_wilson(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    rate = successes / trials
    centre = (rate + z * z / (2 * trials)) / (1 + z * z / trials)
    half = (
        z / (1 + z * z / trials) * math.sqrt(rate * (1 - rate) / trials + z * z / (4 * trials**2))
    )
    return centre - half, centre + half


@pytest.mark.parametrize(
    ("successes", "trials"), [(81, 263), (0, 10), (10, 10), (1, 1), (560, 700)]
)
def test_wilson_matches_closed_form(successes: int, trials: int):
    interval = wilson_interval(successes, trials)
    lower, upper = closed_form_wilson(successes, trials)
    assert interval.lower == pytest.approx(max(0.0, lower), abs=1e-12)
    assert interval.upper == pytest.approx(min(1.0, upper), abs=1e-12)


@pytest.mark.parametrize(("a", "n1", "c", "n2"), [(56, 70, 48, 80), (9, 10, 3, 10), (0, 25, 5, 30)])
def test_difference_interval_combines_wilson_bounds(a: int, n1: int, c: int, n2: int):
    l1, u1 = closed_form_wilson(a, n1)
    l2, u2 = closed_form_wilson(c, n2)
    p1, p2 = a / n1, c / n2
    interval = difference_interval(a, n1, c, n2)
    assert interval.lower == pytest.approx(p1 - p2 - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2))
    assert interval.upper == pytest.approx(p1 - p2 + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2))


def test_ratio_interval_matches_scipy_relative_risk():
    ours = ratio_interval(30, 100, 20, 110)
    theirs = relative_risk(30, 100, 20, 110).confidence_interval(0.95)
    assert ours is not None
    assert ours.lower == pytest.approx(theirs.low)
    assert ours.upper == pytest.approx(theirs.high)


def test_ratio_interval_corrects_zero_successes():
    interval = ratio_interval(0, 20, 10, 20)
    assert interval is not None
    assert 0 < interval.lower < interval.upper < 1


def test_ratio_interval_undefined_for_zero_reference():
    assert ratio_interval(3, 20, 0, 20) is None


def test_z_test_matches_chi_square_without_correction():
    table = [[120, 80], [90, 110]]
    expected = stats.chi2_contingency(table, correction=False).pvalue
    assert two_proportion_z_test(120, 200, 90, 200) == pytest.approx(expected)


def test_z_test_without_variance_is_one():
    assert two_proportion_z_test(10, 10, 20, 20) == 1.0
    assert two_proportion_z_test(0, 10, 0, 20) == 1.0


def test_fisher_matches_scipy():
    expected = stats.fisher_exact([[3, 7], [9, 1]]).pvalue
    assert fisher_exact_test(3, 10, 9, 10) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ((10, 20, 300, 400), RateTest.FISHER_EXACT),  # a group under 30
        ((2, 200, 3, 300), RateTest.FISHER_EXACT),  # expected approvals below 5: a sparse table
        ((100, 200, 150, 300), RateTest.TWO_PROPORTION_Z),
    ],
)
def test_test_choice(counts: tuple[int, int, int, int], expected: RateTest):
    assert choose_test(*counts, small_group_size=30, min_expected_count=5) is expected


def test_holm_adjustment():
    assert holm_adjusted([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm_adjusted([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm_adjusted([]) == []


@pytest.mark.parametrize(("successes", "trials"), [(-1, 10), (11, 10), (0, 0)])
def test_invalid_counts_are_named(successes: int, trials: int):
    with pytest.raises(InvalidCounts, match=f"{successes} successes out of {trials}"):
        wilson_interval(successes, trials)
