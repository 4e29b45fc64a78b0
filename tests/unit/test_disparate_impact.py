"""Disparate impact by protected group: reference, four-fifths, significance, equal opportunity."""

from __future__ import annotations

import numpy as np
import pytest

from twinbank.core.fairness import (
    FairnessReport,
    FairnessSettings,
    GroupStatus,
    InvalidFairnessInput,
    RateTest,
    analyse_attribute,
)


def applicants(counts: dict[str, tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Return group labels and approvals with ``approved`` of ``total`` per group."""
    labels, approved = [], []
    for group, (approvals, total) in counts.items():
        labels += [group] * total
        approved += [True] * approvals + [False] * (total - approvals)
    return np.array(labels), np.array(approved)


def by_group(report):  # type: ignore[no-untyped-def]
    return {group.group: group for group in report.groups}


def test_reference_is_highest_rate():
    report = analyse_attribute("sex", *applicants({"f": (80, 100), "m": (70, 100)}))
    assert report.reference_group == "f"
    assert report.reference_rule == "highest_rate"
    groups = by_group(report)
    assert groups["f"].status is GroupStatus.REFERENCE
    assert groups["f"].approval.ratio == 1.0
    assert groups["m"].approval.ratio == pytest.approx(0.7 / 0.8)


def test_configured_reference():
    settings = FairnessSettings(reference_groups={"sex": "m"})
    report = analyse_attribute(
        "sex", *applicants({"f": (80, 100), "m": (70, 100)}), settings=settings
    )
    assert report.reference_group == "m"
    assert report.reference_rule == "configured"
    assert by_group(report)["f"].approval.ratio == pytest.approx(0.8 / 0.7)


def test_unknown_configured_reference_is_named():
    settings = FairnessSettings(reference_groups={"sex": "x"})
    with pytest.raises(
        InvalidFairnessInput, match=r"'x' does not occur; the groups are \['f', 'm'\]"
    ):
        analyse_attribute("sex", *applicants({"f": (8, 10), "m": (7, 10)}), settings=settings)


def test_large_significant_shortfall_is_adverse_impact():
    report = analyse_attribute("age", *applicants({"young": (600, 1000), "old": (800, 1000)}))
    young = by_group(report)["young"]
    assert young.approval.ratio == pytest.approx(0.75)
    assert young.below_four_fifths
    assert young.approval.test is RateTest.TWO_PROPORTION_Z
    assert young.approval.significant
    assert young.status is GroupStatus.ADVERSE_IMPACT


def test_small_group_shortfall_alone_raises_no_alert():
    report = analyse_attribute("age", *applicants({"old": (800, 1000), "young": (6, 10)}))
    young = by_group(report)["young"]
    assert young.below_four_fifths
    assert young.approval.test is RateTest.FISHER_EXACT
    assert not young.approval.significant
    assert young.status is GroupStatus.BELOW_THRESHOLD_NOT_SIGNIFICANT


def test_significant_difference_above_four_fifths_passes():
    report = analyse_attribute("age", *applicants({"a": (9000, 10000), "b": (8500, 10000)}))
    b = by_group(report)["b"]
    assert b.approval.significant
    assert not b.below_four_fifths
    assert b.status is GroupStatus.PASSES


def test_ratio_of_exactly_four_fifths_is_not_below():
    report = analyse_attribute("g", *applicants({"a": (500, 500), "b": (400, 500)}))
    assert by_group(report)["b"].approval.ratio == pytest.approx(0.8)
    assert not by_group(report)["b"].below_four_fifths


def test_holm_adjustment_can_clear_an_alert():
    counts = {"a": (85, 100), "b": (67, 100), "c": (84, 100), "d": (83, 100)}
    plain = analyse_attribute("g", *applicants(counts))
    adjusted = analyse_attribute(
        "g", *applicants(counts), settings=FairnessSettings(p_value_adjustment="holm")
    )
    assert by_group(plain)["b"].status is GroupStatus.ADVERSE_IMPACT
    b = by_group(adjusted)["b"]
    assert b.approval.adjusted_p_value > b.approval.p_value
    assert b.approval.adjusted_p_value == pytest.approx(min(1.0, 3 * b.approval.p_value))


def test_intervals_surround_estimates():
    report = analyse_attribute("g", *applicants({"a": (70, 90), "b": (40, 80)}))
    for group in report.groups:
        approval = group.approval
        assert approval.rate_interval.contains(approval.rate)
        if approval.ratio_interval is not None:
            assert approval.ratio_interval.contains(approval.ratio)
            assert approval.difference_interval.contains(approval.difference)


def test_equal_opportunity_among_qualified():
    groups = np.array(["a"] * 6 + ["b"] * 6)
    approved = np.array([1, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0], dtype=bool)
    qualified = np.array([1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0], dtype=bool)
    report = analyse_attribute("g", groups, approved, qualified)
    a, b = by_group(report)["a"], by_group(report)["b"]
    assert a.equal_opportunity.qualified == 4
    assert a.equal_opportunity.approved_qualified == 3
    assert b.equal_opportunity.approved_qualified == 1
    assert b.equal_opportunity.comparison.difference == pytest.approx(0.25 - 0.75)
    assert a.equal_opportunity.comparison.difference == 0.0


def test_groups_follow_given_order():
    labels, approved = applicants({"old": (5, 10), "young": (5, 10), "middle": (5, 10)})
    report = analyse_attribute("age", labels, approved, order=["young", "middle"])
    assert [group.group for group in report.groups] == ["young", "middle", "old"]


@pytest.mark.parametrize(
    ("groups", "approved", "message"),
    [
        (["a", "b"], [True], "differ in length"),
        ([], [], "no applicants"),
        (["a", "a"], [True, False], "at least two groups"),
        (["a", "b"], [2, 0], "booleans or 0/1"),
    ],
)
def test_invalid_input_is_named(groups, approved, message):  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidFairnessInput, match=message):
        analyse_attribute("g", groups, approved)


def test_report_gate_lists_findings():
    adverse = analyse_attribute("age", *applicants({"young": (600, 1000), "old": (800, 1000)}))
    fine = analyse_attribute("sex", *applicants({"f": (790, 1000), "m": (800, 1000)}))
    report = FairnessReport(
        model="m@1", dataset="d", population="p", decision_rule="r", attributes=[fine, adverse]
    )
    assert not report.passed
    assert [(f.attribute, f.group, f.reference_group) for f in report.findings] == [
        ("age", "young", "old")
    ]
    assert FairnessReport.model_validate_json(report.model_dump_json()) == report
