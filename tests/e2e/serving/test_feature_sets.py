"""A deployment computes one named feature set (TWINBANK_FEATURE_SET) in every process."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import yaml
from typer.testing import CliRunner

from tests.support.servers import REDIS_URL, delete_prefix, unique_name
from tests.support.serving import (
    API_KEYS,
    DECIDE_KEY,
    KEY_ENVIRONMENT,
    READ_KEY,
    SMALL_SCENARIO,
    ServiceProcess,
    train_small_model,
    transaction_body,
    write_config,
)
from twinbank.core.features.catalog import feature_set_named
from twinbank.entrypoints.cli import app

PROFILE = feature_set_named("handbook-profile")
CUSTOMER_FEATURES = [name for name in PROFILE.names if name.startswith("CUSTOMER_ID_")]


def _invoke(*arguments: str, environment: dict[str, str] | None = None):
    return CliRunner().invoke(app, list(arguments), env={"COLUMNS": "400", **(environment or {})})


@pytest.fixture(scope="module")
def profile_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    folder = tmp_path_factory.mktemp("profile-service")
    model = train_small_model(folder / "model", feature_set="handbook-profile")
    service = ServiceProcess(
        write_config(folder, model),
        "memory",
        {"TWINBANK_FEATURE_SET": "handbook-profile"},
        folder / "service.log",
    )
    yield service
    service.terminate()


def test_profile_service_serves_fifteen_features(profile_service: ServiceProcess):
    # Minutes 0, 30 and 200 after 10:00 on the same day: the last one leaves the
    # 1-hour window of the first two but stays in their 6-hour window.
    amounts = {0: 10.0, 30: 30.0, 200: 50.0}
    with profile_service.client(DECIDE_KEY) as client:
        for minute, amount in amounts.items():
            body = transaction_body(minute, customer_id=4242, amount=amount)
            assert client.post("/v1/decisions", json=body).status_code == 200
    request = {"entity": "customer", "keys": [4242], "features": CUSTOMER_FEATURES}
    deadline = time.monotonic() + 10
    with profile_service.client(READ_KEY) as client:
        while True:
            features = client.post("/v1/features/online", json=request).json()["rows"][0]
            values = {name: served["value"] for name, served in features["features"].items()}
            if values["CUSTOMER_ID_NB_TX_30DAY_WINDOW"] == 3:
                break
            assert time.monotonic() < deadline, values
            time.sleep(0.05)

    assert len(values) == 15
    assert {served["status"] for served in features["features"].values()} == {"present"}
    assert values["CUSTOMER_ID_NB_TX_1HOUR_WINDOW"] == 1
    assert values["CUSTOMER_ID_SUM_AMOUNT_1HOUR_WINDOW"] == 50.0
    assert values["CUSTOMER_ID_NB_TX_6HOUR_WINDOW"] == 3
    assert values["CUSTOMER_ID_SUM_AMOUNT_6HOUR_WINDOW"] == 90.0
    assert math.isclose(values["CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW"], 30.0)


def test_profile_decisions_name_profile_version(profile_service: ServiceProcess):
    with profile_service.client(DECIDE_KEY) as client:
        response = client.post("/v1/decisions", json=transaction_body(400, customer_id=5))

    assert response.status_code == 200, response.text
    assert response.json()["feature_set_version"] == PROFILE.version


def test_serve_rejects_other_set_model(tmp_path: Path, model_artifact: Path):
    config = write_config(tmp_path, model_artifact, api_keys=API_KEYS)

    result = _invoke(
        "serve",
        str(config),
        environment={
            **KEY_ENVIRONMENT,
            "TWINBANK_FEATURE_SET": "handbook-profile",
            "TWINBANK_GOVERNANCE_SQLITE_PATH": str(tmp_path / "governance.db"),
        },
    )

    assert result.exit_code == 2, result.output
    assert "this service computes handbook-profile" in result.output
    assert "set TWINBANK_FEATURE_SET to the model's feature set" in result.output


def test_unknown_feature_set_exits_2():
    result = _invoke("worker", "--profile", "local", environment={"TWINBANK_FEATURE_SET": "v2"})

    assert result.exit_code == 2, result.output
    assert "feature_set" in result.output
    assert "'handbook-profile'" in result.output


@pytest.mark.parametrize(
    ("named", "variable"),
    [("handbook-profile", "handbook"), (None, "handbook-profile")],
    ids=["the scenario names the set", "the variable names the set"],
)
def test_train_model_picks_feature_set(tmp_path: Path, named: str | None, variable: str):
    scenario = {**SMALL_SCENARIO, "feature_set": named}
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario), encoding="utf-8")

    result = _invoke(
        "train-model",
        str(path),
        "--out",
        str(tmp_path / "model"),
        environment={"TWINBANK_FEATURE_SET": variable},
    )

    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "model" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["feature_set_version"] == PROFILE.version


@pytest.mark.redis
def test_worker_rejects_other_set_prefix():
    client = redis.Redis.from_url(REDIS_URL)
    prefix = unique_name("feature-set-worker")
    try:
        client.set(f"{prefix}:feature-set", "handbook 000000000000")
        result = _invoke(
            "worker",
            "--profile",
            "local",
            environment={
                "TWINBANK_FEATURE_SET": "handbook-profile",
                "TWINBANK_FEATURE_PREFIX": prefix,
                "TWINBANK_REDIS_URL": REDIS_URL,
            },
        )
    finally:
        delete_prefix(client, prefix)
        client.close()

    assert result.exit_code == 2, result.output
    assert "contains window state of feature set 'handbook 000000000000'" in result.output
