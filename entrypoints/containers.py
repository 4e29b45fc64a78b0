"""The composition root: the one place that chooses and builds adapters.

Containers are split by layer, each with its own part of the configuration. The
profile (``memory``, ``local``, ``production``) selects adapters; every entrypoint and
every test builds its objects through ``ApplicationContainer``.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Any, Literal

import redis
from dependency_injector import containers, providers
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import Engine, create_engine

from twinbank.adapters.artifacts import LocalArtifactStore
from twinbank.adapters.audit import DecisionLogProcess, FanOutDecisionLog, LocalDirectoryArchive
from twinbank.adapters.clocks import PerfCounterStopwatch, WallClock
from twinbank.adapters.credit import load_study_file, run_study
from twinbank.adapters.governance import ClaimedRoles, FileRoleDirectory
from twinbank.adapters.journal import (
    DecisionLogSink,
    DurableJournal,
    JournalDecisionLog,
    JournalFollower,
    JournalForwarder,
    TransactionEventSink,
)
from twinbank.adapters.memory import (
    InMemoryAuditTrail,
    InMemoryDecisionLog,
    InMemoryEventStream,
    InMemoryFeatureStateStore,
    InMemoryGovernanceStore,
    InMemoryOnlineFeatureStore,
    InMemoryRegistryStore,
    InMemoryWorkerState,
)
from twinbank.adapters.models.artifacts import load_artifact
from twinbank.adapters.models.ensemble_training import StoredEnsemble, ensemble_from_artifact
from twinbank.adapters.models.xgboost_model import XGBoostTrainer
from twinbank.adapters.monitoring import decision_sample
from twinbank.adapters.offline import ParquetOfflineStore
from twinbank.adapters.redis import (
    RedisEventStream,
    RedisFeatureStateReader,
    RedisFeatureStateStore,
)
from twinbank.adapters.redis.online_store import RedisOnlineFeatureStore
from twinbank.adapters.registry import SqlRegistryStore
from twinbank.adapters.rules import load_rule_set
from twinbank.adapters.sql import (
    SqlAuditTrail,
    SqlDecisionLog,
    SqlFeatureHistory,
    SqlGovernanceStore,
)
from twinbank.adapters.sql.audit_schema import prepare_engine
from twinbank.adapters.sql.sqlite_tuning import bulk_load_sqlite_file
from twinbank.adapters.transactions import generated_dataset, load_transactions
from twinbank.core.audit import AuditArchiver, DecisionEntries
from twinbank.core.features.catalog import feature_set_named
from twinbank.core.features.historical import HistoricalFeatureService
from twinbank.core.features.materialization import BatchMaterializer
from twinbank.core.features.registry import FeatureRegistry
from twinbank.core.governance import GovernanceService, RoleDirectory
from twinbank.core.modeling import ModelTrainer
from twinbank.core.ports import DecisionLog
from twinbank.simulator.regions.run import MultiRegionRun
from twinbank.simulator.regions.traffic import read_traffic_file
from twinbank.simulator.run import ScenarioRun
from twinbank.simulator.scenario import ModelSpec

from .governance_settings import AuditSettings, GovernanceSettings, build_pseudonymiser
from .settings import PlatformSettings, Profile


class PlatformContainer(containers.DeclarativeContainer):
    """Time sources."""

    clock = providers.Singleton(WallClock)
    stopwatch = providers.Singleton(PerfCounterStopwatch)


class FeaturesContainer(containers.DeclarativeContainer):
    """Feature definitions and the streaming engine's window state."""

    config = providers.Configuration()

    feature_set = providers.Singleton(feature_set_named, config.feature_set)
    # Window state lives in the stream processor's memory in every profile.
    state_store = providers.Factory(InMemoryFeatureStateStore)

    registry = providers.Singleton(FeatureRegistry, feature_set)
    # Also the MaterializationLog: watermarks sit beside the pipeline versions.
    registry_store = providers.Selector(
        config.profile,
        memory=providers.Singleton(InMemoryRegistryStore),
        local=providers.Singleton(SqlRegistryStore.from_url, config.postgres_url),
        production=providers.Singleton(SqlRegistryStore.from_url, config.postgres_url),
    )
    offline_store = providers.Singleton(ParquetOfflineStore, config.history_dir)
    historical = providers.Singleton(HistoricalFeatureService, offline_store, feature_set)


