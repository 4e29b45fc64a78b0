"""A scenario run chains every decision into its database; the audit commands verify,
show, export and catch tampering on it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from twinbank.entrypoints.cli import app

SCENARIO = {
    "name": "audited",
    "transactions": {
        "kind": "generator",
        "settings": {
            "seed": 5,
            "start_date": "2018-04-01",
            "days": 40,
            "customers": 200,
            "terminals": 400,
        },
    },
    "model": {
        "training": {"training_start": "2018-04-16"},
        "hyperparameters": {"n_estimators": 20},
    },
    "batching": {"max_size": 64, "max_wait_seconds": 600},
}
ENV = {"TWINBANK_AUDIT_PSEUDONYMISATION_KEY": "k" * 32, "COLUMNS": "400"}


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("audited")
    scenario = folder / "scenario.yaml"
    scenario.write_text(yaml.safe_dump(SCENARIO), encoding="utf-8")
    result = CliRunner().invoke(
        app, ["simulate", str(scenario), "--out", str(folder / "out")], env=ENV
    )
    assert result.exit_code == 0, result.output
    return folder


def audit(folder: Path, *arguments: str):  # type: ignore[no-untyped-def]
    database = f"sqlite:///{folder / 'out' / 'decisions.db'}"
    return CliRunner().invoke(app, ["audit", *arguments, "--database", database], env=ENV)


def test_every_decision_is_chained(run_folder: Path):
    report = json.loads((run_folder / "out" / "report.json").read_text())
    with sqlite3.connect(run_folder / "out" / "decisions.db") as connection:
        kinds = dict(connection.execute("SELECT kind, COUNT(*) FROM audit_records GROUP BY kind"))
        (decisions,) = connection.execute("SELECT COUNT(*) FROM decisions").fetchone()
        (raw_customer,) = connection.execute(
            "SELECT COUNT(*) FROM audit_records WHERE kind = 'decision' "
            "AND body LIKE '%\"customer_id\"%'"
        ).fetchone()
    assert kinds == {"feature_set": 1, "decision": report["transactions"]}
    assert decisions == report["transactions"]
    assert raw_customer == 0
    result = audit(run_folder, "verify")
    assert result.exit_code == 0, result.output
    assert f"{report['transactions'] + 1:,} records" in result.output


def test_show_names_the_features(run_folder: Path):
    with sqlite3.connect(run_folder / "out" / "decisions.db") as connection:
        (decision_id,) = connection.execute(
            "SELECT decision_id FROM audit_records WHERE kind = 'decision' LIMIT 1"
        ).fetchone()
    result = audit(run_folder, "show", decision_id)
    assert result.exit_code == 0, result.output
    assert "customer_pseudonym" in result.output
    assert "CUSTOMER_ID_NB_TX_1DAY_WINDOW" in result.output
    assert audit(run_folder, "show", "no-such-decision").exit_code == 2


def test_export_and_archive_verification(run_folder: Path):
    archive = run_folder / "archive"
    result = audit(run_folder, "export", "--archive", str(archive))
    assert result.exit_code == 0, result.output
    assert "2018-04" in result.output
    assert "2025-05-01" in result.output
    verified = audit(run_folder, "verify", "--archive", str(archive))
    assert verified.exit_code == 0, verified.output
    assert "archive intact: 2 segments" in verified.output


def test_deleted_decision_is_caught(run_folder: Path, tmp_path: Path):
    copy = tmp_path / "out"
    copy.mkdir()
    (copy / "decisions.db").write_bytes((run_folder / "out" / "decisions.db").read_bytes())
    with sqlite3.connect(copy / "decisions.db") as connection:
        connection.execute("DELETE FROM audit_records WHERE seq = 1000")
    result = audit(tmp_path, "verify")
    assert result.exit_code == 4
    assert "at record 1001 (removed)" in result.output


def test_monitoring_drift_reads_the_chained_decisions(run_folder: Path, tmp_path: Path):
    database = f"sqlite:///{run_folder / 'out' / 'decisions.db'}"
    out = tmp_path / "drift.json"
    result = CliRunner().invoke(
        app,
        ["monitoring", "drift", "--database", database, "--window-days", "7", "--out", str(out)],
        env=ENV,
    )
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    names = [item["name"] for item in document["drift"]]
    assert names[0] == "score"
    assert "TERMINAL_ID_RISK_7DAY_WINDOW" in names
    assert len(names) == 15
    assert document["reference"]["rows"] > 1_000
    assert document["current"]["rows"] > 1_000
    # The first week's windows are still filling up, so 30-day counts drift strongly.
    drifted = {
        alert["subject"] for alert in document["alerts"] if alert["rule"] == "feature_drift.psi"
    }
    assert "CUSTOMER_ID_NB_TX_30DAY_WINDOW" in drifted
    assert "Drift from the reference window" in result.output


def test_monitoring_drift_without_decisions_is_bad_input(run_folder: Path):
    database = f"sqlite:///{run_folder / 'out' / 'decisions.db'}"
    result = CliRunner().invoke(
        app,
        ["monitoring", "drift", "--database", database, "--reference-start", "2030-01-01"],
        env=ENV,
    )
    assert result.exit_code == 2
    assert "reference window has 0" in result.output
