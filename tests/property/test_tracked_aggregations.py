"""Min, max, distinct count and std: the stream equals the batch, through any store."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings

from tests.property.test_stream_equals_batch import event_histories
from tests.support.feature_runs import EventHistory, assert_same_values, batch_values
from twinbank.adapters.memory import InMemoryFeatureStateStore
from twinbank.adapters.redis import decode_history, encode_history
from twinbank.core.features.definitions import (
    Aggregation,
    Entity,
    FeatureDefinition,
    FeatureSet,
    InvalidFeatureDefinition,
    Ratio,
    WindowAggregate,
)
from twinbank.core.features.plan import compile_plan
from twinbank.core.features.streaming import StreamingFeatureEngine
from twinbank.core.timestamps import NANOS_PER_HOUR
from twinbank.core.transactions import Transaction

HOUR = NANOS_PER_HOUR


def _feature(name: str, entity: str, aggregation: Aggregation, hours: int, delay: int = 0):
    return FeatureDefinition(
        name,
        entity,
        WindowAggregate("amount", aggregation, hours * HOUR, delay * HOUR),
    )


EXTENDED = FeatureSet(
    "extended",
    (Entity("customer", "customer_id"), Entity("terminal", "terminal_id")),
    (
        _feature("C_MIN_3H", "customer", Aggregation.MIN, 3),
        _feature("C_MAX_3H", "customer", Aggregation.MAX, 3),
        _feature("C_DISTINCT_3H", "customer", Aggregation.DISTINCT_COUNT, 3),
        _feature("C_STD_3H", "customer", Aggregation.STD, 3),
        _feature("C_MEAN_3H", "customer", Aggregation.MEAN, 3),
        _feature("C_MAX_5H", "customer", Aggregation.MAX, 5),
        _feature("T_MIN_DELAYED", "terminal", Aggregation.MIN, 4, 2),
        _feature("T_STD_DELAYED", "terminal", Aggregation.STD, 4, 2),
        _feature("T_DISTINCT_DELAYED", "terminal", Aggregation.DISTINCT_COUNT, 4, 2),
        FeatureDefinition("C_RANGE_RATIO", None, Ratio("C_MIN_3H", "C_MAX_3H")),
    ),
)


class CodecStore(InMemoryFeatureStateStore):
    """Keeps every history only as the Redis codec's bytes, as the Redis store does."""

    def __init__(self, feature_set: FeatureSet) -> None:
        super().__init__()
        self._plans = {plan.entity.name: plan for plan in compile_plan(feature_set).entities}
        self._encoded: dict[tuple[str, object], bytes] = {}

    def load_history(self, entity, key):
        data = self._encoded.get((entity, key))
        return None if data is None else decode_history(data, self._plans[entity])

    def save_history(self, entity, key, history) -> None:
        self._encoded[(entity, key)] = encode_history(history)


def _stream(history: EventHistory, store) -> np.ndarray:
    engine = StreamingFeatureEngine(EXTENDED, store)
    rows = [engine.observe_transaction(t).values for t in history.transactions]
    return np.array(rows, dtype=np.float64).reshape(len(rows), len(EXTENDED.names))


@settings(max_examples=200, deadline=None)
@given(event_histories(time_unit=HOUR // 2, horizon_units=30))
def test_stream_equals_batch_for_tracked(history: EventHistory) -> None:
    without_labels = EventHistory(history.transactions, [])
    expected = batch_values(EXTENDED, without_labels)

    assert_same_values(_stream(history, InMemoryFeatureStateStore()), expected, EXTENDED.names)
    assert_same_values(_stream(history, CodecStore(EXTENDED)), expected, EXTENDED.names)


@settings(max_examples=100, deadline=None)
@given(event_histories(time_unit=HOUR // 2, horizon_units=30))
def test_preview_equals_observed_for_tracked(history: EventHistory) -> None:
    engine = StreamingFeatureEngine(EXTENDED, InMemoryFeatureStateStore())
    for transaction in history.transactions:
        previewed = engine.preview_transaction(transaction).as_dict()
        observed = engine.observe_transaction(transaction).as_dict()
        assert previewed == observed


def test_tracked_values_on_a_known_window() -> None:
    engine = StreamingFeatureEngine(EXTENDED, InMemoryFeatureStateStore())
    base = 1_500_000_000 * 10**9
    amounts = [4.0, 1.0, 4.0, 7.0]
    vector = None
    for index, amount in enumerate(amounts):
        vector = engine.observe_transaction(Transaction(index, base + index, 1, 1, amount))

    assert vector is not None
    assert vector["C_MIN_3H"] == 1.0
    assert vector["C_MAX_3H"] == 7.0
    assert vector["C_DISTINCT_3H"] == 3.0
    assert vector["C_STD_3H"] == pytest.approx(float(np.std(amounts)), rel=1e-15)
    assert math.isnan(vector["T_MIN_DELAYED"])  # nothing is 2 hours old yet
    assert vector["T_DISTINCT_DELAYED"] == 0.0


def test_std_of_equal_values_is_exactly_zero() -> None:
    engine = StreamingFeatureEngine(EXTENDED, InMemoryFeatureStateStore())
    base = 1_500_000_000 * 10**9
    for index in range(5):
        vector = engine.observe_transaction(Transaction(index, base + index, 1, 1, 0.1))

    assert vector["C_STD_3H"] == 0.0


def test_tracked_aggregation_of_label_is_rejected() -> None:
    feature_set = FeatureSet(
        "bad",
        (Entity("terminal", "terminal_id"),),
        (
            FeatureDefinition(
                "T_MAX_LABEL",
                "terminal",
                WindowAggregate("fraud_label", Aggregation.MAX, HOUR, HOUR),
            ),
        ),
    )

    with pytest.raises(InvalidFeatureDefinition, match="'max' of 'fraud_label'"):
        compile_plan(feature_set)
