"""Drive the streaming and batch engines over the same events, for comparisons."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from twinbank.adapters.memory import InMemoryFeatureStateStore
from twinbank.core.features.batch import LabelTable, TransactionTable, compute_batch
from twinbank.core.features.columnar import ColumnarFeatureEngine
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
    return compute_batch(
        feature_set, transaction_table(history.transactions), label_table(history.labels)
    )


def columnar_values(
    feature_set: FeatureSet, history: EventHistory, batch_sizes: Sequence[int]
) -> np.ndarray:
    """Feed the micro-batch engine batches of the given sizes, cycling through them.

    Each label goes with the batch that contains the first transaction at or after its
    reveal time (the last batch when there is none), as a stream would deliver it.
    """
    engine = ColumnarFeatureEngine(feature_set)
    transactions = list(history.transactions)
    bounds = [0]
    while bounds[-1] < len(transactions):
        bounds.append(bounds[-1] + batch_sizes[(len(bounds) - 1) % len(batch_sizes)])
    times = np.array([t.timestamp_ns for t in transactions], dtype=np.int64)
    batch_of_row = np.searchsorted(np.array(bounds[1:]), np.arange(len(transactions)), "right")
    labels_by_batch: list[list[FraudLabel]] = [[] for _ in bounds[1:]]
    for label in history.labels:
        row = int(np.searchsorted(times, label.revealed_at_ns, side="left"))
        batch = int(batch_of_row[row]) if row < len(transactions) else len(bounds) - 2
        labels_by_batch[batch].append(label)
    rows = [
        engine.observe_batch(transaction_table(transactions[start:stop]), label_table(labels))
        for start, stop, labels in zip(bounds[:-1], bounds[1:], labels_by_batch, strict=True)
    ]
    return np.vstack(rows) if rows else np.empty((0, len(feature_set.names)))


def transaction_table(transactions: Sequence[Transaction]) -> TransactionTable:
    """Return the transactions as columns, with arrival order as the sequence column."""
    return TransactionTable(
        {
            "transaction_id": np.array([t.transaction_id for t in transactions], dtype=np.int64),
            "timestamp_ns": np.array([t.timestamp_ns for t in transactions], dtype=np.int64),
            "customer_id": np.array([t.customer_id for t in transactions], dtype=np.int64),
            "terminal_id": np.array([t.terminal_id for t in transactions], dtype=np.int64),
            "amount": np.array([t.amount for t in transactions], dtype=np.float64),
            "sequence": np.arange(len(transactions), dtype=np.int64),
        }
    )


def label_table(labels: Sequence[FraudLabel]) -> LabelTable:
    return LabelTable(
        np.array([label.transaction_id for label in labels], dtype=np.int64),
        np.array([label.revealed_at_ns for label in labels], dtype=np.int64),
        np.array([label.is_fraud for label in labels], dtype=np.bool_),
    )


def assert_same_values(stream: np.ndarray, batch: np.ndarray, names: Sequence[str]) -> None:
    assert stream.shape == batch.shape
    for column, name in enumerate(names):
        left, right = stream[:, column], batch[:, column]
        assert np.array_equal(np.isnan(left), np.isnan(right)), f"{name}: nulls differ"
        both = ~np.isnan(left)
        np.testing.assert_allclose(left[both], right[both], rtol=1e-9, atol=1e-9, err_msg=name)
