"""Time Feast's point-in-time retrieval on the data of bench_historical_retrieval.py.

Runs in Feast's own environment (see ``online_reads.py`` for the setup):

    FEAST_ENV/bin/python benchmarks/feast/historical_retrieval.py --shape S

It draws the same history and entity rows as
``benchmarks/bench_historical_retrieval.py``: the same seed and the same order of
draws give the same numbers. It writes the history to Parquet and declares one
feature view with a 7-day ttl and the created time as Feast's tie-break column.
Then it times ``get_historical_features(...).to_df()`` once. The figures are the
wall time, the process's peak resident memory, and how many of the
entity rows come back: the twinbank join returns every one of them.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
from feast.infra.offline_stores.dask import DaskOfflineStoreConfig
from feast.infra.online_stores.sqlite import SqliteOnlineStoreConfig
from feast.repo_config import RepoConfig
from feast.types import Float64

DAY = 86_400 * 10**9
HOUR = 3_600 * 10**9
SPAN = 60 * DAY
SHAPES = {
    "S": {"history_rows": 200_000, "keys": 5_000, "entity_rows": 17_000, "columns": 1_000},
    "L": {"history_rows": 5_000_000, "keys": 100_000, "entity_rows": 1_000_000, "columns": 100},
}


def draw(history_rows: int, keys: int, entity_rows: int, columns: int, seed: int):
    """Return the history and entity frames, drawn as the twinbank benchmark draws them."""
    generator = np.random.default_rng(seed)
    history_keys = generator.integers(0, keys, history_rows)
    event = generator.integers(0, SPAN, history_rows)
    created = event + generator.integers(0, HOUR, history_rows)
    values = generator.standard_normal((history_rows, columns))
    row_keys = generator.integers(0, keys, entity_rows)
    row_times = generator.integers(0, SPAN, entity_rows)
    history = pd.DataFrame(values, columns=[f"f{index}" for index in range(columns)])
    history.insert(0, "customer_id", history_keys)
    history["event_timestamp"] = pd.to_datetime(event, unit="ns", utc=True)
    history["created"] = pd.to_datetime(created, unit="ns", utc=True)
    rows = pd.DataFrame(
        {"customer_id": row_keys, "event_timestamp": pd.to_datetime(row_times, unit="ns", utc=True)}
    )
    return history, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="S")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=7)
    arguments = parser.parse_args()

    shape = dict(SHAPES[arguments.shape])
    for field in ("history_rows", "keys", "entity_rows"):
        shape[field] = max(1, round(shape[field] * arguments.scale))
    history, rows = draw(**shape, seed=arguments.seed)
    names = [column for column in history.columns if column.startswith("f")]

    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        history.to_parquet(folder / "history.parquet")
        del history
        store = FeatureStore(
            config=RepoConfig(
                project=f"bench_{uuid.uuid4().hex[:8]}",
                registry=str(folder / "registry.db"),
                provider="local",
                online_store=SqliteOnlineStoreConfig(path=str(folder / "online.db")),
                offline_store=DaskOfflineStoreConfig(),
                entity_key_serialization_version=3,
            )
        )
        customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.INT64)
        view = FeatureView(
            name="history",
            entities=[customer],
            ttl=timedelta(days=7),
            schema=[Field(name=name, dtype=Float64) for name in names],
            source=FileSource(
                path=str(folder / "history.parquet"),
                timestamp_field="event_timestamp",
                created_timestamp_column="created",
            ),
        )
        store.apply([customer, view])
        start = time.perf_counter()
        result = store.get_historical_features(
            entity_df=rows, features=[f"history:{name}" for name in names]
        ).to_df()
        seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "shape": arguments.shape,
                "scale": arguments.scale,
                **shape,
                "feast_seconds": seconds,
                "feast_peak_rss_gib": peak_kib / 2**20,
                "rows_returned": len(result),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
