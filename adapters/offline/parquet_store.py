"""Feature history in Parquet files, one directory per entity.

``<root>/<entity>/part-<append time ns>-<random hex>.parquet`` holds columns ``entity_key``,
``event_time_ns``, ``created_ns`` (int64 nanoseconds, UTC) and one float64 column per
feature, with null for a null value. Each append adds a part file and never rewrites
one, so an interrupted append leaves earlier parts readable. Parts are read in name
order, which is append order, so rows that tie on event and created time resolve to
the one appended last.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from twinbank.core.features.historical import (
    FeatureHistoryTable,
    InvalidRetrieval,
    TrainingRows,
)
from twinbank.core.timestamps import NaiveTimestampError

_FIXED = ("entity_key", "event_time_ns", "created_ns")


class ParquetOfflineStore:
    """The OfflineFeatureStore port on a directory of Parquet files."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root)

    def _directory(self, entity: str) -> Path:
        if not entity.replace("_", "").isalnum():
            raise InvalidRetrieval(f"entity name {entity!r} is invalid; use letters, digits, _")
        return self._root / entity

    def append(self, table: FeatureHistoryTable) -> None:
        if len(table) == 0:
            return
        for name in table.names:
            if name in _FIXED:
                raise InvalidRetrieval(f"feature name {name!r} clashes with a stored column")
        columns: dict[str, pa.Array] = {
            "entity_key": pa.array(table.keys),
            "event_time_ns": pa.array(table.event_time_ns, pa.int64()),
            "created_ns": pa.array(table.created_ns, pa.int64()),
        }
        for index, name in enumerate(table.names):
            values = np.ascontiguousarray(table.values[:, index])
            columns[name] = pa.array(values, pa.float64(), from_pandas=True)
        directory = self._directory(table.entity)
        directory.mkdir(parents=True, exist_ok=True)
        final = directory / f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
        partial = final.with_suffix(".tmp")
        pq.write_table(pa.table(columns), partial)
        partial.rename(final)  # readers only glob *.parquet, so they never see half a file

    def history(
        self, entity: str, names: Sequence[str], until_ns: int | None = None
    ) -> FeatureHistoryTable:
        directory = self._directory(entity)
        parts = sorted(directory.glob("*.parquet")) if directory.exists() else []
        if not parts:
            return FeatureHistoryTable(
                entity,
                np.empty(0, np.int64),
                np.empty(0, np.int64),
                np.empty(0, np.int64),
                tuple(names),
                np.empty((0, len(names))),
            )
        dataset = ds.dataset(parts, format="parquet")
        present = [name for name in names if name in dataset.schema.names]
        condition = None if until_ns is None else ds.field("event_time_ns") <= until_ns
        arrow = dataset.to_table(columns=[*_FIXED, *present], filter=condition)
        rows = arrow.num_rows
        values = np.full((rows, len(names)), np.nan)
        for index, name in enumerate(names):
            if name in present:
                values[:, index] = arrow.column(name).to_numpy(zero_copy_only=False)
        keys = arrow.column("entity_key").to_numpy(zero_copy_only=False)
        return FeatureHistoryTable(
            entity,
            keys,
            arrow.column("event_time_ns").to_numpy(),
            arrow.column("created_ns").to_numpy(),
            tuple(names),
            values,
        )


def _nanoseconds(column: pd.Series, label: str) -> np.ndarray:
    """Return an aware datetime column as int64 ns UTC; raise for a naive one."""
    if not isinstance(column.dtype, pd.DatetimeTZDtype):
        sample = column.iloc[0] if len(column) else None
        raise NaiveTimestampError(
            f"column {label!r} has dtype {column.dtype} (first value {sample!r}); it needs "
            "time-zone-aware timestamps, for example pd.to_datetime(..., utc=True)"
        )
    return column.dt.tz_convert("UTC").dt.as_unit("ns").astype("int64").to_numpy()


def training_rows_from_frame(
    frame: pd.DataFrame, join_keys: Sequence[str], timestamp_column: str = "event_timestamp"
) -> TrainingRows:
    """Build training rows from a DataFrame with aware timestamps and key columns."""
    for column in (timestamp_column, *join_keys):
        if column not in frame.columns:
            raise InvalidRetrieval(
                f"training frame has no column {column!r}; columns: {list(frame.columns)}"
            )
    return TrainingRows(
        _nanoseconds(frame[timestamp_column], timestamp_column),
        {key: frame[key].to_numpy() for key in join_keys},
    )


def history_from_frame(
    entity: str,
    frame: pd.DataFrame,
    join_key: str,
    names: Sequence[str],
    event_column: str = "event_timestamp",
    created_column: str = "created",
) -> FeatureHistoryTable:
    """Build a history table from a DataFrame with aware event and created timestamps."""
    for column in (join_key, event_column, created_column, *names):
        if column not in frame.columns:
            raise InvalidRetrieval(
                f"history frame has no column {column!r}; columns: {list(frame.columns)}"
            )
    return FeatureHistoryTable(
        entity,
        frame[join_key].to_numpy(),
        _nanoseconds(frame[event_column], event_column),
        _nanoseconds(frame[created_column], created_column),
        tuple(names),
        frame[list(names)].to_numpy(dtype=np.float64, na_value=np.nan),
    )
