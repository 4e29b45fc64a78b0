"""Inventory queries: filters, overdue validations, and what served when."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from .inventory import SERVING_STATUSES, ModelRecord, ModelStatus, RiskTier


class InventoryQuery(BaseModel):
    """Records matching every field given (all records when none is)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = None
    risk_tier: RiskTier | None = None
    status: ModelStatus | None = None
    owner: str | None = None

    def matches(self, record: ModelRecord) -> bool:
        return (
            (self.name is None or record.name == self.name)
            and (self.risk_tier is None or record.risk_tier == self.risk_tier)
            and (self.status is None or record.status == self.status)
            and (self.owner is None or record.owner == self.owner)
        )


def validation_overdue(records: Iterable[ModelRecord], at_ns: int) -> list[ModelRecord]:
    """Return serving models whose next validation date is at or before ``at_ns``."""
    return [
        record
        for record in records
        if record.is_serving
        and record.next_validation_ns is not None
        and record.next_validation_ns <= at_ns
    ]


def serving_periods(record: ModelRecord) -> list[tuple[int, int | None]]:
    """Return the ``[start, end)`` periods in which the version served (end None: still)."""
    periods: list[tuple[int, int | None]] = []
    start: int | None = None
    for change in record.history:
        serving = change.to_status in SERVING_STATUSES
        if serving and start is None:
            start = change.at_ns
        elif not serving and start is not None:
            periods.append((start, change.at_ns))
            start = None
    if start is not None:
        periods.append((start, None))
    return periods


def version_in_production_at(
    records: Iterable[ModelRecord], name: str, at_ns: int
) -> ModelRecord | None:
    """Return the version of model ``name`` that served at ``at_ns``, or None.

    A version serves from its promotion to Production until it leaves Production and
    Monitoring; a promotion that supersedes a version happens at one instant, which
    belongs to the new version.
    """
    serving = []
    for record in records:
        if record.name != name:
            continue
        for start, end in serving_periods(record):
            if start <= at_ns and (end is None or at_ns < end):
                serving.append((start, record))
    if not serving:
        return None
    return max(serving, key=lambda item: item[0])[1]
