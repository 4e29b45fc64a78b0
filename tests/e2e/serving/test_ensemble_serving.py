"""``twinbank serve`` with a stored ensemble: explanations in every decision."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml
from typer.testing import CliRunner

from tests.support.serving import (
    API_KEYS,
    DECIDE_KEY,
    READ_KEY,
    ServiceProcess,
    free_port,
    transaction_body,
)
from twinbank.adapters.generator import GeneratorSettings
from twinbank.adapters.generator.handbook_simulator import generate_transactions
from twinbank.entrypoints.cli import app


@pytest.fixture(scope="module")
def ensemble_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    folder = tmp_path_factory.mktemp("ensemble-service")
    transactions = folder / "transactions.parquet"
    settings = GeneratorSettings(
        seed=5, start_date="2018-04-01", days=50, customers=400, terminals=800
    )
    generate_transactions(settings).to_parquet(transactions)
    store = folder / "store"
    result = CliRunner().invoke(
        app,
        ["train", "--transactions", str(transactions), "--store", str(store),
         "--training-start", "2018-04-22"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (version,) = [path.name for path in (store / "fraud-ensemble").iterdir()]
    config = folder / "serve.yaml"
    document = {
        "port": free_port(),
        "ensemble": {"store": "store", "version": version},
        "journal": str(folder / "journal"),
        "api_keys": API_KEYS,
    }
    config.write_text(yaml.safe_dump(document), encoding="utf-8")
    service = ServiceProcess(config, "memory", {}, folder / "service.log")
    yield service
    service.terminate()


def test_decision_carries_explanation(ensemble_service: ServiceProcess):
    with ensemble_service.client(DECIDE_KEY) as client:
        response = client.post("/v1/decisions", json=transaction_body(1, amount=500.0))
    assert response.status_code == 200, response.text
    decision = response.json()
    assert decision["model_version"].startswith("ensemble:xgboost=xgb-")
    assert decision["outcome"] == "DECLINE"
    assert "AMOUNT_ABOVE_220" in decision["reasons"]
    explanation = decision["explanation"]
    assert explanation["reason_codes"] == ["AMOUNT_ABOVE_220"]
    assert explanation["explained_offline"] == ["network"]
    assert explanation["top_positive"]
    assert explanation["left_out"] == {}


def test_served_model_is_the_ensemble(ensemble_service: ServiceProcess):
    with ensemble_service.client(READ_KEY) as client:
        (model,) = client.get("/v1/models").json()
    assert model["kind"] == "ensemble"
    assert model["model_version"].startswith("fraud-ensemble-")
    assert model["input_names"][0] == "amount"
