"""Bad input to the micro-batch engine, and what it counts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from twinbank.adapters.memory import InMemoryFeatureStateStore
from twinbank.core.features.batch import InvalidTable, LabelTable, TransactionTable
from twinbank.core.features.columnar import ColumnarFeatureEngine
from twinbank.core.features.handbook import handbook_feature_set
from twinbank.core.features.streaming import (
    InvalidSourceValue,
    OutOfOrderTransaction,
    StreamingFeatureEngine,
)
from twinbank.core.timestamps import NANOS_PER_DAY
from twinbank.core.transactions import FraudLabel, Transaction

DAY = NANOS_PER_DAY
START = 1_600_000_000 * 10**9 // DAY * DAY


def _table(ids, days, amounts=None, customers=None) -> TransactionTable:
    return TransactionTable(
        {
            "transaction_id": np.array(ids, dtype=np.int64),
            "timestamp_ns": np.array([START + round(day * DAY) for day in days], dtype=np.int64),
            "customer_id": np.array(customers or [1] * len(ids), dtype=np.int64),
            "terminal_id": np.ones(len(ids), dtype=np.int64),
            "amount": np.array(amounts or [10.0] * len(ids), dtype=np.float64),
        }
    )


def _labels(ids, days, frauds) -> LabelTable:
    return LabelTable(
        np.array(ids, dtype=np.int64),
        np.array([START + round(day * DAY) for day in days], dtype=np.int64),
        np.array(frauds, dtype=np.bool_),
    )


def _column(engine: ColumnarFeatureEngine, values: np.ndarray, name: str) -> np.ndarray:
    return values[:, engine.feature_set.names.index(name)]


def test_nan_amount_names_transaction_and_changes_nothing():
    engine = ColumnarFeatureEngine(handbook_feature_set())

    with pytest.raises(InvalidSourceValue, match=r"transaction 12 \(batch row 1\).*'amount'"):
        engine.observe_batch(_table([11, 12], [0, 0.1], amounts=[5.0, math.nan]))

    values = engine.observe_batch(_table([13], [0.2], amounts=[7.0]))
    assert _column(engine, values, "CUSTOMER_ID_NB_TX_1DAY_WINDOW")[0] == 1.0
    assert engine.statistics.transactions == 1


def test_infinite_amount_is_rejected():
    engine = ColumnarFeatureEngine(handbook_feature_set())

    with pytest.raises(InvalidSourceValue, match=r"transaction 11 .*inf"):
        engine.observe_batch(_table([11], [0], amounts=[math.inf]))


def test_unsorted_batch_names_first_row_back_in_time():
    engine = ColumnarFeatureEngine(handbook_feature_set())

    with pytest.raises(OutOfOrderTransaction, match=r"transaction 3 \(batch row 2\)"):
        engine.observe_batch(_table([1, 2, 3], [0, 2, 1]))

    assert engine.statistics.late_rejected == 1
    assert engine.statistics.transactions == 0


def test_batch_older_than_previous_batch_is_rejected():
    engine = ColumnarFeatureEngine(handbook_feature_set())
    engine.observe_batch(_table([1], [5]))

    with pytest.raises(OutOfOrderTransaction, match="allows no lateness"):
        engine.observe_batch(_table([2], [4]))

    values = engine.observe_batch(_table([3], [5]))
    assert _column(engine, values, "CUSTOMER_ID_NB_TX_1DAY_WINDOW")[0] == 2.0


def test_missing_key_column_is_named():
    engine = ColumnarFeatureEngine(handbook_feature_set())
    table = TransactionTable(
        {"transaction_id": np.array([1]), "timestamp_ns": np.array([START]), "amount": [1.0]}
    )

    with pytest.raises(InvalidTable, match="no column 'customer_id'"):
        engine.observe_batch(table)


def test_label_columns_of_different_length_are_rejected():
    engine = ColumnarFeatureEngine(handbook_feature_set())
    labels = LabelTable(np.array([1]), np.array([START, START]), np.array([True]))

    with pytest.raises(InvalidTable, match="label table columns differ in length"):
        engine.observe_batch(_table([1], [0]), labels)

    assert engine.statistics.transactions == 0


def test_empty_batch_returns_no_rows():
    engine = ColumnarFeatureEngine(handbook_feature_set())

    values = engine.observe_batch(_table([], []))

    assert values.shape == (0, 14)


def test_labels_of_empty_batch_are_kept():
    engine = ColumnarFeatureEngine(handbook_feature_set())
    engine.observe_batch(_table([1], [0]))

    engine.observe_batch(_table([], []), _labels([1], [1], [True]))
    values = engine.observe_batch(_table([2], [7.5]))

    assert _column(engine, values, "TERMINAL_ID_RISK_1DAY_WINDOW")[0] == 1.0
    assert engine.statistics.unmatched_labels == 0


def test_label_counts_from_its_reveal_time():
    """Terminal risk is delayed 7 days: a fraud on day 0 is in the 1-day window of rows
    from day 7 to day 8."""
    engine = ColumnarFeatureEngine(handbook_feature_set())
    engine.observe_batch(_table([1], [0]))

    values = engine.observe_batch(_table([2, 3], [7.5, 7.9]), _labels([1], [7.7], [True]))

    risk = _column(engine, values, "TERMINAL_ID_RISK_1DAY_WINDOW")
    assert risk[0] == 0.0  # revealed on day 7.7, after this row
    assert risk[1] == 1.0


def test_unmatched_and_repeated_labels_are_counted():
    engine = ColumnarFeatureEngine(handbook_feature_set())
    engine.observe_batch(_table([1, 2], [0, 1]))

    engine.observe_batch(
        _table([3], [2]),
        _labels([1, 1, 99, 2], [1.5, 1.6, 1.5, 1.0], [False, True, True, True]),
    )

    assert engine.statistics.labels == 4
    # The second label of 1, the unknown 99, and the label of 2 revealed at its own time.
    assert engine.statistics.unmatched_labels == 3


def test_transaction_objects_get_the_per_event_vectors():
    events = [
        Transaction(1, START, 1, 7, 12.5),
        Transaction(2, START, 2, 7, 3.0),
        Transaction(3, START + DAY // 2, 1, 7, 8.0),
        Transaction(4, START + 9 * DAY, 1, 7, 1.0),
    ]
    labels = [FraudLabel(1, START + 8 * DAY, True)]
    stream = StreamingFeatureEngine(handbook_feature_set(), InMemoryFeatureStateStore())
    expected = [stream.observe_transaction(event) for event in events[:3]]
    stream.observe_label(labels[0])
    expected.append(stream.observe_transaction(events[3]))
    engine = ColumnarFeatureEngine(handbook_feature_set())

    vectors = engine.observe_transactions(events[:3]) + engine.observe_transactions(
        events[3:], labels
    )

    assert [vector.as_dict() for vector in vectors] == [vector.as_dict() for vector in expected]
    assert vectors[3]["TERMINAL_ID_RISK_7DAY_WINDOW"] > 0.0
