"""How a scenario run's decision database is opened and written: the bulk-load
settings of its SQLite file, the writer process, and the collector thresholds."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from twinbank.adapters.audit import DecisionLogProcess, FanOutDecisionLog
from twinbank.adapters.sql import sqlite_tuning
from twinbank.adapters.sql.sqlite_tuning import bulk_load_sqlite_file
from twinbank.entrypoints.containers import build_container
from twinbank.entrypoints.governance_settings import AuditSettings
from twinbank.entrypoints.settings import PlatformSettings
from twinbank.simulator.run import fewer_collections


def _journal_and_sync(engine) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        (journal,) = connection.exec_driver_sql("PRAGMA journal_mode").one()
        (synchronous,) = connection.exec_driver_sql("PRAGMA synchronous").one()
    return journal, synchronous


def _container(tmp_path: Path, *, bulk_load: bool, writer: str = "process"):  # type: ignore[no-untyped-def]
    return build_container(
        PlatformSettings(profile="memory"),
        sqlite_url=f"sqlite:///{tmp_path / 'decisions.db'}",
        audit_settings=AuditSettings(decision_writer=writer),
        governance_backend="memory",
        bulk_load_decisions=bulk_load,
    )


def test_bulk_load_keeps_journal_in_memory_without_syncs(tmp_path):
    engine = _container(tmp_path, bulk_load=True).decisions.engine()
    assert _journal_and_sync(engine) == ("memory", 0)


def test_other_decision_databases_keep_sqlite_durability(tmp_path):
    engine = _container(tmp_path, bulk_load=False).decisions.engine()
    assert _journal_and_sync(engine) == ("delete", 2)


def test_bulk_load_syncs_the_file_on_dispose(tmp_path, monkeypatch):
    synced: list[int] = []
    monkeypatch.setattr(sqlite_tuning.os, "fsync", synced.append)
    engine = bulk_load_sqlite_file(create_engine(f"sqlite:///{tmp_path / 'run.db'}"))
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    assert synced == []
    engine.dispose()
    assert len(synced) == 1


def test_bulk_load_leaves_in_memory_database_alone():
    engine = create_engine("sqlite://")
    assert bulk_load_sqlite_file(engine) is engine
    assert _journal_and_sync(engine) == ("memory", 2)  # SQLite's own in-memory journal


def test_scenario_log_of_a_file_runs_in_a_child(tmp_path):
    log = _container(tmp_path, bulk_load=True).audit.scenario_decision_log()
    try:
        assert isinstance(log, DecisionLogProcess)
        assert log.count() == 0
    finally:
        log.close()


@pytest.mark.parametrize("writer", ["inline", "process"])
def test_scenario_log_stays_inline_when_asked_or_in_memory(tmp_path, writer):
    if writer == "inline":
        container = _container(tmp_path, bulk_load=True, writer="inline")
    else:
        container = build_container(
            PlatformSettings(profile="memory"),
            audit_settings=AuditSettings(decision_writer="process"),
            governance_backend="memory",
        )
    assert isinstance(container.audit.scenario_decision_log(), FanOutDecisionLog)


def test_fewer_collections_restores_thresholds():
    before = gc.get_threshold()
    with fewer_collections():
        assert gc.get_threshold()[0] > before[0]
    assert gc.get_threshold() == before
