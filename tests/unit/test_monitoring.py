"""Monitoring rules: PSI and KS drift, score shift, fraud rate by segment, freshness,
overdue validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from tests.support.governance import ALICE, BOB, DAY_NS, START_NS, registration
from twinbank.core.governance import Gate, lifecycle
from twinbank.core.monitoring import (
    EMPTY_SHARE,
    DriftSettings,
    InvalidMonitoringInput,
    PsiBand,
    Severity,
    drift_alerts,
    feature_drift,
    feature_freshness,
    fraud_rate_by_segment,
    ks_test,
    overdue_validation_alerts,
    population_stability_index,
    psi_band,
    score_shift,
)


def test_psi_by_hand():
    reference = np.array([1.0, 2.0, 3.0, 4.0])
    current = np.array([1.0, 1.0, 1.0, 4.0])
    result = population_stability_index(reference, current, DriftSettings(bins=2))
    assert result.edges == [2.5]
    assert result.reference_shares == [0.5, 0.5, 0.0]
    assert result.current_shares == [0.75, 0.25, 0.0]
    expected = (0.75 - 0.5) * math.log(0.75 / 0.5) + (0.25 - 0.5) * math.log(0.25 / 0.5)
    assert result.psi == pytest.approx(expected)


def test_psi_of_identical_samples_is_zero():
    sample = np.random.default_rng(1).normal(size=1_000)
    assert population_stability_index(sample, sample).psi == pytest.approx(0.0)


def test_psi_bands():
    assert psi_band(0.099) is PsiBand.STABLE
    assert psi_band(0.1) is PsiBand.MODERATE
    assert psi_band(0.249) is PsiBand.MODERATE
    assert psi_band(0.25) is PsiBand.SIGNIFICANT


def test_missing_values_have_their_own_bin():
    reference = np.arange(100, dtype=float)
    current = np.where(np.arange(100) % 2 == 0, np.nan, np.arange(100, dtype=float))
    result = population_stability_index(reference, current)
    assert result.reference_shares[-1] == 0.0
    assert result.current_shares[-1] == 0.5
    expected_missing_term = (0.5 - EMPTY_SHARE) * math.log(0.5 / EMPTY_SHARE)
    assert result.psi > expected_missing_term
    assert result.band is PsiBand.SIGNIFICANT


def test_constant_reference_has_two_bins():
    result = population_stability_index(np.ones(50), np.array([1.0, 2.0]))
    assert result.edges == [1.0]
    assert result.current_shares == [0.5, 0.5, 0.0]


def test_ks_matches_scipy_and_skips_missing():
    rng = np.random.default_rng(2)
    before, after = rng.normal(size=300), rng.normal(0.2, size=300)
    expected = stats.ks_2samp(before, after)
    with_missing = np.append(after, [np.nan, np.nan])
    result = ks_test(before, with_missing)
    assert result is not None
    assert result.statistic == pytest.approx(expected.statistic)
    assert result.p_value == pytest.approx(expected.pvalue)
    assert ks_test(before, np.array([np.nan])) is None


def test_shifted_score_raises_alerts():
    rng = np.random.default_rng(3)
    drift, alerts = score_shift(rng.beta(1, 20, 5_000), rng.beta(2, 10, 5_000))
    assert drift.psi.band is PsiBand.SIGNIFICANT
    assert {(alert.rule, alert.severity) for alert in alerts} == {
        ("score_shift.psi", Severity.CRITICAL),
        ("score_shift.ks", Severity.WARNING),
    }
    assert drift.current_mean > drift.reference_mean


def test_stable_feature_raises_no_alert():
    rng = np.random.default_rng(4)
    drifts = feature_drift({"amount": rng.normal(size=5_000)}, {"amount": rng.normal(size=5_000)})
    assert drifts[0].psi.band is PsiBand.STABLE
    assert drift_alerts(drifts, "feature_drift") == []


def test_small_samples_raise_no_alert():
    drifts = feature_drift({"x": np.zeros(50)}, {"x": np.ones(50)})
    assert drifts[0].psi.band is PsiBand.SIGNIFICANT
    assert drift_alerts(drifts, "feature_drift", DriftSettings(min_rows=100)) == []
    assert drift_alerts(drifts, "feature_drift", DriftSettings(min_rows=10)) != []


def test_feature_drift_needs_every_feature():
    with pytest.raises(InvalidMonitoringInput, match=r"\['b'\]"):
        feature_drift({"a": [1.0], "b": [2.0]}, {"a": [1.0]})


@pytest.mark.parametrize(("values", "message"), [([], "empty"), ([np.inf], "infinite")])
def test_invalid_samples_are_named(values, message):  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidMonitoringInput, match=message):
        population_stability_index(values, [1.0])


def test_segment_with_rising_fraud_is_flagged():
    reference_segments = np.array(["eu"] * 5_000 + ["us"] * 5_000)
    reference_fraud = np.r_[np.arange(5_000) < 50, np.arange(5_000) < 50]
    segments = np.array(["eu"] * 5_000 + ["us"] * 5_000 + ["asia"] * 20)
    fraud = np.r_[np.arange(5_000) < 50, np.arange(5_000) < 200, np.arange(20) < 1]
    rates, alerts = fraud_rate_by_segment(segments, fraud, reference_segments, reference_fraud)
    by_segment = {rate.segment: rate for rate in rates}
    assert by_segment["us"].rate == pytest.approx(0.04)
    assert by_segment["us"].ratio == pytest.approx(4.0)
    assert by_segment["us"].interval.contains(0.04)
    assert by_segment["asia"].reference_rate is None
    assert [alert.subject for alert in alerts] == ["us"]


def test_small_segment_increase_is_not_flagged():
    rates, alerts = fraud_rate_by_segment(
        ["x"] * 10, [True] + [False] * 9, ["x"] * 1_000, [True] * 10 + [False] * 990
    )
    assert rates[0].ratio == pytest.approx(10.0)
    assert alerts == []


def test_feature_freshness():
    now = 10 * 3_600 * 10**9
    statuses, alerts = feature_freshness(
        {
            "fresh": now - 60 * 10**9,
            "stale": now - 5_400 * 10**9,
            "dead": now - 9_000 * 10**9,
            "never": None,
        },
        now,
        3_600 * 10**9,
    )
    assert [status.stale for status in statuses] == [
        True,
        False,
        True,
        True,
    ]  # dead, fresh, never, stale
    severity = {alert.subject: alert.severity for alert in alerts}
    assert severity == {
        "dead": Severity.CRITICAL,
        "never": Severity.CRITICAL,
        "stale": Severity.WARNING,
    }


def serving_tier_three_model():  # type: ignore[no-untyped-def]
    record = lifecycle.register(registration(tier=3), ALICE, START_NS).record
    record = lifecycle.submit(record, ALICE, START_NS).record
    for gate in (Gate.DOCUMENTATION, Gate.PERFORMANCE):
        record = lifecycle.record_evidence(record, BOB, START_NS, gate, True, {}).record
    record = lifecycle.sign(record, BOB, START_NS).record
    record = lifecycle.promote(record, BOB, START_NS).record
    return lifecycle.promote(record, BOB, START_NS).record


def test_overdue_validation_alerts():
    record = serving_tier_three_model()
    due = record.next_validation_ns
    assert overdue_validation_alerts([record], due - 40 * DAY_NS) == []
    [notice] = overdue_validation_alerts([record], due - 10 * DAY_NS)
    assert (notice.rule, notice.severity) == ("validation_due", Severity.INFO)
    [alert] = overdue_validation_alerts([record], due + 3 * DAY_NS)
    assert (alert.rule, alert.severity, round(alert.value)) == (
        "validation_overdue",
        Severity.WARNING,
        3,
    )
