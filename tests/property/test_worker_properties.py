"""Stream-worker invariants on arbitrary event histories.

Whatever the batch sizes, duplicate publications, redeliveries and crashes, the
feature values the worker writes equal a batch computation over the same events, and
window state survives its binary encoding exactly.
"""

from __future__ import annotations

import fakeredis
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.property.test_stream_equals_batch import HANDBOOK, HOURLY, event_histories
from tests.support.feature_runs import EventHistory, batch_values
from twinbank.adapters.memory import (
    InMemoryEventStream,
    InMemoryFeatureStateStore,
    InMemoryOnlineFeatureStore,
)
from twinbank.adapters.redis import RedisFeatureStateStore, decode_history, encode_history
from twinbank.core.event_stream import StreamEvent
from twinbank.core.features.definitions import FeatureSet
from twinbank.core.features.online import HistoryRow
from twinbank.core.features.plan import compile_plan
from twinbank.core.features.streaming import StreamingFeatureEngine
from twinbank.core.features.vector import FeatureVector
from twinbank.core.timestamps import NANOS_PER_DAY, NANOS_PER_HOUR
from twinbank.core.transactions import FraudLabel, Transaction
from twinbank.entrypoints.worker import BatchProcessor, FeatureMaterializer


def stream_order(history: EventHistory) -> list[StreamEvent]:
    """Events as a live stream carries them: each label at its reveal time, labels first."""
    pending = sorted(history.labels, key=lambda label: label.revealed_at_ns)
    events: list[StreamEvent] = []
    for transaction in history.transactions:
        while pending and pending[0].revealed_at_ns <= transaction.timestamp_ns:
            events.append(pending.pop(0))
        events.append(transaction)
    events.extend(pending)
    return events


class RecordingHistory:
    """A FeatureHistory that keeps rows by their idempotency key, and counts repeats."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, object, str], HistoryRow] = {}
        self.repeats = 0

    def append(self, rows: list[HistoryRow]) -> None:
        for row in rows:
            key = (row.write.entity, row.write.key, row.event_id)
            if key in self.rows:
                self.repeats += 1
                assert self.rows[key] == row, "a replayed event produced different values"
            self.rows[key] = row


class Crash(Exception):
    """Raised on purpose to stop a worker between two steps of a batch."""


class CrashingState(RedisFeatureStateStore):
    """Redis state whose next commit raises, as if the process died before it."""

    crash_next_commit = False

    def commit(self, event_ids_by_day, applied_up_to) -> None:  # type: ignore[override]
        if self.crash_next_commit:
            raise Crash
        super().commit(event_ids_by_day, applied_up_to)


def expected_rows(feature_set: FeatureSet, history: EventHistory) -> dict:
    """Return the history rows a worker must write, from the batch engine's values."""
    values = batch_values(feature_set, history)
    materializer = FeatureMaterializer(feature_set)
    expected = {}
    for transaction, row in zip(history.transactions, values, strict=True):
        vector = FeatureVector(feature_set.names, tuple(row), feature_set.version)
        for write in materializer.writes_for(transaction, vector):
            event_id = f"transaction:{transaction.transaction_id}"
            expected[(write.entity, write.key, event_id)] = write.values
    return expected


def assert_rows_equal(actual: dict, expected: dict) -> None:
    assert set(actual) == set(expected), "events lost or invented"
    for key, row in actual.items():
        for name, value in row.write.values.items():
            wanted = expected[key][name]
            if wanted is None:
                assert value is None, (key, name)
            else:
                assert value is not None, (key, name)
                np.testing.assert_allclose(value, wanted, rtol=1e-9, atol=1e-9, err_msg=str(key))


def drain(
    subscription,
    start_worker,
    batch_sizes: list[int],
    commits: list[bool],
    crashes: list[str],
) -> None:
    """Run a worker over the subscription until the stream is drained and committed.

    Each batch commits or not as ``commits`` gives (a worker draining a backlog commits
    several batches at once). A crash restarts the worker, which first applies what
    it left pending; a failed commit is reset and retried in the same process.
    """
    state, processor = start_worker()
    recovering = True
    step = 0
    while True:
        if recovering:
            deliveries, commit, recovering = subscription.pending(10_000), True, False
        else:
            deliveries = subscription.receive(batch_sizes[step % len(batch_sizes)], 1)
            commit = commits[step % len(commits)] if commits else True
            if not deliveries:
                if not processor.uncommitted:
                    return
                commit = True  # the stream is drained: commit what is applied
        crash = crashes[step] if step < len(crashes) else None
        step += 1
        state.crash_next_commit = crash in ("before-commit", "commit-fails")
        try:
            result = processor.process(deliveries, commit)
        except Crash:
            if crash == "before-commit":
                state, processor = start_worker()
                recovering = True
                continue
            processor.reset()
            state.crash_next_commit = False
            result = processor.process(deliveries, commit)
        assert not result.dead_letters
        if crash == "before-ack":
            state, processor = start_worker()
            recovering = True
            continue
        subscription.acknowledge(result.acknowledge)


