"""One contract for every DecisionLog adapter: memory, SQLite and PostgreSQL."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import create_engine

from tests.support.audit import decision_entries, stored_decision_counts
from tests.support.postgres import postgres_schema_url  # noqa: F401  (fixture)
from tests.support.writer_process import chained_sqlite_log
from twinbank.adapters.audit import DecisionLogProcess
from twinbank.adapters.memory import InMemoryAuditTrail, InMemoryDecisionLog
from twinbank.adapters.sql import SqlAuditTrail, SqlDecisionLog
from twinbank.adapters.sql.sqlite_tuning import PAGE_CACHE_KIB
from twinbank.core.decisions import DecisionRecord, Outcome, StageLatency, decision_id_for
from twinbank.core.features.vector import FeatureVector
from twinbank.core.ports import DecisionLog
from twinbank.core.transactions import Transaction
from twinbank.entrypoints.containers import build_container
from twinbank.entrypoints.governance_settings import AuditSettings
from twinbank.entrypoints.settings import PlatformSettings


def _record(transaction_id: int, model_version: str = "model-a") -> DecisionRecord:
    transaction = Transaction(transaction_id, 1_600_000_000 * 10**9 + transaction_id, 7, 9, 12.5)
    return DecisionRecord(
        decision_id=decision_id_for(transaction_id, model_version, "thresholds-v1"),
        transaction=transaction,
        decided_at_ns=transaction.timestamp_ns + 1_000,
        score=0.42,
        outcome=Outcome.STEP_UP,
        reasons=("SCORE_IN_STEP_UP_BAND",),
        policy_version="thresholds-v1",
        model_version=model_version,
        features=FeatureVector(("A", "B"), (1.0, float("nan")), "abc123"),
        latency=StageLatency(10, 20, 30),
    )


@pytest.fixture(
    params=[
        "memory",
        "sqlite",
        "postgresql",
        "audit-memory",
        "audit-sqlite",
        "audit-postgresql",
        "writer-process-sqlite",
    ]
)
def make_log(request, tmp_path, postgres_url) -> Iterator[Callable[[], DecisionLog]]:
    if request.param == "memory":
        shared = InMemoryDecisionLog()
        yield lambda: shared
    elif request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'decisions.db'}"
        yield lambda: SqlDecisionLog(create_engine(url), batch_size=3)
    elif request.param == "postgresql":
        engine = request.getfixturevalue("postgres_engine")
        yield lambda: SqlDecisionLog(engine, batch_size=3)
    elif request.param == "audit-memory":
        trail = InMemoryAuditTrail(decision_entries)
        yield lambda: trail
    elif request.param == "audit-sqlite":
        url = f"sqlite:///{tmp_path / 'audit.db'}"
        yield lambda: SqlAuditTrail(create_engine(url), decision_entries, batch_size=3)
    elif request.param == "audit-postgresql":
        url = request.getfixturevalue("postgres_schema_url")
        yield lambda: SqlAuditTrail(create_engine(url), decision_entries, batch_size=3)
    else:
        build = functools.partial(chained_sqlite_log, f"sqlite:///{tmp_path / 'chain.db'}")
        started: list[DecisionLogProcess] = []

        def start() -> DecisionLog:
            started.append(DecisionLogProcess(build, batch_size=2))
            return started[-1]

        yield start
        for log in started:
            log.close()


def test_appended_records_are_counted_after_flush(make_log):
    log = make_log()
    for transaction_id in range(7):
        log.append(_record(transaction_id))
    log.flush()
    assert log.count() == 7


def test_retried_decision_is_stored_once(make_log):
    log = make_log()
    log.append(_record(1))
    log.flush()
    log.append(_record(1))
    log.append(_record(2))
    log.flush()
    assert log.count() == 2


def test_another_model_version_is_another_decision(make_log):
    log = make_log()
    log.append(_record(1, "model-a"))
    log.append(_record(1, "model-b"))
    log.flush()
    assert log.count() == 2


def test_records_survive_a_new_connection(make_log):
    first = make_log()
    first.append(_record(5))
    first.flush()
    second = make_log()
    assert second.count() == 1


def test_sql_log_stores_features_by_name(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'decisions.db'}")
    log = SqlDecisionLog(engine)
    log.append(_record(3))
    log.flush()
    with engine.connect() as connection:
        values, names = connection.exec_driver_sql(
            "SELECT d.feature_values, f.names FROM decisions d "
            "JOIN feature_sets f ON f.version = d.feature_set_version"
        ).one()
    assert values == "[1.0, null]"
    assert names == '["A", "B"]'


@pytest.mark.parametrize("log_kind", ["decision-table", "audit-trail"])
def test_sqlite_file_log_gets_page_cache(tmp_path, log_kind):
    engine = create_engine(f"sqlite:///{tmp_path / 'decisions.db'}")
    if log_kind == "decision-table":
        SqlDecisionLog(engine)
    else:
        SqlAuditTrail(engine, decision_entries)
    with engine.connect() as connection:
        (cache_size,) = connection.exec_driver_sql("PRAGMA cache_size").one()
    assert cache_size == -PAGE_CACHE_KIB


def test_in_memory_sqlite_keeps_default_cache():
    engine = create_engine("sqlite://")
    SqlDecisionLog(engine)
    with engine.connect() as connection:
        (cache_size,) = connection.exec_driver_sql("PRAGMA cache_size").one()
    assert cache_size != -PAGE_CACHE_KIB


def test_container_logs_flush_at_configured_batch(tmp_path):
    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    container = build_container(
        PlatformSettings(profile="memory"),
        sqlite_url=url,
        audit_settings=AuditSettings(batch_size=4),
        governance_backend="memory",
    )
    log = container.audit.decision_log()
    for transaction_id in range(5):
        log.append(_record(transaction_id))
    table_rows, chained = stored_decision_counts(tmp_path / "decisions.db")
    assert table_rows == 4
    # The chain's first batch also contains the entry that records the feature-set names.
    assert chained == 3
