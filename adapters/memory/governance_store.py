"""Inventory records in process memory, committed with their audit entries."""

from __future__ import annotations

from collections.abc import Sequence

from twinbank.core.audit import AuditEntry
from twinbank.core.governance import (
    ConcurrentModification,
    InventoryQuery,
    ModelAlreadyRegistered,
    ModelRecord,
)

from .audit_trail import InMemoryAuditTrail


class InMemoryGovernanceStore:
    """The GovernanceStore port on a dict, appending to an in-memory audit trail."""

    def __init__(self, audit_trail: InMemoryAuditTrail) -> None:
        self._audit = audit_trail
        self._records: dict[str, ModelRecord] = {}

    def get(self, model_id: str) -> ModelRecord | None:
        return self._records.get(model_id)

    def find(self, query: InventoryQuery) -> list[ModelRecord]:
        return [
            self._records[key] for key in sorted(self._records) if query.matches(self._records[key])
        ]

    def commit(self, records: Sequence[ModelRecord], entries: Sequence[AuditEntry]) -> None:
        def store() -> None:
            for record in records:
                stored = self._records.get(record.model_id)
                if record.revision == 1 and stored is not None:
                    raise ModelAlreadyRegistered(record.model_id)
                if record.revision > 1 and (
                    stored is None or stored.revision != record.revision - 1
                ):
                    raise ConcurrentModification(record.model_id, record.revision - 1)
            for record in records:
                self._records[record.model_id] = record

        self._audit.append_entries(entries, before_chaining=store)
