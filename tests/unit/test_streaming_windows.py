"""Hand-computed windows of the streaming engine, edge by edge."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from twinbank.adapters.memory import InMemoryFeatureStateStore
from twinbank.core.features.definitions import (
    FRAUD_LABEL,
    Aggregation,
    Entity,
    FeatureDefinition,
    FeatureSet,
    InvalidFeatureDefinition,
    Ratio,
    WindowAggregate,
)
from twinbank.core.features.handbook import handbook_feature_set
from twinbank.core.features.streaming import (
    InvalidSourceValue,
    OutOfOrderTransaction,
    StreamingFeatureEngine,
)
from twinbank.core.timestamps import NANOS_PER_DAY, NANOS_PER_HOUR, from_datetime
from twinbank.core.transactions import FraudLabel, Transaction

DAY = NANOS_PER_DAY
START = 1_600_000_000 * 10**9 // DAY * DAY  # a midnight, UTC


def _engine(feature_set: FeatureSet | None = None) -> StreamingFeatureEngine:
    return StreamingFeatureEngine(
        feature_set or handbook_feature_set(), InMemoryFeatureStateStore()
    )


def _tx(transaction_id: int, at: int, customer: int = 1, terminal: int = 1, amount: float = 10.0):
    return Transaction(transaction_id, at, customer, terminal, amount)


def test_customer_window_includes_current_and_drops_exactly_one_day_old():
    engine = _engine()
    engine.observe_transaction(_tx(1, START, amount=10.0))
    engine.observe_transaction(_tx(2, START + DAY // 2, amount=20.0))
    at_edge = engine.observe_transaction(_tx(3, START + DAY, amount=30.0))
    # (t - 1 day, t]: the first transaction sits exactly on the excluded edge.
    assert at_edge["CUSTOMER_ID_NB_TX_1DAY_WINDOW"] == 2.0
    assert at_edge["CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW"] == 25.0
    assert at_edge["CUSTOMER_ID_NB_TX_7DAY_WINDOW"] == 3.0
    assert at_edge["CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW"] == 20.0


def test_equal_timestamps_count_in_arrival_order():
    engine = _engine()
    first = engine.observe_transaction(_tx(9, START, amount=1.0))
    second = engine.observe_transaction(_tx(4, START, amount=3.0))
    assert first["CUSTOMER_ID_NB_TX_1DAY_WINDOW"] == 1.0
    assert second["CUSTOMER_ID_NB_TX_1DAY_WINDOW"] == 2.0
    assert second["CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW"] == 2.0


def test_terminal_window_is_delayed_by_seven_days():
    engine = _engine()
    engine.observe_transaction(_tx(1, START, customer=1))
    engine.observe_label(FraudLabel(1, START + 7 * DAY, is_fraud=True))
    just_before = engine.observe_transaction(_tx(2, START + 7 * DAY - 1, customer=2))
    at_delay = engine.observe_transaction(_tx(3, START + 7 * DAY, customer=3))
    assert just_before["TERMINAL_ID_NB_TX_1DAY_WINDOW"] == 0.0
    assert just_before["TERMINAL_ID_RISK_1DAY_WINDOW"] == 0.0  # empty window: risk 0
    assert at_delay["TERMINAL_ID_NB_TX_1DAY_WINDOW"] == 1.0
    assert at_delay["TERMINAL_ID_RISK_1DAY_WINDOW"] == 1.0
    after_window = engine.observe_transaction(_tx(4, START + 8 * DAY, customer=4))
    # (t - 8 days, t - 7 days]: transaction 1 is on the excluded lower edge.
    assert after_window["TERMINAL_ID_NB_TX_1DAY_WINDOW"] == 0.0
    assert after_window["TERMINAL_ID_NB_TX_7DAY_WINDOW"] == 1.0


def test_label_revealed_late_counts_from_its_reveal():
    engine = _engine()
    engine.observe_transaction(_tx(1, START))
    before = engine.observe_transaction(_tx(2, START + 7 * DAY, customer=2))
    engine.observe_label(FraudLabel(1, START + 9 * DAY, is_fraud=True))
    after = engine.observe_transaction(_tx(3, START + 9 * DAY, customer=3))
    assert before["TERMINAL_ID_RISK_7DAY_WINDOW"] == 0.0
    # (t - 14 days, t - 7 days] holds only transaction 1, now known to be fraud.
    assert after["TERMINAL_ID_NB_TX_7DAY_WINDOW"] == 1.0
    assert after["TERMINAL_ID_RISK_7DAY_WINDOW"] == 1.0


def test_duplicate_and_unknown_labels_change_nothing():
    engine = _engine()
    engine.observe_transaction(_tx(1, START))
    engine.observe_label(FraudLabel(1, START + DAY, is_fraud=True))
    engine.observe_label(FraudLabel(1, START + DAY, is_fraud=True))
    engine.observe_label(FraudLabel(77, START + DAY, is_fraud=True))
    values = engine.observe_transaction(_tx(2, START + 7 * DAY, customer=2))
    assert values["TERMINAL_ID_RISK_1DAY_WINDOW"] == 1.0
    assert engine.statistics.labels == 3
    assert engine.statistics.unmatched_labels == 2


def test_older_transaction_is_rejected_without_changing_state():
    engine = _engine()
    engine.observe_transaction(_tx(1, START + DAY))
    with pytest.raises(OutOfOrderTransaction, match="older than the last observed"):
        engine.observe_transaction(_tx(2, START))
    values = engine.observe_transaction(_tx(3, START + DAY))
    assert values["CUSTOMER_ID_NB_TX_1DAY_WINDOW"] == 2.0


def test_calendar_flags_use_utc():
    engine = _engine()
    saturday_night = from_datetime(datetime(2018, 4, 7, 6, 59, tzinfo=UTC))
    values = engine.observe_transaction(_tx(1, saturday_night))
    assert values["TX_DURING_WEEKEND"] == 1.0
    assert values["TX_DURING_NIGHT"] == 1.0
    monday_morning = saturday_night + 2 * DAY + NANOS_PER_HOUR // 60
    values = engine.observe_transaction(_tx(2, monday_morning))
    assert values["TX_DURING_WEEKEND"] == 0.0
    assert values["TX_DURING_NIGHT"] == 0.0


def test_sums_are_exact_after_every_value_leaves():
    hour = NANOS_PER_HOUR
    feature_set = FeatureSet(
        "exact",
        (Entity("customer", "customer_id"),),
        (
            FeatureDefinition(
                "SUM_1H", "customer", WindowAggregate("amount", Aggregation.SUM, hour)
            ),
            FeatureDefinition(
                "COUNT_1H", "customer", WindowAggregate("amount", Aggregation.COUNT, hour)
            ),
            FeatureDefinition("RATIO", None, Ratio("SUM_1H", "COUNT_1H")),
        ),
    )
    engine = _engine(feature_set)
    for index, amount in enumerate((0.1, 0.2, 0.3, 1e16, 0.7)):
        engine.observe_transaction(_tx(index, START + index, amount=amount))
    values = engine.observe_transaction(_tx(99, START + 2 * hour, amount=0.0))
    assert values["SUM_1H"] == 0.0
    assert values["RATIO"] == 0.0
    assert not math.copysign(1.0, values["SUM_1H"]) < 0


def test_non_finite_amount_is_rejected():
    engine = _engine()
    with pytest.raises(InvalidSourceValue, match="transaction 5: source 'amount' is nan"):
        engine.observe_transaction(_tx(5, START, amount=math.nan))


def test_label_window_without_delay_is_rejected():
    with pytest.raises(InvalidFeatureDefinition, match="needs a positive delay"):
        FeatureDefinition("RISK", "terminal", WindowAggregate(FRAUD_LABEL, Aggregation.MEAN, DAY))


def test_feature_set_rejects_unknown_entity_and_duplicates():
    entity = Entity("customer", "customer_id")
    definition = FeatureDefinition("A", "customer", WindowAggregate("amount", Aggregation.SUM, DAY))
    with pytest.raises(InvalidFeatureDefinition, match="defined twice"):
        FeatureSet("dup", (entity,), (definition, definition))
    stray = FeatureDefinition("B", "merchant", WindowAggregate("amount", Aggregation.SUM, DAY))
    with pytest.raises(InvalidFeatureDefinition, match="entity 'merchant' is not declared"):
        FeatureSet("stray", (entity,), (stray,))


def test_feature_set_version_changes_with_any_definition():
    base = handbook_feature_set()
    changed = FeatureSet(base.name, base.entities, base.definitions[:-1])
    assert base.version == handbook_feature_set().version
    assert base.version != changed.version
    assert len(base.version) == 12
