"""The composition root: the one place that chooses and builds adapters.

Containers are split by layer, each with its own part of the configuration. The
profile (``memory``, ``local``, ``production``) selects adapters; every entrypoint and
every test builds its objects through ``ApplicationContainer``.
"""

from __future__ import annotations

import threading

import redis
from dependency_injector import containers, providers
from redis.backoff import NoBackoff
from redis.retry import Retry

from twinbank.adapters.clocks import PerfCounterStopwatch, WallClock
from twinbank.adapters.journal import (
    DecisionLogSink,
    DurableJournal,
    JournalDecisionLog,
    JournalForwarder,
    TransactionEventSink,
)
from twinbank.adapters.memory import (
    InMemoryDecisionLog,
    InMemoryEventStream,
    InMemoryFeatureStateStore,
    InMemoryOnlineFeatureStore,
    InMemoryWorkerState,
)
from twinbank.adapters.models.artifacts import load_artifact
from twinbank.adapters.models.xgboost_model import XGBoostTrainer
from twinbank.adapters.redis import (
    RedisEventStream,
    RedisFeatureStateReader,
    RedisFeatureStateStore,
)
from twinbank.adapters.redis.online_store import RedisOnlineFeatureStore
from twinbank.adapters.sql import SqlDecisionLog, SqlFeatureHistory
from twinbank.adapters.transactions import generated_dataset, load_transactions
from twinbank.core.features.handbook import handbook_feature_set
from twinbank.simulator.regions.run import MultiRegionRun
from twinbank.simulator.regions.traffic import read_traffic_file
from twinbank.simulator.run import ScenarioRun

from .settings import PlatformSettings


class PlatformContainer(containers.DeclarativeContainer):
    """Time sources."""

    clock = providers.Singleton(WallClock)
    stopwatch = providers.Singleton(PerfCounterStopwatch)


class FeaturesContainer(containers.DeclarativeContainer):
    """Feature definitions and the streaming engine's window state."""

    config = providers.Configuration()

    feature_set = providers.Singleton(handbook_feature_set)
    # Window state lives in the stream processor's memory in every profile.
    state_store = providers.Factory(InMemoryFeatureStateStore)


class DecisionsContainer(containers.DeclarativeContainer):
    """Where decision records go."""

    config = providers.Configuration()

    log = providers.Selector(
        config.profile,
        memory=providers.Factory(SqlDecisionLog.from_url, url=config.sqlite_url),
        local=providers.Factory(SqlDecisionLog.from_url, url=config.postgres_url),
        production=providers.Factory(SqlDecisionLog.from_url, url=config.postgres_url),
        # Tests that only count records use the list-backed log.
        ephemeral=providers.Factory(InMemoryDecisionLog),
    )


class TransactionsContainer(containers.DeclarativeContainer):
    """Transaction sources: recorded files and the seeded generator."""

    file = providers.Callable(load_transactions)
    generated = providers.Callable(generated_dataset)


class ModelsContainer(containers.DeclarativeContainer):
    """Model training."""

    xgboost_trainer = providers.Factory(XGBoostTrainer)


class SimulationContainer(containers.DeclarativeContainer):
    """Scenario runs of the digital twin."""

    features = providers.DependenciesContainer()
    decisions = providers.DependenciesContainer()
    models = providers.DependenciesContainer()
    platform = providers.DependenciesContainer()

    scenario_run = providers.Factory(
        ScenarioRun,
        feature_set=features.feature_set,
        feature_state=features.state_store,
        decision_log=decisions.log.provider,
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

    serving_redis = providers.Singleton(
        redis.Redis.from_url,
        config.redis_url,
        socket_timeout=config.lookup_timeout_s,
        socket_connect_timeout=config.lookup_timeout_s,
        retry=providers.Factory(Retry, providers.Factory(NoBackoff), 0),
    )
    # Online feature reads answer an API call of their own; a slow read under load
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
    online_store_writer = providers.Selector(
        config.profile,
        memory=memory_online_store,
        local=providers.Singleton(RedisOnlineFeatureStore, worker_redis, config.prefix),
        production=providers.Singleton(RedisOnlineFeatureStore, worker_redis, config.prefix),
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
    journal = providers.Factory(DurableJournal, cursors=("audit", "events"))
    journal_log = providers.Factory(JournalDecisionLog)
    audit_forwarder = providers.Factory(
        JournalForwarder,
        cursor="audit",
        sink=providers.Factory(DecisionLogSink, decisions.log.provider),
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
    simulation = providers.Container(
        SimulationContainer,
        features=features,
        decisions=decisions,
        models=models,
        platform=platform,
    )
    serving = providers.Container(
        ServingContainer, config=config.serving, features=features, decisions=decisions
    )
    regions = providers.Container(
        RegionsContainer,
        features=features,
        decisions=decisions,
        platform=platform,
        simulation=simulation,
    )


def build_container(
    settings: PlatformSettings | None = None, sqlite_url: str = "sqlite://"
) -> ApplicationContainer:
    """Return a container configured from settings (by default, from the environment).

    ``sqlite_url`` is the decision database of the ``memory`` profile; the default is a
    private in-memory database.
    """
    settings = settings or PlatformSettings()
    container = ApplicationContainer()
    container.config.from_dict(
        {
            "profile": settings.profile,
            "features": {"profile": settings.profile},
            "decisions": {
                "profile": settings.profile,
                "sqlite_url": sqlite_url,
                "postgres_url": settings.postgres_url,
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
            },
        }
    )
    return container
