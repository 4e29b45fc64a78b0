"""The composition root: the one place that chooses and builds adapters.

Containers are split by layer, each with its own part of the configuration. The
profile (``memory``, ``local``, ``production``) selects adapters; every entrypoint and
every test builds its objects through ``ApplicationContainer``.
"""

from __future__ import annotations

from dependency_injector import containers, providers

from twinbank.adapters.clocks import PerfCounterStopwatch, WallClock
from twinbank.adapters.memory import InMemoryDecisionLog, InMemoryFeatureStateStore
from twinbank.adapters.models.xgboost_model import XGBoostTrainer
from twinbank.adapters.sql import SqlDecisionLog
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
        }
    )
    return container
