"""Helpers for comparing with the handbook's published feature file.

The handbook computed each customer's windows after sorting that customer's
transactions with pandas ``sort_values`` (numpy's quicksort, which is not stable).
Among a customer's transactions with the same timestamp, that sort, not the
transaction id, decided which one came first: in the April-July file 4 of the 17
same-second pairs are in reverse id order. ``handbook_arrival_sequence`` rebuilds
that order so that the engines can be fed the same arrival order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .data import real_data_file

SEQUENCE_COLUMN = "ARRIVAL_SEQUENCE"


def handbook_data_dir() -> Path:
    """Return the handbook data folder (see ``real_data_file``)."""
    return real_data_file("handbook", "transactions.parquet").parent


def handbook_arrival_sequence(transactions: pd.DataFrame) -> np.ndarray:
    """Return, per row, its position in an arrival order matching the handbook's ties.

    Each customer's transactions, taken in id order, are sorted by time with numpy's
    quicksort as the handbook did; the global order is (time, that per-customer rank,
    id). Ties across different customers never share a customer window, and terminal
    windows end 7 days back, so their order does not matter.
    """
    by_id = transactions.sort_values("TRANSACTION_ID")
    customer_rank = np.empty(len(by_id), dtype=np.int64)
    times = by_id["TX_DATETIME"].to_numpy()
    for rows in by_id.groupby("CUSTOMER_ID").indices.values():
        order = np.argsort(times[rows], kind="quicksort")
        customer_rank[rows[order]] = np.arange(len(rows))
    rank_by_id = pd.Series(customer_rank, index=by_id["TRANSACTION_ID"].to_numpy())
    rank = rank_by_id.loc[transactions["TRANSACTION_ID"].to_numpy()].to_numpy()
    arrival = np.lexsort(
        (transactions["TRANSACTION_ID"].to_numpy(), rank, transactions["TX_DATETIME"].to_numpy())
    )
    sequence = np.empty(len(transactions), dtype=np.int64)
    sequence[arrival] = np.arange(len(transactions))
    return sequence
