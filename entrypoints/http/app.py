"""The FastAPI application of the decision service.

``create_app`` builds the application from ``ServingServices`` (assembled by the
composition root); nothing is built at import time. Errors map to statuses here:
422 for invalid input (with the field and the reason), 401 and 403 for keys, 404 for
unknown models, 409 for conflicts, 503 when the local journal cannot take records.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import orjson
from fastapi import Depends, FastAPI, HTTPException, Path, Request, Security
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import PlainTextResponse, Response
from fastapi.security import APIKeyHeader
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from twinbank.core.features.online import UnknownEntity, UnknownFeature
from twinbank.core.timestamps import to_datetime
from twinbank.core.transactions import Transaction

from .auth import API_KEY_HEADER, Principal
from .decider import Decided, TransactionConflict
from .governance import ActionRejected, Actor, GovernanceEvent, ModelNotFound, ModelState
from .metrics import MetricsMiddleware
from .schemas import (
    DecisionResponse,
    DependencyCheck,
    GovernanceActionRequest,
    GovernanceEventResponse,
    Liveness,
    ModelStateResponse,
    OnlineFeaturesRequest,
    OnlineFeaturesResponse,
    Problem,
    Readiness,
    ServedModel,
    TransactionRequest,
)
from .services import ServingServices
from .settings import Scope

log = logging.getLogger(__name__)

ModelId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")]

AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "Missing or unknown API key."},
    403: {"model": Problem, "description": "The key lacks the scope this route needs."},
}


def _require(services: ServingServices, scope: Scope) -> Callable[..., Principal]:
    """Return a dependency that admits keys holding ``scope``."""

    def admitted(
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
        # NOTE: decision records gain explanations with the ensemble; map them here.
        "explanation": None,
        "degraded": list(record.degraded),
        "model_version": record.model_version,
        "policy_version": record.policy_version,
        "feature_set_version": features.feature_set_version,
        "features": features.as_dict(),
        "decided_at": to_datetime(record.decided_at_ns).isoformat(),
        "latency_ms": stages,
    }


def _model_state(state: ModelState) -> ModelStateResponse:
    return ModelStateResponse(
        model_id=state.model_id,
        name=state.name,
        version=state.version,
        risk_tier=state.risk_tier,
        owner=state.owner,
        stage=state.stage,
        built_by=state.built_by,
        updated_at=to_datetime(state.updated_at_ns),
    )


def _event(event: GovernanceEvent) -> GovernanceEventResponse:
    return GovernanceEventResponse(
        action=event.action,
        user=event.user,
        role=event.role,
        from_stage=event.from_stage,
        to_stage=event.to_stage,
        at=to_datetime(event.at_ns),
        note=event.note,
    )


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
    )
    app.add_middleware(MetricsMiddleware, metrics=services.metrics)

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

    @app.exception_handler(TransactionConflict)
    async def conflict(_: Request, error: TransactionConflict) -> Response:
        return _json({"detail": str(error)}, 409)

    @app.exception_handler(ModelNotFound)
    async def model_not_found(_: Request, error: ModelNotFound) -> Response:
        return _json({"detail": str(error)}, 404)

    @app.exception_handler(ActionRejected)
    async def action_rejected(_: Request, error: ActionRejected) -> Response:
        return _json({"detail": str(error)}, 409)

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
        # One MGET, run on the event loop: cheaper than a hop to the thread pool.
        try:
            rows = services.online.get_online_features(
                body.entity, body.keys, body.features, services.clock.now_ns()
            )
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
        response_model=list[ModelStateResponse],
        responses=AUTH_ERRORS,
        tags=["governance"],
        summary="Model inventory with lifecycle stages",
    )
    def inventory(_: Principal = read_key) -> list[ModelStateResponse]:
        return [_model_state(state) for state in services.governance.models()]

    @app.get(
        "/v1/governance/models/{model_id}",
        response_model=ModelStateResponse,
        responses={**AUTH_ERRORS, 404: {"model": Problem}},
        tags=["governance"],
        summary="One model's inventory entry",
    )
    def model_state(model_id: ModelId, _: Principal = read_key) -> ModelStateResponse:
        return _model_state(services.governance.model(model_id))

    @app.get(
        "/v1/governance/models/{model_id}/history",
        response_model=list[GovernanceEventResponse],
        responses={**AUTH_ERRORS, 404: {"model": Problem}},
        tags=["governance"],
        summary="Lifecycle actions taken on a model, oldest first",
    )
    def model_history(model_id: ModelId, _: Principal = read_key) -> list[GovernanceEventResponse]:
        return [_event(event) for event in services.governance.history(model_id)]

    @app.post(
        "/v1/governance/models/{model_id}/actions",
        response_model=ModelStateResponse,
        responses={
            **AUTH_ERRORS,
            404: {"model": Problem},
            409: {
                "model": Problem,
                "description": "Stage, role or separation of duties forbids the action.",
            },
        },
        tags=["governance"],
        summary="Move a model through its lifecycle",
    )
    def act(
        model_id: ModelId, body: GovernanceActionRequest, principal: Principal = govern_key
    ) -> ModelStateResponse:
        actor = Actor(principal.user, principal.role)
        try:
            state = services.governance.act(model_id, body.action, actor, body.note)
        except ActionRejected as error:
            log.info(
                "governance action %s on %s by key %s rejected: %s",
                body.action.value,
                model_id,
                principal.key_name,
                error,
            )
            raise
        log.info(
            "governance action %s on %s by user %s (key %s): now %s",
            body.action.value,
            model_id,
            principal.user,
            principal.key_name,
            state.stage.value,
        )
        return _model_state(state)

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

    return app


__all__ = ["DependencyCheck", "create_app"]
