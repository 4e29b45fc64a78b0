"""Assemble the decision service's objects from the composition root's adapters."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import redis
from opentelemetry.sdk.trace import SpanProcessor

from twinbank.adapters.journal import CursorJournal, DurableJournal, JournalForwarder
from twinbank.adapters.models.ensemble_training import LoadedEnsemble
from twinbank.adapters.redis import RedisFeatureStateReader
from twinbank.adapters.telemetry import OpenTelemetryStageTracer
from twinbank.core.decisioning import DecisionService
from twinbank.core.decisions import DecisionPolicy
from twinbank.core.ensemble import EnsembleDecider, EnsembleDecisionService, RulesEngine
from twinbank.core.features.online import OnlineFeatureService
from twinbank.core.governance import GovernanceService, ModelNotFound, model_id_of
from twinbank.core.ports import Scorer
from twinbank.entrypoints.containers import ApplicationContainer
from twinbank.entrypoints.worker.assemble import build_stream_worker, default_consumer_name
from twinbank.entrypoints.worker.runner import WorkerSettings

from .auth import ApiKeyRegistry
from .decider import DecisionBatcher, DecisionPipeline, MemoryStateReader, ServingFeatures
from .forwarding import STATUS_FILE, ForwarderProcess, ForwarderThreads, Forwarding
from .metrics import ServiceMetrics
from .online_reads import OnlineReadBatcher
from .schemas import PolicyInfo, ServedModel
from .services import BackgroundWork, ServingServices
from .settings import GovernanceGate, InvalidServeSettings, ServeSettings
from .telemetry import build_tracer_provider, tracer_from

log = logging.getLogger(__name__)


class ModelFeatureMismatch(ValueError):
    """The served model was trained on another feature-set version than the service computes."""


class UngovernedModel(ValueError):
    """With ``governance_gate: enforce``, the inventory does not have the served model in
    production or monitoring."""


def default_inventory_id(kind: str, version: str) -> str:
    """Return the served model's inventory id when the settings name none:
    ``card-fraud-KIND@VERSION`` (the version is the artifact's content hash)."""
    return model_id_of(f"card-fraud-{kind}", version)


def default_governance_gate(profile: str) -> GovernanceGate:
    """Return the gate of a profile: enforce in production, report elsewhere."""
    return "enforce" if profile == "production" else "report"


def forwarding_mode(settings: ServeSettings, profile: str) -> Literal["thread", "process"]:
    """Return where the journal forwarders run; raises InvalidServeSettings for a
    process in the memory profile."""
    if settings.forwarding is None:
        return "thread" if profile == "memory" else "process"
    if settings.forwarding == "process" and profile == "memory":
        raise InvalidServeSettings(
            "forwarding: process needs an event stream that other processes can read, and "
            "the memory profile keeps it inside the service; use --profile local (or "
            "production), or set forwarding: thread"
        )
    return settings.forwarding


def check_governance(
    governance: Callable[[], GovernanceService], model_id: str, gate: GovernanceGate
) -> None:
    """Log the served model's status in the inventory. With ``enforce``, raise
    UngovernedModel unless it is in production or monitoring.

    With ``report``, an unreachable inventory is logged and the service starts anyway.
    Its readiness then reports the inventory's state.
    """
    try:
        record = governance().model(model_id)
    except ModelNotFound:
        where = "is not in the governance inventory"
    except Exception as error:  # the inventory's database is unreachable
        if gate == "report":
            log.warning(
                "governance inventory unreachable at start, so served model %s is unchecked: %r",
                model_id,
                error,
            )
            return
        raise UngovernedModel(
            f"governance_gate enforce cannot check served model {model_id}: the governance "
            f"inventory is unreachable ({type(error).__name__}: {error}); start its database "
            "or set governance_gate: report"
        ) from None
    else:
        if record.is_serving:
            log.info("served model %s is in %s", model_id, record.status.value)
            return
        where = f"is in {record.status.value} in the governance inventory"
    if gate == "report":
        log.warning("served model %s %s; serving anyway (governance_gate report)", model_id, where)
        return
    raise UngovernedModel(
        f"served model {model_id} {where}, and governance_gate enforce serves only models in "
        "production or monitoring; take it through the lifecycle (twinbank governance "
        "register, submit, gate, sign, promote, or the /v1/governance endpoints of a "
        "service in report mode), point governance_model_id at an approved version, or set "
        "governance_gate: report"
    )


def _check_state_feature_set(reader: RedisFeatureStateReader) -> None:
    """Raise FeatureSetConflict when Redis contains another feature set's window state.

    When Redis is down at start, the check is skipped: the service returns degraded
    decisions until Redis is back.
    """
    try:
        reader.check_feature_set()
    except redis.RedisError as error:
        log.warning("could not check the feature set of the window state in Redis: %s", error)


def build_serving_services(
    container: ApplicationContainer,
    settings: ServeSettings,
    profile: str,
    span_processor: SpanProcessor | None = None,
    forward_command: Sequence[str] | None = None,
) -> ServingServices:
    """Wire the decision service.

    ``forward_command`` starts ``twinbank forward`` for this service; it is needed when
    the forwarders run in a process of their own (see ``forwarding_mode``).

    Raises InvalidModelArtifact, ModelFeatureMismatch, FeatureSetConflict (Redis holds
    another feature set's window state), InvalidRules (a bad rule file),
    UngovernedModel, InvalidServeSettings (an API key's variable unset),
    MissingRoleDirectory or InvalidRoleDirectory before anything starts.
    """
    serving = container.serving
    platform = container.platform
    feature_set = container.features.feature_set()
    model = _served_model(container, settings)
    if model.feature_set_version != feature_set.version:
        raise ModelFeatureMismatch(
            f"model {model.version} was trained on feature set version "
            f"{model.feature_set_version}; this service computes {feature_set.name} "
            f"({feature_set.version}): set TWINBANK_FEATURE_SET to the model's feature set, "
            f"or retrain the model on {feature_set.name}"
        )
    keys = ApiKeyRegistry(settings.api_keys)
    container.governance.roles()  # a missing or invalid role file stops the start here
    governance = container.governance.service
    inventory_id = settings.governance_model_id or default_inventory_id(model.kind, model.version)
    gate = settings.governance_gate or default_governance_gate(profile)
    check_governance(governance, inventory_id, gate)
    metrics = ServiceMetrics()
    clock = platform.clock()
    stopwatch = platform.stopwatch()
    provider = build_tracer_provider(settings.telemetry, span_processor)
    tracer = tracer_from(provider)

    settings = settings.model_copy(update={"forwarding": forwarding_mode(settings, profile)})
    journal, forwarding = _journal_and_forwarding(container, settings, forward_command)
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
        _check_state_feature_set(reader)

    features = ServingFeatures(
        feature_set, reader, stopwatch, metrics, settings.feature_retry_after_ms / 1000
    )
    decision_service: DecisionService | EnsembleDecisionService
    if model.ensemble is not None:
        loaded = model.ensemble
        decider = EnsembleDecider(
            loaded.inputs,
            loaded.components,
            loaded.combiner,
            loaded.calibration,
            policy,
            stopwatch,
            clock,
            tracer=None if provider is None else OpenTelemetryStageTracer(tracer),
        )
        decision_service = EnsembleDecisionService(decider, serving.journal_log(journal))
    else:
        assert model.scorer is not None
        degraded_rules = None
        if settings.rules is not None:
            rule_set, _ = serving.rule_file(settings.rules)
            degraded_rules = RulesEngine(rule_set, model.scorer.input_names)
        decision_service = DecisionService(
            features.engine,
            model.scorer,
            policy,
            serving.journal_log(journal),
            clock,
            stopwatch,
            degraded_rules=degraded_rules,
        )
    batcher = DecisionBatcher(
        features,
        decision_service,
        journal.sync if settings.journal_sync == "fsync" else None,
        settings.max_batch,
        metrics,
        stopwatch,
        settings.journal_inline_sync_below_ms / 1000,
    )
    pipeline = DecisionPipeline(
        features, batcher, metrics, tracer, stopwatch, settings.idempotency_cache
    )

    served = ServedModel(
        model_version=model.version,
        inventory_id=inventory_id,
        kind=model.kind,
        input_names=list(model.input_names),
        feature_set_version=model.feature_set_version,
        trained_on=model.trained_on,
        policy=PolicyInfo(
            version=policy.version, step_up_at=policy.step_up_at, decline_at=policy.decline_at
        ),
    )
    online = OnlineFeatureService(serving.online_store_reader(), feature_set)
    return ServingServices(
        settings=settings,
        pipeline=pipeline,
        online=online,
        online_reads=OnlineReadBatcher(online, clock),
        online_store=serving.online_store_reader(),
        state_reader=reader,
        governance=governance,
        keys=keys,
        metrics=metrics,
        clock=clock,
        served_model=served,
        governance_gate=gate,
        journal=journal,
        forwarding=forwarding,
        background=background,
        tracer_provider=provider,
    )


FORWARDER_NAMES = ("audit", "events")


def _journal_and_forwarding(
    container: ApplicationContainer,
    settings: ServeSettings,
    forward_command: Sequence[str] | None,
) -> tuple[DurableJournal, Forwarding]:
    if settings.forwarding == "thread":
        journal = container.serving.journal(settings.journal)
        return journal, ForwarderThreads(build_forwarders(container, journal, settings))
    if forward_command is None:
        raise InvalidServeSettings(
            "forwarding: process needs the command that starts `twinbank forward`, which "
            "`twinbank serve` supplies; start the service with it or set forwarding: thread"
        )
    return container.serving.journal_writer(settings.journal), ForwarderProcess(
        forward_command, settings.journal / STATUS_FILE, FORWARDER_NAMES
    )


def build_forwarders(
    container: ApplicationContainer, journal: CursorJournal, settings: ServeSettings
) -> list[JournalForwarder]:
    """Return the forwarders of the journal's cursors (``FORWARDER_NAMES``): decision
    records to the audit database, decided transactions to the event stream."""
    serving = container.serving
    return [
        serving.audit_forwarder(journal, linger_s=settings.audit_linger_ms / 1000),
        serving.events_forwarder(journal, linger_s=settings.events_linger_ms / 1000),
    ]


@dataclass(frozen=True, slots=True)
class _ServedModel:
    version: str
    kind: str
    input_names: tuple[str, ...]
    feature_set_version: str
    trained_on: str
    scorer: Scorer | None = None
    ensemble: LoadedEnsemble | None = None


def _served_model(container: ApplicationContainer, settings: ServeSettings) -> _ServedModel:
    """Load the configured model folder or stored ensemble; raises when it is invalid."""
    if settings.ensemble is None:
        assert settings.model is not None
        scorer, manifest = container.serving.model_artifact(settings.model)
        return _ServedModel(
            manifest.version,
            manifest.kind,
            manifest.input_names,
            manifest.feature_set_version,
            manifest.trained_on,
            scorer=scorer,
        )
    spec = settings.ensemble
    store = container.models.artifact_store(root=spec.store)
    loaded = container.models.ensemble_artifact(store.load(spec.name, spec.version))
    lineage = loaded.manifest.get("lineage", {})
    assert isinstance(lineage, dict)
    return _ServedModel(
        f"{spec.name}-{spec.version}",
        "ensemble",
        loaded.inputs.names,
        str(lineage.get("feature_set_version", "")),
        str(lineage.get("data", {}).get("source", "")),
        ensemble=loaded,
    )