def decision_engine(profile: str, sqlite_url: str, postgres_url: str, bulk_load: bool) -> Engine:
    """Return the engine of the decision database, ready for the audit trail's writes
    (see ``prepare_engine``): the SQLite URL in the memory profile, else PostgreSQL.

    ``bulk_load`` marks a database that a scenario run builds from scratch; a SQLite
    file then skips the per-commit journal and sync (see ``bulk_load_sqlite_file``).
    """
    url = postgres_url if profile in ("local", "production") else sqlite_url
    engine = create_engine(url)
    if bulk_load:
        bulk_load_sqlite_file(engine)
    return prepare_engine(engine)


class DecisionsContainer(containers.DeclarativeContainer):
    """The decision database's engine and decision log.

    The decision table and, when decisions are chained, the audit trail share one
    engine: on a SQLite file, two engines would each drop the other's page cache at
    every commit and read the indexes back from the file.
    """

    config = providers.Configuration()

    engine = providers.Singleton(
        decision_engine,
        config.profile,
        config.sqlite_url,
        config.postgres_url,
        config.bulk_load,
    )
    log = providers.Selector(
        config.profile,
        memory=providers.Factory(SqlDecisionLog, engine, batch_size=config.batch_size),
        local=providers.Factory(SqlDecisionLog, engine, batch_size=config.batch_size),
        production=providers.Factory(SqlDecisionLog, engine, batch_size=config.batch_size),
        # Tests that only count records use the list-backed log.
        ephemeral=providers.Factory(InMemoryDecisionLog),
    )


class TransactionsContainer(containers.DeclarativeContainer):
    """Transaction sources: recorded files and the seeded generator."""

    file = providers.Callable(load_transactions)
    generated = providers.Callable(generated_dataset)


class ModelsContainer(containers.DeclarativeContainer):
    """Model training and the artifact store."""

    xgboost_trainer = providers.Factory(XGBoostTrainer)
    artifact_store = providers.Factory(LocalArtifactStore)
    stored_ensemble = providers.Factory(StoredEnsemble)
    ensemble_artifact = providers.Callable(ensemble_from_artifact)


def scenario_trainer(container: ApplicationContainer, model: ModelSpec) -> ModelTrainer:
    """Return the trainer a replay scenario's model section names."""
    if model.artifact is not None:
        store = container.models.artifact_store(root=model.artifact.store)
        return container.models.stored_ensemble(
            store=store,
            name=model.artifact.name,
            version=model.artifact.version,
            inputs=model.inputs,
        )
    return container.models.xgboost_trainer(settings=model.hyperparameters)


class AuditContainer(containers.DeclarativeContainer):
    """The audit trail, its archive, and the decision log that chains every decision.

    ``trail`` is the governance database's chain; ``decision_log`` appends a scenario
    run's decisions both to the decision table and to a chain in the same database.
    """

    config = providers.Configuration()
    platform = providers.DependenciesContainer()
    decisions = providers.DependenciesContainer()

    pseudonymiser = providers.Singleton(
        build_pseudonymiser, settings=config.settings, profile=config.profile
    )
    decision_entries = providers.Singleton(DecisionEntries, pseudonymiser)
    engine = providers.Singleton(create_engine, config.database_url)
    trail = providers.Selector(
        config.backend,
        sql=providers.Singleton(
            SqlAuditTrail,
            engine=engine,
            decision_entries=decision_entries.provider,
            batch_size=config.batch_size,
        ),
        memory=providers.Singleton(InMemoryAuditTrail, decision_entries.provider),
    )
    archive = providers.Factory(LocalDirectoryArchive, root=config.archive_dir)
    archiver = providers.Factory(AuditArchiver, trail=trail, archive=archive, clock=platform.clock)
    decision_trail = providers.Factory(
        SqlAuditTrail,
        engine=decisions.engine,
        decision_entries=decision_entries.provider,
        batch_size=config.batch_size,
    )
    decision_log = providers.Selector(
        config.chain_decisions,
        on=providers.Factory(FanOutDecisionLog, decisions.log, decision_trail),
        off=decisions.log,
    )
    # A scenario run's decisions: written by ``decision_log`` in this process, or by
    # the same log built in a child process from the container's build arguments.
    scenario_decision_log = providers.Selector(
        config.decision_writer,
        process=providers.Factory(DecisionLogProcess, build=config.writer_build),
        inline=decision_log,
    )


