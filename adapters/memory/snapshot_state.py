"""Read-only window state fetched for one request."""

from __future__ import annotations

from collections.abc import Mapping

from twinbank.core.features.streaming import EntityHistory
from twinbank.core.ports import EntityKey


class ReadOnlyFeatureState(RuntimeError):
    """Something tried to change a snapshot of window state."""


class SnapshotFeatureState:
    """The FeatureStateStore port over histories fetched in advance.

    The decision service fetches the histories a transaction needs in one round trip
    and previews the transaction's features over them; previewing reads only, so every
    write raises ReadOnlyFeatureState.
    """

    def __init__(self, histories: Mapping[tuple[str, EntityKey], EntityHistory]) -> None:
        self._histories = histories

    def load_history(self, entity: str, key: EntityKey) -> EntityHistory | None:
        return self._histories.get((entity, key))

    def save_history(self, entity: str, key: EntityKey, history: EntityHistory) -> None:
        raise ReadOnlyFeatureState(f"snapshot state is read-only; cannot save {entity} {key!r}")

    def remember_transaction(
        self, transaction_id: int, timestamp_ns: int, keys: tuple[EntityKey, ...]
    ) -> None:
        raise ReadOnlyFeatureState(
            f"snapshot state is read-only; cannot remember transaction {transaction_id}"
        )

    def recall_transaction(self, transaction_id: int) -> tuple[int, tuple[EntityKey, ...]] | None:
        raise ReadOnlyFeatureState(
            f"snapshot state is read-only; cannot recall transaction {transaction_id}"
        )

    def forget_transactions_before(self, timestamp_ns: int) -> int:
        raise ReadOnlyFeatureState("snapshot state is read-only; cannot forget transactions")
