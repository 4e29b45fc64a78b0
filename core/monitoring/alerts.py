"""Monitoring alerts: what rule fired, on what, how badly, and why."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class MonitoringAlert(BaseModel):
    """One rule's finding on one subject (a feature, the score, a segment, a model)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: str
    subject: str
    severity: Severity
    value: float | None
    threshold: float | None
    message: str
