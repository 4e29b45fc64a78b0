"""Request and response bodies of the HTTP API (pydantic; they define the OpenAPI document).

Requests forbid unknown fields and use strict numbers: a string where a number
belongs, a float where an integer belongs or a boolean anywhere is a 422, never
coerced.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from twinbank.core.decisions import Outcome
from twinbank.core.fairness import FairnessReport
from twinbank.core.features.online import ValueStatus
from twinbank.core.governance import (
    ComplianceStatus,
    DocumentationEvidence,
    Gate,
    ModelRecord,
    ModelRegistration,
    ModelStatus,
    PerformanceEvidence,
    RiskTier,
    Role,
)
from twinbank.core.timestamps import from_datetime

INT64_MAX = 2**63 - 1
LATEST_TIMESTAMP = datetime(2262, 4, 11, tzinfo=UTC)  # int64 nanoseconds end in 2262

Identifier = Annotated[int, Strict(), Field(ge=0, le=INT64_MAX)]
Amount = Annotated[float, Strict(), Field(ge=0.0, le=1e9, allow_inf_nan=False)]
EntityKeyValue = (
    Annotated[int, Strict(), Field(ge=0, le=INT64_MAX)]
    | Annotated[str, Strict(), Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]
)
FeatureName = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_]+$")]
Milliseconds = Annotated[float, Field(ge=0.0)]


class Problem(BaseModel):
    """An error other than a validation error."""

    detail: str


class TransactionRequest(BaseModel):
    """A card payment to decide."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "transaction_id": 1754155,
                    "timestamp": "2018-10-01T08:15:00Z",
                    "customer_id": 2341,
                    "terminal_id": 8010,
                    "amount": 57.16,
                }
            ]
        },
    )

    transaction_id: Identifier = Field(description="Unique id; a retry reuses it.")
    timestamp: AwareDatetime = Field(
        description="Authorization time, RFC 3339 with a time zone, 1970-01-01 to 2262-04-10."
    )
    customer_id: Identifier
    terminal_id: Identifier
    amount: Amount = Field(description="Amount in the card's currency, 0 to 1e9.")

    @field_validator("timestamp", mode="before")
    @classmethod
    def _text(cls, value: object) -> object:
        # Lax datetimes also accept Unix times as numbers; this API takes RFC 3339 only.
        if not isinstance(value, str):
            raise ValueError(
                "must be an RFC 3339 string with a time zone, such as 2018-10-01T08:15:00Z, "
                f"not {value!r}"
            )
        return value

    @field_validator("timestamp")
    @classmethod
    def _representable(cls, value: datetime) -> datetime:
        if not datetime(1970, 1, 1, tzinfo=UTC) <= value < LATEST_TIMESTAMP:
            raise ValueError("must be between 1970-01-01 and 2262-04-10 (UTC)")
        return value

    @property
    def timestamp_ns(self) -> int:
        return from_datetime(self.timestamp)


class Contribution(BaseModel):
    feature: str
    contribution: float = Field(description="Effect on the score's log-odds.")


class Explanation(BaseModel):
    top_positive: list[Contribution] = Field(description="Inputs that raised the score most.")
    top_negative: list[Contribution] = Field(description="Inputs that lowered the score most.")
    reason_codes: list[str] = Field(default=[], description="Codes of the rules that fired.")
    explained_offline: list[str] = Field(
        default=[], description="Components whose contributions are computed offline, not here."
    )
    left_out: dict[str, str] = Field(
        default={}, description="Components left out of this decision, with the reason."
    )


class DecisionResponse(BaseModel):
    decision_id: str = Field(
        description="Deterministic: the same transaction and versions give the same id."
    )
    transaction_id: int
    outcome: Outcome
    score: float = Field(ge=0.0, le=1.0, description="Fraud probability.")
    reasons: list[str]
    explanation: Explanation | None = Field(
        description="Largest input contributions; null when the model provides none."
    )
    degraded: list[str] = Field(
        description="Components that could not contribute, e.g. feature_state when its store was unreachable."
    )
    model_version: str
    policy_version: str
    feature_set_version: str
    features: dict[str, float | None] = Field(description="Model inputs used; null is missing.")
    decided_at: datetime
    latency_ms: dict[str, Milliseconds] = Field(
        description="Time per stage: feature_lookup, features, scoring, policy, journal, total."
    )


class OnlineFeaturesRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "entity": "customer",
                    "keys": [2341],
                    "features": [
                        "CUSTOMER_ID_NB_TX_1DAY_WINDOW",
                        "CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW",
                    ],
                }
            ]
        },
    )

    entity: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
    keys: list[EntityKeyValue] = Field(min_length=1, max_length=100)
    features: list[FeatureName] = Field(min_length=1, max_length=100)

    @field_validator("features")
    @classmethod
    def _unique(cls, names: list[str]) -> list[str]:
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"feature names must be unique; repeated: {repeated}")
        return names


class FeatureValue(BaseModel):
    value: float | None
    status: ValueStatus
    event_time: datetime | None = Field(description="Event time the value was computed at.")


class OnlineFeatureRow(BaseModel):
    key: int | str
    features: dict[str, FeatureValue]


class OnlineFeaturesResponse(BaseModel):
    entity: str
    rows: list[OnlineFeatureRow]


class PolicyInfo(BaseModel):
    version: str
    step_up_at: float
    decline_at: float


class ServedModel(BaseModel):
    model_version: str
    inventory_id: str = Field(description="The model's id in the governance inventory.")
    kind: str
    input_names: list[str]
    feature_set_version: str
    trained_on: str
    policy: PolicyInfo


class EvidenceGate(StrEnum):
    """The gates passed on evidence that a validator records."""

    DOCUMENTATION = "documentation"
    PERFORMANCE = "performance"
    FAIRNESS = "fairness"


