"""Validation of transaction files in the handbook layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from twinbank.adapters.transactions import (
    InvalidTransactionData,
    TransactionDataset,
    load_transactions,
)


def _frame(**overrides) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "TRANSACTION_ID": [2, 0, 1],
            "TX_DATETIME": pd.to_datetime(
                ["2018-04-01 00:00:05", "2018-04-01 00:00:01", "2018-04-01 00:00:05"]
            ),
            "CUSTOMER_ID": [1, 1, 2],
            "TERMINAL_ID": [3, 4, 5],
            "TX_AMOUNT": [10.0, 20.5, 0.0],
            "TX_FRAUD": [0, 1, 0],
        }
    )
    return frame.assign(**overrides)


def test_rows_are_sorted_by_time_then_id():
    dataset = TransactionDataset.from_frame(_frame(), "memory")
    assert dataset.transaction_id.tolist() == [0, 1, 2]
    assert dataset.is_fraud.tolist() == [True, False, False]


def test_sequence_column_orders_equal_timestamps():
    dataset = TransactionDataset.from_frame(
        _frame(ORDER=[0, 0, 1]), "memory", sequence_column="ORDER"
    )
    assert dataset.transaction_id.tolist() == [0, 2, 1]


def test_aware_timestamps_are_converted_to_utc():
    aware = _frame(
        TX_DATETIME=pd.to_datetime(["2018-04-01 02:00:05"] * 3).tz_localize("Europe/Brussels")
    )
    dataset = TransactionDataset.from_frame(aware, "memory")
    expected = pd.Timestamp("2018-04-01 00:00:05").value
    assert dataset.timestamp_ns[0] == expected


def test_integral_float_ids_are_accepted_and_fractional_rejected():
    TransactionDataset.from_frame(_frame(CUSTOMER_ID=[1.0, 1.0, 2.0]), "memory")
    with pytest.raises(InvalidTransactionData, match=r"column 'CUSTOMER_ID': row 2 has 2\.5"):
        TransactionDataset.from_frame(_frame(CUSTOMER_ID=[1.0, 1.0, 2.5]), "memory")


def test_missing_labels_make_an_unlabelled_dataset():
    dataset = TransactionDataset.from_frame(_frame().drop(columns=["TX_FRAUD"]), "memory")
    assert not dataset.is_labelled
    assert dataset.labels(10).transaction_id.size == 0


def test_null_is_reported_with_its_row():
    with pytest.raises(InvalidTransactionData, match=r"'TX_AMOUNT': row 1 has nan \(null\)"):
        TransactionDataset.from_frame(_frame(TX_AMOUNT=[1.0, np.nan, 2.0]), "memory")


def test_csv_and_parquet_read_the_same(tmp_path: Path):
    frame = _frame()
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_parquet(tmp_path / "t.parquet")
    from_csv = load_transactions(tmp_path / "t.csv")
    from_parquet = load_transactions(tmp_path / "t.parquet")
    assert from_csv.timestamp_ns.tolist() == from_parquet.timestamp_ns.tolist()
    assert from_csv.amount.tolist() == from_parquet.amount.tolist()


def test_missing_and_unsupported_files_name_the_path(tmp_path: Path):
    with pytest.raises(InvalidTransactionData, match=r"nowhere\.parquet.*file not found"):
        load_transactions(tmp_path / "nowhere.parquet")
    (tmp_path / "t.json").write_text("{}")
    with pytest.raises(InvalidTransactionData, match=r"unsupported file type '\.json'"):
        load_transactions(tmp_path / "t.json")


def test_iteration_yields_outcomes():
    recorded = list(TransactionDataset.from_frame(_frame(), "memory"))
    assert [item.transaction.transaction_id for item in recorded] == [0, 1, 2]
    assert [item.is_fraud for item in recorded] == [True, False, False]


def test_unparsable_time_names_its_row():
    frame = _frame(TX_DATETIME=["2018-04-01 00:00:05", "not a date", "2018-04-01 00:00:07"])

    with pytest.raises(InvalidTransactionData, match="row 1 has 'not a date'"):
        TransactionDataset.from_frame(frame, "memory")
