"""Two-group statistics for rates: intervals, ratio and difference, and their tests.

Counts are whole numbers of successes (approvals) out of trials (applicants). Every
interval is two-sided at ``confidence``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import StrEnum

from pydantic import BaseModel, ConfigDict
from scipy import stats


class Interval(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    lower: float
    upper: float

    def contains(self, value: float) -> bool:
        return self.lower <= value <= self.upper


class RateTest(StrEnum):
    FISHER_EXACT = "fisher_exact"
    TWO_PROPORTION_Z = "two_proportion_z"


class InvalidCounts(ValueError):
    """Counts that cannot be a rate: negative, or more successes than trials."""


def check_counts(successes: int, trials: int) -> None:
    if trials < 1 or successes < 0 or successes > trials:
        raise InvalidCounts(
            f"{successes} successes out of {trials} trials is not a rate; trials must be at "
            "least 1 and successes between 0 and trials"
        )


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> Interval:
    """Return the Wilson score interval of a rate (scipy's ``binomtest``)."""
    check_counts(successes, trials)
    interval = stats.binomtest(successes, trials).proportion_ci(confidence, method="wilson")
    return Interval(lower=float(interval.low), upper=float(interval.high))


def difference_interval(
    successes_1: int, trials_1: int, successes_2: int, trials_2: int, confidence: float = 0.95
) -> Interval:
    """Return Newcombe's hybrid score interval of rate 1 minus rate 2.

    It combines the two groups' Wilson intervals, which keeps its coverage near nominal
    for small groups and for rates near 0 or 1, where the simple Wald interval fails.
    """
    rate_1, rate_2 = successes_1 / trials_1, successes_2 / trials_2
    first = wilson_interval(successes_1, trials_1, confidence)
    second = wilson_interval(successes_2, trials_2, confidence)
    difference = rate_1 - rate_2
    lower = difference - math.hypot(rate_1 - first.lower, second.upper - rate_2)
    upper = difference + math.hypot(first.upper - rate_1, rate_2 - second.lower)
    return Interval(lower=max(-1.0, lower), upper=min(1.0, upper))


def ratio_interval(
    successes_1: int, trials_1: int, successes_2: int, trials_2: int, confidence: float = 0.95
) -> Interval | None:
    """Return the Katz log interval of rate 1 divided by rate 2, or None when rate 2 is 0.

    With a zero count in either group, 0.5 is added to each group's successes and
    failures (the Haldane-Anscombe correction) so that the interval stays finite.
    """
    check_counts(successes_1, trials_1)
    check_counts(successes_2, trials_2)
    if successes_2 == 0:
        return None
    a, n1, c, n2 = float(successes_1), float(trials_1), float(successes_2), float(trials_2)
    if successes_1 == 0:
        a, n1, c, n2 = a + 0.5, n1 + 1.0, c + 0.5, n2 + 1.0
    log_ratio = math.log((a / n1) / (c / n2))
    standard_error = math.sqrt(max(0.0, 1 / a - 1 / n1 + 1 / c - 1 / n2))
    z = stats.norm.ppf(0.5 + confidence / 2)
    return Interval(
        lower=math.exp(log_ratio - z * standard_error),
        upper=math.exp(log_ratio + z * standard_error),
    )


def two_proportion_z_test(
    successes_1: int, trials_1: int, successes_2: int, trials_2: int
) -> float:
    """Return the two-sided p-value of the pooled two-proportion z-test of equal rates.

    When both groups have all successes or all failures there is no variance and no
    evidence of a difference, so the p-value is 1.
    """
    check_counts(successes_1, trials_1)
    check_counts(successes_2, trials_2)
    pooled = (successes_1 + successes_2) / (trials_1 + trials_2)
    variance = pooled * (1 - pooled) * (1 / trials_1 + 1 / trials_2)
    if variance == 0:
        return 1.0
    z = (successes_1 / trials_1 - successes_2 / trials_2) / math.sqrt(variance)
    return float(2 * stats.norm.sf(abs(z)))


def fisher_exact_test(successes_1: int, trials_1: int, successes_2: int, trials_2: int) -> float:
    """Return the two-sided p-value of Fisher's exact test on the 2x2 table."""
    check_counts(successes_1, trials_1)
    check_counts(successes_2, trials_2)
    table = [[successes_1, trials_1 - successes_1], [successes_2, trials_2 - successes_2]]
    return float(stats.fisher_exact(table, alternative="two-sided").pvalue)


def choose_test(
    successes_1: int,
    trials_1: int,
    successes_2: int,
    trials_2: int,
    small_group_size: int,
    min_expected_count: float,
) -> RateTest:
    """Choose Fisher's exact test for a small group or a sparse table, else the z-test.

    The table is sparse when any cell's expected count under equal rates is below
    ``min_expected_count`` (Cochran's rule uses 5); the normal approximation behind the
    z-test is poor there.
    """
    if min(trials_1, trials_2) < small_group_size:
        return RateTest.FISHER_EXACT
    total = trials_1 + trials_2
    successes = successes_1 + successes_2
    expected = [
        trials * share / total
        for trials in (trials_1, trials_2)
        for share in (successes, total - successes)
    ]
    if min(expected) < min_expected_count:
        return RateTest.FISHER_EXACT
    return RateTest.TWO_PROPORTION_Z


def rate_test_p_value(
    test: RateTest, successes_1: int, trials_1: int, successes_2: int, trials_2: int
) -> float:
    if test is RateTest.FISHER_EXACT:
        return fisher_exact_test(successes_1, trials_1, successes_2, trials_2)
    return two_proportion_z_test(successes_1, trials_1, successes_2, trials_2)


def holm_adjusted(p_values: Sequence[float]) -> list[float]:
    """Return Holm-Bonferroni adjusted p-values, in the input order.

    They control the chance of any false alarm across the comparisons of one attribute.
    """
    order = sorted(range(len(p_values)), key=lambda index: p_values[index])
    adjusted = [0.0] * len(p_values)
    running = 0.0
    count = len(p_values)
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (count - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted
