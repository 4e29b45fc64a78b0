"""Online values after batch materialization equal historical values at "now"."""

from __future__ import annotations

import math
from pathlib import Path
from tempfile import TemporaryDirectory

import fakeredis
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twinbank.adapters.memory import InMemoryOnlineFeatureStore, InMemoryRegistryStore
from twinbank.adapters.offline import ParquetOfflineStore
from twinbank.adapters.redis.online_store import RedisOnlineFeatureStore
from twinbank.core.features.definitions import (
    Aggregation,
    Entity,
    FeatureDefinition,
    FeatureSet,
    WindowAggregate,
)
from twinbank.core.features.historical import (
    FeatureHistoryTable,
    HistoricalFeatureService,
    TrainingRows,
)
from twinbank.core.features.materialization import BatchMaterializer
from twinbank.core.features.online import OnlineFeatureService, ValueStatus

FEATURES = FeatureSet(
    "small",
    (Entity("customer", "customer_id"),),
    (
        FeatureDefinition(
            "A", "customer", WindowAggregate("amount", Aggregation.SUM, 10), ttl_ns=15
        ),
        FeatureDefinition("B", "customer", WindowAggregate("amount", Aggregation.COUNT, 10)),
    ),
)
NAMES = ("A", "B")

history_rows = st.lists(
    st.tuples(
        st.integers(0, 5),
        st.integers(0, 60),
        st.integers(0, 5),
        st.one_of(st.none(), st.floats(-100, 100)),
        st.floats(0, 50),
    ),
    max_size=40,
)


def _table(rows: list) -> FeatureHistoryTable:
    return FeatureHistoryTable(
        "customer",
        np.array([row[0] for row in rows], dtype=np.int64),
        np.array([row[1] for row in rows], dtype=np.int64),
        np.array([row[1] + row[2] for row in rows], dtype=np.int64),
        NAMES,
        np.array(
            [[np.nan if row[3] is None else row[3], row[4]] for row in rows], dtype=np.float64
        ).reshape(len(rows), 2),
    )


def _stores(kind: str):
    if kind == "memory":
        return InMemoryOnlineFeatureStore()
    return RedisOnlineFeatureStore(fakeredis.FakeRedis(), "materialize")


@pytest.mark.parametrize("kind", ["memory", "fakeredis"])
@settings(max_examples=60, deadline=None)
@given(first=history_rows, second=history_rows, now=st.integers(0, 80), split=st.integers(0, 80))
def test_online_equals_historical_at_now(
    kind: str, first: list, second: list, now: int, split: int
) -> None:
    with TemporaryDirectory() as directory:
        offline = ParquetOfflineStore(Path(directory))
        offline.append(_table(first))
        offline.append(_table(second))
        online = _stores(kind)
        materializer = BatchMaterializer(offline, online, FEATURES, InMemoryRegistryStore())

        # Two incremental runs, so the watermark carries the first run's end forward.
        materializer.materialize_incremental(min(split, now))
        materializer.materialize_incremental(now)

        keys = np.arange(7, dtype=np.int64)
        historical = HistoricalFeatureService(offline, FEATURES).get_historical_features(
            TrainingRows(np.full(len(keys), now, dtype=np.int64), {"customer_id": keys}),
            NAMES,
        )
    served = OnlineFeatureService(online, FEATURES).get_online_features(
        "customer", keys.tolist(), NAMES, now
    )

    for row, values in enumerate(served):
        for column, name in enumerate(NAMES):
            expected = historical[row, column]
            value = values[name]
            if value.status is ValueStatus.PRESENT and value.value is not None:
                assert value.value == expected, (row, name)
            else:
                assert math.isnan(expected), (row, name, value)


def test_incremental_run_rejects_going_back(tmp_path: Path) -> None:
    offline = ParquetOfflineStore(tmp_path)
    materializer = BatchMaterializer(
        offline, InMemoryOnlineFeatureStore(), FEATURES, InMemoryRegistryStore()
    )
    materializer.materialize_incremental(50)

    with pytest.raises(ValueError, match="before the 'customer' watermark 50"):
        materializer.materialize_incremental(40)


def test_range_run_writes_latest_per_key(tmp_path: Path) -> None:
    offline = ParquetOfflineStore(tmp_path)
    offline.append(
        _table(
            [(1, 10, 0, 1.0, 1.0), (1, 20, 0, 2.0, 2.0), (1, 30, 0, 3.0, 3.0), (2, 5, 0, 9.0, 9.0)]
        )
    )
    online = InMemoryOnlineFeatureStore()
    materializer = BatchMaterializer(offline, online, FEATURES, InMemoryRegistryStore())

    runs = materializer.materialize(5, 25)

    assert runs[0].keys_written == 1  # key 2's only row is at the range's open start
    assert list(online.read("customer", [1, 2], ["A"])) == [{"A": (2.0, 20)}, {}]
