"""End-to-end runs of ``twinbank fairness report``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.support.credit import credit_data_dir, write_study_file, write_synthetic_credit
from twinbank.core.fairness import FairnessReport
from twinbank.core.governance import PerformanceEvidence
from twinbank.entrypoints.cli import app

ENV = {"COLUMNS": "300"}


def test_report_on_synthetic_data(tmp_path: Path):
    write_synthetic_credit(tmp_path)
    study = write_study_file(tmp_path)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        ["fairness", "report", str(study), "--data-dir", str(tmp_path), "--out", str(out)],
        env=ENV,
    )
    assert result.exit_code == 0, result.output
    assert "age_band (reference" in result.output
    assert "adverse impact" in result.output
    assert "Fairness gate: failed" in result.output
    report = FairnessReport.model_validate_json((out / "synthetic-fairness.json").read_text())
    assert not report.passed
    performance = PerformanceEvidence.model_validate_json(
        (out / "synthetic-performance.json").read_text()
    )
    assert performance.metrics["auc_roc"].method == "DeLong"
    markdown = (out / "fairness-report.md").read_text()
    assert "### age_band" in markdown
    assert "**Failed**" in markdown


def test_missing_data_folder_is_bad_input(tmp_path: Path):
    result = CliRunner().invoke(
        app,
        ["fairness", "report", "--out", str(tmp_path / "out")],
        env={**ENV, "TWINBANK_DATA_DIR": ""},
    )
    assert result.exit_code == 2
    assert "TWINBANK_DATA_DIR" in result.output


def test_invalid_study_file_is_bad_input(tmp_path: Path):
    study = tmp_path / "study.yaml"
    study.write_text("name: x\nstudies: []\n")
    result = CliRunner().invoke(
        app, ["fairness", "report", str(study), "--data-dir", str(tmp_path)], env=ENV
    )
    assert result.exit_code == 2
    assert "field studies" in result.output


@pytest.mark.realdata
def test_report_on_the_credit_data(tmp_path: Path):
    data_dir = credit_data_dir()
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["fairness", "report", "--data-dir", str(data_dir), "--out", str(out)], env=ENV
    )
    assert result.exit_code == 0, result.output
    assert sorted(path.name for path in out.iterdir()) == [
        "fairness-report.md",
        "german-fairness.json",
        "german-performance.json",
        "taiwan-fairness.json",
        "taiwan-performance.json",
    ]
    taiwan = json.loads((out / "taiwan-fairness.json").read_text())
    assert taiwan["model"] == "credit-approval-taiwan@1"
    assert [a["attribute"] for a in taiwan["attributes"]] == ["sex", "age_band"]
    assert "taiwan: credit-approval-taiwan@1" in result.output
    assert "german: credit-approval-german@1" in result.output
