"""The stream worker commits several batches at once while it drains a backlog.

Between two commits nothing is acknowledged, a store failure makes the worker apply
every uncommitted batch again, and an event that fails to apply is set aside without
losing the batches before it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import fakeredis
import numpy as np

from tests.unit.test_worker_read_ahead import GROUP, RecordingSubscription
from twinbank.adapters.memory import InMemoryOnlineFeatureStore, InMemoryWorkerState
from twinbank.adapters.memory.event_stream import InMemoryEventStream
from twinbank.adapters.redis import LeaseLost, RedisFeatureStateStore
from twinbank.core.event_stream import Delivery
from twinbank.core.features.handbook import handbook_feature_set
from twinbank.core.features.online import FeatureWrite
from twinbank.core.ports import EntityKey
from twinbank.core.timestamps import NANOS_PER_SECOND
from twinbank.core.transactions import Transaction
from twinbank.entrypoints.worker import BatchProcessor, StreamWorker, WorkerSettings

FEATURES = handbook_feature_set()
POISON_CUSTOMER = 999


def _transactions(count: int) -> list[Transaction]:
    return [
        Transaction(index, (1_000 + index) * NANOS_PER_SECOND, index % 3, index % 4, 5.0 + index)
        for index in range(count)
    ]


def _deliveries(transactions: Sequence[Transaction]) -> list[Delivery]:
    return [Delivery(f"1-{t.transaction_id}", t) for t in transactions]


def _redis_state(client: fakeredis.FakeRedis) -> RedisFeatureStateStore:
    state = RedisFeatureStateStore(client, FEATURES, "w")
    assert state.acquire_lease()
    return state


def _online_values(online: InMemoryOnlineFeatureStore, keys: dict[str, list[EntityKey]]) -> dict:
    values = {}
    for entity, entity_keys in keys.items():
        names = [d.name for d in FEATURES.definitions if d.entity == entity]
        stored = online.read(entity, entity_keys, names)
        values[entity] = (stored.values.copy(), stored.event_times_ns.copy())
    return values


def _clean_run(transactions: Sequence[Transaction], keys: dict[str, list[EntityKey]]) -> dict:
    """Return the online values of one batch over the transactions, committed at once."""
    online = InMemoryOnlineFeatureStore()
    processor = BatchProcessor(FEATURES, InMemoryWorkerState(), online, None)
    processor.process(_deliveries(transactions))
    processor.close()
    return _online_values(online, keys)


def _assert_same_values(actual: dict, expected: dict) -> None:
    assert actual.keys() == expected.keys()
    for entity, (values, times) in actual.items():
        np.testing.assert_array_equal(values, expected[entity][0], err_msg=entity)
        np.testing.assert_array_equal(times, expected[entity][1], err_msg=entity)


KEYS: dict[str, list[EntityKey]] = {"customer": [0, 1, 2], "terminal": [0, 1, 2, 3]}


class FlakyOnlineStore(InMemoryOnlineFeatureStore):
    """An online store whose write number ``fail_at`` (from 1) raises once."""

    def __init__(self, fail_at: int) -> None:
        super().__init__()
        self._fail_at = fail_at
        self.calls = 0

    def write(self, writes: Sequence[FeatureWrite]) -> None:
        self.calls += 1
        if self.calls == self._fail_at:
            raise ConnectionError("online store unreachable")
        super().write(writes)


class PoisonState(RedisFeatureStateStore):
    """Redis state that refuses to save the history of one customer, as a bug in a
    store would; the engine's apply of that event raises."""

    def save_history(self, entity: str, key: EntityKey, history) -> None:  # type: ignore[no-untyped-def]
        if entity == "customer" and key == POISON_CUSTOMER:
            raise ValueError("cannot store this history")
        super().save_history(entity, key, history)


def test_redelivered_entry_acknowledged_at_commit():
    processor = BatchProcessor(FEATURES, InMemoryWorkerState(), InMemoryOnlineFeatureStore(), None)
    deliveries = _deliveries(_transactions(3))

    first = processor.process(deliveries, commit=False)
    # The same stream entry again (claimed back): acknowledging it now would also
    # acknowledge the uncommitted event it carries.
    again = processor.process(deliveries[:1], commit=False)
    committed = processor.process([], commit=True)

    assert first.acknowledge == []
    assert first.applied == 0
    assert again.acknowledge == []
    assert again.duplicates == 1
    assert committed.applied == 3
    assert sorted(committed.acknowledge) == ["1-0", "1-0", "1-1", "1-2"]
    assert processor.uncommitted == 0


def test_failed_write_replays_uncommitted_batches():
    transactions = _transactions(15)
    batches = [_deliveries(transactions[start : start + 5]) for start in (0, 5, 10)]
    client = fakeredis.FakeRedis()
    online = FlakyOnlineStore(fail_at=1)  # the commit's online write fails
    processor = BatchProcessor(FEATURES, _redis_state(client), online, None)

    processor.process(batches[0], commit=False)
    processor.process(batches[1], commit=False)
    try:
        processor.process(batches[2], commit=True)
    except ConnectionError:
        processor.reset()
    else:
        raise AssertionError("the failed write was not reported")
    retried = processor.process(batches[2], commit=True)
    processor.close()

    assert retried.applied == 15
    assert sorted(retried.acknowledge) == sorted(d.delivery_id for b in batches for d in b)
    _assert_same_values(_online_values(online, KEYS), _clean_run(transactions, KEYS))
    # The committed state records each event once, so a fresh worker finds them all done.
    fresh = RedisFeatureStateStore(client, FEATURES, "w")
    done = fresh.processed({0: [f"transaction:{t.transaction_id}" for t in transactions]})
    assert len(done) == 15