class MissingRoleDirectory(ValueError):
    """The production profile needs a role file."""


def role_directory(roles_file: Path | None, profile: Profile) -> RoleDirectory:
    """Return the role file's directory; without one, trust claimed roles, except in the
    production profile, which raises MissingRoleDirectory."""
    if roles_file is not None:
        return FileRoleDirectory.from_file(roles_file)
    if profile == "production":
        raise MissingRoleDirectory(
            "the production profile needs TWINBANK_GOVERNANCE_ROLES_FILE, a YAML file that "
            "maps each user to the governance roles they hold"
        )
    return ClaimedRoles()


class GovernanceContainer(containers.DeclarativeContainer):
    """The model inventory, its role directory and the governance service."""

    config = providers.Configuration()
    platform = providers.DependenciesContainer()
    audit = providers.DependenciesContainer()

    roles = providers.Singleton(
        role_directory, roles_file=config.roles_file, profile=config.profile
    )
    store = providers.Selector(
        config.backend,
        sql=providers.Singleton(SqlGovernanceStore, audit.trail),
        memory=providers.Singleton(InMemoryGovernanceStore, audit.trail),
    )
    service = providers.Factory(GovernanceService, store=store, roles=roles, clock=platform.clock)


class FairnessContainer(containers.DeclarativeContainer):
    """Fair-lending studies on the credit data sets."""

    study_file = providers.Callable(load_study_file)
    run_study = providers.Callable(run_study)


class MonitoringContainer(containers.DeclarativeContainer):
    """Inputs of the monitoring rules, read from the audit trail."""

    audit = providers.DependenciesContainer()

    decision_sample = providers.Callable(decision_sample, audit.trail)


class SimulationContainer(containers.DeclarativeContainer):
    """Scenario runs of the digital twin."""

    features = providers.DependenciesContainer()
    decisions = providers.DependenciesContainer()
    audit = providers.DependenciesContainer()
    models = providers.DependenciesContainer()
    platform = providers.DependenciesContainer()

    scenario_run = providers.Factory(
        ScenarioRun,
        feature_set=features.feature_set,
        feature_state=features.state_store,
        decision_log=audit.scenario_decision_log.provider,
        stopwatch=platform.stopwatch,
    )


