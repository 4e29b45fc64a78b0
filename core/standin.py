"""Stand-in decisions: what the issuer decides when the fraud model's decision is not
available in time.

When an issuer cannot answer an authorization in time, card networks can decide on
its behalf within limits the issuer set ("stand-in processing"), and an issuer's own
switch can fall back to simple rules when its fraud scoring is late. The twin models
both with one rule: approve payments up to a floor limit, decline larger ones. It
applies the rule to every request that was rejected, failed, timed out or could not
read its features, so that faults show up in the fraud outcomes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from .decisions import Outcome


class StandInCause(StrEnum):
    """The reason the model's decision was not used."""

    RESIDENCY_REJECTED = "RESIDENCY_REJECTED"
    NO_HEALTHY_REGION = "NO_HEALTHY_REGION"
    REGION_UNREACHABLE = "REGION_UNREACHABLE"
    QUEUE_FULL = "QUEUE_FULL"
    QUEUE_TIMEOUT = "QUEUE_TIMEOUT"
    REPLICA_CRASHED = "REPLICA_CRASHED"
    FEATURES_UNAVAILABLE = "FEATURES_UNAVAILABLE"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"


class InvalidStandInPolicy(ValueError):
    """A floor limit that is negative or not a number."""


@dataclass(frozen=True, slots=True)
class StandInPolicy:
    """Approve amounts up to ``approve_up_to`` (inclusive), decline larger ones."""

    version: str = "stand-in-v1"
    approve_up_to: float = 100.0

    def __post_init__(self) -> None:
        if not math.isfinite(self.approve_up_to) or self.approve_up_to < 0:
            raise InvalidStandInPolicy(
                f"stand-in policy {self.version!r}: approve_up_to={self.approve_up_to!r} must "
                "be a finite amount >= 0"
            )

    def outcome_for(self, amount: float, cause: StandInCause) -> tuple[Outcome, tuple[str, ...]]:
        """Return the stand-in outcome for a payment and its reason codes."""
        if amount <= self.approve_up_to:
            return Outcome.APPROVE, (f"STAND_IN_{cause.value}", "AMOUNT_WITHIN_FLOOR_LIMIT")
        return Outcome.DECLINE, (f"STAND_IN_{cause.value}", "AMOUNT_ABOVE_FLOOR_LIMIT")
