"""The full handbook replay: 1.75 M transactions decided by the twin."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.handbook import handbook_data_dir

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.realdata
@pytest.mark.slow
def test_handbook_replay_meets_the_published_auc(tmp_path: Path):
    transactions = handbook_data_dir() / "transactions.parquet"
    out = tmp_path / "handbook"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "twinbank.entrypoints.cli",
            "simulate",
            "scenarios/handbook-replay.yaml",
            "--transactions",
            str(transactions),
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    report = json.loads((out / "report.json").read_text())

    assert report["transactions"] == 1_754_155
    assert sum(report["decisions"].values()) == 1_754_155
    assert report["decision_log"]["records"] == 1_754_155
    test_period = report["metrics"]["test_period"]
    assert test_period["first_day"] == "2018-08-08"
    assert test_period["transactions"] == 58_264
    assert test_period["frauds"] == 385
    assert report["model"]["training"]["transactions"] == 67_240
    assert report["model"]["training"]["frauds"] == 598
    assert report["metrics"]["twin_equals_offline"] is True
    twin = report["metrics"]["twin"]
    assert twin["auc_roc"] >= 0.85
    assert twin["average_precision"] > 0.55
    assert twin["card_precision_at_100"] > 0.2
    for stage in ("p50", "p95", "p99"):
        assert report["latency_us"]["total"][stage] > 0