class GovernanceAction(StrEnum):
    SUBMIT = "submit"
    SIGN = "sign"
    PROMOTE = "promote"
    REJECT = "reject"
    RETURN_TO_DEVELOPMENT = "return_to_development"
    RETIRE = "retire"


ACTIONS_WITH_REASON = frozenset(
    {GovernanceAction.REJECT, GovernanceAction.RETURN_TO_DEVELOPMENT, GovernanceAction.RETIRE}
)

Note = Annotated[str, Field(max_length=2000)]


class StrictJsonRequest(BaseModel):
    """A request body validated as strict JSON, so that no string, float or boolean is
    coerced into a number (as in the other requests).

    FastAPI validates bodies as Python objects, where strict mode would also reject
    enum values and arrays for tuples. So ``json_model``, the same model without this
    check, first validates the body as strict JSON.
    """

    json_model: ClassVar[type[BaseModel]]

    @model_validator(mode="before")
    @classmethod
    def _strict_json(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        try:
            cls.json_model.model_validate_json(json.dumps(data), strict=True)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in issue['loc']) or '(body)'}: {issue['msg']}"
                for issue in error.errors()
            )
            raise PydanticCustomError("strict_json", "{problems}", {"problems": problems}) from None
        return data


class RegistrationRequest(StrictJsonRequest, ModelRegistration):
    """A model version to register in Development; the key's user becomes its builder."""

    json_model = ModelRegistration

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "card-fraud-xgboost",
                    "version": "xgb-0123456789ab",
                    "risk_tier": 1,
                    "owner": "head-of-fraud",
                    "material_use": "Approves, steps up or declines card payments in real time.",
                    "decisions_per_year": 400000000,
                    "financial_exposure": {"amount": 2.5e9, "currency": "EUR"},
                    "lineage": {
                        "training_data_version": "handbook-2018-07-25",
                        "feature_pipeline_version": "fs-abc123",
                        "training_run": "run-42",
                    },
                    "performance_thresholds": {"auc_roc": 0.85},
                }
            ]
        }
    )


class ActionBody(BaseModel):
    """A lifecycle action on a model, taken by the key's user in the key's role."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"action": "submit", "note": "Backtest on August 2018 attached."},
                {"action": "reject", "note": "Precision at 100 below the threshold."},
            ]
        },
    )

    action: GovernanceAction = Field(
        description=(
            "submit (Development -> Validation); sign (the gate of the key's role); promote "
            "(one stage on); reject; return_to_development; retire."
        )
    )
    note: Note = Field(
        "",
        description=(
            "Comment stored in the audit trail. For reject, return_to_development and "
            "retire it is the reason, and required; promote records none."
        ),
    )

    @model_validator(mode="after")
    def _note_fits_action(self) -> ActionBody:
        if self.action is GovernanceAction.PROMOTE and self.note:
            raise ValueError("note: promote stores no note, so leave it empty")
        return self


class GovernanceActionRequest(StrictJsonRequest, ActionBody):
    __doc__ = ActionBody.__doc__
    json_model = ActionBody


class EvidenceBody(BaseModel):
    """Evidence for one evidence gate: a documentation review, performance evidence or
    a fairness report (the files `twinbank fairness report` writes)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "evidence": {"reference": "docs://card-fraud/1", "complete": True},
                    "note": "Model documentation reviewed.",
                }
            ]
        },
    )

    evidence: DocumentationEvidence | PerformanceEvidence | FairnessReport = Field(
        description="Must be the kind of evidence of the gate in the path."
    )
    note: Note = Field("", description="Comment stored with the gate result.")


class GateEvidenceRequest(StrictJsonRequest, EvidenceBody):
    __doc__ = EvidenceBody.__doc__
    json_model = EvidenceBody


class InventoryFilter(BaseModel):
    """Query parameters of the inventory listing: models matching every one given."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=100, description="Model name.")
    status: ModelStatus | None = Field(None, description="Lifecycle status.")
    owner: str | None = Field(None, min_length=1, max_length=200, description="Owner.")
    risk_tier: RiskTier | None = Field(None, description="1 (high) to 3 (low).")


class ModelSummary(BaseModel):
    """One inventory entry in a listing."""

    model_id: str = Field(description="NAME@VERSION.")
    name: str
    version: str
    risk_tier: RiskTier
    owner: str
    status: ModelStatus
    compliance_status: ComplianceStatus
    registered_at: datetime
    next_validation: datetime | None = Field(description="When revalidation is due.")
    revision: int


class ModelStatusResponse(BaseModel):
    """A model's record, its next stage and the gates that block its promotion. Times
    inside ``record`` are nanoseconds since 1970-01-01 UTC, as the inventory stores them."""

    record: ModelRecord
    next_stage: ModelStatus | None = Field(description="Where promotion would move it.")
    blocking_gates: list[Gate] = Field(description="Gates not passed that block promotion.")
    required_gates: list[Gate] = Field(description="Every gate its risk tier requires.")
    required_roles: list[Role] = Field(description="Roles whose sign-off its tier requires.")


class GovernanceProblem(Problem):
    """A governance action that the rules rejected. Nothing was changed or recorded."""

    refusal: str | None = Field(
        None,
        description="The rule that rejected the action, such as BuilderCannotReview. Absent "
        "when the key lacks the scope.",
    )


class DependencyCheck(BaseModel):
    ok: bool
    detail: str


class Readiness(BaseModel):
    status: Literal["ready", "degraded", "unavailable"] = Field(
        description=(
            "ready: every dependency answers; degraded: decisions continue, flagged or "
            "buffered on disk; unavailable: this process cannot decide."
        )
    )
    checks: dict[str, DependencyCheck]


class Liveness(BaseModel):
    status: Literal["ok"]
