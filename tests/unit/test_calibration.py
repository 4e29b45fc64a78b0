"""Platt and isotonic calibration, the combiner, ECE and the reliability table."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.isotonic import IsotonicRegression

from twinbank.core.ensemble import (
    InvalidCalibrationData,
    InvalidCombiner,
    WeightedCombiner,
    calibration_from_dict,
    expected_calibration_error,
    fit_combiner,
    fit_isotonic,
    fit_platt,
    reliability_table,
    sigmoid,
)


def synthetic(seed: int, size: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    generator = np.random.default_rng(seed)
    true_log_odds = generator.normal(-3, 2, size)
    labels = generator.random(size) < sigmoid(true_log_odds)
    return true_log_odds, labels.astype(np.float64)


def test_platt_recovers_scale_and_shift():
    true_log_odds, labels = synthetic(0)
    # The score is twice the true log-odds plus 1; Platt should undo it.
    fitted = fit_platt(2 * true_log_odds + 1, labels)
    assert fitted.slope == pytest.approx(0.5, abs=0.05)
    assert fitted.intercept == pytest.approx(-0.5, abs=0.15)


def test_isotonic_matches_scikit_learn():
    scores, labels = synthetic(1, 3_000)
    ours = fit_isotonic(scores, labels)
    reference = IsotonicRegression(out_of_bounds="clip").fit(scores, labels)
    grid = np.linspace(scores.min(), scores.max(), 500)
    np.testing.assert_allclose(ours.probabilities(grid), reference.predict(grid), atol=1e-9)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.floats(-5, 5), st.booleans()), min_size=2, max_size=60).filter(
        lambda rows: len({label for _, label in rows}) == 2
    )
)
def test_isotonic_is_non_decreasing_and_bounded(rows):
    scores = np.array([score for score, _ in rows])
    labels = np.array([label for _, label in rows], dtype=np.float64)
    fitted = fit_isotonic(scores, labels)
    assert np.all(np.diff(fitted.values) >= 0)
    assert min(fitted.values) >= 0
    assert max(fitted.values) <= 1


def test_calibration_round_trips_through_dict():
    scores, labels = synthetic(2, 2_000)
    for fitted in (fit_platt(scores, labels), fit_isotonic(scores, labels)):
        rebuilt = calibration_from_dict(fitted.to_dict())
        np.testing.assert_array_equal(rebuilt.probabilities(scores), fitted.probabilities(scores))


def test_unknown_calibration_kind_is_rejected():
    with pytest.raises(InvalidCalibrationData, match="'beta' is unknown"):
        calibration_from_dict({"kind": "beta"})


def test_single_class_labels_are_rejected():
    with pytest.raises(InvalidCalibrationData, match="single class"):
        fit_platt([0.1, 0.2], [0, 0])


def test_nan_scores_are_rejected():
    with pytest.raises(InvalidCalibrationData, match="NaN"):
        fit_isotonic([0.1, float("nan")], [0, 1])


def test_ece_is_small_for_calibrated_probabilities():
    true_log_odds, labels = synthetic(3, 200_000)
    assert expected_calibration_error(labels, sigmoid(true_log_odds)) < 0.01


def test_ece_sees_overconfidence():
    true_log_odds, labels = synthetic(4, 200_000)
    assert expected_calibration_error(labels, sigmoid(3 * true_log_odds + 3)) > 0.05


def test_reliability_table_counts_every_row():
    table = reliability_table([0, 1, 0, 1], [0.05, 0.95, 0.5, 1.0], bins=10)
    assert sum(row.count for row in table) == 4
    assert table[-1].upper == 1.0
    assert table[-1].count == 2
    assert table[-1].observed_fraud_rate == 1.0


def test_combiner_renormalizes_missing_component():
    combiner = WeightedCombiner(("a", "b"), (1.0, 3.0), intercept=0.5)
    assert combiner.effective_weights([True, False]) == (4.0, 0.0)
    combined = combiner.combine(np.array([[2.0, 100.0]]), present=[True, False])
    assert combined[0] == pytest.approx(0.5 + 4.0 * 2.0)


def test_combiner_without_any_component_raises():
    combiner = WeightedCombiner(("a", "b"), (1.0, 3.0))
    with pytest.raises(InvalidCombiner, match="no weighted component"):
        combiner.effective_weights([False, False])


def test_combiner_rejects_negative_weight():
    with pytest.raises(InvalidCombiner, match=r"\(1.0, -1.0\)"):
        WeightedCombiner(("a", "b"), (1.0, -1.0))


def test_fit_combiner_drops_anti_correlated_component():
    true_log_odds, labels = synthetic(5)
    noise = np.random.default_rng(6).normal(0, 1, len(labels))
    fitted = fit_combiner(
        ("good", "inverted"), np.column_stack([true_log_odds, -true_log_odds + noise]), labels
    )
    assert fitted.weights[1] == 0.0
    assert fitted.weights[0] == pytest.approx(1.0, abs=0.1)
