"""The event stream between the decision service and the stream worker.

The decision service publishes every decided transaction; label feeds publish fraud
labels. The stream worker reads both as one member of a consumer group and updates
the streaming feature state. Delivery is at least once: an event that was delivered
but not acknowledged is delivered again, to the same consumer after a restart or to
another one that claims it. Each event therefore carries an id derived from its
content, so that the worker can apply it once however often it arrives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from .timestamps import NANOS_PER_DAY
from .transactions import FraudLabel, Transaction

StreamEvent = Transaction | FraudLabel


def event_id_of(event: StreamEvent) -> str:
    """Return the event's id: the same transaction or label always gets the same id.

    A transaction is identified by its id. A label is identified by its content, because
    a transaction may get several labels (a reversed chargeback, a label revealed too
    early to count); the engine decides which of them counts.
    """
    if isinstance(event, Transaction):
        return f"transaction:{event.transaction_id}"
    return f"label:{event.transaction_id}:{event.revealed_at_ns}:{int(event.is_fraud)}"


def event_time_of(event: StreamEvent) -> int:
    """Return when the event happened: a transaction's timestamp, a label's reveal time."""
    if isinstance(event, Transaction):
        return event.timestamp_ns
    return event.revealed_at_ns


def event_day_of(event: StreamEvent) -> int:
    """Return the UTC day number (days since 1970-01-01) of the event time."""
    return event_time_of(event) // NANOS_PER_DAY


@dataclass(frozen=True, slots=True)
class Delivery:
    """One delivery of a stream entry to a consumer.

    ``delivery_id`` is the entry's position in the stream, used to acknowledge it.
    ``event`` is None when the entry could not be decoded; ``problem`` then says why.
    ``attempts`` counts deliveries of this entry to the group, this one included.
    ``event_id`` is the event's id (``event_id_of``), computed once, or None without
    an event.
    """

    delivery_id: str
    event: StreamEvent | None
    attempts: int = 1
    problem: str | None = None
    event_id: str | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        event = self.event
        object.__setattr__(self, "event_id", None if event is None else event_id_of(event))


class EventPublisher(Protocol):
    """Appends events to the stream."""

    def publish(self, events: Sequence[StreamEvent]) -> None:
        """Append the events in order; raises on failure, in which case any prefix of
        them may have been appended (publishing again is safe, ids deduplicate)."""
        ...


class EventSubscription(Protocol):
    """One consumer in a consumer group: the group shares the stream's entries."""

    @property
    def consumer(self) -> str: ...

    def pending(self, count: int) -> list[Delivery]:
        """Return entries delivered to this consumer and not yet acknowledged, oldest
        first: what a restarted consumer must finish before it reads new entries."""
        ...

    def claim_stale(self, min_idle_ms: int, count: int) -> list[Delivery]:
        """Take over entries that other consumers received and left unacknowledged
        for at least ``min_idle_ms``."""
        ...

    def receive(self, count: int, block_ms: int) -> list[Delivery]:
        """Return up to ``count`` entries no consumer of the group has received yet,
        waiting up to ``block_ms`` for the first one (0: return at once)."""
        ...

    def acknowledge(self, delivery_ids: Sequence[str]) -> None:
        """Mark entries as done, so that they are never delivered again."""
        ...

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Move an entry that cannot be applied aside, with the reason, and acknowledge it."""
        ...

    def lag(self) -> int:
        """Return how many entries are pending or not yet delivered to the group."""
        ...
