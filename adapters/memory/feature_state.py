"""In-process window state for the streaming feature engine."""

from __future__ import annotations

from twinbank.core.features.streaming import EntityHistory
from twinbank.core.ports import EntityKey


class InMemoryFeatureStateStore:
    """Window state in dictionaries; the engine mutates histories in place."""

    def __init__(self) -> None:
        self._histories: dict[tuple[str, EntityKey], EntityHistory] = {}
        # Insertion order is event order, so the oldest entries come first.
        self._transactions: dict[int, tuple[int, tuple[EntityKey, ...]]] = {}

    def load_history(self, entity: str, key: EntityKey) -> EntityHistory | None:
        return self._histories.get((entity, key))

    def save_history(self, entity: str, key: EntityKey, history: EntityHistory) -> None:
        self._histories[(entity, key)] = history

    def remember_transaction(
        self, transaction_id: int, timestamp_ns: int, keys: tuple[EntityKey, ...]
    ) -> None:
        self._transactions[transaction_id] = (timestamp_ns, keys)

    def recall_transaction(self, transaction_id: int) -> tuple[int, tuple[EntityKey, ...]] | None:
        return self._transactions.pop(transaction_id, None)

    def forget_transactions_before(self, timestamp_ns: int) -> int:
        transactions = self._transactions
        expired = []
        for transaction_id, (moment, _) in transactions.items():
            if moment >= timestamp_ns:
                break
            expired.append(transaction_id)
        for transaction_id in expired:
            del transactions[transaction_id]
        return len(expired)

    @property
    def entity_keys(self) -> int:
        """Return how many entity keys hold window state."""
        return len(self._histories)
