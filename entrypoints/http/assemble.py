"""Assemble the decision service's objects from the composition root's adapters."""

from __future__ import annotations

import logging

from opentelemetry.sdk.trace import SpanProcessor

from twinbank.core.decisioning import DecisionService
from twinbank.core.decisions import DecisionPolicy
from twinbank.core.features.online import OnlineFeatureService
from twinbank.entrypoints.containers import ApplicationContainer
from twinbank.entrypoints.worker.assemble import build_stream_worker, default_consumer_name
from twinbank.entrypoints.worker.runner import WorkerSettings

from .auth import ApiKeyRegistry
from .decider import DecisionBatcher, DecisionPipeline, MemoryStateReader, ServingFeatures
from .governance import InMemoryGovernance, ModelState, Stage
from .metrics import ServiceMetrics
from .schemas import PolicyInfo, ServedModel
from .services import BackgroundWork, ServingServices
from .settings import ServeSettings
from .telemetry import build_tracer_provider, tracer_from

log = logging.getLogger(__name__)


class ModelFeatureMismatch(ValueError):
    """The served model was trained on another feature-set version than the service computes."""


def build_serving_services(
    container: ApplicationContainer,
    settings: ServeSettings,
    profile: str,
    span_processor: SpanProcessor | None = None,
) -> ServingServices:
    """Wire the decision service; raises InvalidModelArtifact, ModelFeatureMismatch or
    InvalidServeSettings (an API key's variable unset) before anything starts."""
    serving = container.serving
    platform = container.platform
    feature_set = container.features.feature_set()
    scorer, manifest = serving.model_artifact(settings.model)
    if manifest.feature_set_version != feature_set.version:
        raise ModelFeatureMismatch(
            f"model {manifest.version} was trained on feature set {manifest.feature_set_version}; "
            f"this service computes {feature_set.version}; retrain the model on the current features"
        )
    keys = ApiKeyRegistry(settings.api_keys)
    metrics = ServiceMetrics()
    clock = platform.clock()
    stopwatch = platform.stopwatch()
    provider = build_tracer_provider(settings.telemetry, span_processor)
    tracer = tracer_from(provider)

    journal = serving.journal(settings.journal)
    policy = DecisionPolicy()

    background: list[BackgroundWork] = []
    if profile == "memory":
        lock = serving.state_lock()
        reader = MemoryStateReader(serving.worker_state(), lock)
        worker = build_stream_worker(
            container,
            WorkerSettings(block_ms=50, allowed_lateness_ms=0),
            default_consumer_name(),
            apply_lock=lock,
        )
        background.append(BackgroundWork("embedded-stream-worker", worker.run))
    else:
        reader = serving.redis_state_reader()

    features = ServingFeatures(
        feature_set, reader, stopwatch, metrics, settings.feature_retry_after_ms / 1000
    )
    decision_service = DecisionService(
        features.engine,
        scorer,
        policy,
        serving.journal_log(journal),
        clock,
        stopwatch,
    )
    batcher = DecisionBatcher(
        features,
        decision_service,
        journal.sync if settings.journal_sync == "fsync" else None,
        settings.max_batch,
        metrics,
        stopwatch,
    )
    pipeline = DecisionPipeline(
        features, batcher, metrics, tracer, stopwatch, settings.idempotency_cache
    )

    governance = InMemoryGovernance(clock.now_ns)
    # NOTE: until the governance service is wired, the inventory contains the served
    # model only, registered as in production because this instance serves it.
    governance.register(
        ModelState(
            model_id=manifest.version,
            name="card-fraud-xgboost",
            version=manifest.version,
            risk_tier=settings.model_risk_tier,
            owner=settings.model_owner,
            stage=Stage.PRODUCTION,
            built_by=settings.model_owner,
            updated_at_ns=clock.now_ns(),
        )
    )
    served = ServedModel(
        model_version=manifest.version,
        kind=manifest.kind,
        input_names=list(manifest.input_names),
        feature_set_version=manifest.feature_set_version,
        trained_on=manifest.trained_on,
        policy=PolicyInfo(
            version=policy.version, step_up_at=policy.step_up_at, decline_at=policy.decline_at
        ),
    )
    forwarders = [
        serving.audit_forwarder(journal),
        serving.events_forwarder(journal),
    ]
    return ServingServices(
        settings=settings,
        pipeline=pipeline,
        online=OnlineFeatureService(serving.online_store_reader(), feature_set),
        online_store=serving.online_store_reader(),
        state_reader=reader,
        governance=governance,
        keys=keys,
        metrics=metrics,
        clock=clock,
        served_model=served,
        journal=journal,
        forwarders=forwarders,
        background=background,
        tracer_provider=provider,
    )
