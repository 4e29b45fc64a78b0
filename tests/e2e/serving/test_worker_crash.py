"""``twinbank worker`` killed with SIGKILL mid-stream and restarted loses and double-counts
nothing: after the stream drains, the online values and the offline history equal a
batch computation over the same events (real Redis and PostgreSQL)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import redis

from tests.support.feature_runs import EventHistory, batch_values
from tests.support.servers import REDIS_URL
from tests.support.serving import ManagedProcess
from twinbank.adapters.redis import RedisEventStream
from twinbank.adapters.redis.online_store import RedisOnlineFeatureStore
from twinbank.adapters.sql import SqlFeatureHistory
from twinbank.adapters.transactions import load_transactions
from twinbank.core.events import interleave_labels
from twinbank.core.features.handbook import handbook_feature_set
from twinbank.core.timestamps import days
from twinbank.core.transactions import FraudLabel, Transaction
from twinbank.entrypoints.worker.assemble import CONSUMER_GROUP

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

FIXTURE = (
    Path(__file__).resolve().parents[2] / "fixtures" / "handbook-customers-transactions.parquet"
)
FEATURES = handbook_feature_set()


def _events() -> tuple[list[Transaction], list[FraudLabel], list[Transaction | FraudLabel]]:
    dataset = load_transactions(FIXTURE, "ARRIVAL_SEQUENCE")
    events = list(interleave_labels(dataset, days(7)))
    transactions = [event for event in events if isinstance(event, Transaction)]
    labels = [event for event in events if isinstance(event, FraudLabel)]
    return transactions, labels, events


def _wait(condition, what: str, worker: ManagedProcess, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if worker.process.poll() is not None:
            pytest.fail(f"worker exited with {worker.process.returncode}:\n{worker.output()}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}:\n{worker.output()}")
        time.sleep(0.05)


def test_sigkilled_worker_restarts_to_exact_features(
    real_redis: redis.Redis, redis_prefix: str, postgres_schema_url: str, tmp_path: Path
):
    transactions, labels, events = _events()
    stream = RedisEventStream(real_redis, f"{redis_prefix}:events")
    for start in range(0, len(events), 2_000):
        stream.publish(events[start : start + 2_000])
    observer = stream.subscription(CONSUMER_GROUP, "observer")
    environment = {
        "TWINBANK_REDIS_URL": REDIS_URL,
        "TWINBANK_POSTGRES_URL": postgres_schema_url,
        "TWINBANK_FEATURE_PREFIX": f"{redis_prefix}:features",
        "TWINBANK_EVENT_STREAM": f"{redis_prefix}:events",
        "TWINBANK_WORKER_LEASE_MS": "2000",
    }
    arguments = ["worker", "--profile", "local", "--consumer", "crash-test", "--batch-size", "250"]
    log = tmp_path / "worker.log"

    first = ManagedProcess(arguments, environment, log)
    _wait(lambda: observer.lag() < len(events) * 0.6, "the first worker to make progress", first)
    first.kill()
    left = observer.lag()
    assert 0 < left < len(events), "the worker was not killed mid-stream"

    second = ManagedProcess(arguments, environment, log)
    _wait(lambda: observer.lag() == 0, "the stream to drain", second)
    assert second.terminate() == 0
    output = second.output()
    assert "worker crash-test stopped" in output
    assert real_redis.xlen(f"{redis_prefix}:events:dead-letters") == 0

    expected = batch_values(FEATURES, EventHistory(transactions, labels))
    history = SqlFeatureHistory.from_url(postgres_schema_url)
    online = RedisOnlineFeatureStore(real_redis, f"{redis_prefix}:features")
    names = FEATURES.names
    latest: dict[tuple[str, int], dict[str, float | None]] = {}
    for entity, join_key in (("customer", "customer_id"), ("terminal", "terminal_id")):
        rows = {event_id: values for _, event_id, _, values in history.rows(entity)}
        assert len(rows) == len(transactions), f"{entity}: events lost or duplicated"
        for transaction, row in zip(transactions, expected, strict=True):
            stored = rows[f"transaction:{transaction.transaction_id}"]
            wanted = {
                name: None if np.isnan(value) else float(value)
                for name, value in zip(names, row, strict=True)
                if name in stored
            }
            assert stored.keys() == wanted.keys()
            for name, value in wanted.items():
                if value is None:
                    assert stored[name] is None, (transaction, name)
                else:
                    assert stored[name] == pytest.approx(value, rel=1e-12, abs=1e-12), (
                        transaction,
                        name,
                    )
            latest[(entity, getattr(transaction, join_key))] = wanted
    history.dispose()

    for (entity, key), wanted in latest.items():
        (served,) = online.read(entity, [key], list(wanted))
        assert {name: value for name, (value, _) in served.items()} == pytest.approx(wanted)
