"""End-to-end runs of ``twinbank features registry`` and ``twinbank features materialize``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from typer.testing import CliRunner

from twinbank.adapters.offline import ParquetOfflineStore
from twinbank.adapters.registry import HANDBOOK_REGISTRY
from twinbank.core.features.handbook import handbook_feature_set
from twinbank.core.features.historical import FeatureHistoryTable
from twinbank.entrypoints.cli import app

ENV = {"COLUMNS": "300", "TWINBANK_PROFILE": "memory"}


def test_registry_lists_handbook_features() -> None:
    result = CliRunner().invoke(
        app, ["features", "registry", str(HANDBOOK_REGISTRY), "--register"], env=ENV
    )

    assert result.exit_code == 0, result.output
    assert f"version {handbook_feature_set().version}" in result.output
    assert "TERMINAL_ID_RISK_30DAY_WINDOW" in result.output
    assert "registered" in result.output


def test_registry_error_names_file_and_line(tmp_path: Path) -> None:
    document = yaml.safe_load(HANDBOOK_REGISTRY.read_text())
    document["features"][4]["ttl"] = "a week"
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))

    result = CliRunner().invoke(app, ["features", "registry", str(path)], env=ENV)

    assert result.exit_code == 2
    assert "broken.yaml" in result.output
    assert "features[4]" in result.output
    assert "'a week'" in result.output


def test_materialize_from_parquet_history(tmp_path: Path) -> None:
    history = tmp_path / "history"
    names = ("CUSTOMER_ID_NB_TX_1DAY_WINDOW",)
    ParquetOfflineStore(history).append(
        FeatureHistoryTable(
            "customer",
            np.array([1, 2], dtype=np.int64),
            np.array([10**18, 10**18], dtype=np.int64),
            np.array([10**18, 10**18], dtype=np.int64),
            names,
            np.array([[3.0], [4.0]]),
        )
    )
    env = ENV | {"TWINBANK_FEATURE_HISTORY_DIR": str(history)}

    result = CliRunner().invoke(
        app, ["features", "materialize", "--until", "2030-01-01T00:00:00+00:00"], env=env
    )

    assert result.exit_code == 0, result.output
    assert "customer: 2 keys written" in result.output


def test_materialize_rejects_naive_time() -> None:
    result = CliRunner().invoke(
        app, ["features", "materialize", "--until", "2030-01-01T00:00:00"], env=ENV
    )

    assert result.exit_code == 2
    assert "no time zone" in result.output


def test_materialize_rejects_missing_history(tmp_path: Path) -> None:
    env = ENV | {"TWINBANK_FEATURE_HISTORY_DIR": str(tmp_path / "absent")}

    result = CliRunner().invoke(
        app, ["features", "materialize", "--until", "2030-01-01T00:00:00+00:00"], env=env
    )

    assert result.exit_code == 2
    assert "does not exist" in result.output
    assert "TWINBANK_FEATURE_HISTORY_DIR" in result.output
