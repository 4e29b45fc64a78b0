"""Properties of the fairness statistics on arbitrary counts and applicants."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from twinbank.core.fairness import (
    GroupStatus,
    analyse_attribute,
    difference_interval,
    ratio_interval,
    wilson_interval,
)

counts = st.integers(1, 400).flatmap(
    lambda trials: st.tuples(st.integers(0, trials), st.just(trials))
)


@given(counts)
def test_wilson_interval_holds_the_rate(count: tuple[int, int]):
    successes, trials = count
    interval = wilson_interval(successes, trials)
    assert 0.0 <= interval.lower <= successes / trials <= interval.upper <= 1.0


@given(counts, counts)
def test_difference_interval_holds_the_difference(first: tuple[int, int], second: tuple[int, int]):
    interval = difference_interval(*first, *second)
    difference = first[0] / first[1] - second[0] / second[1]
    assert -1.0 <= interval.lower <= difference + 1e-12
    assert difference - 1e-12 <= interval.upper <= 1.0


@given(counts, counts)
def test_ratio_interval_holds_the_ratio(first: tuple[int, int], second: tuple[int, int]):
    interval = ratio_interval(*first, *second)
    if second[0] == 0:
        assert interval is None
        return
    assert interval is not None
    if first[0] > 0:
        ratio = (first[0] / first[1]) / (second[0] / second[1])
        assert interval.lower <= ratio * (1 + 1e-9)
        assert ratio <= interval.upper * (1 + 1e-9)


applicant_groups = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c"]), st.booleans(), st.booleans()),
    min_size=2,
    max_size=300,
).filter(lambda rows: len({group for group, _, _ in rows}) >= 2)


@given(applicant_groups, st.randoms(use_true_random=False))
def test_report_ignores_applicant_order(rows, shuffler):  # type: ignore[no-untyped-def]
    shuffled = list(rows)
    shuffler.shuffle(shuffled)
    reports = [
        analyse_attribute(
            "g",
            np.array([group for group, _, _ in data]),
            np.array([approved for _, approved, _ in data]),
            np.array([qualified for _, _, qualified in data]),
        )
        for data in (rows, shuffled)
    ]
    assert reports[0] == reports[1]


@given(applicant_groups)
def test_status_follows_the_rule(rows):  # type: ignore[no-untyped-def]
    report = analyse_attribute(
        "g",
        np.array([group for group, _, _ in rows]),
        np.array([approved for _, approved, _ in rows]),
    )
    reference = [group for group in report.groups if group.status is GroupStatus.REFERENCE]
    assert [group.group for group in reference] == [report.reference_group]
    assert reference[0].approval.rate == max(group.approval.rate for group in report.groups)
    for group in report.groups:
        if group.group == report.reference_group:
            continue
        adverse = group.below_four_fifths and group.approval.significant
        assert (group.status is GroupStatus.ADVERSE_IMPACT) == adverse
        assert group.below_four_fifths == (
            group.approval.ratio is not None and group.approval.ratio < 0.8
        )
