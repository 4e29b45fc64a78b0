"""Validated transactions in memory, in the handbook's column layout.

A ``TransactionDataset`` holds column arrays sorted by ``(timestamp, sequence)``. It is
the transaction source of a replay, the input table of batch feature computation and
the source of label events (a transaction's fraud flag revealed after a delay).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from twinbank.core.features.batch import LabelTable, TransactionTable
from twinbank.core.ports import RecordedTransaction
from twinbank.core.timestamps import NANOS_PER_DAY
from twinbank.core.transactions import Transaction

from .schema import COLUMNS, validate_frame


@dataclass(frozen=True)
class TransactionDataset:
    """Column arrays of validated transactions, sorted by (timestamp, sequence).

    ``is_fraud`` and ``fraud_scenario`` are None when the source has no labels.
    """

    description: str
    transaction_id: npt.NDArray[np.int64]
    timestamp_ns: npt.NDArray[np.int64]
    customer_id: npt.NDArray[np.int64]
    terminal_id: npt.NDArray[np.int64]
    amount: npt.NDArray[np.float64]
    sequence: npt.NDArray[np.int64]
    is_fraud: npt.NDArray[np.bool_] | None = None
    fraud_scenario: npt.NDArray[np.int64] | None = None

    @classmethod
    def from_frame(
        cls, frame: pd.DataFrame, description: str, sequence_column: str | None = None
    ) -> TransactionDataset:
        """Validate a frame in the handbook layout and sort it into arrival order.

        Raises InvalidTransactionData naming the column, the bad value and the fix.
        """
        columns = validate_frame(frame, description, sequence_column)
        sequence = columns["sequence"] if sequence_column else columns["transaction_id"]
        order = np.lexsort((columns["transaction_id"], sequence, columns["timestamp_ns"]))
        labelled = "is_fraud" in columns

        def sorted_column(name: str) -> npt.NDArray[np.generic]:
            return np.ascontiguousarray(columns[name][order])

        return cls(
            description=description,
            transaction_id=sorted_column("transaction_id"),
            timestamp_ns=sorted_column("timestamp_ns"),
            customer_id=sorted_column("customer_id"),
            terminal_id=sorted_column("terminal_id"),
            amount=sorted_column("amount"),
            sequence=np.arange(len(order), dtype=np.int64),
            is_fraud=sorted_column("is_fraud") if labelled else None,
            fraud_scenario=(
                sorted_column("fraud_scenario") if "fraud_scenario" in columns else None
            ),
        )

    def __len__(self) -> int:
        return len(self.transaction_id)

    @property
    def is_labelled(self) -> bool:
        return self.is_fraud is not None

    @property
    def epoch_days(self) -> npt.NDArray[np.int64]:
        """Return each transaction's UTC day as whole days since 1970-01-01."""
        return self.timestamp_ns // NANOS_PER_DAY

    def table(self) -> TransactionTable:
        """Return the columns as a batch-computation table (arrival order kept)."""
        return TransactionTable(
            {
                "transaction_id": self.transaction_id,
                "timestamp_ns": self.timestamp_ns,
                "customer_id": self.customer_id,
                "terminal_id": self.terminal_id,
                "amount": self.amount,
                "sequence": self.sequence,
            }
        )

    def labels(self, delay_ns: int) -> LabelTable:
        """Return each transaction's fraud flag as a label revealed ``delay_ns`` later."""
        if self.is_fraud is None:
            return LabelTable.empty()
        return LabelTable(self.transaction_id, self.timestamp_ns + delay_ns, self.is_fraud)

    def slice(self, start: int, stop: int) -> TransactionDataset:
        """Return rows ``start:stop`` in arrival order."""

        def part(values: npt.NDArray[np.generic] | None) -> npt.NDArray[np.generic] | None:
            return None if values is None else values[start:stop]

        return TransactionDataset(
            description=f"{self.description}[{start}:{stop}]",
            transaction_id=self.transaction_id[start:stop],
            timestamp_ns=self.timestamp_ns[start:stop],
            customer_id=self.customer_id[start:stop],
            terminal_id=self.terminal_id[start:stop],
            amount=self.amount[start:stop],
            sequence=self.sequence[start:stop] - (self.sequence[start] if stop > start else 0),
            is_fraud=part(self.is_fraud),  # type: ignore[arg-type]
            fraud_scenario=part(self.fraud_scenario),  # type: ignore[arg-type]
        )

    def __iter__(self) -> Iterator[RecordedTransaction]:
        fraud = self.is_fraud.tolist() if self.is_fraud is not None else None
        scenario = self.fraud_scenario.tolist() if self.fraud_scenario is not None else None
        rows = zip(
            self.transaction_id.tolist(),
            self.timestamp_ns.tolist(),
            self.customer_id.tolist(),
            self.terminal_id.tolist(),
            self.amount.tolist(),
            strict=True,
        )
        for index, (transaction_id, timestamp, customer, terminal, amount) in enumerate(rows):
            yield RecordedTransaction(
                Transaction(transaction_id, timestamp, customer, terminal, amount),
                None if fraud is None else fraud[index],
                None if scenario is None else scenario[index],
            )


__all__ = ["COLUMNS", "TransactionDataset"]
