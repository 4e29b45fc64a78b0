"""Decisions on transactions: outcomes, the versioned threshold policy, records."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from .explanations import DecisionExplanation
from .features.vector import FeatureVector
from .transactions import Transaction

# Decision ids are UUIDv5 in this namespace, derived from the transaction and the
# versions that decided it, so that a retried decision gets the same id.
DECISION_NAMESPACE = uuid.UUID("5f0c7e0a-6a8e-4d3c-9a51-2b1f3f6d9c10")
_NAMESPACE_BYTES = DECISION_NAMESPACE.bytes


class Outcome(StrEnum):
    APPROVE = "APPROVE"
    STEP_UP = "STEP_UP"
    DECLINE = "DECLINE"


class InvalidPolicy(ValueError):
    """Decision thresholds that cannot order approve < step-up < decline."""


@dataclass(frozen=True, slots=True)
class DecisionPolicy:
    """Score thresholds: below ``step_up_at`` approve, below ``decline_at`` step up
    (one-time passcode), otherwise decline. Scores are fraud probabilities in [0, 1]."""

    version: str = "thresholds-v1"
    step_up_at: float = 0.3
    decline_at: float = 0.7

    def __post_init__(self) -> None:
        if not 0.0 < self.step_up_at <= self.decline_at <= 1.0:
            raise InvalidPolicy(
                f"policy {self.version!r}: thresholds step_up_at={self.step_up_at} and "
                f"decline_at={self.decline_at} must satisfy 0 < step_up_at <= decline_at <= 1"
            )

    def outcome_for(self, score: float) -> tuple[Outcome, tuple[str, ...]]:
        """Return the outcome for a score and the reason codes that explain it."""
        if not 0.0 <= score <= 1.0:
            raise ValueError(
                f"score {score!r} is outside [0, 1]; scorers must return probabilities"
            )
        if score < self.step_up_at:
            return Outcome.APPROVE, ("SCORE_BELOW_STEP_UP_THRESHOLD",)
        if score < self.decline_at:
            return Outcome.STEP_UP, ("SCORE_IN_STEP_UP_BAND",)
        return Outcome.DECLINE, ("SCORE_AT_OR_ABOVE_DECLINE_THRESHOLD",)


@dataclass(frozen=True, slots=True)
class StageLatency:
    """Wall time spent in each stage of one decision, in nanoseconds.

    With batch scoring, ``scoring_ns`` is the batch's time divided by its size.
    """

    features_ns: int
    scoring_ns: int
    policy_ns: int

    @property
    def total_ns(self) -> int:
        return self.features_ns + self.scoring_ns + self.policy_ns


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """Everything needed to explain and audit one decision later."""

    decision_id: str
    transaction: Transaction
    decided_at_ns: int
    score: float
    outcome: Outcome
    reasons: tuple[str, ...]
    policy_version: str
    model_version: str
    features: FeatureVector
    latency: StageLatency
    degraded: tuple[str, ...] = field(default_factory=tuple)
    explanation: DecisionExplanation | None = None
    """Set by the ensemble decider (``twinbank.core.ensemble``); None for one model."""


def decision_id_for(transaction_id: int, model_version: str, policy_version: str) -> str:
    """Return the deterministic id of a decision (see DECISION_NAMESPACE).

    The text equals ``str(uuid.uuid5(DECISION_NAMESPACE, name))``, computed without
    building a ``uuid.UUID``: the first 16 bytes of the SHA-1 digest, with the version
    (5) and RFC 4122 variant bits set, in 8-4-4-4-12 hexadecimal groups.
    """
    name = f"{transaction_id}:{model_version}:{policy_version}"
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
