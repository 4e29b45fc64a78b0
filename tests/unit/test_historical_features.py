"""Historical retrieval through the service and the Parquet offline store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from twinbank.adapters.offline import (
    ParquetOfflineStore,
    history_from_frame,
    training_rows_from_frame,
)
from twinbank.core.features.definitions import (
    Aggregation,
    Entity,
    FeatureDefinition,
    FeatureSet,
    RowFeature,
    RowTransform,
    WindowAggregate,
)
from twinbank.core.features.historical import (
    FeatureHistoryTable,
    HistoricalFeatureService,
    InvalidRetrieval,
    TrainingRows,
)
from twinbank.core.timestamps import NaiveTimestampError

DAY = 86_400 * 10**9

FEATURES = FeatureSet(
    "pit",
    (Entity("customer", "customer_id"), Entity("terminal", "terminal_id")),
    (
        FeatureDefinition(
            "C_SUM", "customer", WindowAggregate("amount", Aggregation.SUM, DAY), ttl_ns=2 * DAY
        ),
        FeatureDefinition("T_COUNT", "terminal", WindowAggregate("amount", Aggregation.COUNT, DAY)),
        FeatureDefinition("WEEKEND", None, RowFeature(RowTransform.IS_WEEKEND)),
    ),
)


def _table(
    entity: str, keys: list, events: list[int], name: str, values: list
) -> FeatureHistoryTable:
    return FeatureHistoryTable(
        entity,
        np.asarray(keys),
        np.asarray(events, dtype=np.int64),
        np.asarray(events, dtype=np.int64),
        (name,),
        np.asarray(values, dtype=np.float64).reshape(-1, 1),
    )


@pytest.fixture
def service(tmp_path: Path) -> HistoricalFeatureService:
    store = ParquetOfflineStore(tmp_path)
    store.append(_table("customer", [1, 1, 2], [0, DAY, 0], "C_SUM", [10.0, 11.0, 20.0]))
    store.append(_table("customer", [2], [5 * DAY], "C_SUM", [np.nan]))
    store.append(_table("terminal", ["t1", "t2"], [0, 0], "T_COUNT", [3.0, 4.0]))
    return HistoricalFeatureService(store, FEATURES)


def test_service_joins_two_entities_in_input_order(service: HistoricalFeatureService) -> None:
    rows = TrainingRows(
        np.array([2 * DAY, DAY // 2, 4 * DAY, 6 * DAY, 0], dtype=np.int64),
        {
            "customer_id": np.array([1, 1, 2, 2, 9]),
            "terminal_id": np.array(["t1", "t2", "t1", "t3", "t2"], dtype=object),
        },
    )

    values = service.get_historical_features(rows, ["T_COUNT", "C_SUM"])

    np.testing.assert_array_equal(values[:, 0], [3.0, 4.0, 3.0, np.nan, 4.0])
    # customer 2 at 4 days: its value from day 0 is beyond the 2-day ttl; at 6 days the
    # latest row holds a null, which stays null.
    np.testing.assert_array_equal(values[:, 1], [11.0, 10.0, np.nan, np.nan, np.nan])


def test_service_rejects_unknown_feature(service: HistoricalFeatureService) -> None:
    rows = TrainingRows(np.array([0], dtype=np.int64), {"customer_id": np.array([1])})

    with pytest.raises(InvalidRetrieval, match="'C_SUMM'"):
        service.get_historical_features(rows, ["C_SUMM"])
    with pytest.raises(InvalidRetrieval, match="'WEEKEND' has no entity"):
        service.get_historical_features(rows, ["WEEKEND"])
    with pytest.raises(InvalidRetrieval, match="no 'terminal_id' column"):
        service.get_historical_features(rows, ["T_COUNT"])


def test_store_reads_missing_feature_as_null(tmp_path: Path) -> None:
    store = ParquetOfflineStore(tmp_path)
    store.append(_table("customer", [1, 2], [5, 9], "a", [1.0, 2.0]))

    history = store.history("customer", ["b", "a"], until_ns=5)

    assert history.keys.tolist() == [1]
    assert np.isnan(history.values[0, 0])
    assert history.values[0, 1] == 1.0
    assert len(store.history("terminal", ["a"])) == 0


def test_frames_need_time_zones() -> None:
    frame = pd.DataFrame(
        {"customer_id": [1], "event_timestamp": pd.to_datetime(["2024-01-01 10:00"])}
    )

    with pytest.raises(NaiveTimestampError, match="'event_timestamp'"):
        training_rows_from_frame(frame, ["customer_id"])

    frame["event_timestamp"] = frame["event_timestamp"].dt.tz_localize("Europe/Paris")
    rows = training_rows_from_frame(frame, ["customer_id"])
    assert rows.timestamps_ns.tolist() == [pd.Timestamp("2024-01-01 09:00Z").value]


def test_history_from_frame_round_trips(tmp_path: Path) -> None:
    moment = pd.Timestamp("2024-01-01", tz="UTC")
    frame = pd.DataFrame(
        {
            "customer_id": [1, 2],
            "event_timestamp": [moment, moment],
            "created": [moment, moment + pd.Timedelta(hours=1)],
            "a": [1.5, None],
        }
    )
    store = ParquetOfflineStore(tmp_path)

    store.append(history_from_frame("customer", frame, "customer_id", ["a"]))

    history = store.history("customer", ["a"])
    assert history.created_ns.tolist() == [moment.value, moment.value + 3_600 * 10**9]
    assert history.values[0, 0] == 1.5
    assert np.isnan(history.values[1, 0])
