"""End-to-end runs of ``twinbank simulate`` through the real command line."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from twinbank.entrypoints.cli import app

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"

SMALL_GENERATED = {
    "name": "small-generated",
    "transactions": {
        "kind": "generator",
        "settings": {
            "seed": 3,
            "start_date": "2018-04-01",
            "days": 40,
            "customers": 300,
            "terminals": 600,
        },
    },
    "model": {
        "training": {"training_start": "2018-04-16"},
        "hyperparameters": {"n_estimators": 30},
    },
    "batching": {"max_size": 64, "max_wait_seconds": 600},
}


def _write_scenario(folder: Path, document: dict) -> Path:
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def _simulate(*arguments: str):
    return CliRunner().invoke(app, ["simulate", *arguments])


def test_generated_scenario_writes_report_and_decisions(tmp_path: Path):
    out = tmp_path / "out"
    result = _simulate(str(_write_scenario(tmp_path, SMALL_GENERATED)), "--out", str(out))
    assert result.exit_code == 0, result.output

    report = json.loads((out / "report.json").read_text())
    assert report["transactions"] > 10_000
    assert sum(report["decisions"].values()) == report["transactions"]
    assert set(report["decisions"]) == {"APPROVE", "STEP_UP", "DECLINE"}
    fraud = report["fraud"]
    assert fraud["caught"]["total"] + fraud["missed"] == fraud["frauds"]
    twin = report["metrics"]["twin"]
    assert set(twin) == {"auc_roc", "average_precision", "card_precision_at_100"}
    assert 0.5 < twin["auc_roc"] <= 1.0
    assert report["metrics"]["twin_equals_offline"] is True
    for stage in ("total", "features", "scoring", "policy"):
        assert report["latency_us"][stage]["p50"] <= report["latency_us"][stage]["p99"]
    assert report["throughput"]["decisions_per_second"] > 0
    assert report["decision_log"]["records"] == report["transactions"]

    with sqlite3.connect(out / "decisions.db") as connection:
        (rows,) = connection.execute("SELECT COUNT(*) FROM decisions").fetchone()
        (outcomes,) = connection.execute("SELECT COUNT(DISTINCT outcome) FROM decisions").fetchone()
    assert rows == report["transactions"]
    assert outcomes >= 2
    assert "Scenario small-generated" in result.output


def test_baseline_scenario_runs_on_a_fresh_install(tmp_path: Path):
    """The shipped baseline runs as a user would start it: the console script, no data file."""
    out = tmp_path / "baseline"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "twinbank.entrypoints.cli",
            "simulate",
            "scenarios/baseline.yaml",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["scenario"] == "baseline"
    assert report["metrics"]["twin"]["auc_roc"] > 0.7


def test_replay_of_committed_slice_uses_the_file(tmp_path: Path):
    document = {
        "name": "slice-replay",
        "transactions": {"kind": "file", "sequence_column": "ARRIVAL_SEQUENCE"},
        "model": {
            "training": {"training_start": "2018-04-10"},
            "hyperparameters": {"n_estimators": 20},
        },
    }
    out = tmp_path / "out"
    result = _simulate(
        str(_write_scenario(tmp_path, document)),
        "--transactions",
        str(FIXTURES / "handbook-customers-transactions.parquet"),
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["transactions"] == len(
        pd.read_parquet(FIXTURES / "handbook-customers-transactions.parquet")
    )
    assert report["source"].endswith("handbook-customers-transactions.parquet")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"model": {"training": {"training_start": "not-a-date"}}},
            "model.training.training_start",
        ),
        ({"batching": {"max_size": 0}}, "batching.max_size"),
        (
            {"policy": {"step_up_at": 0.9, "decline_at": 0.5}},
            "step_up_at (0.9) must not exceed decline_at (0.5)",
        ),
        ({"colour": "blue"}, "colour"),
        ({"transactions": {"kind": "kafka"}}, "transactions"),
    ],
)
def test_invalid_scenario_exits_2_and_writes_nothing(tmp_path: Path, change: dict, expected: str):
    document = {**SMALL_GENERATED, **change}
    out = tmp_path / "out"
    result = _simulate(str(_write_scenario(tmp_path, document)), "--out", str(out))
    assert result.exit_code == 2
    assert expected in result.output
    assert "scenario.yaml" in result.output
    assert not out.exists()


def _broken_copy(tmp_path: Path, mutate) -> Path:
    frame = pd.read_parquet(FIXTURES / "handbook-terminals-transactions.parquet")
    frame = mutate(frame)
    path = tmp_path / "broken.parquet"
    frame.to_parquet(path)
    return path


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda f: f.drop(columns=["TX_AMOUNT"]), "column 'TX_AMOUNT': missing"),
        (lambda f: f.assign(TX_AMOUNT=f["TX_AMOUNT"].astype(str)), "column 'TX_AMOUNT': has type"),
        (lambda f: f.assign(TX_FRAUD=f["TX_FRAUD"] * 3), "column 'TX_FRAUD'"),
        (lambda f: f.assign(TX_AMOUNT=-f["TX_AMOUNT"] - 1), "expected finite amounts >= 0"),
        (lambda f: f.assign(TRANSACTION_ID=0), "value 0 appears"),
    ],
)
def test_invalid_transaction_file_exits_2_and_writes_nothing(tmp_path: Path, mutate, expected: str):
    scenario = _write_scenario(
        tmp_path,
        {
            "name": "bad-file",
            "transactions": {"kind": "file"},
            "model": {"training": {"training_start": "2018-04-10"}},
        },
    )
    out = tmp_path / "out"
    result = _simulate(
        str(scenario), "--transactions", str(_broken_copy(tmp_path, mutate)), "--out", str(out)
    )
    assert result.exit_code == 2
    assert expected in result.output
    assert "broken.parquet" in result.output
    assert not out.exists()


def test_training_period_outside_data_exits_2(tmp_path: Path):
    document = {**SMALL_GENERATED, "model": {"training": {"training_start": "2030-01-01"}}}
    out = tmp_path / "out"
    result = _simulate(str(_write_scenario(tmp_path, document)), "--out", str(out))
    assert result.exit_code == 2
    assert "training_start" in result.output
    assert not out.exists()


def test_earlier_run_is_kept_without_overwrite(tmp_path: Path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text("{}")
    result = _simulate(str(_write_scenario(tmp_path, SMALL_GENERATED)), "--out", str(out))
    assert result.exit_code == 2
    assert "--overwrite" in result.output
    assert (out / "report.json").read_text() == "{}"
