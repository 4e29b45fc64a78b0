"""Decision logs that a writer process builds in its child: top-level functions, so
that the spawned child can unpickle them."""

from __future__ import annotations

from sqlalchemy import create_engine

from twinbank.adapters.audit import FanOutDecisionLog
from twinbank.adapters.sql import SqlAuditTrail, SqlDecisionLog
from twinbank.core.decisions import DecisionRecord
from twinbank.core.ports import DecisionLog

from .audit import decision_entries


def chained_sqlite_log(url: str) -> DecisionLog:
    """The decision table and the audit chain in one SQLite file, as a replay writes."""
    engine = create_engine(url)
    return FanOutDecisionLog(
        SqlDecisionLog(engine, batch_size=3),
        SqlAuditTrail(engine, decision_entries, batch_size=3),
    )


class _FailingLog:
    """A log that stores ``accepted`` records and raises on the next append."""

    def __init__(self, accepted: int) -> None:
        self._accepted = accepted
        self._records: list[DecisionRecord] = []

    def append(self, record: DecisionRecord) -> None:
        if len(self._records) >= self._accepted:
            raise OSError("disk full")
        self._records.append(record)

    def flush(self) -> None:
        return None

    def count(self) -> int:
        return len(self._records)


def failing_log(accepted: int) -> DecisionLog:
    return _FailingLog(accepted)


def unbuildable_log() -> DecisionLog:
    raise ValueError("no such database")
