"""How a scenario run's decision database is opened and written: the bulk-load
settings of its SQLite file, the writer process, and the collector thresholds."""

from __future__ import annotations

import dataclasses
import gc
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from tests.support.serving import SMALL_SCENARIO
from twinbank.adapters.audit import DecisionLogProcess, FanOutDecisionLog
from twinbank.adapters.models.xgboost_model import XGBoostSettings
from twinbank.adapters.sql import sqlite_tuning
from twinbank.adapters.sql.sqlite_tuning import bulk_load_sqlite_file
from twinbank.entrypoints.containers import build_container
from twinbank.entrypoints.governance_settings import AuditSettings
from twinbank.entrypoints.settings import PlatformSettings
from twinbank.simulator.run import fewer_collections
from twinbank.simulator.scenario import Scenario


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


def test_scenario_log_of_file_in_child(tmp_path):
    log = _container(tmp_path, bulk_load=True).audit.scenario_decision_log()
    try:
        assert isinstance(log, DecisionLogProcess)
        assert log.count() == 0
    finally:
        log.close()


@pytest.mark.parametrize("writer", ["inline", "process"])
def test_scenario_log_stays_inline(tmp_path, writer):
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


class _FailingScorer:
    """Scores like the trained scorer, then raises on the third batch."""

    def __init__(self, scorer) -> None:  # type: ignore[no-untyped-def]
        self._scorer = scorer
        self._batches = 0
        self.version = scorer.version
        self.input_names = scorer.input_names

    def score_matrix(self, matrix):  # type: ignore[no-untyped-def]
        self._batches += 1
        if self._batches == 3:
            raise RuntimeError("model server gone")
        return self._scorer.score_matrix(matrix)


def test_failed_replay_stops_its_writer_process(tmp_path):
    container = _container(tmp_path, bulk_load=True)
    scenario = Scenario.model_validate(SMALL_SCENARIO)
    started: list[DecisionLogProcess] = []

    def writer() -> DecisionLogProcess:
        started.append(container.audit.scenario_decision_log())
        return started[-1]

    run = container.simulation.scenario_run(
        scenario=scenario,
        dataset=container.transactions.generated(scenario.transactions.settings),
        trainer=container.models.xgboost_trainer(
            settings=XGBoostSettings.model_validate(SMALL_SCENARIO["model"]["hyperparameters"])
        ),
        decision_log=writer,
    )
    model = run.train()
    failing = dataclasses.replace(model, scorer=_FailingScorer(model.scorer))
    with pytest.raises(RuntimeError, match="model server gone"):
        run.replay(failing)
    assert len(started) == 1
    assert started[0].child_exit_code == 0
