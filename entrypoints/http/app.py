"""The FastAPI application of the decision service.

``create_app`` builds the application from ``ServingServices`` (assembled by the
composition root); nothing is built at import time. Errors map to statuses here:
422 for invalid input (with the field and the reason), 401 and 403 for keys, 404 for
unknown models, 409 for conflicts, 503 when the local journal cannot take records.
Governance refusals map by their kind (``refusal_response``): 403 for the person or
role, 404 for an unknown model, 409 for the model's state, 422 for the request's
evidence or missing reason.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import orjson
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, Security
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from twinbank.core.explanations import DecisionExplanation
from twinbank.core.features.online import UnknownEntity, UnknownFeature
from twinbank.core.governance import (
    Actor,
    AlreadySignedOff,
    BuilderCannotReview,
    ConcurrentModification,
    DeveloperMustBeBuilder,
    Gate,
    GateEvidence,
    GovernanceRefusal,
    GovernanceService,
    InvalidEvidence,
    InventoryQuery,
    ModelAlreadyRegistered,
    ModelNotFound,
    ModelRecord,
    PersonActedInAnotherRole,
    ReasonRequired,
    Role,
    RoleMayNotAct,
    RoleNotHeld,
    StatusChange,
    gate_of,
)
from twinbank.core.timestamps import to_datetime
from twinbank.core.transactions import Transaction

from .auth import API_KEY_HEADER, Principal
from .decider import Decided, TransactionConflict
from .hot_routes import HotRoute, HotRoutes
from .metrics import MetricsMiddleware
from .schemas import (
    ACTIONS_WITH_REASON,
    DecisionResponse,
    DependencyCheck,
    EvidenceGate,
    GateEvidenceRequest,
    GovernanceAction,
    GovernanceActionRequest,
    GovernanceProblem,
    InventoryFilter,
    Liveness,
    ModelStatusResponse,
    ModelSummary,
    OnlineFeaturesRequest,
    OnlineFeaturesResponse,
    Problem,
    Readiness,
    RegistrationRequest,
    ServedModel,
    TransactionRequest,
)
from .services import ServingServices
from .settings import Scope

log = logging.getLogger(__name__)

ModelId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=201,
        pattern=r"^[A-Za-z0-9._:@-]+$",
        description="Inventory id, NAME@VERSION.",
    ),
]

AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "Missing or unknown API key."},
    403: {"model": Problem, "description": "The key lacks the scope this route needs."},
}


GOVERNANCE_ERRORS: dict[int | str, dict[str, Any]] = {
    401: AUTH_ERRORS[401],
    403: {
        "model": GovernanceProblem,
        "description": "The key lacks the scope, or the rules refuse the key's user or role "
        "(role not held or not taking this action, separation of duties).",
    },
    404: {"model": GovernanceProblem, "description": "The model is not in the inventory."},
    409: {
        "model": GovernanceProblem,
        "description": "The model's status forbids the action, gates are not passed, or the "
        "model changed meanwhile (or is already registered).",
    },
    503: {"model": Problem, "description": "The governance inventory is unreachable."},
}

_REFUSAL_STATUS: tuple[tuple[type[GovernanceRefusal], int], ...] = (
    (ModelNotFound, 404),
    (ModelAlreadyRegistered, 409),
    (ConcurrentModification, 409),
    (RoleNotHeld, 403),
    (RoleMayNotAct, 403),
    (BuilderCannotReview, 403),
    (DeveloperMustBeBuilder, 403),
    (PersonActedInAnotherRole, 403),
    (AlreadySignedOff, 409),
)
"""HTTP status of each governance refusal. Other refusals (the model's status forbids
the action, gates not passed) get 409, and invalid evidence or a missing reason 422."""


def refusal_response(error: GovernanceRefusal) -> Response:
    """Build the response to a refused governance action, with the core's message."""
    if isinstance(error, InvalidEvidence | ReasonRequired):
        field = "evidence" if isinstance(error, InvalidEvidence) else "note"
        problem = {"loc": ["body", field], "msg": str(error), "type": "value_error"}
        return _json({"detail": [problem]}, 422)
    status = next((code for kind, code in _REFUSAL_STATUS if isinstance(error, kind)), 409)
    return _json({"detail": str(error), "refusal": type(error).__name__}, status)


