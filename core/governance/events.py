"""Governance events: every registration, gate result, sign-off and transition.

Each event becomes one audit entry of kind ``governance.<kind>``, chained with the
decisions in the same trail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..audit.chain import AuditEntry
from .inventory import Role

GOVERNANCE_KIND_PREFIX = "governance."


class GovernanceEventKind(StrEnum):
    MODEL_REGISTERED = "model_registered"
    GATE_RESULT_RECORDED = "gate_result_recorded"
    SIGNED_OFF = "signed_off"
    MODEL_SUBMITTED = "model_submitted"
    MODEL_PROMOTED = "model_promoted"
    MODEL_REJECTED = "model_rejected"
    MODEL_RETURNED_TO_DEVELOPMENT = "model_returned_to_development"
    MODEL_RETIRED = "model_retired"
    PERIODIC_VALIDATION_RECORDED = "periodic_validation_recorded"


@dataclass(frozen=True, slots=True)
class GovernanceEvent:
    """Something that happened to a model, who did it, in which role and when.

    ``details`` is plain data specific to the kind (the gate and its evidence, the
    statuses of a transition, the registration).
    """

    kind: GovernanceEventKind
    model_id: str
    model_version: str
    at_ns: int
    actor: str
    role: Role | None
    details: dict[str, Any] = field(default_factory=dict)

    def audit_entry(self) -> AuditEntry:
        return AuditEntry(
            kind=GOVERNANCE_KIND_PREFIX + self.kind.value,
            recorded_at_ns=self.at_ns,
            body={
                "event": self.kind.value,
                "model_id": self.model_id,
                "actor": self.actor,
                "role": None if self.role is None else self.role.value,
                "details": self.details,
            },
            model_id=self.model_id,
            model_version=self.model_version,
        )
