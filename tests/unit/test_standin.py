"""The issuer's stand-in rule for authorizations the model did not decide in time."""

from __future__ import annotations

import pytest

from twinbank.core.decisions import Outcome
from twinbank.core.standin import InvalidStandInPolicy, StandInCause, StandInPolicy


def test_amount_at_floor_limit_is_approved():
    outcome, reasons = StandInPolicy(approve_up_to=100.0).outcome_for(
        100.0, StandInCause.REGION_UNREACHABLE
    )
    assert outcome is Outcome.APPROVE
    assert reasons == ("STAND_IN_REGION_UNREACHABLE", "AMOUNT_WITHIN_FLOOR_LIMIT")


def test_amount_above_floor_limit_is_declined():
    outcome, reasons = StandInPolicy(approve_up_to=100.0).outcome_for(
        100.01, StandInCause.RESIDENCY_REJECTED
    )
    assert outcome is Outcome.DECLINE
    assert reasons == ("STAND_IN_RESIDENCY_REJECTED", "AMOUNT_ABOVE_FLOOR_LIMIT")


@pytest.mark.parametrize("limit", [-1.0, float("nan"), float("inf")])
def test_invalid_floor_limit_is_rejected(limit: float):
    with pytest.raises(InvalidStandInPolicy, match="approve_up_to"):
        StandInPolicy(approve_up_to=limit)
