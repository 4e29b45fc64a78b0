"""The versioned threshold policy."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twinbank.core.decisions import (
    DECISION_NAMESPACE,
    DecisionPolicy,
    InvalidPolicy,
    Outcome,
    decision_id_for,
)


@pytest.mark.parametrize(
    ("score", "outcome"),
    [
        (0.0, Outcome.APPROVE),
        (0.2999, Outcome.APPROVE),
        (0.3, Outcome.STEP_UP),
        (0.6999, Outcome.STEP_UP),
        (0.7, Outcome.DECLINE),
        (1.0, Outcome.DECLINE),
    ],
)
def test_default_thresholds(score: float, outcome: Outcome):
    assert DecisionPolicy().outcome_for(score)[0] is outcome


def test_each_outcome_has_a_reason_code():
    reasons = {DecisionPolicy().outcome_for(score)[1] for score in (0.1, 0.5, 0.9)}
    assert len(reasons) == 3


@pytest.mark.parametrize("score", [-0.01, 1.01, float("nan")])
def test_score_outside_unit_interval_is_rejected(score: float):
    with pytest.raises(ValueError, match="outside \\[0, 1\\]"):
        DecisionPolicy().outcome_for(score)


def test_thresholds_must_be_ordered():
    with pytest.raises(InvalidPolicy, match=r"step_up_at=0\.8 and decline_at=0\.5"):
        DecisionPolicy("bad", 0.8, 0.5)


@given(st.floats(0, 1), st.floats(0, 1))
def test_outcome_is_monotone_in_score(low: float, high: float):
    low, high = sorted((low, high))
    order = [Outcome.APPROVE, Outcome.STEP_UP, Outcome.DECLINE]
    policy = DecisionPolicy()
    assert order.index(policy.outcome_for(low)[0]) <= order.index(policy.outcome_for(high)[0])


@given(st.integers(min_value=-(2**63), max_value=2**63), st.text(), st.text())
def test_decision_id_equals_uuid5(transaction_id: int, model_version: str, policy_version: str):
    name = f"{transaction_id}:{model_version}:{policy_version}"
    expected = str(uuid.uuid5(DECISION_NAMESPACE, name))
    assert decision_id_for(transaction_id, model_version, policy_version) == expected


def test_decision_id_is_deterministic_and_version_sensitive():
    assert decision_id_for(1, "m", "p") == decision_id_for(1, "m", "p")
    assert decision_id_for(1, "m", "p") != decision_id_for(1, "m2", "p")
    assert decision_id_for(1, "m", "p") != decision_id_for(2, "m", "p")
