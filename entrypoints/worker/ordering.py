"""Event-time ordering of deliveries before they reach the streaming engine.

The engine needs events in event-time order, with a label before any transaction at
or after its reveal time. Publishers that decide concurrently append to the stream in
nearly, not exactly, that order. The buffer holds each delivery until the stream has
shown events at least ``allowed_lateness_ns`` later, or the stream went idle, and
then releases in ``(event time, labels first, arrival)`` order.
"""

from __future__ import annotations

import heapq
from itertools import count

from twinbank.core.event_stream import Delivery, event_time_of
from twinbank.core.transactions import FraudLabel


class EventTimeBuffer:
    """Holds deliveries and releases them in event-time order.

    Deliveries without an event (malformed entries) are released at once. A delivery
    already held (the same entry delivered again) is ignored.
    """

    def __init__(self, allowed_lateness_ns: int, max_held: int = 100_000) -> None:
        self._lateness = allowed_lateness_ns
        self._max_held = max_held
        self._heap: list[tuple[int, int, int, Delivery]] = []
        self._held: set[str] = set()
        self._malformed: list[Delivery] = []
        self._arrival = count()
        self._latest_seen: int | None = None

    def __len__(self) -> int:
        return len(self._heap) + len(self._malformed)

    def add(self, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            if delivery.delivery_id in self._held:
                continue
            self._held.add(delivery.delivery_id)
            event = delivery.event
            if event is None:
                self._malformed.append(delivery)
                continue
            moment = event_time_of(event)
            rank = 0 if isinstance(event, FraudLabel) else 1
            heapq.heappush(self._heap, (moment, rank, next(self._arrival), delivery))
            if self._latest_seen is None or moment > self._latest_seen:
                self._latest_seen = moment

    def release(self, flush: bool = False) -> list[Delivery]:
        """Return the deliveries that may be applied now, in order; ``flush`` releases
        everything held (the stream is idle or the buffer is full)."""
        released = self._malformed
        self._malformed = []
        if self._latest_seen is not None and self._heap:
            flush = flush or len(self._heap) > self._max_held
            watermark = self._latest_seen - self._lateness
            heap = self._heap
            while heap and (flush or heap[0][0] <= watermark):
                released.append(heapq.heappop(heap)[3])
        for delivery in released:
            self._held.discard(delivery.delivery_id)
        return released

    def forget(self) -> None:
        """Drop everything held (it stays pending in the stream and comes back)."""
        self._heap.clear()
        self._held.clear()
        self._malformed.clear()
        self._latest_seen = None
