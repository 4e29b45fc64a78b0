"""``twinbank serve`` as a real process on 127.0.0.1, driven over HTTP (memory profile)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.governance import (
    ALICE,
    BOB,
    documentation,
    fairness,
    performance,
    registration,
)
from tests.support.governance_backends import governance_container
from tests.support.serving import (
    BUILDER_AS_VALIDATOR_KEY,
    COMMITTEE_KEY,
    DECIDE_KEY,
    DEVELOPER_KEY,
    KEY_ENVIRONMENT,
    READ_KEY,
    RISK_MANAGER_KEY,
    VALIDATOR_KEY,
    ServiceProcess,
    transaction_body,
    write_config,
)
from twinbank.core.audit import verify_trail
from twinbank.core.governance import ModelStatus


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
    assert second == first  # the whole body, explanation and stage timings included


def test_reused_id_with_other_content_conflicts(memory_service: ServiceProcess):
    assert _decide(memory_service, transaction_body(3)).status_code == 200

    response = _decide(memory_service, transaction_body(3, amount=99.0))

    assert response.status_code == 409
    assert "already decided" in response.json()["detail"]


def test_both_request_paths_respond_alike(memory_service: ServiceProcess):
    # HotRoutes serves the plain JSON content type. With a charset parameter, the
    # request goes to the FastAPI route. The second decision is a retry of the first.
    body = json.dumps(transaction_body(4, customer_id=404, terminal_id=404)).encode()
    plain = {"Content-Type": "application/json"}
    with_charset = {"Content-Type": "application/json; charset=utf-8"}
    with memory_service.client(DECIDE_KEY) as client:
        direct = client.post("/v1/decisions", content=body, headers=plain)
        routed = client.post("/v1/decisions", content=body, headers=with_charset)

    assert direct.status_code == 200, direct.text
    assert routed.status_code == 200, routed.text
    assert routed.json() == direct.json()
    assert routed.headers["content-type"] == direct.headers["content-type"]


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
        ({"timestamp": 1525255800}, "timestamp"),
        ({"merchant": "x"}, "merchant"),
        ({"customer_id": 2**70}, "customer_id"),
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


@pytest.mark.parametrize("amount", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_amount_is_422(memory_service: ServiceProcess, amount: str):
    body = json.dumps(transaction_body(31, amount=123456.25)).replace("123456.25", amount)
    with memory_service.client(DECIDE_KEY) as client:
        response = client.post(
            "/v1/decisions", content=body, headers={"content-type": "application/json"}
        )

    assert response.status_code == 422, response.text
    problems = response.json()["detail"]
    assert any(problem["loc"][-1] == "amount" for problem in problems), problems


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


@pytest.mark.parametrize("field", ["owner", "name"])
def test_empty_inventory_filter_is_422(memory_service: ServiceProcess, field: str):
    with memory_service.client(READ_KEY) as client:
        response = client.get(f"/v1/governance/models?{field}=")

    assert response.status_code == 422
    assert any(field in problem["loc"] for problem in response.json()["detail"])


def test_unknown_inventory_filter_is_422(memory_service: ServiceProcess):
    with memory_service.client(READ_KEY) as client:
        response = client.get("/v1/governance/models?colour=red")

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "colour"]


def test_repeated_inventory_filter_is_422(memory_service: ServiceProcess):
    with memory_service.client(READ_KEY) as client:
        response = client.get("/v1/governance/models?owner=ann&owner=bob")

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "owner"]


def test_served_model_is_listed(memory_service: ServiceProcess):
    with memory_service.client(READ_KEY) as client:
        (model,) = client.get("/v1/models").json()

    assert model["kind"] == "xgboost"
    assert model["input_names"][0] == "amount"
    assert model["policy"] == {"version": "thresholds-v1", "step_up_at": 0.3, "decline_at": 0.7}


def _registration(model_id: str) -> dict[str, Any]:
    name, version = model_id.split("@")
    return registration(name, version, tier=1).model_dump(mode="json")


def _gate(client: httpx.Client, model_id: str, gate: str, evidence: Any) -> httpx.Response:
    body = {"evidence": evidence.model_dump(mode="json"), "note": f"{gate} reviewed"}
    return client.post(f"/v1/governance/models/{model_id}/gates/{gate}", json=body)


def _action(client: httpx.Client, model_id: str, action: str, note: str = "") -> httpx.Response:
    body = {"action": action, "note": note}
    return client.post(f"/v1/governance/models/{model_id}/actions", json=body)


def _refused(response: httpx.Response, status: int, refusal: str, text: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["refusal"] == refusal
    assert text in response.json()["detail"]


def _governance_check(service: ServiceProcess) -> dict[str, Any]:
    with service.client(None) as client:
        readiness = client.get("/readyz").json()
    assert readiness["status"] == "ready", readiness
    return readiness["checks"]["governance"]  # type: ignore[no-any-return]


def _take_to_production(service: ServiceProcess, model_id: str) -> None:
    """Walk a tier-1 model to production with a key per role, trying refusals on the way."""
    developer = service.client(DEVELOPER_KEY)
    validator = service.client(VALIDATOR_KEY)
    builder_as_validator = service.client(BUILDER_AS_VALIDATOR_KEY)
    risk_manager = service.client(RISK_MANAGER_KEY)
    committee = service.client(COMMITTEE_KEY)
    with developer, validator, builder_as_validator, risk_manager, committee:
        wrong_role = validator.post("/v1/governance/models", json=_registration(model_id))
        _refused(wrong_role, 403, "RoleMayNotAct", "the role validator may not do this")
        registered = developer.post("/v1/governance/models", json=_registration(model_id))
        assert registered.status_code == 201, registered.text
        assert registered.json()["record"]["status"] == "development"
        assert registered.json()["record"]["builders"] == ["dan"]
        again = developer.post("/v1/governance/models", json=_registration(model_id))
        _refused(again, 409, "ModelAlreadyRegistered", "already registered")

        assert _action(developer, model_id, "submit", "ready").json()["record"]["status"] == (
            "validation"
        )
        early = _action(validator, model_id, "promote")
        _refused(early, 409, "GatesNotPassed", "documentation_complete")
        own = _gate(builder_as_validator, model_id, "documentation", documentation())
        _refused(own, 403, "BuilderCannotReview", "'dan' built")
        mismatch = _gate(validator, model_id, "documentation", performance(model_id))
        assert mismatch.status_code == 422
        assert mismatch.json()["detail"][0]["loc"] == ["body", "evidence"]
        for gate, evidence in (
            ("documentation", documentation()),
            ("performance", performance(model_id)),
            ("fairness", fairness(model_id)),
        ):
            recorded = _gate(validator, model_id, gate, evidence)
            assert recorded.status_code == 200, recorded.text
        results = recorded.json()["record"]["gate_results"]
        assert {name: result["passed"] for name, result in results.items()} == {
            "documentation_complete": True,
            "performance_thresholds_met": True,
            "fairness_validation_passed": True,
        }
        assert _action(validator, model_id, "sign", "validated").status_code == 200
        assert _action(validator, model_id, "promote").json()["record"]["status"] == "approval"
        blocked = _action(risk_manager, model_id, "promote")
        _refused(blocked, 409, "GatesNotPassed", "model_risk_management_sign_off")
        assert _action(risk_manager, model_id, "sign").status_code == 200
        assert _action(committee, model_id, "sign", "approved in committee").status_code == 200
        promoted = _action(risk_manager, model_id, "promote")
        assert promoted.status_code == 200, promoted.text
        assert promoted.json()["blocking_gates"] == []


def test_governance_lifecycle_over_http(memory_service: ServiceProcess):
    with memory_service.client(READ_KEY) as reader:
        (served,) = reader.get("/v1/models").json()
        model_id = served["inventory_id"]
        assert model_id == f"card-fraud-xgboost@{served['model_version']}"
        missing = reader.get(f"/v1/governance/models/{model_id}")
        assert missing.status_code == 404
        assert "register it first" in missing.json()["detail"]
        assert reader.post("/v1/governance/models", json=_registration(model_id)).status_code == 403
    before = _governance_check(memory_service)
    assert "not in the governance inventory (governance_gate report)" in before["detail"]

    _take_to_production(memory_service, model_id)

    with memory_service.client(READ_KEY) as reader:
        status = reader.get(f"/v1/governance/models/{model_id}").json()
        history = reader.get(f"/v1/governance/models/{model_id}/history").json()
        in_production = reader.get(
            "/v1/governance/models", params={"status": "production", "risk_tier": 1}
        )
        other_name = reader.get("/v1/governance/models", params={"name": "no-such-model"})
    assert status["record"]["status"] == "production"
    assert set(status["required_roles"]) == {"validator", "model_risk_manager", "risk_committee"}
    assert [(change["to_status"], change["actor"], change["role"]) for change in history] == [
        ("development", "dan", "developer"),
        ("validation", "dan", "developer"),
        ("approval", "vera", "validator"),
        ("production", "mona", "model_risk_manager"),
    ]
    assert [model["model_id"] for model in in_production.json()] == [model_id]
    assert other_name.json() == []
    after = _governance_check(memory_service)
    assert after["ok"] is True
    assert f"{model_id} is in production" in after["detail"]

    trail = governance_container("sqlite", f"sqlite:///{memory_service.governance_db}")
    records = list(trail.audit.trail().records())
    assert [(record.kind, json.loads(record.body_json)["actor"]) for record in records] == [
        ("governance.model_registered", "dan"),
        ("governance.model_submitted", "dan"),
        ("governance.gate_result_recorded", "vera"),
        ("governance.gate_result_recorded", "vera"),
        ("governance.gate_result_recorded", "vera"),
        ("governance.signed_off", "vera"),
        ("governance.model_promoted", "vera"),
        ("governance.signed_off", "mona"),
        ("governance.signed_off", "rick"),
        ("governance.model_promoted", "mona"),
    ]
    assert verify_trail(trail.audit.trail()).ok
    output = memory_service.output()
    assert "governance promote on " + model_id in output
    assert "(key risk-manager): now production" in output
    assert "(key dan-validating) rejected" in output


def test_governance_refusals_and_invalid_input(memory_service: ServiceProcess):
    path = "/v1/governance/models/no-such-model@1/actions"
    with memory_service.client(VALIDATOR_KEY) as validator:
        unknown = validator.post(path, json={"action": "sign"})
        _refused(unknown, 404, "ModelNotFound", "'no-such-model@1' is not in the inventory")
        no_reason = validator.post(path, json={"action": "reject"})
        assert no_reason.status_code == 422
        assert no_reason.json()["detail"][0]["loc"] == ["body", "note"]
        assert "give a reason" in no_reason.json()["detail"][0]["msg"]
        assert validator.post(path, json={"action": "launch"}).status_code == 422
        noted = validator.post(path, json={"action": "promote", "note": "x"})
        assert noted.status_code == 422
        assert "promote stores no note" in noted.text
        coerced = validator.post(
            "/v1/governance/models",
            json={**_registration("card-fraud@2"), "decisions_per_year": "1000"},
        )
        assert coerced.status_code == 422
        assert "decisions_per_year" in coerced.text
    with memory_service.client(READ_KEY) as reader:
        assert reader.post(path, json={"action": "sign"}).status_code == 403
        bad_filter = reader.get("/v1/governance/models", params={"risk_tier": 7})
        assert bad_filter.status_code == 422
        unknown_filter = reader.get("/v1/governance/models", params={"colour": "red"})
        assert unknown_filter.status_code == 422


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
        "/v1/governance/models/{model_id}/gates/{gate}",
        "/healthz",
        "/readyz",
        "/metrics",
    }
    decisions = document["paths"]["/v1/decisions"]["post"]
    assert set(decisions["responses"]) >= {"200", "401", "403", "409", "422", "503"}
    assert decisions["security"] == [{"APIKeyHeader": []}]
    gates = document["paths"]["/v1/governance/models/{model_id}/gates/{gate}"]["post"]
    assert set(gates["responses"]) >= {"200", "401", "403", "404", "409", "422", "503"}
    registration_schema = document["components"]["schemas"]["RegistrationRequest"]
    assert registration_schema["additionalProperties"] is False
    assert "lineage" in registration_schema["required"]
    schema = document["components"]["schemas"]["TransactionRequest"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["amount"]["maximum"] == 1e9


def test_keys_never_reach_the_log(memory_service: ServiceProcess):
    with memory_service.client("a-wrong-secret-value") as client:
        client.post("/v1/decisions", json=transaction_body(60))
    output = memory_service.output()

    for secret in (*KEY_ENVIRONMENT.values(), "a-wrong-secret-value"):
        assert secret not in output


def _approve(database: Path, model_id: str) -> None:
    """Take a tier-3 model to production through the governance service, as the CLI does."""
    container = governance_container("sqlite", f"sqlite:///{database}")
    service = container.governance.service()
    name, version = model_id.split("@")
    service.register(ALICE, registration(name, version, tier=3))
    service.submit(ALICE, model_id)
    service.record_gate_result(BOB, model_id, documentation())
    service.record_gate_result(BOB, model_id, performance(model_id))
    service.sign(BOB, model_id)
    service.promote(BOB, model_id)
    assert service.promote(BOB, model_id).status is ModelStatus.PRODUCTION


def test_enforced_governance_gate_reports_retirement(model_artifact: Path, tmp_path: Path):
    version = json.loads((model_artifact / "manifest.json").read_text())["version"]
    model_id = f"card-fraud-xgboost@{version}"
    _approve(tmp_path / "governance.db", model_id)
    config = write_config(tmp_path, model_artifact, governance_gate="enforce")
    service = ServiceProcess(config, "memory", {}, tmp_path / "service.log")
    try:
        check = _governance_check(service)
        assert check == {
            "ok": True,
            "detail": f"{model_id} is in production (governance_gate enforce)",
        }
        with service.client(RISK_MANAGER_KEY) as risk_manager:
            retired = _action(risk_manager, model_id, "retire", "replaced by a new version")
            assert retired.status_code == 200, retired.text
        with service.client(None) as client:
            readiness = client.get("/readyz").json()
        assert readiness["status"] == "degraded"
        assert readiness["checks"]["governance"]["ok"] is False
        assert _decide(service, transaction_body(1)).status_code == 200
    finally:
        service.terminate()
