"""``twinbank train`` and a replay scenario that loads the stored ensemble by version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from twinbank.adapters.generator import GeneratorSettings
from twinbank.adapters.generator.handbook_simulator import generate_transactions
from twinbank.entrypoints.cli import app

RULES = Path(__file__).resolve().parents[2] / "scenarios" / "rules" / "handbook-patterns.yaml"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    folder = tmp_path_factory.mktemp("train")
    settings = GeneratorSettings(
        seed=5, start_date="2018-04-01", days=50, customers=400, terminals=800
    )
    transactions = folder / "transactions.parquet"
    generate_transactions(settings).to_parquet(transactions)
    store = folder / "store"
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--transactions", str(transactions),
            "--store", str(store),
            "--training-start", "2018-04-22",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (version,) = [p.name for p in (store / "fraud-ensemble").iterdir()]
    return transactions, store, version


def scenario(folder: Path, store: Path, version: str, inputs: list[str] | None = None) -> Path:
    document: dict = {
        "name": "ensemble-replay",
        "transactions": {"kind": "file", "path": None},
        "model": {
            "kind": "ensemble",
            "artifact": {"store": str(store), "version": version},
            "training": {"training_start": "2018-04-22"},
        },
        "batching": {"max_size": 256, "max_wait_seconds": 600},
    }
    if inputs is not None:
        document["model"]["inputs"] = inputs
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def stored_inputs(store: Path, version: str) -> list[str]:
    description = json.loads((store / "fraud-ensemble" / version / "ensemble.json").read_text())
    return description["input_names"]


def test_train_writes_artifact_with_lineage(trained):
    _, store, version = trained
    manifest = json.loads((store / "fraud-ensemble" / version / "manifest.json").read_text())
    lineage = manifest["lineage"]
    assert manifest["version"] == version
    assert lineage["periods"]["training"] == ["2018-04-22", "2018-04-28"]
    assert lineage["rules"]["version"] == "handbook-patterns-1"
    assert len(lineage["data"]["sha256"]) == 64
    assert set(lineage["components"]) == {"xgboost", "network", "rules"}
    metrics = json.loads((store / "fraud-ensemble" / version / "metrics.json").read_text())
    assert set(metrics) >= {"xgboost", "network", "rules", "ensemble", "calibration"}


def test_scenario_replays_stored_ensemble(trained, tmp_path: Path):
    transactions, store, version = trained
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        ["simulate", str(scenario(tmp_path, store, version)),
         "--transactions", str(transactions), "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["model"]["kind"] == "ensemble"
    assert sum(report["decisions"].values()) == report["transactions"]


def test_scenario_with_artifact_inputs_replays(trained, tmp_path: Path):
    transactions, store, version = trained
    inputs = stored_inputs(store, version)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        ["simulate", str(scenario(tmp_path, store, version, inputs)),
         "--transactions", str(transactions), "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["model"]["inputs"] == inputs
    assert any("/" in name for name in inputs)  # the default ensemble reads ratios


def test_scenario_with_other_inputs_is_rejected(trained, tmp_path: Path):
    transactions, store, version = trained
    inputs = [name for name in stored_inputs(store, version) if "/" not in name]
    result = CliRunner().invoke(
        app,
        ["simulate", str(scenario(tmp_path, store, version, inputs)),
         "--transactions", str(transactions), "--out", str(tmp_path / "out")],
    )  # fmt: skip
    output = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert f"artifact fraud-ensemble {version} reads" in output
    assert "make them equal or leave them out" in output


def test_scenario_rejects_damaged_artifact(trained, tmp_path: Path):
    transactions, source, version = trained
    store = tmp_path / "store"
    folder = store / "fraud-ensemble" / version
    folder.mkdir(parents=True)
    for file in (source / "fraud-ensemble" / version).iterdir():
        (folder / file.name).write_bytes(file.read_bytes())
    rules = folder / "rules.yaml"
    rules.write_text(rules.read_text().replace("floor: 0.75", "floor: 0.05"))
    result = CliRunner().invoke(
        app,
        ["simulate", str(scenario(tmp_path, store, version)),
         "--transactions", str(transactions), "--out", str(tmp_path / "out")],
    )  # fmt: skip
    output = " ".join(result.output.split())
    assert result.exit_code == 2
    assert "rules.yaml has SHA-256" in output
    assert "replaced or damaged" in output


def test_train_rejects_unknown_rule_field(tmp_path: Path, trained):
    transactions, _, _ = trained
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.read_text().replace("owner: fraud-strategy", "owners: x", 1))
    result = CliRunner().invoke(
        app, ["train", "--transactions", str(transactions), "--rules", str(rules),
              "--store", str(tmp_path / "store")],
    )  # fmt: skip
    output = " ".join(result.output.split())
    assert result.exit_code == 2
    assert "field rules.0.owners: Extra inputs are not permitted" in output
