"""Time budgets of the decision stages and the tracer port that records each stage."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

NS_PER_MS = 1_000_000


class StageBudgets(BaseModel):
    """Wall-time budgets per stage, in milliseconds.

    ``models_ms`` applies to each model separately. A model over its budget is left out
    of the decision. The features and decision stages cannot be left out, so going over
    their budgets is recorded in the decision's ``degraded`` list instead.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    features_ms: float = Field(default=20.0, gt=0)
    models_ms: float = Field(default=30.0, gt=0)
    decision_ms: float = Field(default=10.0, gt=0)


class StageTracer(Protocol):
    """Receives each stage of a decision, for example as an OpenTelemetry span."""

    def record_stage(
        self, name: str, started_ns: int, ended_ns: int, attributes: Mapping[str, str | float]
    ) -> None:
        """Record a stage; times are Stopwatch readings (monotonic nanoseconds)."""
        ...


class NoTracing:
    """A tracer that records nothing."""

    def record_stage(
        self, name: str, started_ns: int, ended_ns: int, attributes: Mapping[str, str | float]
    ) -> None:
        return None
