"""An event stream in process memory with consumer groups, for tests and embedded runs.

It follows Redis Streams' model: entries have increasing ids, a group remembers the
last entry it handed out, and each consumer has a list of entries it received and has
not acknowledged. Safe to share between threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from twinbank.core.event_stream import Delivery, StreamEvent


@dataclass
class _PendingEntry:
    consumer: str
    delivered_at: float
    attempts: int


@dataclass
class _Group:
    next_index: int = 0
    pending: dict[int, _PendingEntry] = field(default_factory=dict)


class InMemoryEventStream:
    """The EventPublisher port, and a factory of EventSubscription members."""

    def __init__(self) -> None:
        self._entries: list[StreamEvent] = []
        self._groups: dict[str, _Group] = {}
        self._dead_letters: list[tuple[str, StreamEvent | None, str]] = []
        self._changed = threading.Condition()

    def publish(self, events: Sequence[StreamEvent]) -> None:
        with self._changed:
            self._entries.extend(events)
            self._changed.notify_all()

    def subscription(self, group: str, consumer: str) -> InMemorySubscription:
        with self._changed:
            self._groups.setdefault(group, _Group())
        return InMemorySubscription(self, group, consumer)

    @property
    def length(self) -> int:
        return len(self._entries)

    @property
    def dead_letters(self) -> list[tuple[str, StreamEvent | None, str]]:
        """Return (delivery id, event, reason) of every dead-lettered entry."""
        with self._changed:
            return list(self._dead_letters)

    # The methods below are the subscription's implementation; they take the lock.

    def _deliver(self, group_name: str, consumer: str, count: int, block_ms: int) -> list[Delivery]:
        deadline = time.monotonic() + block_ms / 1000
        with self._changed:
            group = self._groups[group_name]
            while group.next_index >= len(self._entries):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                self._changed.wait(remaining)
            start = group.next_index
            stop = min(len(self._entries), start + count)
            group.next_index = stop
            now = time.monotonic()
            deliveries = []
            for index in range(start, stop):
                group.pending[index] = _PendingEntry(consumer, now, 1)
                deliveries.append(Delivery(_delivery_id(index), self._entries[index], 1))
            return deliveries

    def _pending(self, group_name: str, consumer: str, count: int) -> list[Delivery]:
        with self._changed:
            group = self._groups[group_name]
            deliveries = []
            for index in sorted(group.pending):
                entry = group.pending[index]
                if entry.consumer != consumer:
                    continue
                entry.attempts += 1
                entry.delivered_at = time.monotonic()
                deliveries.append(
                    Delivery(_delivery_id(index), self._entries[index], entry.attempts)
                )
                if len(deliveries) == count:
                    break
            return deliveries

    def _claim(
        self, group_name: str, consumer: str, min_idle_ms: int, count: int
    ) -> list[Delivery]:
        with self._changed:
            group = self._groups[group_name]
            now = time.monotonic()
            deliveries = []
            for index in sorted(group.pending):
                entry = group.pending[index]
                if entry.consumer == consumer or (now - entry.delivered_at) * 1000 < min_idle_ms:
                    continue
                group.pending[index] = _PendingEntry(consumer, now, entry.attempts + 1)
                deliveries.append(
                    Delivery(_delivery_id(index), self._entries[index], entry.attempts + 1)
                )
                if len(deliveries) == count:
                    break
            return deliveries

    def _acknowledge(self, group_name: str, delivery_ids: Sequence[str]) -> None:
        with self._changed:
            pending = self._groups[group_name].pending
            for delivery_id in delivery_ids:
                pending.pop(_index_of(delivery_id), None)

    def _dead_letter(self, group_name: str, delivery: Delivery, reason: str) -> None:
        with self._changed:
            self._dead_letters.append((delivery.delivery_id, delivery.event, reason))
            self._groups[group_name].pending.pop(_index_of(delivery.delivery_id), None)

    def _lag(self, group_name: str) -> int:
        with self._changed:
            group = self._groups[group_name]
            return len(group.pending) + len(self._entries) - group.next_index


class InMemorySubscription:
    """One consumer of a group on an InMemoryEventStream (the EventSubscription port)."""

    def __init__(self, stream: InMemoryEventStream, group: str, consumer: str) -> None:
        self._stream = stream
        self._group = group
        self._consumer = consumer

    @property
    def consumer(self) -> str:
        return self._consumer

    def pending(self, count: int) -> list[Delivery]:
        return self._stream._pending(self._group, self._consumer, count)

    def claim_stale(self, min_idle_ms: int, count: int) -> list[Delivery]:
        return self._stream._claim(self._group, self._consumer, min_idle_ms, count)

    def receive(self, count: int, block_ms: int) -> list[Delivery]:
        return self._stream._deliver(self._group, self._consumer, count, block_ms)

    def acknowledge(self, delivery_ids: Sequence[str]) -> None:
        self._stream._acknowledge(self._group, delivery_ids)

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        self._stream._dead_letter(self._group, delivery, reason)

    def lag(self) -> int:
        return self._stream._lag(self._group)


def _delivery_id(index: int) -> str:
    return f"{index + 1}-0"


def _index_of(delivery_id: str) -> int:
    return int(delivery_id.split("-", 1)[0]) - 1
