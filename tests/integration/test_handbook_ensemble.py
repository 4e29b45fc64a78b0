"""The ensemble on the real handbook data: every component and the ensemble's figures."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from twinbank.entrypoints.cli import app

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def test_ensemble_beats_each_component(tmp_path: Path):
    if not os.environ.get("TWINBANK_DATA_DIR"):
        pytest.skip("TWINBANK_DATA_DIR is not set; point it at the folder holding handbook/")
    result = CliRunner().invoke(app, ["train", "--store", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (folder,) = (tmp_path / "fraud-ensemble").iterdir()
    metrics = json.loads((folder / "metrics.json").read_text())
    ensemble = metrics["ensemble"]["average_precision"]
    for component in ("xgboost", "network", "rules"):
        assert ensemble > metrics[component]["average_precision"], component
    assert metrics["splits"]["test_transactions"] == 58_264
    assert metrics["calibration"]["expected_calibration_error"] < 0.005