class ServingContainer(containers.DeclarativeContainer):
    """Adapters of the decision service and the stream worker.

    The decision service reads window state with a client whose timeouts are the
    feature-lookup budget and which never retries, so that an outage costs one budget;
    the worker and the journal forwarders use a patient client. In the ``memory``
    profile everything lives in one process: the stream and the state are in memory
    and ``twinbank serve`` runs the worker in a thread.
    """

    config = providers.Configuration()
    features = providers.DependenciesContainer()
    decisions = providers.DependenciesContainer()
    audit = providers.DependenciesContainer()

    serving_redis = providers.Singleton(
        redis.Redis.from_url,
        config.redis_url,
        socket_timeout=config.lookup_timeout_s,
        socket_connect_timeout=config.lookup_timeout_s,
        retry=providers.Factory(Retry, providers.Factory(NoBackoff), 0),
    )
    # Online feature reads serve an API call of their own, and a slow read under load
    # should cost latency, not an error, so their budget is wider than the lookup's.
    read_redis = providers.Singleton(
        redis.Redis.from_url,
        config.redis_url,
        socket_timeout=0.5,
        socket_connect_timeout=0.5,
        retry=providers.Factory(Retry, providers.Factory(NoBackoff), 0),
    )
    worker_redis = providers.Singleton(
        redis.Redis.from_url, config.redis_url, socket_timeout=10.0, socket_connect_timeout=5.0
    )

    event_stream = providers.Selector(
        config.profile,
        memory=providers.Singleton(InMemoryEventStream),
        local=providers.Singleton(RedisEventStream, worker_redis, config.stream),
        production=providers.Singleton(RedisEventStream, worker_redis, config.stream),
    )
    state_lock = providers.Singleton(threading.Lock)
    worker_state = providers.Selector(
        config.profile,
        memory=providers.Singleton(InMemoryWorkerState),
        local=providers.Factory(
            RedisFeatureStateStore,
            worker_redis,
            features.feature_set,
            config.prefix,
            lease_ms=config.lease_ms,
        ),
        production=providers.Factory(
            RedisFeatureStateStore,
            worker_redis,
            features.feature_set,
            config.prefix,
            lease_ms=config.lease_ms,
        ),
    )
    memory_online_store = providers.Singleton(InMemoryOnlineFeatureStore)
    online_store_reader = providers.Selector(
        config.profile,
        memory=memory_online_store,
        local=providers.Singleton(RedisOnlineFeatureStore, read_redis, config.prefix),
        production=providers.Singleton(RedisOnlineFeatureStore, read_redis, config.prefix),
    )
    redis_online_writer = providers.Singleton(
        RedisOnlineFeatureStore, worker_redis, config.prefix, config.online_key_ttl_ms
    )
    online_store_writer = providers.Selector(
        config.profile,
        memory=memory_online_store,
        local=redis_online_writer,
        production=redis_online_writer,
    )
    batch_materializer = providers.Singleton(
        BatchMaterializer,
        features.offline_store,
        online_store_writer,
        features.feature_set,
        features.registry_store,
    )
    redis_state_reader = providers.Singleton(
        RedisFeatureStateReader, serving_redis, features.feature_set, config.prefix
    )
    feature_history = providers.Selector(
        config.profile,
        memory=providers.Singleton(SqlFeatureHistory.from_url, config.sqlite_url),
        local=providers.Singleton(SqlFeatureHistory.from_url, config.postgres_url),
        production=providers.Singleton(SqlFeatureHistory.from_url, config.postgres_url),
    )

    model_artifact = providers.Callable(load_artifact)
    rule_file = providers.Callable(load_rule_set)
    journal = providers.Factory(DurableJournal, cursors=("audit", "events"))
    # With the forwarders in a process of their own, the service writes the journal
    # without cursors and that process follows it.
    journal_writer = providers.Factory(DurableJournal, cursors=())
    journal_follower = providers.Factory(JournalFollower, cursors=("audit", "events"))
    journal_log = providers.Factory(JournalDecisionLog)
    # Decisions reach the decision table and, unless turned off, the audit chain.
    audit_forwarder = providers.Factory(
        JournalForwarder,
        cursor="audit",
        sink=providers.Factory(DecisionLogSink, audit.decision_log.provider),
    )
    events_forwarder = providers.Factory(
        JournalForwarder,
        cursor="events",
        sink=providers.Factory(TransactionEventSink, event_stream),
    )


class RegionsContainer(containers.DeclarativeContainer):
    """Multi-region twin runs: traffic files and the run with its fraud collaborators."""

    features = providers.DependenciesContainer()
    decisions = providers.DependenciesContainer()
    platform = providers.DependenciesContainer()
    simulation = providers.DependenciesContainer()

    traffic_file = providers.Callable(read_traffic_file)
    # Calibration decisions are timed, not kept.
    scratch_log = providers.Factory(InMemoryDecisionLog)
    run = providers.Factory(
        MultiRegionRun,
        stopwatch=platform.stopwatch,
        feature_set=features.feature_set,
        feature_state=features.state_store.provider,
        decision_log=decisions.log.provider,
        scratch_log=scratch_log.provider,
        scenario_run=simulation.scenario_run.provider,
    )


class ApplicationContainer(containers.DeclarativeContainer):
    config = providers.Configuration()

    platform = providers.Container(PlatformContainer)
    features = providers.Container(FeaturesContainer, config=config.features)
    decisions = providers.Container(DecisionsContainer, config=config.decisions)
    models = providers.Container(ModelsContainer)
    transactions = providers.Container(TransactionsContainer)
    audit = providers.Container(
        AuditContainer, config=config.audit, platform=platform, decisions=decisions
    )
    governance = providers.Container(
        GovernanceContainer, config=config.governance, platform=platform, audit=audit
    )
    fairness = providers.Container(FairnessContainer)
    monitoring = providers.Container(MonitoringContainer, audit=audit)
    simulation = providers.Container(
        SimulationContainer,
        features=features,
        decisions=decisions,
        audit=audit,
        models=models,
        platform=platform,
    )
    serving = providers.Container(
        ServingContainer,
        config=config.serving,
        features=features,
        decisions=decisions,
        audit=audit,
    )
    regions = providers.Container(
        RegionsContainer,
        features=features,
        decisions=decisions,
        platform=platform,
        simulation=simulation,
    )


