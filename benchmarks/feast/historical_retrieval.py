"""Time Feast's point-in-time retrieval on the data of bench_historical_retrieval.py.

Runs in Feast's own environment (see ``online_reads.py`` for the setup):

    FEAST_ENV/bin/python benchmarks/feast/historical_retrieval.py --shape S

It uses the same history and entity rows as
``benchmarks/bench_historical_retrieval.py``, drawn by ``benchmarks/retrieval_data.py``
from the same seed. It writes the history to Parquet and declares one
feature view with a 7-day ttl and the created time as Feast's tie-break column.
Then it times ``get_historical_features(...).to_df()`` once. The figures are the
wall time, the process's peak resident memory, and how many of the
entity rows come back: the twinbank join returns every one of them.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pandas as pd
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
from feast.infra.offline_stores.dask import DaskOfflineStoreConfig
from feast.infra.online_stores.sqlite import SqliteOnlineStoreConfig
from feast.repo_config import RepoConfig
from feast.types import Float64

# The synthetic data is shared with the twinbank benchmark one folder up.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from retrieval_data import draw, scaled_shape


def frames(history_rows: int, keys: int, entity_rows: int, columns: int, seed: int):
    """Return the history and entity frames of the twinbank benchmark's data."""
    data = draw(history_rows, keys, entity_rows, columns, seed)
    history = pd.DataFrame(data.values, columns=[f"f{index}" for index in range(columns)])
    history.insert(0, "customer_id", data.history_keys)
    history["event_timestamp"] = pd.to_datetime(data.event_ns, unit="ns", utc=True)
    history["created"] = pd.to_datetime(data.created_ns, unit="ns", utc=True)
    moments = pd.to_datetime(data.row_times_ns, unit="ns", utc=True)
    rows = pd.DataFrame({"customer_id": data.row_keys, "event_timestamp": moments})
    return history, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=["L", "S"], default="S")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=7)
    arguments = parser.parse_args()

    shape = scaled_shape(arguments.shape, arguments.scale)
    history, rows = frames(**shape, seed=arguments.seed)
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
