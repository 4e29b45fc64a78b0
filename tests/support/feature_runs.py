"""Drive the streaming and batch engines over the same events, for comparisons."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from twinbank.adapters.memory import InMemoryFeatureStateStore
from twinbank.core.features.batch import LabelTable, TransactionTable, compute_batch
from twinbank.core.features.definitions import FeatureSet
from twinbank.core.features.streaming import StreamingFeatureEngine
from twinbank.core.transactions import FraudLabel, Transaction


@dataclass(frozen=True)
class EventHistory:
    """Transactions in arrival order and labels in any order."""

    transactions: Sequence[Transaction]
    labels: Sequence[FraudLabel]


def stream_values(feature_set: FeatureSet, history: EventHistory) -> np.ndarray:
    """Feed the stream: labels revealed at or before a transaction's time come first."""
    engine = StreamingFeatureEngine(feature_set, InMemoryFeatureStateStore())
    pending = sorted(enumerate(history.labels), key=lambda item: (item[1].revealed_at_ns, item[0]))
    next_label = 0
    rows = []
    for transaction in history.transactions:
        while next_label < len(pending) and (
            pending[next_label][1].revealed_at_ns <= transaction.timestamp_ns
        ):
            engine.observe_label(pending[next_label][1])
            next_label += 1
        rows.append(engine.observe_transaction(transaction).values)
    return np.array(rows, dtype=np.float64).reshape(len(rows), len(feature_set.names))


def batch_values(feature_set: FeatureSet, history: EventHistory) -> np.ndarray:
    """Compute the whole table at once, with arrival order as the sequence column."""
    transactions = history.transactions
    table = TransactionTable(
        {
            "transaction_id": np.array([t.transaction_id for t in transactions], dtype=np.int64),
            "timestamp_ns": np.array([t.timestamp_ns for t in transactions], dtype=np.int64),
            "customer_id": np.array([t.customer_id for t in transactions], dtype=np.int64),
            "terminal_id": np.array([t.terminal_id for t in transactions], dtype=np.int64),
            "amount": np.array([t.amount for t in transactions], dtype=np.float64),
            "sequence": np.arange(len(transactions), dtype=np.int64),
        }
    )
    labels = LabelTable(
        np.array([label.transaction_id for label in history.labels], dtype=np.int64),
        np.array([label.revealed_at_ns for label in history.labels], dtype=np.int64),
        np.array([label.is_fraud for label in history.labels], dtype=np.bool_),
    )
    return compute_batch(feature_set, table, labels)


def assert_same_values(stream: np.ndarray, batch: np.ndarray, names: Sequence[str]) -> None:
    assert stream.shape == batch.shape
    for column, name in enumerate(names):
        left, right = stream[:, column], batch[:, column]
        assert np.array_equal(np.isnan(left), np.isnan(right)), f"{name}: nulls differ"
        both = ~np.isnan(left)
        np.testing.assert_allclose(left[both], right[both], rtol=1e-9, atol=1e-9, err_msg=name)