@settings(max_examples=120, deadline=None)
@given(
    history=event_histories(time_unit=NANOS_PER_HOUR // 2, horizon_units=40),
    batch_sizes=st.lists(st.integers(1, 12), min_size=1, max_size=8),
    commits=st.lists(st.booleans(), max_size=8),
    duplicates=st.lists(st.integers(0, 200), max_size=6),
    crashes=st.lists(st.sampled_from(["before-commit", "before-ack", "commit-fails"]), max_size=4),
)
def test_worker_output_equals_batch_despite_crashes(
    history: EventHistory,
    batch_sizes: list[int],
    commits: list[bool],
    duplicates: list[int],
    crashes: list[str],
):
    feature_set = HOURLY
    events = stream_order(history)
    published = list(events)
    for position in duplicates:  # a publisher retried: the same event again, later
        event = events[position % len(events)]
        published.insert(published.index(event) + 1 + position % 5, event)
    stream = InMemoryEventStream()
    stream.publish(published)
    client = fakeredis.FakeRedis()
    online = InMemoryOnlineFeatureStore()
    offline = RecordingHistory()

    def start_worker() -> tuple[CrashingState, BatchProcessor]:
        state = CrashingState(client, feature_set, "w", lease_ms=600_000)
        client.delete("w:lease")  # the crashed worker's lease is taken over
        assert state.acquire_lease()
        return state, BatchProcessor(feature_set, state, online, offline)

    subscription = stream.subscription("features", "worker-1")
    drain(subscription, start_worker, batch_sizes, commits, crashes)

    assert subscription.lag() == 0
    assert_rows_equal(offline.rows, expected_rows(feature_set, history))
    # The online store holds each key's values as of its latest transaction.
    latest: dict[tuple[str, object], HistoryRow] = {}
    for row in sorted(offline.rows.values(), key=lambda r: r.write.event_time_ns):
        latest[(row.write.entity, row.write.key)] = row
    for (entity, key), row in latest.items():
        names = list(row.write.values)
        (stored,) = online.read(entity, [key], names)
        assert {name: value for name, (value, _) in stored.items()} == dict(row.write.values)


@settings(max_examples=150, deadline=None)
@given(event_histories(time_unit=NANOS_PER_DAY // 4, horizon_units=200))
def test_history_codec_round_trips_exactly(history: EventHistory):
    store = InMemoryFeatureStateStore()
    engine = StreamingFeatureEngine(HANDBOOK, store)
    for event in stream_order(history):
        if isinstance(event, FraudLabel):
            engine.observe_label(event)
        else:
            engine.observe_transaction(event)
    plans = {plan.entity.name: plan for plan in compile_plan(HANDBOOK).entities}
    for (entity, _), original in store._histories.items():
        decoded = decode_history(encode_history(original), plans[entity])
        assert decoded.times == original.times
        assert decoded.ids == original.ids
        assert decoded.columns == original.columns
        assert decoded.offset == original.offset
        for left, right in zip(decoded.windows, original.windows, strict=True):
            assert (left.left, left.right, left.count, left.sums) == (
                right.left,
                right.right,
                right.count,
                right.sums,
            )


@given(st.floats(allow_nan=False, allow_infinity=False), st.integers(0, 40))
def test_codec_keeps_any_finite_amount(amount: float, offset_days: int):
    store = InMemoryFeatureStateStore()
    engine = StreamingFeatureEngine(HANDBOOK, store)
    engine.observe_transaction(Transaction(1, offset_days * NANOS_PER_DAY, 1, 2, amount))
    plans = {plan.entity.name: plan for plan in compile_plan(HANDBOOK).entities}
    original = store.load_history("customer", 1)
    decoded = decode_history(encode_history(original), plans["customer"])
    assert decoded.columns == original.columns
    assert [w.sums for w in decoded.windows] == [w.sums for w in original.windows]
