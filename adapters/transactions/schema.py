"""The handbook's transaction layout and its validation.

Column names follow the handbook's published files. ``TX_DATETIME`` without a time
zone is read as UTC, the handbook's convention; with a zone it is converted to UTC.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd


@dataclass(frozen=True)
class Column:
    name: str
    field: str
    expected: str
    required: bool = True


COLUMNS = (
    Column("TRANSACTION_ID", "transaction_id", "unique non-negative integers"),
    Column("TX_DATETIME", "timestamp_ns", "timestamps (datetime64)"),
    Column("CUSTOMER_ID", "customer_id", "non-negative integers"),
    Column("TERMINAL_ID", "terminal_id", "non-negative integers"),
    Column("TX_AMOUNT", "amount", "finite amounts >= 0"),
    Column("TX_FRAUD", "is_fraud", "0 or 1", required=False),
    Column("TX_FRAUD_SCENARIO", "fraud_scenario", "integers 0 to 3", required=False),
)


class InvalidTransactionData(ValueError):
    """A transaction file or frame breaks the layout; the message says where and how."""

    def __init__(self, source: str, column: str, problem: str, expected: str) -> None:
        super().__init__(f"{source}: column {column!r}: {problem}; expected {expected}")
        self.source = source
        self.column = column


def validate_frame(
    frame: pd.DataFrame, source: str, sequence_column: str | None = None
) -> dict[str, npt.NDArray[np.generic]]:
    """Check every column and return the arrays by ``Transaction`` field name.

    Raises InvalidTransactionData at the first problem, naming the first bad row.
    """
    arrays: dict[str, npt.NDArray[np.generic]] = {}
    for column in COLUMNS:
        if column.name not in frame.columns:
            if column.required:
                raise InvalidTransactionData(
                    source,
                    column.name,
                    f"missing (columns present: {', '.join(map(str, frame.columns))})",
                    column.expected,
                )
            continue
        arrays[column.field] = _convert(frame[column.name], column, source)
    if sequence_column is not None:
        if sequence_column not in frame.columns:
            raise InvalidTransactionData(
                source, sequence_column, "missing", "an integer arrival order per row"
            )
        arrays["sequence"] = _integers(
            frame[sequence_column],
            Column(sequence_column, "sequence", "integers giving the arrival order"),
            source,
        )
    _check_unique(arrays["transaction_id"], source)
    return arrays


def _first_bad(series: pd.Series, bad: npt.NDArray[np.bool_]) -> str:
    position = int(np.flatnonzero(bad)[0])
    return f"row {position} has {_plain(series.iloc[position])!r}"


def _plain(value: object) -> object:
    """Return a numpy scalar as the Python value it holds, for readable messages."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def _convert(series: pd.Series, column: Column, source: str) -> npt.NDArray[np.generic]:
    if series.isna().any():
        raise InvalidTransactionData(
            source,
            column.name,
            f"{_first_bad(series, series.isna().to_numpy())} (null)",
            column.expected,
        )
    if column.field == "timestamp_ns":
        return _timestamps(series, column, source)
    if column.field == "amount":
        return _amounts(series, column, source)
    values = _integers(series, column, source)
    if column.field == "is_fraud":
        bad = (values != 0) & (values != 1)
        if bad.any():
            raise InvalidTransactionData(
                source, column.name, _first_bad(series, bad), column.expected
            )
        return values.astype(np.bool_)
    bad = (values < 0) | (values > 3) if column.field == "fraud_scenario" else values < 0
    if bad.any():
        raise InvalidTransactionData(source, column.name, _first_bad(series, bad), column.expected)
    return values


def _integers(series: pd.Series, column: Column, source: str) -> npt.NDArray[np.int64]:
    if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
        raise InvalidTransactionData(
            source,
            column.name,
            f"has type {series.dtype} ({_first_value(series)})",
            column.expected,
        )
    values = series.to_numpy()
    if pd.api.types.is_float_dtype(series):
        fractional = values != np.floor(values)
        if fractional.any():
            raise InvalidTransactionData(
                source, column.name, _first_bad(series, fractional), column.expected
            )
    return values.astype(np.int64)


def _amounts(series: pd.Series, column: Column, source: str) -> npt.NDArray[np.float64]:
    if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
        raise InvalidTransactionData(
            source,
            column.name,
            f"has type {series.dtype} ({_first_value(series)})",
            column.expected,
        )
    values = series.to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        raise InvalidTransactionData(source, column.name, _first_bad(series, bad), column.expected)
    return values


def _timestamps(series: pd.Series, column: Column, source: str) -> npt.NDArray[np.int64]:
    if not pd.api.types.is_datetime64_any_dtype(series):
        if not pd.api.types.is_numeric_dtype(series):
            # Text that pandas did not read as times: name the first cell that is not one.
            parsed = pd.to_datetime(series, errors="coerce", format="ISO8601")
            unparsed = parsed.isna().to_numpy()
            if unparsed.any():
                raise InvalidTransactionData(
                    source, column.name, _first_bad(series, unparsed), column.expected
                )
        raise InvalidTransactionData(
            source,
            column.name,
            f"has type {series.dtype} ({_first_value(series)})",
            column.expected,
        )
    if getattr(series.dt, "tz", None) is not None:
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    return series.to_numpy().astype("datetime64[ns]").astype(np.int64)


def _first_value(series: pd.Series) -> str:
    return f"first value {_plain(series.iloc[0])!r}" if len(series) else "no rows"


def _check_unique(ids: npt.NDArray[np.generic], source: str) -> None:
    unique, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        duplicate = unique[np.flatnonzero(counts > 1)[0]]
        raise InvalidTransactionData(
            source,
            "TRANSACTION_ID",
            f"value {int(duplicate)} appears {counts.max()} times",
            "unique non-negative integers",
        )
