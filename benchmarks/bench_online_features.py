"""Time online feature reads from a local Redis and streaming feature updates.

Online reads: ``--keys`` entity keys with 15 features each are written through
``RedisOnlineFeatureStore``. Then ``OnlineFeatureService.get_online_features`` is
called in process for 1 key and for 100 random keys, 15 features each. Its result
keeps the values, statuses and times as matrices. A second figure adds turning them
into one ``name -> OnlineValue`` dictionary per key. The baseline,
timed in the same run on the same keys, is a bare redis-py ``HMGET`` (1 key) or a
pipeline of ``HMGET`` (100 keys) without decoding, statuses or validation.

Streaming: the first ``--events`` handbook transactions (``TWINBANK_DATA_DIR``) or,
without the data, synthetic ones go through ``StreamingFeatureEngine`` for the 14
handbook features on in-memory state (events per second on one core). The same events
then go to Redis as well: each event's per-entity values are written through the
online store, one Lua call per ``--batch`` events.

Micro-batches: the same events go through ``ColumnarFeatureEngine`` in batches of
each ``--micro-batch`` size, with a fresh engine per pass. Each of ``--repeats``
rounds makes one in-memory pass of the per-event engine and then one pass per batch
size, so a round's ratio compares passes under the same load. The report gives
medians over the rounds (events per second, ratio to the per-event pass) and the
median and p99 time per batch over all batches.

Run from the repository root with Redis on 127.0.0.1:6379:

    python benchmarks/bench_online_features.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import time
import uuid
from pathlib import Path

import numpy as np
import redis

from twinbank.adapters.memory import InMemoryFeatureStateStore
from twinbank.adapters.redis.online_store import RedisOnlineFeatureStore
from twinbank.core.features.batch import TransactionTable
from twinbank.core.features.columnar import ColumnarFeatureEngine
from twinbank.core.features.definitions import (
    Aggregation,
    Entity,
    FeatureDefinition,
    FeatureSet,
    WindowAggregate,
)
from twinbank.core.features.handbook import handbook_feature_set
from twinbank.core.features.online import FeatureWrite, OnlineFeatureService
from twinbank.core.features.streaming import StreamingFeatureEngine
from twinbank.core.transactions import Transaction
from twinbank.entrypoints.worker.materialize import FeatureMaterializer

NAMES = tuple(f"F{index:02d}" for index in range(15))
SERVED = FeatureSet(
    "bench",
    (Entity("customer", "customer_id"),),
    tuple(
        FeatureDefinition(
            name, "customer", WindowAggregate("amount", Aggregation.SUM, 10**9), ttl_ns=10**18
        )
        for name in NAMES
    ),
)


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": statistics.median(ordered) * 1e3,
        "p99_ms": ordered[int(len(ordered) * 0.99) - 1] * 1e3,
    }


def bench_reads(client: redis.Redis, keys: int, calls: int, seed: int) -> dict[str, object]:
    prefix = f"bench-online-{uuid.uuid4().hex[:8]}"
    store = RedisOnlineFeatureStore(client, prefix)
    generator = random.Random(seed)
    writes = [
        FeatureWrite("customer", key, {name: generator.random() for name in NAMES}, 10**18)
        for key in range(keys)
    ]
    for begin in range(0, len(writes), 1_000):
        store.write(writes[begin : begin + 1_000])
    service = OnlineFeatureService(store, SERVED)
    results: dict[str, object] = {}
    try:
        for batch in (1, 100):
            requests = [generator.sample(range(keys), batch) for _ in range(calls)]
            ours, as_objects, bare = [], [], []
            for request in requests:
                start = time.perf_counter()
                answer = service.get_online_features("customer", request, NAMES, 10**18)
                ours.append(time.perf_counter() - start)
                list(answer)  # one name -> OnlineValue dictionary per key
                as_objects.append(time.perf_counter() - start)
            for request in requests:
                start = time.perf_counter()
                if batch == 1:
                    client.hmget(f"{prefix}:online:customer:i{request[0]}", NAMES)
                else:
                    pipeline = client.pipeline(transaction=False)
                    for key in request:
                        pipeline.hmget(f"{prefix}:online:customer:i{key}", NAMES)
                    pipeline.execute()
                bare.append(time.perf_counter() - start)
            ours_figures, bare_figures = percentiles(ours), percentiles(bare)
            results[f"{batch}x15"] = {
                "twinbank": ours_figures,
                "twinbank_with_value_objects": percentiles(as_objects),
                "bare_hmget": bare_figures,
                "p99_ratio": ours_figures["p99_ms"] / bare_figures["p99_ms"],
            }
    finally:
        for batch_start in range(0, keys, 1_000):
            client.delete(
                *[
                    f"{prefix}:online:customer:i{key}"
                    for key in range(batch_start, min(keys, batch_start + 1_000))
                ]
            )
    return results


def load_events(count: int, seed: int) -> tuple[list[Transaction], str]:
    data = os.environ.get("TWINBANK_DATA_DIR")
    path = Path(data) / "handbook" / "transactions.parquet" if data else None
    if path is not None and path.is_file():
        from twinbank.adapters.transactions import load_transactions  # noqa: PLC0415

        dataset = load_transactions(path)
        order = np.lexsort((dataset.transaction_id, dataset.timestamp_ns))[:count]
        events = [
            Transaction(
                int(dataset.transaction_id[i]),
                int(dataset.timestamp_ns[i]),
                int(dataset.customer_id[i]),
                int(dataset.terminal_id[i]),
                float(dataset.amount[i]),
            )
            for i in order
        ]
        return events, "handbook transactions"
    generator = np.random.default_rng(seed)
    times = np.sort(generator.integers(0, 90 * 86_400 * 10**9, count))
    events = [
        Transaction(
            index,
            int(times[index]),
            int(generator.integers(0, 5_000)),
            int(generator.integers(0, 10_000)),
            float(round(generator.gamma(2.0, 30.0), 2)),
        )
        for index in range(count)
    ]
    return events, "synthetic transactions"


def per_event_rate(events: list[Transaction]) -> float:
    """Return events per second of one in-memory pass of the per-event engine."""
    engine = StreamingFeatureEngine(handbook_feature_set(), InMemoryFeatureStateStore())
    start = time.perf_counter()
    for event in events:
        engine.observe_transaction(event)
    return len(events) / (time.perf_counter() - start)


def micro_batch_pass(tables: list[TransactionTable]) -> list[float]:
    """Return the seconds of each batch of one pass of a fresh micro-batch engine."""
    engine = ColumnarFeatureEngine(handbook_feature_set())
    seconds = []
    for table in tables:
        start = time.perf_counter()
        engine.observe_batch(table)
        seconds.append(time.perf_counter() - start)
    return seconds


def bench_in_memory(events: list[Transaction], sizes: list[int], repeats: int) -> dict[str, object]:
    """Alternate per-event and micro-batch passes, so that each repeat's ratio compares
    passes made under the same load."""
    columns = event_columns(events)
    tables = {
        size: [
            TransactionTable(
                {name: values[start : start + size] for name, values in columns.items()}
            )
            for start in range(0, len(events), size)
        ]
        for size in sizes
    }
    per_event: list[float] = []
    rates: dict[int, list[float]] = {size: [] for size in sizes}
    ratios: dict[int, list[float]] = {size: [] for size in sizes}
    batch_seconds: dict[int, list[float]] = {size: [] for size in sizes}
    for _ in range(repeats):
        per_event.append(per_event_rate(events))
        for size in sizes:
            seconds = micro_batch_pass(tables[size])
            rate = len(events) / sum(seconds)
            rates[size].append(rate)
            ratios[size].append(rate / per_event[-1])
            batch_seconds[size].extend(seconds)
    return {
        "memory_events_per_s": statistics.median(per_event),
        "micro_batches": [
            {
                "batch_size": size,
                "events_per_s": statistics.median(rates[size]),
                **{
                    f"batch_{name}": value
                    for name, value in percentiles(batch_seconds[size]).items()
                },
                "ratio_to_per_event": statistics.median(ratios[size]),
            }
            for size in sizes
        ],
    }


def bench_redis_streaming(client: redis.Redis, events: list[Transaction], batch: int) -> float:
    """Return events per second of the per-event engine writing to Redis."""
    features = handbook_feature_set()
    prefix = f"bench-stream-{uuid.uuid4().hex[:8]}"
    store = RedisOnlineFeatureStore(client, prefix)
    materializer = FeatureMaterializer(features)
    engine = StreamingFeatureEngine(features, InMemoryFeatureStateStore())
    pending: list[FeatureWrite] = []
    start = time.perf_counter()
    for event in events:
        pending.extend(materializer.writes_for(event, engine.observe_transaction(event)))
        if len(pending) >= 2 * batch:
            store.write(pending)
            pending = []
    store.write(pending)
    redis_rate = len(events) / (time.perf_counter() - start)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1_000))
    for begin in range(0, len(keys), 1_000):
        client.delete(*keys[begin : begin + 1_000])
    return redis_rate


def event_columns(events: list[Transaction]) -> dict[str, np.ndarray]:
    return {
        "transaction_id": np.array([e.transaction_id for e in events], dtype=np.int64),
        "timestamp_ns": np.array([e.timestamp_ns for e in events], dtype=np.int64),
        "customer_id": np.array([e.customer_id for e in events], dtype=np.int64),
        "terminal_id": np.array([e.terminal_id for e in events], dtype=np.int64),
        "amount": np.array([e.amount for e in events], dtype=np.float64),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--keys", type=int, default=10_000, help="entity keys stored")
    parser.add_argument("--calls", type=int, default=5_000, help="reads timed per shape")
    parser.add_argument("--events", type=int, default=100_000, help="streamed events")
    parser.add_argument("--batch", type=int, default=500, help="events per Redis write")
    parser.add_argument(
        "--micro-batch",
        type=int,
        nargs="+",
        default=[1_000, 10_000],
        help="transactions per ColumnarFeatureEngine batch; one row per size",
    )
    parser.add_argument("--repeats", type=int, default=5, help="in-memory passes per path")
    parser.add_argument("--seed", type=int, default=7)
    arguments = parser.parse_args()

    client = redis.Redis.from_url(arguments.redis_url)
    client.ping()
    events, source = load_events(arguments.events, arguments.seed)
    load_before_streaming = [round(value, 2) for value in os.getloadavg()]
    in_memory = bench_in_memory(events, arguments.micro_batch, arguments.repeats)
    redis_rate = bench_redis_streaming(client, events, arguments.batch)
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, redis-py {redis.__version__}",
        "redis_server": client.info("server")["redis_version"],
        "online_reads": bench_reads(client, arguments.keys, arguments.calls, arguments.seed),
        "streaming": {"events": len(events), "source": source, "repeats": arguments.repeats}
        | {"redis_events_per_s": redis_rate}
        | in_memory,
        "load_average_before_streaming": load_before_streaming,
        "load_average_at_end": [round(value, 2) for value in os.getloadavg()],
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
