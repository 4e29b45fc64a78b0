"""The model inventory record: what a model is, who answers for it, where it stands."""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,99}$")]
"""Model names and versions: lower-case letters, digits, '.', '_' and '-'."""

Person = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class RiskTier(IntEnum):
    """Model risk tier: 1 is the highest risk and gets the strictest review."""

    HIGH = 1
    MEDIUM = 2
    LOW = 3


class ModelStatus(StrEnum):
    DEVELOPMENT = "development"
    VALIDATION = "validation"
    APPROVAL = "approval"
    PRODUCTION = "production"
    MONITORING = "monitoring"
    REJECTED = "rejected"
    RETIRED = "retired"


SERVING_STATUSES = frozenset({ModelStatus.PRODUCTION, ModelStatus.MONITORING})
"""Statuses in which a model version makes live decisions."""


class Role(StrEnum):
    """Roles in model risk management. A person may hold several, but acts in one per
    review of a model (see ``lifecycle``)."""

    DEVELOPER = "developer"
    VALIDATOR = "validator"
    MODEL_RISK_MANAGER = "model_risk_manager"
    RISK_COMMITTEE = "risk_committee"


class Gate(StrEnum):
    DOCUMENTATION = "documentation_complete"
    PERFORMANCE = "performance_thresholds_met"
    FAIRNESS = "fairness_validation_passed"
    INDEPENDENT_VALIDATION = "independent_validation_complete"
    MRM_SIGN_OFF = "model_risk_management_sign_off"
    RISK_COMMITTEE_APPROVAL = "risk_committee_approval"


EVIDENCE_GATES = (Gate.DOCUMENTATION, Gate.PERFORMANCE, Gate.FAIRNESS)
"""Gates passed on evidence that a validator records."""

SIGN_OFF_ROLES = {
    Gate.INDEPENDENT_VALIDATION: Role.VALIDATOR,
    Gate.MRM_SIGN_OFF: Role.MODEL_RISK_MANAGER,
    Gate.RISK_COMMITTEE_APPROVAL: Role.RISK_COMMITTEE,
}
"""Gates passed by a person's sign-off, and the role that signs each."""

SIGN_OFF_GATES = {role: gate for gate, role in SIGN_OFF_ROLES.items()}


class ComplianceStatus(StrEnum):
    NOT_ASSESSED = "not_assessed"
    COMPLIANT = "compliant"
    FINDINGS_OPEN = "findings_open"
    NON_COMPLIANT = "non_compliant"


class Lineage(BaseModel):
    """Where a model version came from: enough to reload its data and rerun its training."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    training_data_version: str = Field(min_length=1, max_length=200)
    feature_pipeline_version: str = Field(min_length=1, max_length=200)
    training_run: str = Field(min_length=1, max_length=200)


class FinancialExposure(BaseModel):
    """Money at stake in the model's decisions each year."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: float = Field(ge=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, such as EUR")


class ModelDetails(BaseModel):
    """What a developer states about a model version when registering it.

    ``fair_lending`` marks models that make or inform credit decisions about people,
    which then need the fairness gate at every tier. ``performance_thresholds`` maps
    metric names to the minimum value that the performance gate requires.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())

    name: Name
    version: Name
    risk_tier: RiskTier
    owner: Person
    material_use: str = Field(min_length=1, max_length=2000)
    decisions_per_year: int = Field(ge=0)
    financial_exposure: FinancialExposure
    fair_lending: bool = False
    lineage: Lineage
    performance_thresholds: dict[str, float] = Field(min_length=1)
    description: str = Field(default="", max_length=5000)
    intended_use: str = Field(default="", max_length=5000)
    out_of_scope_uses: tuple[str, ...] = ()
    limitations: tuple[str, ...] = ()
    additional_builders: tuple[Person, ...] = Field(
        default=(), description="People besides the registering developer who built the model."
    )

    @field_validator("performance_thresholds")
    @classmethod
    def _metric_names(cls, thresholds: dict[str, float]) -> dict[str, float]:
        for metric in thresholds:
            if not metric or not metric.replace("_", "").replace("@", "").isalnum():
                raise ValueError(
                    f"metric name {metric!r} must be letters, digits, '_' or '@', "
                    "such as auc_roc or card_precision@100"
                )
        return thresholds


class ModelRegistration(ModelDetails):
    """A registration request (see ``ModelDetails``)."""

    @property
    def model_id(self) -> str:
        return model_id_of(self.name, self.version)


def model_id_of(name: str, version: str) -> str:
    """Return the inventory id of a model version: ``NAME@VERSION``."""
    return f"{name}@{version}"


class GateResult(BaseModel):
    """The latest result of one gate in the current review of a model.

    ``evidence`` is plain data (metrics, a fairness summary, a document reference);
    ``evidence_sha256`` is the digest of its canonical JSON, so that a model card or an
    auditor can tell which evidence was judged.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    gate: Gate
    passed: bool
    recorded_by: str
    role: Role
    recorded_at_ns: int
    evidence: dict[str, Any] = Field(default_factory=dict)
    evidence_sha256: str = ""
    note: str = ""


class StatusChange(BaseModel):
    """One transition in a model's life, with who made it and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    from_status: ModelStatus | None
    to_status: ModelStatus
    at_ns: int
    actor: str
    role: Role | None
    action: str
    reason: str = ""


class ModelRecord(ModelDetails):
    """The inventory record of one model version, as the governance store keeps it.

    ``review_cycle`` counts the times the model went back to development; gate results
    and the roles people acted in belong to the current cycle only. ``revision``
    increases with every stored change, for optimistic concurrency.
    """

    model_id: str
    status: ModelStatus
    builders: tuple[str, ...]
    registered_at_ns: int
    registered_by: str
    review_cycle: int = 1
    gate_results: dict[Gate, GateResult] = Field(default_factory=dict)
    acting_roles: dict[str, Role] = Field(
        default_factory=dict, description="The role each person acted in during this cycle."
    )
    history: tuple[StatusChange, ...] = ()
    last_validation_ns: int | None = None
    next_validation_ns: int | None = None
    compliance_status: ComplianceStatus = ComplianceStatus.NOT_ASSESSED
    revision: int = 1

    def passed(self, gate: Gate) -> bool:
        result = self.gate_results.get(gate)
        return result is not None and result.passed

    @property
    def is_serving(self) -> bool:
        return self.status in SERVING_STATUSES
