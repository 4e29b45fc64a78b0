"""The decision service and the stream worker on real Redis and PostgreSQL, with faults.

Outages are made with a TCP proxy in front of the real server, so other users of the
servers are not disturbed: cutting the proxy refuses new connections and breaks open
ones, as a crashed server would.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import create_engine, text

from tests.support.servers import REDIS_URL
from tests.support.serving import (
    DECIDE_KEY,
    READ_KEY,
    ManagedProcess,
    ServiceProcess,
    transaction_body,
    write_config,
)
from tests.support.tcp_proxy import TcpProxy
from twinbank.adapters.redis import RedisEventStream
from twinbank.entrypoints.http.forwarding import STATUS_FILE
from twinbank.entrypoints.worker.assemble import CONSUMER_GROUP

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

BUDGET_MS = 80.0  # the decision's share of the authorization window


def _through(proxy: TcpProxy, url: str, port: int) -> str:
    return url.replace(f"127.0.0.1:{port}", f"127.0.0.1:{proxy.port}")


def _environment(redis_prefix: str, redis_url: str, postgres_schema_url: str) -> dict[str, str]:
    return {
        "TWINBANK_REDIS_URL": redis_url,
        "TWINBANK_POSTGRES_URL": postgres_schema_url,
        "TWINBANK_FEATURE_PREFIX": f"{redis_prefix}:features",
        "TWINBANK_EVENT_STREAM": f"{redis_prefix}:events",
        "TWINBANK_WORKER_LEASE_MS": "2000",
    }


def _wait_until(condition, what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _audit_rows(postgres_schema_url: str) -> tuple[int, int]:
    engine = create_engine(postgres_schema_url)
    try:
        with engine.connect() as connection:
            total, distinct = connection.execute(
                text("SELECT COUNT(*), COUNT(DISTINCT decision_id) FROM decisions")
            ).one()
    except Exception:  # the table does not exist before the first forwarded record
        return 0, 0
    finally:
        engine.dispose()
    return int(total), int(distinct)


@pytest.fixture
def redis_proxy() -> Iterator[TcpProxy]:
    proxy = TcpProxy("127.0.0.1", 6379)
    yield proxy
    proxy.close()


@pytest.fixture
def postgres_proxy() -> Iterator[TcpProxy]:
    proxy = TcpProxy("127.0.0.1", 5432)
    yield proxy
    proxy.close()


def _decide(client: httpx.Client, transaction_id: int, **changes: object) -> tuple[dict, float]:
    started = time.perf_counter()
    response = client.post("/v1/decisions", json=transaction_body(transaction_id, **changes))
    elapsed_ms = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, response.text
    return response.json(), elapsed_ms


def test_decisions_flow_through_redis_and_postgres(
    model_artifact: Path, redis_prefix: str, postgres_schema_url: str, tmp_path: Path
):
    environment = _environment(redis_prefix, REDIS_URL, postgres_schema_url)
    worker = ManagedProcess(
        ["worker", "--profile", "local", "--consumer", "flow", "--block-ms", "50"],
        environment,
        tmp_path / "worker.log",
    )
    service = ServiceProcess(
        write_config(tmp_path, model_artifact), "local", environment, tmp_path / "service.log"
    )
    stream = RedisEventStream(redis.Redis.from_url(REDIS_URL), f"{redis_prefix}:events")
    observer = stream.subscription(CONSUMER_GROUP, "observer")
    try:
        with service.client(DECIDE_KEY) as client:
            first, _ = _decide(client, 1, customer_id=900, amount=10.0)
            assert first["features"]["CUSTOMER_ID_NB_TX_1DAY_WINDOW"] == 1.0
            with service.client(READ_KEY) as reader:
                body = {
                    "entity": "customer",
                    "keys": [900],
                    "features": ["CUSTOMER_ID_NB_TX_1DAY_WINDOW"],
                }
                # The worker writes online values before it commits the state, and
                # acknowledges after: present values and no lag mean committed state.
                _wait_until(
                    lambda: (
                        reader.post("/v1/features/online", json=body).json()["rows"][0]["features"][
                            "CUSTOMER_ID_NB_TX_1DAY_WINDOW"
                        ]["status"]
                        == "present"
                        and observer.lag() == 0
                    ),
                    "the worker to apply the first decision",
                )
            second, _ = _decide(client, 2, customer_id=900, amount=30.0)
        assert second["features"]["CUSTOMER_ID_NB_TX_1DAY_WINDOW"] == 2.0
        assert second["features"]["CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW"] == 20.0
        _wait_until(lambda: _audit_rows(postgres_schema_url) == (2, 2), "audit rows in PostgreSQL")
    finally:
        service.terminate()
        worker.terminate()


def test_redis_outage_degrades_decisions_within_budget(
    model_artifact: Path,
    redis_prefix: str,
    postgres_schema_url: str,
    redis_proxy: TcpProxy,
    tmp_path: Path,
):
    environment = _environment(
        redis_prefix, _through(redis_proxy, REDIS_URL, 6379), postgres_schema_url
    )
    # A 50 ms lookup budget, not the default 20 ms: test machines run loaded, and a
    # healthy read that misses its budget would read as degraded here.
    config = write_config(
        tmp_path, model_artifact, feature_retry_after_ms=200, feature_lookup_timeout_ms=50
    )
    service = ServiceProcess(config, "local", environment, tmp_path / "service.log")
    try:
        with service.client(DECIDE_KEY) as client:
            healthy, _ = _decide(client, 1, customer_id=901)
            assert healthy["degraded"] == []

            redis_proxy.cut()
            timings = []
            for transaction_id in range(2, 22):
                decision, elapsed_ms = _decide(client, transaction_id, customer_id=901)
                assert decision["degraded"] == ["feature_state"]
                assert decision["features"]["CUSTOMER_ID_NB_TX_1DAY_WINDOW"] is None
                assert decision["features"]["TX_DURING_NIGHT"] in (0.0, 1.0)
                assert decision["latency_ms"]["total"] < BUDGET_MS
                timings.append(elapsed_ms)
            assert max(timings) < BUDGET_MS, timings
            readiness = client.get("/readyz")
            assert readiness.status_code == 200
            assert readiness.json()["status"] == "degraded"
            assert readiness.json()["checks"]["feature_state"]["ok"] is False
            metrics = client.get("/metrics").text
            assert 'twinbank_degraded_decisions_total{component="feature_state"} 20.0' in metrics
            assert 'twinbank_store_errors_total{operation="read",store="feature_state"}' in metrics

            redis_proxy.restore()
            time.sleep(0.3)  # the pause after a failed read (feature_retry_after_ms) ends
            recovered, _ = _decide(client, 30, customer_id=901)
            assert recovered["degraded"] == []
            # The event forwarder also lost Redis and retries after its backoff, which
            # doubles up to 5 s, so readiness may return a few seconds after the store.
            _wait_until(
                lambda: client.get("/readyz").json()["status"] == "ready",
                "readiness after Redis returns",
                seconds=15,
            )
    finally:
        service.terminate()
    assert "feature state read failed" in service.output()


def test_audit_outage_buffers_records_on_disk(
    model_artifact: Path,
    redis_prefix: str,
    postgres_schema_url: str,
    postgres_proxy: TcpProxy,
    tmp_path: Path,
):
    environment = _environment(
        redis_prefix, REDIS_URL, _through(postgres_proxy, postgres_schema_url, 5432)
    )
    config = write_config(tmp_path, model_artifact)
    service = ServiceProcess(config, "local", environment, tmp_path / "service-1.log")
    try:
        with service.client(DECIDE_KEY) as client:
            for transaction_id in range(1, 11):
                _decide(client, transaction_id, customer_id=1000 + transaction_id)
            _wait_until(lambda: _audit_rows(postgres_schema_url) == (10, 10), "the first records")
            # The forwarder moves its journal position after the database commit, so the
            # backlog counted below starts at 0 only once that position has moved too.
            _wait_until(
                lambda: (
                    client.get("/readyz").json()["checks"]["forward_audit"]["detail"]
                    == "0 records waiting in the journal"
                ),
                "the forwarder to move past the first records",
            )

            postgres_proxy.cut()
            for transaction_id in range(11, 61):
                _decide(client, transaction_id, customer_id=1000 + transaction_id)

            # The forwarding process reports four times a second, so its first report of
            # the outage may still count fewer of these records.
            def outage_reported() -> bool:
                audit = client.get("/readyz").json()["checks"]["forward_audit"]
                return audit["ok"] is False and audit["detail"].startswith("50 records")

            _wait_until(outage_reported, "the audit forwarder to report the outage")
            assert client.get("/readyz").json()["status"] == "degraded"
    finally:
        service.terminate()  # the service stops during the outage, records on disk

    restarted = ServiceProcess(config, "local", environment, tmp_path / "service-2.log")
    try:
        with restarted.client(DECIDE_KEY) as client:
            for transaction_id in range(61, 71):
                _decide(client, transaction_id, customer_id=1000 + transaction_id)
            _decide(client, 5, customer_id=1005)  # a retry of an already recorded decision
            assert _audit_rows(postgres_schema_url) == (10, 10)
            # The service started without its governance inventory, which is in the
            # same database, and reports it instead of failing.
            governance = client.get("/readyz").json()["checks"]["governance"]
            assert governance["ok"] is False
            assert "governance inventory unreachable" in governance["detail"]
            with restarted.client(READ_KEY) as reader:
                assert reader.get("/v1/governance/models").status_code == 503

            postgres_proxy.restore()
            _wait_until(
                lambda: (
                    client.get("/readyz").json()["checks"]["forward_audit"]["detail"]
                    == "0 records waiting in the journal"
                ),
                "the buffered records to be written",
            )
            with restarted.client(READ_KEY) as reader:
                assert reader.get("/v1/governance/models").json() == []
    finally:
        restarted.terminate()
    assert _audit_rows(postgres_schema_url) == (70, 70)


def test_forwarding_process_restarts_after_sigkill(
    model_artifact: Path, redis_prefix: str, postgres_schema_url: str, tmp_path: Path
):
    environment = _environment(redis_prefix, REDIS_URL, postgres_schema_url)
    service = ServiceProcess(
        write_config(tmp_path, model_artifact), "local", environment, tmp_path / "service.log"
    )
    status_file = tmp_path / "journal" / STATUS_FILE

    def forwarding_pid() -> int:
        return int(json.loads(status_file.read_text("utf-8"))["pid"])

    killed = forwarding_pid()
    try:
        with service.client(DECIDE_KEY) as client:
            for transaction_id in range(1, 41):
                _decide(client, transaction_id, customer_id=2000 + transaction_id)
                if transaction_id == 20:
                    os.kill(killed, signal.SIGKILL)
            _wait_until(lambda: _audit_rows(postgres_schema_url) == (40, 40), "all 40 audit rows")
            assert forwarding_pid() != killed
            _wait_until(
                lambda: (
                    client.get("/readyz").json()["checks"]["forward_events"]["detail"]
                    == "0 records waiting in the journal"
                ),
                "the event forwarder to catch up",
            )
        published = redis.Redis.from_url(REDIS_URL).xlen(f"{redis_prefix}:events")
        assert published >= 40  # at least once; the worker applies each event id once
    finally:
        service.terminate()
    assert "exited with code -9" in service.output()