def build_container(
    settings: PlatformSettings | None = None,
    sqlite_url: str = "sqlite://",
    *,
    audit_settings: AuditSettings | None = None,
    governance_settings: GovernanceSettings | None = None,
    governance_url: str | None = None,
    governance_backend: Literal["sql", "memory"] = "sql",
    bulk_load_decisions: bool = False,
) -> ApplicationContainer:
    """Return a container configured from settings (by default, from the environment).

    ``sqlite_url`` is the decision database of the ``memory`` profile; the default is a
    private in-memory database. ``bulk_load_decisions`` marks that a scenario run builds
    that database from scratch, which lets a SQLite file skip per-commit durability
    until it is closed. ``governance_url`` overrides the database of the
    inventory and its audit trail (by default the SQLite file of the governance
    settings in the ``memory`` profile, PostgreSQL otherwise); the ``memory``
    ``governance_backend`` keeps both in process memory instead.
    """
    settings = settings or PlatformSettings()
    audit_settings = audit_settings or AuditSettings()
    governance_settings = governance_settings or GovernanceSettings()
    if settings.profile == "production" or audit_settings.pseudonymisation_key is not None:
        # Fails now, not at the first decision, when the key is missing or too short.
        build_pseudonymiser(audit_settings, settings.profile)
    container = ApplicationContainer()
    decisions_url = sqlite_url if settings.profile == "memory" else settings.postgres_url
    if governance_url is None:
        governance_url = (
            f"sqlite:///{governance_settings.sqlite_path}"
            if settings.profile == "memory"
            else settings.postgres_url
        )
    container.config.from_dict(
        {
            "profile": settings.profile,
            "features": {
                "profile": settings.profile,
                "feature_set": settings.feature_set,
                "postgres_url": settings.postgres_url,
                "history_dir": settings.feature_history_dir,
            },
            "decisions": {
                "profile": settings.profile,
                "sqlite_url": sqlite_url,
                "postgres_url": settings.postgres_url,
                "bulk_load": bulk_load_decisions,
                # The decision table is written in batches of the audit chain's size.
                "batch_size": audit_settings.batch_size,
            },
            "serving": {
                "profile": settings.profile,
                "redis_url": settings.redis_url,
                "postgres_url": settings.postgres_url,
                "sqlite_url": sqlite_url,
                "prefix": settings.feature_prefix,
                "stream": settings.event_stream,
                "lookup_timeout_s": settings.feature_lookup_timeout_ms / 1000,
                "lease_ms": settings.worker_lease_ms,
                "online_key_ttl_ms": settings.online_key_ttl_ms,
            },
            "audit": {
                "profile": settings.profile,
                "backend": governance_backend,
                "settings": audit_settings,
                "database_url": governance_url,
                "batch_size": audit_settings.batch_size,
                "archive_dir": audit_settings.archive_dir,
                "chain_decisions": "on" if audit_settings.chain_decisions else "off",
                "decision_writer": _decision_writer(audit_settings, decisions_url),
                "writer_build": functools.partial(
                    decision_log_in_child,
                    {
                        "settings": settings,
                        "sqlite_url": sqlite_url,
                        "audit_settings": audit_settings,
                        "governance_settings": governance_settings,
                        "governance_url": governance_url,
                        "governance_backend": governance_backend,
                        "bulk_load_decisions": bulk_load_decisions,
                    },
                ),
            },
            "governance": {
                "profile": settings.profile,
                "backend": governance_backend,
                "roles_file": governance_settings.roles_file,
            },
        }
    )
    return container


def _decision_writer(audit_settings: AuditSettings, decisions_url: str) -> str:
    """Return where a scenario run writes decisions: a private in-memory SQLite database
    exists only in the process that opens it, so it is always written inline."""
    in_memory = decisions_url in ("sqlite://", "sqlite:///:memory:")
    return "inline" if in_memory else audit_settings.decision_writer


def decision_log_in_child(arguments: dict[str, Any]) -> DecisionLog:
    """Return a scenario run's decision log, built in the writer's child process by a
    container of its own from the parent's build arguments.

    Changes made to the parent's container after ``build_container`` do not reach it.
    """
    return build_container(**arguments).audit.decision_log()
