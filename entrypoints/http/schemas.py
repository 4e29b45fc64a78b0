"""Request and response bodies of the HTTP API (pydantic; they define the OpenAPI document).

Requests forbid unknown fields and use strict numbers: a string where a number
belongs, a float where an integer belongs or a boolean anywhere is a 422, never
coerced.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, Strict, field_validator

from twinbank.core.decisions import Outcome
from twinbank.core.features.online import ValueStatus
from twinbank.core.timestamps import from_datetime

from .governance import Action, Stage

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
    kind: str
    input_names: list[str]
    feature_set_version: str
    trained_on: str
    policy: PolicyInfo


class ModelStateResponse(BaseModel):
    model_id: str
    name: str
    version: str
    risk_tier: int = Field(ge=1, le=3)
    owner: str
    stage: Stage
    built_by: str
    updated_at: datetime


class GovernanceEventResponse(BaseModel):
    action: Action
    user: str
    role: str
    from_stage: Stage
    to_stage: Stage
    at: datetime
    note: str


class GovernanceActionRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"action": "complete_validation", "note": "Backtest passed."}]
        },
    )

    action: Action
    note: Annotated[str, Field(max_length=2000)] = ""


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
