"""Streaming and batch computation agree on arbitrary event histories."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.feature_runs import EventHistory, assert_same_values, batch_values, stream_values
from twinbank.adapters.memory import InMemoryFeatureStateStore
from twinbank.core.features.catalog import feature_set_named
from twinbank.core.features.definitions import (
    FRAUD_LABEL,
    Aggregation,
    Entity,
    FeatureDefinition,
    FeatureSet,
    Ratio,
    WindowAggregate,
)
from twinbank.core.features.handbook import handbook_feature_set
from twinbank.core.features.streaming import StreamingFeatureEngine
from twinbank.core.timestamps import NANOS_PER_DAY, NANOS_PER_HOUR
from twinbank.core.transactions import FraudLabel, Transaction

HOUR = NANOS_PER_HOUR


def _hourly_feature_set() -> FeatureSet:
    """Short windows, so that a few dozen events cross window edges often."""
    customer = Entity("customer", "customer_id")
    terminal = Entity("terminal", "terminal_id")
    definitions = [
        FeatureDefinition(
            "C_COUNT_2H", "customer", WindowAggregate("amount", Aggregation.COUNT, 2 * HOUR)
        ),
        FeatureDefinition(
            "C_SUM_2H", "customer", WindowAggregate("amount", Aggregation.SUM, 2 * HOUR)
        ),
        FeatureDefinition(
            "C_MEAN_5H", "customer", WindowAggregate("amount", Aggregation.MEAN, 5 * HOUR)
        ),
        FeatureDefinition(
            "C_MEAN_DELAYED",
            "customer",
            WindowAggregate("amount", Aggregation.MEAN, 4 * HOUR, 3 * HOUR),
        ),
        FeatureDefinition(
            "T_COUNT_DELAYED",
            "terminal",
            WindowAggregate("amount", Aggregation.COUNT, 4 * HOUR, 3 * HOUR),
        ),
        FeatureDefinition(
            "T_FRAUDS_DELAYED",
            "terminal",
            WindowAggregate(FRAUD_LABEL, Aggregation.SUM, 4 * HOUR, 3 * HOUR),
        ),
        FeatureDefinition(
            "T_RISK_DELAYED",
            "terminal",
            WindowAggregate(FRAUD_LABEL, Aggregation.MEAN, 6 * HOUR, 1 * HOUR, empty_value=0.0),
        ),
        FeatureDefinition("C_SPEND_RATIO", None, Ratio("C_SUM_2H", "C_MEAN_5H")),
    ]
    return FeatureSet("hourly", (customer, terminal), tuple(definitions))


HOURLY = _hourly_feature_set()
HANDBOOK = handbook_feature_set()
PROFILE = feature_set_named("handbook-profile")


@st.composite
def event_histories(draw: st.DrawFn, time_unit: int, horizon_units: int) -> EventHistory:
    """Transactions with many equal timestamps, in an arbitrary arrival order among
    ties, and labels that arrive early, on time, late, twice, or never."""
    count = draw(st.integers(min_value=1, max_value=40))
    times = sorted(draw(st.lists(st.integers(0, horizon_units), min_size=count, max_size=count)))
    ids = draw(st.permutations(range(1000, 1000 + count)))
    transactions = []
    for position, unit in enumerate(times):
        transactions.append(
            Transaction(
                transaction_id=ids[position],
                timestamp_ns=1_500_000_000 * 10**9 + unit * time_unit,
                customer_id=draw(st.integers(0, 3)),
                terminal_id=draw(st.integers(0, 3)),
                amount=draw(st.integers(0, 50_000)) / 100,
            )
        )
    labels = []
    for transaction in transactions:
        for _ in range(draw(st.integers(0, 2))):
            delay_units = draw(st.integers(-1, horizon_units // 2))
            labels.append(
                FraudLabel(
                    transaction.transaction_id,
                    transaction.timestamp_ns + delay_units * time_unit,
                    draw(st.booleans()),
                )
            )
    order = draw(st.permutations(range(len(labels))))
    return EventHistory(transactions, [labels[index] for index in order])


@settings(max_examples=300, deadline=None)
@given(event_histories(time_unit=HOUR // 2, horizon_units=40))
def test_stream_equals_batch_on_hourly_windows(history: EventHistory):
    assert_same_values(stream_values(HOURLY, history), batch_values(HOURLY, history), HOURLY.names)


@settings(max_examples=150, deadline=None)
@given(event_histories(time_unit=NANOS_PER_DAY // 4, horizon_units=200))
def test_stream_equals_batch_on_handbook_features(history: EventHistory):
    assert_same_values(
        stream_values(HANDBOOK, history), batch_values(HANDBOOK, history), HANDBOOK.names
    )


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        event_histories(time_unit=HOUR // 4, horizon_units=60),
        event_histories(time_unit=NANOS_PER_DAY // 4, horizon_units=200),
    )
)
def test_stream_equals_batch_on_profile(history: EventHistory):
    """Hour windows and day windows of the same customers, in one set."""
    assert_same_values(
        stream_values(PROFILE, history), batch_values(PROFILE, history), PROFILE.names
    )


@settings(max_examples=150, deadline=None)
@given(event_histories(time_unit=HOUR // 2, horizon_units=40))
def test_preview_equals_the_observed_values(history: EventHistory):
    """Previewing a transaction gives the values observing it gives, and changes nothing."""
    engine = StreamingFeatureEngine(HOURLY, InMemoryFeatureStateStore())
    pending = sorted(history.labels, key=lambda label: label.revealed_at_ns)
    for transaction in history.transactions:
        while pending and pending[0].revealed_at_ns <= transaction.timestamp_ns:
            engine.observe_label(pending.pop(0))
        first = engine.preview_transaction(transaction)
        second = engine.preview_transaction(transaction)
        observed = engine.observe_transaction(transaction)
        assert first == second
        assert first.as_dict() == observed.as_dict()