def _require(services: ServingServices, scope: Scope) -> Callable[..., Principal]:
    """Return a dependency that admits keys holding ``scope``."""

    # A coroutine, so that FastAPI calls it on the event loop: a plain function would
    # cost a hop to the thread pool on every request for a digest and a set lookup.
    async def admitted(
        key: Annotated[str | None, Security(APIKeyHeader(name=API_KEY_HEADER, auto_error=False))],
    ) -> Principal:
        principal = services.keys.authenticate(key)
        if principal is None:
            raise HTTPException(401, f"missing or unknown API key in header {API_KEY_HEADER}")
        if scope not in principal.scopes:
            raise HTTPException(
                403, f"key {principal.key_name!r} lacks scope {scope.value!r} for this route"
            )
        return principal

    return admitted


def _quote_non_finite(value: Any) -> Any:
    """Return ``value`` with NaN and infinite floats replaced by their names, at any depth."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _quote_non_finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_quote_non_finite(item) for item in value]
    return value


def _json(body: object, status_code: int = 200) -> Response:
    """Return a JSON response serialized once, by orjson (the route's response_model
    still documents the body; returning a Response skips a second validation)."""
    return Response(orjson.dumps(body), status_code=status_code, media_type="application/json")


def _decision_body(decided: Decided) -> dict[str, Any]:
    record = decided.record
    features = record.features
    latency = record.latency
    lookup_ms = decided.lookup_ns / 1e6
    stages = {
        "feature_lookup": lookup_ms,
        "features": max(0.0, latency.features_ns / 1e6 - lookup_ms),
        "scoring": latency.scoring_ns / 1e6,
        "policy": latency.policy_ns / 1e6,
        "journal": decided.journal_ns / 1e6,
    }
    stages["total"] = sum(stages.values())
    return {
        "decision_id": record.decision_id,
        "transaction_id": record.transaction.transaction_id,
        "outcome": record.outcome.value,
        "score": record.score,
        "reasons": list(record.reasons),
        "explanation": explanation_body(record.explanation),
        "degraded": list(record.degraded),
        "model_version": record.model_version,
        "policy_version": record.policy_version,
        "feature_set_version": features.feature_set_version,
        "features": features.as_dict(),
        "decided_at": to_datetime(record.decided_at_ns).isoformat(),
        "latency_ms": stages,
    }


def explanation_body(explanation: DecisionExplanation | None) -> dict[str, Any] | None:
    """Map a record's explanation to the response's ``explanation`` field (None stays null)."""
    if explanation is None:
        return None
    return {
        "top_positive": [
            {"feature": name, "contribution": value} for name, value in explanation.top_positive
        ],
        "top_negative": [
            {"feature": name, "contribution": value} for name, value in explanation.top_negative
        ],
        "reason_codes": list(explanation.reason_codes),
        "explained_offline": list(explanation.explained_offline),
        "left_out": {
            report.name: report.left_out
            for report in explanation.components
            if report.left_out is not None
        },
    }


def _reject_repeated_parameters(request: Request) -> None:
    """Raise a 422 for a query parameter given more than once.

    Each filter takes one value; without this check the last of several values would
    silently win.
    """
    names = [name for name, _ in request.query_params.multi_items()]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise RequestValidationError(
            [
                {
                    "type": "repeated_parameter",
                    "loc": ("query", name),
                    "msg": f"query parameter {name!r} is given more than once; give it once",
                    "input": request.query_params.getlist(name),
                }
                for name in repeated
            ]
        )


def _summary(record: ModelRecord) -> ModelSummary:
    return ModelSummary(
        model_id=record.model_id,
        name=record.name,
        version=record.version,
        risk_tier=record.risk_tier,
        owner=record.owner,
        status=record.status,
        compliance_status=record.compliance_status,
        registered_at=to_datetime(record.registered_at_ns),
        next_validation=None
        if record.next_validation_ns is None
        else to_datetime(record.next_validation_ns),
        revision=record.revision,
    )


def _status_report(service: GovernanceService, model_id: str) -> ModelStatusResponse:
    report = service.status(model_id)
    return ModelStatusResponse(
        record=report.record,
        next_stage=report.next_stage,
        blocking_gates=sorted(report.blocking_gates),
        required_gates=sorted(report.required_gates),
        required_roles=sorted(report.required_roles),
    )


def _act(
    service: GovernanceService, actor: Actor, model_id: str, body: GovernanceActionRequest
) -> None:
    action = body.action
    if action in ACTIONS_WITH_REASON and not body.note.strip():
        raise ReasonRequired(model_id, action.value.replace("_", " "))
    if action is GovernanceAction.SUBMIT:
        service.submit(actor, model_id, body.note)
    elif action is GovernanceAction.SIGN:
        service.sign(actor, model_id, body.note)
    elif action is GovernanceAction.PROMOTE:
        service.promote(actor, model_id)
    elif action is GovernanceAction.REJECT:
        service.reject(actor, model_id, body.note)
    elif action is GovernanceAction.RETURN_TO_DEVELOPMENT:
        service.return_to_development(actor, model_id, body.note)
    else:
        service.retire(actor, model_id, body.note)


_EVIDENCE_GATES = {
    EvidenceGate.DOCUMENTATION: Gate.DOCUMENTATION,
    EvidenceGate.PERFORMANCE: Gate.PERFORMANCE,
    EvidenceGate.FAIRNESS: Gate.FAIRNESS,
}
_EVIDENCE_KINDS = {
    EvidenceGate.DOCUMENTATION: "a documentation review (reference, complete, findings)",
    EvidenceGate.PERFORMANCE: "performance evidence (model, evaluation_data, metrics)",
    EvidenceGate.FAIRNESS: "a fairness report (model, dataset, population, attributes)",
}


def _feature_errors(error: UnknownEntity | UnknownFeature) -> HTTPException:
    field = "entity" if isinstance(error, UnknownEntity) else "features"
    return HTTPException(
        422,
        [{"loc": ["body", field], "msg": str(error), "type": "value_error"}],
    )


def create_app(services: ServingServices) -> FastAPI:  # noqa: PLR0915 (one statement per route)
    """Build the application; ``services`` start and stop with its lifespan."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        services.start()
        try:
            yield
        finally:
            services.stop()

    app = FastAPI(
        title="twinbank decision service",
        version="1",
        description=(
            "Real-time card-fraud decisions from streaming features, online feature "
            f"reads and model governance. Send an API key in the {API_KEY_HEADER} header."
        ),
        lifespan=lifespan,
        # The service traces decisions with its own provider (telemetry settings) and
        # never installs a global one, so FastAPI's native instrumentation, which
        # follows the global providers, would only check for them on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )

    decide_key = Depends(_require(services, Scope.DECIDE))
    read_key = Depends(_require(services, Scope.READ))
    govern_key = Depends(_require(services, Scope.GOVERN))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        if error.status_code == 400:
            # FastAPI returns 400 for a body it cannot decode (not UTF-8, not JSON),
            # but this API rejects every invalid body with 422 and the field.
            problem = {
                "loc": ["body"],
                "msg": "body is not valid JSON in UTF-8",
                "type": "json_invalid",
            }
            return _json({"detail": [problem]}, 422)
        return await http_exception_handler(request, error)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> Response:
        # Python's JSON parser accepts NaN and Infinity, which JSON cannot encode, so
        # the response quotes non-finite inputs.
        # The standard library's encoder, unlike orjson, also writes integers beyond 64
        # bits, which a rejected input may contain.
        detail = _quote_non_finite(jsonable_encoder(error.errors()))
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(TransactionConflict)
    async def conflict(_: Request, error: TransactionConflict) -> Response:
        return _json({"detail": str(error)}, 409)

    @app.exception_handler(GovernanceRefusal)
    async def refused(_: Request, error: GovernanceRefusal) -> Response:
        return refusal_response(error)

    def governance() -> GovernanceService:
        """Return the governance service, or raise 503 when its database is unreachable."""
        try:
            return services.governance()
        except Exception as error:  # the inventory's database was down at start and still is down
            log.warning("governance inventory unreachable: %r", error)
            raise HTTPException(503, "the governance inventory is unreachable") from None

    def governed(what: str, call: Callable[[GovernanceService], Any]) -> Any:
        """Run ``call`` on the governance service. Refusals go to their exception handler,
        and any other failure comes from the inventory's database and gets 503."""
        try:
            return call(governance())
        except (GovernanceRefusal, HTTPException):
            raise
        except Exception as error:
            log.warning("governance %s failed: %r", what, error)
            raise HTTPException(503, "the governance inventory is unreachable") from None

    def acting(principal: Principal) -> Actor:
        # The settings admit govern keys with governance roles only.
        return Actor(principal.user, Role(principal.role))

    def change(
        principal: Principal,
        what: str,
        model_id: str,
        call: Callable[[GovernanceService, Actor], object],
    ) -> ModelStatusResponse:
        """Apply a change as the key's user and role, and log it with the key's name."""
        actor = acting(principal)

        def apply(service: GovernanceService) -> ModelStatusResponse:
            call(service, actor)
            return _status_report(service, model_id)

        try:
            report: ModelStatusResponse = governed(what, apply)
        except GovernanceRefusal as error:
            log.info(
                "governance %s on %s by %s as %s (key %s) rejected: %s",
                what,
                model_id,
                actor.user,
                actor.role.value,
                principal.key_name,
                error,
            )
            raise
        log.info(
            "governance %s on %s by %s as %s (key %s): now %s",
            what,
            model_id,
            actor.user,
            actor.role.value,
            principal.key_name,
            report.record.status.value,
        )
        return report

    @app.post(
        "/v1/decisions",
        response_model=DecisionResponse,
        responses={
            **AUTH_ERRORS,
            409: {"model": Problem, "description": "The id was decided with other content."},
            503: {"model": Problem, "description": "The local journal cannot take records."},
        },
        tags=["decisions"],
        summary="Decide a card transaction",
    )
    async def decide(body: TransactionRequest, _: Principal = decide_key) -> Response:
        return await decision_response(body)

    async def decision_response(body: TransactionRequest) -> Response:
        transaction = Transaction(
            transaction_id=body.transaction_id,
            timestamp_ns=body.timestamp_ns,
            customer_id=body.customer_id,
            terminal_id=body.terminal_id,
            amount=body.amount,
        )
        try:
            decided = await services.pipeline.decide(transaction)
        except OSError as error:  # the local journal refused the record (disk full, I/O)
            log.error("decision journal failed for transaction %d: %r", body.transaction_id, error)
            raise HTTPException(
                503, "the decision journal cannot take records; retry on another instance"
            ) from None
        return _json(_decision_body(decided))

    @app.post(
        "/v1/features/online",
        response_model=OnlineFeaturesResponse,
        responses={
            **AUTH_ERRORS,
            503: {"model": Problem, "description": "The online store is unreachable."},
        },
        tags=["features"],
        summary="Read served feature values of entity keys",
    )
    async def online_features(body: OnlineFeaturesRequest, _: Principal = read_key) -> Response:
        return await online_response(body)

    async def online_response(body: OnlineFeaturesRequest) -> Response:
        # Concurrent reads share a store round trip, run on the event loop: cheaper
        # than a hop to the thread pool.
        try:
            rows = await services.online_reads.read(body.entity, body.keys, body.features)
        except (UnknownEntity, UnknownFeature) as error:
            raise _feature_errors(error) from None
        except Exception as error:
            services.metrics.store_errors.labels("online_store", "read").inc()
            log.warning("online feature read failed: %r", error)
            raise HTTPException(503, "the online feature store is unreachable") from None
        return _json(
            {
                "entity": body.entity,
                "rows": [
                    {
                        "key": key,
                        "features": {
                            name: {
                                "value": value.value,
                                "status": value.status.value,
                                "event_time": None
                                if value.event_time_ns is None
                                else to_datetime(value.event_time_ns).isoformat(),
                            }
                            for name, value in row.items()
                        },
                    }
                    for key, row in zip(body.keys, rows, strict=True)
                ],
            }
        )

    @app.get(
        "/v1/models",
        response_model=list[ServedModel],
        responses=AUTH_ERRORS,
        tags=["models"],
        summary="Models this instance serves",
    )
    def served_models(_: Principal = read_key) -> list[ServedModel]:
        return [services.served_model]

    @app.get(
        "/v1/governance/models",
        response_model=list[ModelSummary],
        responses={**AUTH_ERRORS, 503: GOVERNANCE_ERRORS[503]},
        tags=["governance"],
        summary="Model inventory, filtered by every parameter given",
    )
    def inventory(
        request: Request, query: Annotated[InventoryFilter, Query()], _: Principal = read_key
    ) -> list[ModelSummary]:
        _reject_repeated_parameters(request)
        inventory_query = InventoryQuery(**query.model_dump())
        records = governed("inventory", lambda service: service.inventory(inventory_query))
        return [_summary(record) for record in records]

    @app.post(
        "/v1/governance/models",
        status_code=201,
        response_model=ModelStatusResponse,
        responses=GOVERNANCE_ERRORS,
        tags=["governance"],
        summary="Register a model version in Development (key's user as developer)",
    )
    def register(
        body: RegistrationRequest, principal: Principal = govern_key
    ) -> ModelStatusResponse:
        return change(
            principal,
            "register",
            body.model_id,
            lambda service, actor: service.register(actor, body),
        )

    @app.get(
        "/v1/governance/models/{model_id}",
        response_model=ModelStatusResponse,
        responses={**AUTH_ERRORS, 404: GOVERNANCE_ERRORS[404], 503: GOVERNANCE_ERRORS[503]},
        tags=["governance"],
        summary="One model's record, next stage and the gates that block it",
    )
    def model_status(model_id: ModelId, _: Principal = read_key) -> ModelStatusResponse:
        report: ModelStatusResponse = governed(
            "status", lambda service: _status_report(service, model_id)
        )
        return report

    @app.get(
        "/v1/governance/models/{model_id}/history",
        response_model=list[StatusChange],
        responses={**AUTH_ERRORS, 404: GOVERNANCE_ERRORS[404], 503: GOVERNANCE_ERRORS[503]},
        tags=["governance"],
        summary="A model's status changes, oldest first (times in ns since 1970, UTC)",
    )
    def model_history(model_id: ModelId, _: Principal = read_key) -> list[StatusChange]:
        record = governed("history", lambda service: service.model(model_id))
        return list(record.history)

    @app.post(
        "/v1/governance/models/{model_id}/actions",
        response_model=ModelStatusResponse,
        responses=GOVERNANCE_ERRORS,
        tags=["governance"],
        summary="Move a model through its lifecycle as the key's user and role",
    )
    def act(
        model_id: ModelId, body: GovernanceActionRequest, principal: Principal = govern_key
    ) -> ModelStatusResponse:
        return change(
            principal,
            body.action.value,
            model_id,
            lambda service, actor: _act(service, actor, model_id, body),
        )

    @app.post(
        "/v1/governance/models/{model_id}/gates/{gate}",
        response_model=ModelStatusResponse,
        responses=GOVERNANCE_ERRORS,
        tags=["governance"],
        summary="Record evidence for a gate; performance and fairness are judged by rule",
    )
    def record_gate(
        model_id: ModelId,
        gate: EvidenceGate,
        body: GateEvidenceRequest,
        principal: Principal = govern_key,
    ) -> ModelStatusResponse:
        evidence: GateEvidence = body.evidence
        expected = _EVIDENCE_GATES[gate]
        if gate_of(evidence) is not expected:
            problem = {
                "loc": ["body", "evidence"],
                "msg": f"the {gate.value} gate takes {_EVIDENCE_KINDS[gate]}; the body holds "
                f"evidence for {gate_of(evidence).value}",
                "type": "value_error",
            }
            raise HTTPException(422, [problem])
        return change(
            principal,
            f"gate {gate.value}",
            model_id,
            lambda service, actor: service.record_gate_result(actor, model_id, evidence, body.note),
        )

    @app.get("/healthz", response_model=Liveness, tags=["operations"], summary="Process alive")
    async def healthz() -> Response:
        return _json({"status": "ok"})

    @app.get(
        "/readyz",
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "This process cannot decide."}},
        tags=["operations"],
        summary="Dependencies reachable",
    )
    def readyz() -> Response:
        checks = services.readiness()
        local = ("journal", "model")
        if any(not checks[name].ok for name in local if name in checks):
            status, code = "unavailable", 503
        elif all(check.ok for check in checks.values()):
            status, code = "ready", 200
        else:
            status, code = "degraded", 200
        body = Readiness(status=status, checks=checks)
        return _json(body.model_dump(), code)

    @app.get(
        "/metrics",
        response_class=PlainTextResponse,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
        tags=["operations"],
        summary="Prometheus metrics",
    )
    def metrics() -> Response:
        services.refresh_gauges()
        return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(
        HotRoutes,
        routes={
            "/v1/decisions": HotRoute(
                TransactionRequest, Scope.DECIDE, decision_response, _route(app, decide)
            ),
            "/v1/features/online": HotRoute(
                OnlineFeaturesRequest, Scope.READ, online_response, _route(app, online_features)
            ),
        },
        keys=services.keys,
        errors={TransactionConflict: conflict, StarletteHTTPException: http_error},
    )
    # Added last, so it runs outermost and also counts the requests that HotRoutes serves.
    app.add_middleware(MetricsMiddleware, metrics=services.metrics)
    return app


def _route(app: FastAPI, endpoint: Callable[..., Any]) -> APIRoute:
    return next(
        route for route in app.routes if isinstance(route, APIRoute) and route.endpoint is endpoint
    )


__all__ = ["DependencyCheck", "create_app"]
