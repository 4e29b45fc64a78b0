"""The stream worker reads the next entries while it applies a batch. Entries read
ahead when it stops stay pending, and a restarted worker applies them."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from twinbank.adapters.memory import InMemoryOnlineFeatureStore, InMemoryWorkerState
from twinbank.adapters.memory.event_stream import InMemoryEventStream
from twinbank.core.event_stream import Delivery, EventSubscription
from twinbank.core.features.handbook import handbook_feature_set
from twinbank.core.timestamps import NANOS_PER_SECOND
from twinbank.core.transactions import Transaction
from twinbank.entrypoints.worker import BatchProcessor, StreamWorker, WorkerSettings

GROUP = "feature-workers"


class RecordingSubscription:
    """An EventSubscription that delegates to another and records each read's size.

    It sets ``stop`` after ``stop_after_reads`` reads that returned entries, or at the
    first read that waited and returned none (a lingering worker's second read of a
    batch does not wait)."""

    def __init__(
        self, inner: EventSubscription, stop: threading.Event, stop_after_reads: int | None
    ) -> None:
        self._inner = inner
        self._stop = stop
        self._stop_after = stop_after_reads
        self.read_sizes: list[int] = []

    @property
    def consumer(self) -> str:
        return self._inner.consumer

    def pending(self, count: int) -> list[Delivery]:
        return self._inner.pending(count)

    def claim_stale(self, min_idle_ms: int, count: int) -> list[Delivery]:
        return self._inner.claim_stale(min_idle_ms, count)

    def receive(self, count: int, block_ms: int) -> list[Delivery]:
        deliveries = self._inner.receive(count, block_ms)
        self.read_sizes.append(len(deliveries))
        drained = not deliveries and block_ms > 0
        if drained or len([size for size in self.read_sizes if size]) == self._stop_after:
            self._stop.set()
        return deliveries

    def acknowledge(self, delivery_ids: Sequence[str]) -> None:
        self._inner.acknowledge(delivery_ids)

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        self._inner.dead_letter(delivery, reason)

    def lag(self) -> int:
        return self._inner.lag()


def _transactions(count: int) -> list[Transaction]:
    return [
        Transaction(index, (1_000 + index) * NANOS_PER_SECOND, index % 3, index % 5, 10.0 + index)
        for index in range(count)
    ]


def _run(
    stream: InMemoryEventStream,
    state: InMemoryWorkerState,
    online: InMemoryOnlineFeatureStore,
    stop_after_reads: int | None,
) -> tuple[StreamWorker, RecordingSubscription]:
    stop = threading.Event()
    subscription = RecordingSubscription(
        stream.subscription(GROUP, "worker-1"), stop, stop_after_reads
    )
    processor = BatchProcessor(handbook_feature_set(), state, online, None)
    worker = StreamWorker(subscription, processor, state, WorkerSettings(batch_size=10, block_ms=1))
    worker.run(stop)
    return worker, subscription


def test_entries_read_ahead_are_applied_after_restart():
    stream = InMemoryEventStream()
    stream.publish(_transactions(45))
    state = InMemoryWorkerState()
    online = InMemoryOnlineFeatureStore()

    first, first_reads = _run(stream, state, online, stop_after_reads=2)
    second, _ = _run(stream, state, online, stop_after_reads=None)

    # The first run stopped with the second read's entries, and maybe a third read's,
    # received but not applied. They stayed pending, so the restart applied them.
    assert first_reads.read_sizes[:2] == [10, 10]
    assert first.report.applied < 20
    assert second.report.recovered >= 20 - first.report.applied
    assert first.report.applied + second.report.applied == 45
    assert first.report.duplicates + second.report.duplicates == 0
    assert stream.subscription(GROUP, "worker-1").lag() == 0


class TrickleSubscription(RecordingSubscription):
    """A subscription that publishes ``more`` events as its first read returns, as a
    publisher would while the worker lingers."""

    def __init__(
        self,
        stream: InMemoryEventStream,
        stop: threading.Event,
        more: Sequence[Transaction],
    ) -> None:
        super().__init__(stream.subscription(GROUP, "worker-1"), stop, None)
        self._stream = stream
        self._more = list(more)

    def receive(self, count: int, block_ms: int) -> list[Delivery]:
        deliveries = super().receive(count, block_ms)
        if deliveries and self._more:
            self._stream.publish(self._more)
            self._more = []
        return deliveries


@pytest.mark.parametrize(("linger_ms", "batches"), [(0, 2), (200, 1)])
def test_worker_linger_batches_a_trickle(linger_ms: int, batches: int):
    stream = InMemoryEventStream()
    events = _transactions(7)
    stream.publish(events[:3])
    stop = threading.Event()
    subscription = TrickleSubscription(stream, stop, events[3:])
    state = InMemoryWorkerState()
    processor = BatchProcessor(handbook_feature_set(), state, InMemoryOnlineFeatureStore(), None)
    settings = WorkerSettings(batch_size=10, block_ms=1, linger_ms=linger_ms, allowed_lateness_ms=0)
    worker = StreamWorker(subscription, processor, state, settings)

    report = worker.run(stop)

    assert report.applied == 7
    assert report.batches == batches
    assert stream.subscription(GROUP, "worker-1").lag() == 0


class FailingTopUp(RecordingSubscription):
    """A subscription whose reads that do not wait fail, as with a stream that goes
    down while the worker lingers."""

    def receive(self, count: int, block_ms: int) -> list[Delivery]:
        if block_ms == 0:
            raise ConnectionError("stream unreachable")
        return super().receive(count, block_ms)


def test_worker_applies_a_read_whose_top_up_failed():
    stream = InMemoryEventStream()
    stream.publish(_transactions(3))
    stop = threading.Event()
    subscription = FailingTopUp(stream.subscription(GROUP, "worker-1"), stop, None)
    state = InMemoryWorkerState()
    processor = BatchProcessor(handbook_feature_set(), state, InMemoryOnlineFeatureStore(), None)
    settings = WorkerSettings(batch_size=10, block_ms=1, linger_ms=5, allowed_lateness_ms=0)

    report = StreamWorker(subscription, processor, state, settings).run(stop)

    assert report.applied == 3
    assert report.retries == 0
    assert stream.subscription(GROUP, "worker-1").lag() == 0
