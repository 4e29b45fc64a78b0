"""Decision records reach PostgreSQL exactly once across an outage and a restart."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.support.servers import postgres_schema_url  # noqa: F401  (fixture)
from tests.support.tcp_proxy import TcpProxy
from tests.unit.test_journal import record
from twinbank.adapters.journal import (
    DecisionLogSink,
    DurableJournal,
    JournalDecisionLog,
    JournalForwarder,
)
from twinbank.adapters.sql import SqlDecisionLog

pytestmark = pytest.mark.postgres


def _through(proxy: TcpProxy, url: str) -> str:
    return url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")


def _wait_until(condition, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _rows(url: str) -> tuple[int, int]:
    engine = create_engine(url)
    with engine.connect() as connection:
        total, distinct = connection.execute(
            text("SELECT COUNT(*), COUNT(DISTINCT decision_id) FROM decisions")
        ).one()
    engine.dispose()
    return int(total), int(distinct)


def test_outage_and_restart_lose_and_duplicate_nothing(tmp_path: Path, postgres_schema_url: str):  # noqa: F811
    proxy = TcpProxy("127.0.0.1", 5432)
    url = _through(proxy, postgres_schema_url)
    folder = tmp_path / "journal"

    def start() -> tuple[DurableJournal, JournalForwarder]:
        journal = DurableJournal(folder, ("audit",))
        sink = DecisionLogSink(lambda: SqlDecisionLog.from_url(url, batch_size=10))
        forwarder = JournalForwarder(journal, "audit", sink, batch_size=25, retry_initial_s=0.02)
        forwarder.start()
        return journal, forwarder

    journal, forwarder = start()
    log = JournalDecisionLog(journal)
    for index in range(100):
        log.append(record(index))
    log.flush()
    _wait_until(lambda: forwarder.status().backlog == 0)

    proxy.cut()
    for index in range(100, 400):
        log.append(record(index))
    log.flush()
    _wait_until(lambda: not forwarder.status().healthy)
    assert forwarder.status().backlog == 300

    # The process stops during the outage and starts again on the same journal.
    forwarder.stop(drain_timeout_s=0.2)
    journal.close()
    journal, forwarder = start()
    log = JournalDecisionLog(journal)
    for index in range(400, 450):
        log.append(record(index))
    log.append(record(5))  # a retried decision: the same id again
    log.flush()
    assert journal.backlog("audit") == 351

    proxy.restore()
    _wait_until(lambda: forwarder.status().backlog == 0)
    forwarder.stop()
    journal.close()
    proxy.close()

    assert _rows(postgres_schema_url) == (450, 450)
