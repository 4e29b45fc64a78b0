"""Out-of-order transactions within the allowed lateness, and those beyond it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.property.test_stream_equals_batch import HOURLY
from tests.property.test_tracked_aggregations import EXTENDED
from tests.support.feature_runs import EventHistory, assert_same_values, batch_values
from twinbank.adapters.memory import InMemoryFeatureStateStore
from twinbank.core.features.definitions import FeatureSet
from twinbank.core.features.streaming import (
    LateTransaction,
    OutOfOrderTransaction,
    StreamingFeatureEngine,
)
from twinbank.core.timestamps import NANOS_PER_HOUR
from twinbank.core.transactions import Transaction

HOUR = NANOS_PER_HOUR
BASE = 1_500_000_000 * 10**9
LATENESS = 3 * HOUR


@st.composite
def late_arrivals(draw: st.DrawFn) -> list[Transaction]:
    """Transactions in time order, then some moved later in arrival, within LATENESS."""
    count = draw(st.integers(1, 30))
    times = sorted(draw(st.lists(st.integers(0, 60), min_size=count, max_size=count)))
    events = [
        Transaction(
            1000 + index,
            BASE + unit * (HOUR // 2),
            draw(st.integers(0, 2)),
            draw(st.integers(0, 2)),
            draw(st.integers(0, 20_000)) / 100,
        )
        for index, unit in enumerate(times)
    ]
    for _ in range(draw(st.integers(0, count))):
        source = draw(st.integers(0, len(events) - 1))
        target = draw(st.integers(source, len(events) - 1))
        moved = events.pop(source)
        events.insert(target, moved)
    # Keep only arrivals within LATENESS of the latest earlier arrival.
    accepted, latest = [], None
    for event in events:
        if latest is None or latest - event.timestamp_ns <= LATENESS:
            accepted.append(event)
            latest = max(latest or event.timestamp_ns, event.timestamp_ns)
    return accepted


def _prefix_reference(feature_set: FeatureSet, arrivals: list[Transaction]) -> np.ndarray:
    """Each transaction's values from the transactions that arrived before it, by batch."""
    rows = []
    for index in range(len(arrivals)):
        values = batch_values(feature_set, EventHistory(arrivals[: index + 1], []))
        rows.append(values[index])
    return np.array(rows).reshape(len(arrivals), len(feature_set.names))


@pytest.mark.parametrize("feature_set", [HOURLY, EXTENDED], ids=["hourly", "extended"])
@settings(max_examples=120, deadline=None)
@given(arrivals=late_arrivals())
def test_late_stream_equals_prefix_batch(feature_set: FeatureSet, arrivals: list) -> None:
    engine = StreamingFeatureEngine(feature_set, InMemoryFeatureStateStore(), LATENESS)

    streamed = np.array([engine.observe_transaction(event).values for event in arrivals]).reshape(
        len(arrivals), len(feature_set.names)
    )

    assert_same_values(streamed, _prefix_reference(feature_set, arrivals), feature_set.names)
    assert engine.statistics.late_rejected == 0


def test_too_late_is_counted_and_changes_nothing() -> None:
    engine = StreamingFeatureEngine(EXTENDED, InMemoryFeatureStateStore(), LATENESS)
    engine.observe_transaction(Transaction(1, BASE + 10 * HOUR, 1, 1, 5.0))
    late = Transaction(2, BASE + 6 * HOUR, 1, 1, 9.0)

    with pytest.raises(LateTransaction, match="beyond the allowed lateness"):
        engine.observe_transaction(late)

    assert engine.statistics.late_rejected == 1
    after = engine.observe_transaction(Transaction(3, BASE + 10 * HOUR, 1, 1, 1.0))
    assert after["C_MAX_3H"] == 5.0  # the rejected 9.0 never entered a window


def test_within_lateness_is_counted() -> None:
    engine = StreamingFeatureEngine(HOURLY, InMemoryFeatureStateStore(), LATENESS)
    engine.observe_transaction(Transaction(1, BASE + 10 * HOUR, 1, 1, 5.0))
    engine.observe_transaction(Transaction(2, BASE + 8 * HOUR, 1, 1, 2.0))

    assert engine.statistics.late_accepted == 1
    assert engine.statistics.late_rejected == 0


def test_no_lateness_rejects_out_of_order() -> None:
    engine = StreamingFeatureEngine(HOURLY, InMemoryFeatureStateStore())
    engine.observe_transaction(Transaction(1, BASE + 10 * HOUR, 1, 1, 5.0))

    with pytest.raises(OutOfOrderTransaction, match="deliver transactions in timestamp order"):
        engine.observe_transaction(Transaction(2, BASE + 9 * HOUR, 1, 1, 2.0))


def test_negative_lateness_is_rejected() -> None:
    with pytest.raises(ValueError, match="-1 ns is negative"):
        StreamingFeatureEngine(HOURLY, InMemoryFeatureStateStore(), -1)
