"""``twinbank serve`` as a real process on 127.0.0.1, driven over HTTP (memory profile)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.support.serving import (
    DECIDE_KEY,
    OPERATOR_KEY,
    READ_KEY,
    VALIDATOR_KEY,
    ServiceProcess,
    transaction_body,
)


def _decide(service: ServiceProcess, body: dict[str, Any]) -> httpx.Response:
    with service.client(DECIDE_KEY) as client:
        return client.post("/v1/decisions", json=body)


def test_decision_has_every_field(memory_service: ServiceProcess):
    response = _decide(memory_service, transaction_body(1))

    assert response.status_code == 200, response.text
    decision = response.json()
    assert decision["transaction_id"] == 1
    assert decision["outcome"] in {"APPROVE", "STEP_UP", "DECLINE"}
    assert 0.0 <= decision["score"] <= 1.0
    assert decision["reasons"]
    assert decision["degraded"] == []
    assert decision["model_version"].startswith("xgb-")
    assert decision["policy_version"] == "thresholds-v1"
    assert decision["features"]["CUSTOMER_ID_NB_TX_1DAY_WINDOW"] == 1.0
    assert decision["features"]["CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW"] == 42.5
    assert set(decision["latency_ms"]) == {
        "feature_lookup",
        "features",
        "scoring",
        "policy",
        "journal",
        "total",
    }
    assert decision["explanation"] is None


def test_retry_gets_the_same_decision(memory_service: ServiceProcess):
    first = _decide(memory_service, transaction_body(2)).json()
    second = _decide(memory_service, transaction_body(2)).json()

    assert second["decision_id"] == first["decision_id"]
    assert second["score"] == first["score"]


def test_reused_id_with_other_content_conflicts(memory_service: ServiceProcess):
    assert _decide(memory_service, transaction_body(3)).status_code == 200

    response = _decide(memory_service, transaction_body(3, amount=99.0))

    assert response.status_code == 409
    assert "already decided" in response.json()["detail"]


def test_decisions_feed_the_embedded_worker(memory_service: ServiceProcess):
    """The second transaction of a customer sees the first one in its windows."""
    _decide(memory_service, transaction_body(10, customer_id=501, amount=10.0))
    deadline = time.monotonic() + 10
    with memory_service.client(READ_KEY) as client:
        while True:
            row = client.post(
                "/v1/features/online",
                json={
                    "entity": "customer",
                    "keys": [501],
                    "features": ["CUSTOMER_ID_NB_TX_1DAY_WINDOW"],
                },
            ).json()["rows"][0]
            if row["features"]["CUSTOMER_ID_NB_TX_1DAY_WINDOW"]["status"] == "present":
                break
            assert time.monotonic() < deadline, row
            time.sleep(0.05)
    later = transaction_body(11, customer_id=501, amount=30.0)

    decision = _decide(memory_service, later).json()

    assert decision["features"]["CUSTOMER_ID_NB_TX_1DAY_WINDOW"] == 2.0
    assert decision["features"]["CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW"] == 20.0


@pytest.mark.parametrize(
    ("key", "status"),
    [(None, 401), ("not-a-key", 401), (READ_KEY, 403), (VALIDATOR_KEY, 403)],
)
def test_decisions_need_a_decide_key(memory_service: ServiceProcess, key: str | None, status: int):
    with memory_service.client(key) as client:
        response = client.post("/v1/decisions", json=transaction_body(20))

    assert response.status_code == status
    assert "key" in response.json()["detail"]


def test_read_routes_refuse_the_decide_key(memory_service: ServiceProcess):
    with memory_service.client(DECIDE_KEY) as client:
        assert client.get("/v1/models").status_code == 403
        assert client.get("/v1/governance/models").status_code == 403


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": "12.5"}, "amount"),
        ({"amount": -1.0}, "amount"),
        ({"amount": 2e9}, "amount"),
        ({"transaction_id": 1.5}, "transaction_id"),
        ({"transaction_id": True}, "transaction_id"),
        ({"transaction_id": 2**63}, "transaction_id"),
        ({"customer_id": -3}, "customer_id"),
        ({"timestamp": "2018-05-02T10:30:00"}, "timestamp"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"timestamp": "1960-01-01T00:00:00Z"}, "timestamp"),
        ({"merchant": "x"}, "merchant"),
    ],
)
def test_invalid_transaction_is_422_naming_the_field(
    memory_service: ServiceProcess, change: dict[str, Any], field: str
):
    response = _decide(memory_service, transaction_body(30) | change)

    assert response.status_code == 422, response.text
    problems = response.json()["detail"]
    assert any(problem["loc"][-1] == field for problem in problems), problems
    assert all(problem["msg"] for problem in problems)


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"[]", b"null", b'{"transaction_id": 1}', b"\xff\xfe"],
)
def test_malformed_body_is_422(memory_service: ServiceProcess, content: bytes):
    with memory_service.client(DECIDE_KEY) as client:
        response = client.post(
            "/v1/decisions", content=content, headers={"content-type": "application/json"}
        )

    assert response.status_code == 422


def test_online_features_report_statuses(memory_service: ServiceProcess):
    _decide(memory_service, transaction_body(40, customer_id=777))
    deadline = time.monotonic() + 10
    body = {
        "entity": "customer",
        "keys": [777, 123456],
        "features": ["CUSTOMER_ID_NB_TX_1DAY_WINDOW", "CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW"],
    }
    with memory_service.client(READ_KEY) as client:
        while True:
            rows = client.post("/v1/features/online", json=body).json()["rows"]
            if rows[0]["features"]["CUSTOMER_ID_NB_TX_1DAY_WINDOW"]["status"] == "present":
                break
            assert time.monotonic() < deadline
            time.sleep(0.05)

    known, unknown = rows
    assert known["key"] == 777
    assert known["features"]["CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW"]["value"] == 42.5
    assert known["features"]["CUSTOMER_ID_NB_TX_1DAY_WINDOW"]["event_time"].startswith(
        "2018-05-02T10:40:00"
    )
    assert unknown["features"]["CUSTOMER_ID_NB_TX_1DAY_WINDOW"] == {
        "value": None,
        "status": "not_found",
        "event_time": None,
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"entity": "merchant", "keys": [1], "features": ["X"]}, "entity"),
        (
            {"entity": "customer", "keys": [1], "features": ["TERMINAL_ID_RISK_1DAY_WINDOW"]},
            "features",
        ),
        ({"entity": "customer", "keys": [], "features": ["X"]}, "keys"),
        ({"entity": "customer", "keys": [1], "features": ["A", "A"]}, "features"),
    ],
)
def test_online_feature_request_errors_are_422(
    memory_service: ServiceProcess, body: dict[str, Any], field: str
):
    with memory_service.client(READ_KEY) as client:
        response = client.post("/v1/features/online", json=body)

    assert response.status_code == 422
    assert any(field in problem["loc"] for problem in response.json()["detail"])


def test_served_model_is_listed(memory_service: ServiceProcess):
    with memory_service.client(READ_KEY) as client:
        (model,) = client.get("/v1/models").json()

    assert model["kind"] == "xgboost"
    assert model["input_names"][0] == "amount"
    assert model["policy"] == {"version": "thresholds-v1", "step_up_at": 0.3, "decline_at": 0.7}


def test_governance_actions_follow_roles_and_stages(memory_service: ServiceProcess):
    with memory_service.client(READ_KEY) as reader:
        (model,) = reader.get("/v1/governance/models").json()
        assert model["stage"] == "production"
        assert reader.get("/v1/governance/models/unknown-model").status_code == 404
    model_id = model["model_id"]
    path = f"/v1/governance/models/{model_id}/actions"

    with memory_service.client(READ_KEY) as reader:
        assert reader.post(path, json={"action": "start_monitoring"}).status_code == 403
    with memory_service.client(VALIDATOR_KEY) as validator:
        rejected = validator.post(path, json={"action": "start_monitoring"})
        assert rejected.status_code == 409
        assert "role 'validator'" in rejected.json()["detail"]
        invalid = validator.post(path, json={"action": "launch"})
        assert invalid.status_code == 422
    with memory_service.client(OPERATOR_KEY) as operator:
        moved = operator.post(path, json={"action": "start_monitoring", "note": "live"})
        assert moved.status_code == 200, moved.text
        assert moved.json()["stage"] == "monitoring"
        history = operator.get(f"/v1/governance/models/{model_id}/history").json()

    assert [(event["action"], event["user"], event["to_stage"]) for event in history] == [
        ("start_monitoring", "otto", "monitoring")
    ]


def test_health_and_readiness(memory_service: ServiceProcess):
    with memory_service.client(None) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")

    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert set(ready.json()["checks"]) >= {
        "model",
        "feature_state",
        "online_store",
        "journal",
        "forward_audit",
        "forward_events",
    }


def test_metrics_count_routes_and_stages(memory_service: ServiceProcess):
    _decide(memory_service, transaction_body(50))
    with memory_service.client(None) as client:
        response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'twinbank_http_requests_total{method="POST",route="/v1/decisions",status="200"}' in text
    for stage in ("feature_lookup", "features", "scoring", "policy", "journal"):
        assert f'twinbank_decision_stage_duration_seconds_count{{stage="{stage}"}}' in text
    assert "twinbank_decisions_total{outcome=" in text
    assert 'twinbank_journal_backlog_records{forwarder="audit"}' in text


def test_openapi_documents_every_route(memory_service: ServiceProcess):
    with memory_service.client(None) as client:
        document = client.get("/openapi.json").json()

    assert set(document["paths"]) == {
        "/v1/decisions",
        "/v1/features/online",
        "/v1/models",
        "/v1/governance/models",
        "/v1/governance/models/{model_id}",
        "/v1/governance/models/{model_id}/history",
        "/v1/governance/models/{model_id}/actions",
        "/healthz",
        "/readyz",
        "/metrics",
    }
    decisions = document["paths"]["/v1/decisions"]["post"]
    assert set(decisions["responses"]) >= {"200", "401", "403", "409", "422", "503"}
    assert decisions["security"] == [{"APIKeyHeader": []}]
    schema = document["components"]["schemas"]["TransactionRequest"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["amount"]["maximum"] == 1e9


def test_keys_never_reach_the_log(memory_service: ServiceProcess):
    with memory_service.client("a-wrong-secret-value") as client:
        client.post("/v1/decisions", json=transaction_body(60))
    output = memory_service.output()

    for secret in (DECIDE_KEY, READ_KEY, VALIDATOR_KEY, OPERATOR_KEY, "a-wrong-secret-value"):
        assert secret not in output
