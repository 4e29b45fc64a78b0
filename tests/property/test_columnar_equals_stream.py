"""The micro-batch engine equals the per-event engine for any split into batches."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.property.test_stream_equals_batch import HANDBOOK, HOURLY, PROFILE, event_histories
from tests.property.test_tracked_aggregations import EXTENDED
from tests.support.feature_runs import (
    EventHistory,
    assert_same_values,
    columnar_values,
    stream_values,
)
from twinbank.core.features.batch import TransactionTable
from twinbank.core.features.columnar import ColumnarFeatureEngine
from twinbank.core.features.definitions import (
    Aggregation,
    Entity,
    FeatureDefinition,
    FeatureSet,
    WindowAggregate,
)
from twinbank.core.timestamps import NANOS_PER_DAY, NANOS_PER_HOUR

HOUR = NANOS_PER_HOUR

batch_sizes = st.lists(st.integers(1, 12), min_size=1, max_size=4)


@settings(max_examples=300, deadline=None)
@given(event_histories(time_unit=HOUR // 2, horizon_units=40), batch_sizes)
def test_columnar_equals_stream_on_hourly_windows(history: EventHistory, sizes: list[int]):
    assert_same_values(
        columnar_values(HOURLY, history, sizes), stream_values(HOURLY, history), HOURLY.names
    )


@settings(max_examples=150, deadline=None)
@given(event_histories(time_unit=NANOS_PER_DAY // 4, horizon_units=200), batch_sizes)
def test_columnar_equals_stream_on_handbook_features(history: EventHistory, sizes: list[int]):
    assert_same_values(
        columnar_values(HANDBOOK, history, sizes), stream_values(HANDBOOK, history), HANDBOOK.names
    )


@settings(max_examples=100, deadline=None)
@given(event_histories(time_unit=HOUR // 4, horizon_units=60), batch_sizes)
def test_columnar_equals_stream_on_profile(history: EventHistory, sizes: list[int]):
    assert_same_values(
        columnar_values(PROFILE, history, sizes), stream_values(PROFILE, history), PROFILE.names
    )


@settings(max_examples=150, deadline=None)
@given(event_histories(time_unit=HOUR // 2, horizon_units=30), batch_sizes)
def test_columnar_equals_stream_for_tracked(history: EventHistory, sizes: list[int]):
    assert_same_values(
        columnar_values(EXTENDED, history, sizes), stream_values(EXTENDED, history), EXTENDED.names
    )


@settings(max_examples=100, deadline=None)
@given(event_histories(time_unit=HOUR // 2, horizon_units=40))
def test_batch_size_does_not_change_values(history: EventHistory):
    one_batch = columnar_values(HOURLY, history, [len(history.transactions)])
    single_events = columnar_values(HOURLY, history, [1])

    assert_same_values(single_events, one_batch, HOURLY.names)


SHORT = FeatureSet(
    "short",
    (Entity("customer", "customer_id"),),
    (FeatureDefinition("C_SUM_1H", "customer", WindowAggregate("amount", Aggregation.SUM, HOUR)),),
)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 50), st.integers(1, 5))
def test_retained_events_stay_within_the_horizon(batch_size: int, keys: int):
    """A long stream keeps a bounded multiple of the events inside the window."""
    engine = ColumnarFeatureEngine(SHORT)
    per_hour = 60  # one event a minute
    events = 20 * per_hour
    largest = 0
    for start in range(0, events, batch_size):
        rows = range(start, min(start + batch_size, events))
        engine.observe_batch(
            TransactionTable(
                {
                    "transaction_id": list(rows),
                    "timestamp_ns": [row * HOUR // per_hour for row in rows],
                    "customer_id": [row % keys for row in rows],
                    "amount": [1.0 for _ in rows],
                }
            )
        )
        largest = max(largest, engine.retained_events)

    assert largest <= 2 * (per_hour + batch_size)
