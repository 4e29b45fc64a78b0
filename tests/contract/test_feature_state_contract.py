"""The FeatureStateStore port's contract, run against every adapter.

The Redis store caches and writes at ``commit``; the contract is checked on a fresh
store after each commit, so that what is asserted is what Redis holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import fakeredis
import numpy as np
import pytest
import redis

from tests.support.feature_runs import EventHistory, batch_values
from tests.support.servers import REDIS_URL, delete_prefix, unique_name
from twinbank.adapters.memory import InMemoryFeatureStateStore, InMemoryWorkerState
from twinbank.adapters.redis import (
    FeatureSetConflict,
    LeaseLost,
    RedisFeatureStateReader,
    RedisFeatureStateStore,
)
from twinbank.core.features.catalog import feature_set_named
from twinbank.core.features.handbook import handbook_feature_set
from twinbank.core.features.streaming import EntityHistory, StreamingFeatureEngine
from twinbank.core.timestamps import NANOS_PER_DAY, NANOS_PER_HOUR
from twinbank.core.transactions import FraudLabel, Transaction

FEATURES = handbook_feature_set()
DAY = NANOS_PER_DAY

Reopen = Callable[[], object]


class Harness:
    """Builds stores over one backing state; ``commit`` makes changes durable."""

    def __init__(self, kind: str, client: redis.Redis | None, prefix: str) -> None:
        self.kind = kind
        self.client = client
        self.prefix = prefix
        self._memory = InMemoryFeatureStateStore() if kind == "memory" else None
        self._worker_memory = InMemoryWorkerState() if kind == "worker-memory" else None
        self._redis_store: RedisFeatureStateStore | None = None

    def store(self):
        """Return the store; for Redis a new instance, as a restarted worker would build."""
        if self._memory is not None:
            return self._memory
        if self._worker_memory is not None:
            return self._worker_memory
        if self._redis_store is not None:
            self._redis_store.release_lease()
        store = RedisFeatureStateStore(self.client, FEATURES, self.prefix)
        assert store.acquire_lease()
        self._redis_store = store
        return store

    def commit(self, store, event_ids: dict[int, list[str]] | None = None) -> None:
        if hasattr(store, "commit"):
            store.commit(event_ids or {}, None)


@pytest.fixture(
    params=["memory", "worker-memory", "fakeredis", pytest.param("redis", marks=pytest.mark.redis)]
)
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    prefix = unique_name("state")
    if request.param in ("memory", "worker-memory"):
        yield Harness(request.param, None, prefix)
        return
    if request.param == "fakeredis":
        client = fakeredis.FakeRedis()
    else:
        client = redis.Redis.from_url(REDIS_URL)
        try:
            client.ping()
        except redis.ConnectionError as error:
            pytest.fail(f"Redis at {REDIS_URL} is not reachable: {error}")
    yield Harness(request.param, client, prefix)
    delete_prefix(client, prefix)
    client.close()


def _transactions(count: int, seed: int = 1) -> list[Transaction]:
    generator = np.random.default_rng(seed)
    times = np.sort(generator.integers(0, 40 * DAY, count))
    return [
        Transaction(
            transaction_id=index,
            timestamp_ns=int(moment),
            customer_id=int(generator.integers(0, 12)),
            terminal_id=int(generator.integers(0, 20)),
            amount=float(np.round(generator.gamma(2.0, 30.0), 2)),
        )
        for index, moment in enumerate(times)
    ]


def test_absent_key_has_no_history(harness: Harness):
    assert harness.store().load_history("customer", 404) is None


def test_saved_history_survives_a_new_store(harness: Harness):
    store = harness.store()
    engine = StreamingFeatureEngine(FEATURES, store)
    engine.observe_transaction(Transaction(1, 5 * DAY, 3, 9, 42.25))
    harness.commit(store)

    history = harness.store().load_history("customer", 3)

    assert isinstance(history, EntityHistory)
    assert history.times == [5 * DAY]
    assert history.ids == [1]


def test_int_and_str_keys_have_separate_histories(harness: Harness):
    store = harness.store()
    engine = StreamingFeatureEngine(FEATURES, store)
    engine.observe_transaction(Transaction(1, 5 * DAY, 3, 9, 42.25))
    engine.observe_transaction(Transaction(2, 6 * DAY, 4, 9, 10.0))
    other = store.load_history("customer", 4)
    assert other is not None
    store.save_history("customer", "3", other)
    harness.commit(store)

    reopened = harness.store()
    as_int = reopened.load_history("customer", 3)
    as_str = reopened.load_history("customer", "3")

    assert as_int is not None
    assert as_str is not None
    assert as_int.ids == [1]
    assert as_str.ids == [2]


def test_remembered_transaction_is_recalled_once(harness: Harness):
    store = harness.store()
    store.remember_transaction(11, 7 * DAY, (9,))
    harness.commit(store)

    reopened = harness.store()
    assert reopened.recall_transaction(11) == (7 * DAY, (9,))
    assert reopened.recall_transaction(11) is None
    harness.commit(reopened)
    assert harness.store().recall_transaction(11) is None


def test_forget_drops_only_older_transactions(harness: Harness):
    store = harness.store()
    store.remember_transaction(1, 1 * DAY, (5,))
    store.remember_transaction(2, 3 * DAY, (5,))
    harness.commit(store)

    reopened = harness.store()
    assert reopened.forget_transactions_before(2 * DAY) >= 1
    harness.commit(reopened)

    final = harness.store()
    assert final.recall_transaction(1) is None
    assert final.recall_transaction(2) == (3 * DAY, (5,))


def test_forget_drops_older_transactions_before_any_commit(harness: Harness):
    store = harness.store()
    store.remember_transaction(1, 1 * DAY, (5,))
    store.remember_transaction(2, 3 * DAY, (5,))

    assert store.forget_transactions_before(2 * DAY) >= 1
    assert store.recall_transaction(1) is None
    assert store.recall_transaction(2) == (3 * DAY, (5,))


def test_engine_over_store_equals_batch(harness: Harness):
    """Committing every few events and reopening the store changes no feature value."""
    transactions = _transactions(400)
    labels = [
        FraudLabel(t.transaction_id, t.timestamp_ns + 7 * DAY, bool(t.transaction_id % 9 == 0))
        for t in transactions
    ]
    expected = batch_values(FEATURES, EventHistory(transactions, labels))

    pending = sorted(labels, key=lambda label: label.revealed_at_ns)
    store = harness.store()
    engine = StreamingFeatureEngine(FEATURES, store)
    rows = []
    next_label = 0
    for index, transaction in enumerate(transactions):
        while (
            next_label < len(pending)
            and pending[next_label].revealed_at_ns <= transaction.timestamp_ns
        ):
            engine.observe_label(pending[next_label])
            next_label += 1
        rows.append(engine.observe_transaction(transaction).values)
        if index % 37 == 0:
            harness.commit(store)
            store = harness.store()
            engine = StreamingFeatureEngine(FEATURES, store)

    np.testing.assert_allclose(np.array(rows), expected, rtol=1e-12, atol=0, equal_nan=True)


def test_redis_commit_is_refused_without_the_lease():
    client = fakeredis.FakeRedis()
    owner = RedisFeatureStateStore(client, FEATURES, "lease-test")
    intruder = RedisFeatureStateStore(client, FEATURES, "lease-test")
    assert owner.acquire_lease()
    assert not intruder.acquire_lease()

    engine = StreamingFeatureEngine(FEATURES, intruder)
    engine.observe_transaction(Transaction(1, DAY, 3, 9, 1.0))

    with pytest.raises(LeaseLost):
        intruder.commit({1: ["transaction:1"]}, DAY)
    assert client.get("lease-test:history:customer:3") is None
    assert intruder.processed({1: ["transaction:1"]}) == set()


def test_redis_commit_records_processed_ids_and_time():
    client = fakeredis.FakeRedis()
    store = RedisFeatureStateStore(client, FEATURES, "ids-test")
    assert store.acquire_lease()
    store.commit({3: ["transaction:1", "label:0"]}, 3 * DAY + 5)

    reopened = RedisFeatureStateStore(client, FEATURES, "ids-test")
    assert reopened.processed({3: ["transaction:1", "transaction:2"], 4: ["label:0"]}) == {
        "transaction:1"
    }
    assert reopened.applied_up_to() == 3 * DAY + 5


def test_redis_rollback_discards_uncommitted_changes():
    client = fakeredis.FakeRedis()
    store = RedisFeatureStateStore(client, FEATURES, "rollback-test")
    assert store.acquire_lease()
    engine = StreamingFeatureEngine(FEATURES, store)
    engine.observe_transaction(Transaction(1, DAY, 3, 9, 1.0))

    store.rollback()

    assert store.load_history("customer", 3) is None
    store.commit({}, None)
    assert client.get("rollback-test:history:customer:3") is None


def test_released_lease_can_be_taken_by_a_successor():
    client = fakeredis.FakeRedis()
    first = RedisFeatureStateStore(client, FEATURES, "succession")
    second = RedisFeatureStateStore(client, FEATURES, "succession")
    assert first.acquire_lease()
    first.release_lease()

    assert second.acquire_lease()
    with pytest.raises(LeaseLost):
        first.commit({}, None)


def test_reader_returns_committed_histories_only():
    client = fakeredis.FakeRedis()
    store = RedisFeatureStateStore(client, FEATURES, "reader")
    assert store.acquire_lease()
    engine = StreamingFeatureEngine(FEATURES, store)
    engine.observe_transaction(Transaction(1, DAY, 3, 9, 1.0))
    reader = RedisFeatureStateReader(client, FEATURES, "reader")

    assert reader.histories([("customer", 3), ("terminal", 9)]) == {}
    store.commit({}, None)
    found = reader.histories([("customer", 3), ("terminal", 9), ("customer", 4)])
    assert set(found) == {("customer", 3), ("terminal", 9)}
    assert found[("customer", 3)].times == [DAY]


def test_hour_scale_windows_match_after_many_commits():
    """A state written and read back hundreds of times keeps exact sums."""
    client = fakeredis.FakeRedis()
    reference = StreamingFeatureEngine(FEATURES, InMemoryFeatureStateStore())
    values = []
    for index in range(300):
        store = RedisFeatureStateStore(client, FEATURES, "exact")
        assert store.acquire_lease()
        engine = StreamingFeatureEngine(FEATURES, store)
        transaction = Transaction(index, index * NANOS_PER_HOUR, 1, 2, 0.1 * (index % 7) + 0.01)
        values.append(
            (
                engine.observe_transaction(transaction).values,
                reference.observe_transaction(transaction).values,
            )
        )
        store.commit({}, None)
        store.release_lease()
    for stored, expected in values:
        assert stored == expected


@pytest.mark.parametrize("kind", ["fakeredis", pytest.param("redis", marks=pytest.mark.redis)])
def test_redis_prefix_keeps_one_feature_set(kind: str):
    client = fakeredis.FakeRedis() if kind == "fakeredis" else redis.Redis.from_url(REDIS_URL)
    prefix = unique_name("feature-set")
    profile = feature_set_named("handbook-profile")
    try:
        RedisFeatureStateReader(client, profile, prefix).check_feature_set()  # unmarked
        RedisFeatureStateStore(client, FEATURES, prefix).claim_feature_set()
        RedisFeatureStateStore(client, FEATURES, prefix).claim_feature_set()  # a restart
        RedisFeatureStateReader(client, FEATURES, prefix).check_feature_set()

        with pytest.raises(FeatureSetConflict, match="TWINBANK_FEATURE_SET"):
            RedisFeatureStateStore(client, profile, prefix).claim_feature_set()
        with pytest.raises(
            FeatureSetConflict, match=f"computes 'handbook-profile {profile.version}'"
        ):
            RedisFeatureStateReader(client, profile, prefix).check_feature_set()
    finally:
        delete_prefix(client, prefix)
        client.close()