def test_failing_event_keeps_earlier_batches():
    transactions = _transactions(10)
    poison = Transaction(100, transactions[7].timestamp_ns + 1, POISON_CUSTOMER, 0, 12.0)
    second = [*transactions[5:8], poison, *transactions[8:]]
    online = InMemoryOnlineFeatureStore()
    state = PoisonState(fakeredis.FakeRedis(), FEATURES, "w")
    assert state.acquire_lease()
    processor = BatchProcessor(FEATURES, state, online, None)

    first = processor.process(_deliveries(transactions[:5]), commit=False)
    result = processor.process(_deliveries(second), commit=True)
    processor.close()

    assert first.applied == 0
    assert [delivery.event for delivery, _ in result.dead_letters] == [poison]
    assert "failed to apply" in result.dead_letters[0][1]
    assert result.applied == 10
    assert len(result.acknowledge) == 10
    _assert_same_values(_online_values(online, KEYS), _clean_run(transactions, KEYS))


class RecordingOnlineStore(InMemoryOnlineFeatureStore):
    """An online store that records the keys of every write call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[list[tuple[str, EntityKey]]] = []

    def write(self, writes: Sequence[FeatureWrite]) -> None:
        self.calls.append([(write.entity, write.key) for write in writes])
        super().write(writes)


def test_online_values_wait_for_commit():
    transactions = _transactions(12)
    online = RecordingOnlineStore()
    processor = BatchProcessor(FEATURES, InMemoryWorkerState(), online, None)

    processor.process(_deliveries(transactions[:6]), commit=False)
    processor.process(_deliveries(transactions[6:9]), commit=False)
    before_commit = list(online.calls)
    processor.process(_deliveries(transactions[9:]), commit=True)
    processor.close()

    assert before_commit == []
    # One call with each key once: 3 customers and 4 terminals.
    assert len(online.calls) == 1
    assert sorted(online.calls[0]) == [
        ("customer", 0),
        ("customer", 1),
        ("customer", 2),
        ("terminal", 0),
        ("terminal", 1),
        ("terminal", 2),
        ("terminal", 3),
    ]
    _assert_same_values(_online_values(online, KEYS), _clean_run(transactions, KEYS))


class AckRecorder(RecordingSubscription):
    """Records the size of every acknowledgement."""

    def __init__(self, stream: InMemoryEventStream, stop: threading.Event) -> None:
        super().__init__(stream.subscription(GROUP, "worker-1"), stop, None)
        self.acknowledged: list[int] = []

    def acknowledge(self, delivery_ids: Sequence[str]) -> None:
        if delivery_ids:
            self.acknowledged.append(len(delivery_ids))
        super().acknowledge(delivery_ids)


def _drain(commit_interval_ms: int) -> tuple[AckRecorder, int]:
    stream = InMemoryEventStream()
    stream.publish(_transactions(35))
    stop = threading.Event()
    subscription = AckRecorder(stream, stop)
    state = InMemoryWorkerState()
    processor = BatchProcessor(FEATURES, state, InMemoryOnlineFeatureStore(), None)
    settings = WorkerSettings(
        batch_size=10,
        block_ms=1,
        linger_ms=0,
        allowed_lateness_ms=0,
        commit_interval_ms=commit_interval_ms,
    )
    report = StreamWorker(subscription, processor, state, settings).run(stop)
    assert stream.subscription(GROUP, "worker-1").lag() == 0
    return subscription, report.applied


def test_worker_commits_backlog_together():
    subscription, applied = _drain(commit_interval_ms=10_000)

    assert subscription.read_sizes[:4] == [10, 10, 10, 5]
    assert subscription.acknowledged == [35]
    assert applied == 35


def test_worker_interval_zero_commits_each_batch():
    subscription, applied = _drain(commit_interval_ms=0)

    assert subscription.acknowledged == [10, 10, 10, 5]
    assert applied == 35


class LeaseLosingState(InMemoryWorkerState):
    """In-memory state whose second commit finds the lease held by another worker."""

    def __init__(self) -> None:
        super().__init__()
        self.commits = 0

    def commit(self, event_ids_by_day, applied_up_to) -> None:  # type: ignore[no-untyped-def]
        self.commits += 1
        if self.commits == 2:
            raise LeaseLost("the write lease is held by another worker")
        super().commit(event_ids_by_day, applied_up_to)


def test_worker_without_lease_skips_final_commit():
    stream = InMemoryEventStream()
    stream.publish(_transactions(35))
    stop = threading.Event()
    state = LeaseLosingState()
    processor = BatchProcessor(FEATURES, state, InMemoryOnlineFeatureStore(), None)
    settings = WorkerSettings(
        batch_size=10, block_ms=1, linger_ms=0, allowed_lateness_ms=0, commit_interval_ms=0
    )
    subscription = AckRecorder(stream, stop)

    report = StreamWorker(subscription, processor, state, settings).run(stop)

    assert state.commits == 2
    assert report.applied == 10
    assert subscription.acknowledged == [10]
    assert stream.subscription(GROUP, "worker-1").lag() == 25
