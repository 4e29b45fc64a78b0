"""Time Feast's online reads from a local Redis, for the same shapes as twinbank's.

Feast pins other versions of pandas than twinbank, so this script runs in its own
environment and imports nothing from twinbank:

    python3.11 -m venv FEAST_ENV
    FEAST_ENV/bin/pip install "feast[redis]==0.67.0"
    FEAST_ENV/bin/python benchmarks/feast/online_reads.py

It builds a Feast repository in a temporary folder: local provider, Dask offline
store, and the Redis online store on 127.0.0.1:6379 under a project name of its own.
It writes ``--keys`` customers with 15 float features through
``write_to_online_store``. Then it times ``get_online_features(...).to_dict()`` in
process for 1 key and for 100 random keys, ``--calls`` times each.
``benchmarks/bench_online_features.py`` times twinbank on the same shapes; run the
two one after the other.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import redis
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
from feast.infra.offline_stores.dask import DaskOfflineStoreConfig
from feast.infra.online_stores.redis import RedisOnlineStoreConfig
from feast.repo_config import RepoConfig
from feast.types import Float64

NAMES = tuple(f"F{index:02d}" for index in range(15))


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": statistics.median(ordered) * 1e3,
        "p99_ms": ordered[int(len(ordered) * 0.99) - 1] * 1e3,
    }


def feature_store(
    folder: Path, project: str, redis_address: str
) -> tuple[FeatureStore, FeatureView]:
    config = RepoConfig(
        project=project,
        registry=str(folder / "registry.db"),
        provider="local",
        online_store=RedisOnlineStoreConfig(connection_string=redis_address),
        offline_store=DaskOfflineStoreConfig(),
        entity_key_serialization_version=3,
    )
    store = FeatureStore(config=config)
    customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.INT64)
    source = FileSource(path=str(folder / "customers.parquet"), timestamp_field="event_timestamp")
    view = FeatureView(
        name="customer_values",
        entities=[customer],
        ttl=timedelta(days=3650),
        schema=[Field(name=name, dtype=Float64) for name in NAMES],
        source=source,
        online=True,
    )
    store.apply([customer, view])
    return store, view


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="127.0.0.1:6379", help="host:port of Redis")
    parser.add_argument("--keys", type=int, default=10_000, help="customers stored")
    parser.add_argument("--calls", type=int, default=5_000, help="reads timed per shape")
    parser.add_argument("--seed", type=int, default=7)
    arguments = parser.parse_args()

    generator = random.Random(arguments.seed)
    project = f"bench_{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        frame = pd.DataFrame(
            {name: [generator.random() for _ in range(arguments.keys)] for name in NAMES}
        )
        frame.insert(0, "customer_id", range(arguments.keys))
        frame["event_timestamp"] = datetime(2026, 1, 1, tzinfo=UTC)
        frame.to_parquet(folder / "customers.parquet")
        store, view = feature_store(folder, project, arguments.redis)
        try:
            store.write_to_online_store(view.name, frame)
            references = [f"{view.name}:{name}" for name in NAMES]
            results = {}
            for batch in (1, 100):
                requests = [
                    generator.sample(range(arguments.keys), batch) for _ in range(arguments.calls)
                ]
                seconds = []
                for request in requests:
                    rows = [{"customer_id": key} for key in request]
                    start = time.perf_counter()
                    store.get_online_features(features=references, entity_rows=rows).to_dict()
                    seconds.append(time.perf_counter() - start)
                results[f"{batch}x15"] = percentiles(seconds)
        finally:
            store.teardown()
            host, port = arguments.redis.split(":")
            client = redis.Redis(host=host, port=int(port))
            leftover = list(client.scan_iter(match=f"*{project}*", count=1_000))
            if leftover:
                client.delete(*leftover)
    print(json.dumps({"feast_online_reads": results}, indent=2))


if __name__ == "__main__":
    main()
