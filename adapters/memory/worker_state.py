"""The stream worker's state in process memory: window state plus processed event ids."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from twinbank.core.ports import EntityKey

from .feature_state import InMemoryFeatureStateStore


class RollbackUnsupported(RuntimeError):
    """In-memory state is changed in place and cannot return to the last commit."""


class InMemoryWorkerState(InMemoryFeatureStateStore):
    """Window state and processed ids in dictionaries, for tests and embedded runs.

    The engine changes histories in place, so a failed batch cannot be undone:
    ``rollback`` raises, and the worker stops rather than apply events twice.
    """

    def __init__(self) -> None:
        super().__init__()
        self._processed: dict[int, set[str]] = {}
        self._applied_up_to: int | None = None
        self._uncommitted = False

    def prefetch(
        self, refs: Iterable[tuple[str, EntityKey]], transaction_ids: Iterable[int]
    ) -> None:
        """Nothing to fetch: everything is in memory."""

    def processed(self, event_ids_by_day: dict[int, Sequence[str]]) -> set[str]:
        return {
            event_id
            for day, event_ids in event_ids_by_day.items()
            for event_id in event_ids
            if event_id in self._processed.get(day, ())
        }

    def commit(self, event_ids_by_day: dict[int, Sequence[str]], applied_up_to: int | None) -> None:
        for day, event_ids in event_ids_by_day.items():
            self._processed.setdefault(day, set()).update(event_ids)
        if applied_up_to is not None:
            self._applied_up_to = applied_up_to

    def rollback(self) -> None:
        raise RollbackUnsupported(
            "in-memory window state cannot be rolled back after a failed batch; "
            "restart the process, or use Redis state (profile local) to survive store failures"
        )

    def applied_up_to(self) -> int | None:
        return self._applied_up_to

    def trim_processed(self, before_day: int) -> int:
        days = [day for day in self._processed if day < before_day]
        for day in days:
            del self._processed[day]
        return len(days)

    def acquire_lease(self) -> bool:
        """Always true: in-memory state belongs to the one process that holds it."""
        return True

    def release_lease(self) -> None:
        """Nothing to release."""
