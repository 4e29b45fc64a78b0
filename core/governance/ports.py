"""Ports of governance: where inventory records live and who holds which role."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ..audit.chain import AuditEntry
from .inventory import ModelRecord, Role
from .queries import InventoryQuery


class GovernanceStore(Protocol):
    """Inventory records, written together with their audit entries."""

    def get(self, model_id: str) -> ModelRecord | None: ...

    def find(self, query: InventoryQuery) -> list[ModelRecord]:
        """Return the matching records, ordered by model id."""
        ...

    def commit(self, records: Sequence[ModelRecord], entries: Sequence[AuditEntry]) -> None:
        """Store changed records and append ``entries`` to the audit trail atomically.

        A record with revision 1 is new and raises ModelAlreadyRegistered when its id is
        taken; any other record replaces revision ``revision - 1`` and raises
        ConcurrentModification when the stored revision differs. On an error nothing is
        stored or appended.
        """
        ...


class RoleDirectory(Protocol):
    """Which roles each person holds."""

    def holds(self, user: str, role: Role) -> bool: ...
