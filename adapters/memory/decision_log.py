"""Decision records kept in a list, for tests and embedded runs."""

from __future__ import annotations

from twinbank.core.decisions import DecisionRecord


class InMemoryDecisionLog:
    """Keeps every appended record; a record with a known decision id is ignored."""

    def __init__(self) -> None:
        self._records: dict[str, DecisionRecord] = {}

    def append(self, record: DecisionRecord) -> None:
        self._records.setdefault(record.decision_id, record)

    def flush(self) -> None:
        """Nothing to do: records are kept as soon as they are appended."""

    def count(self) -> int:
        return len(self._records)

    def records(self) -> list[DecisionRecord]:
        return list(self._records.values())
