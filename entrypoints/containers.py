"""The composition root: the one place that chooses and builds adapters.

Containers are split by layer, each with its own part of the configuration. The
profile (``memory``, ``local``, ``production``) selects adapters; every entrypoint and
every test builds its objects through ``ApplicationContainer``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from dependency_injector import containers, providers
from sqlalchemy import create_engine

from twinbank.adapters.audit import FanOutDecisionLog, LocalDirectoryArchive
from twinbank.adapters.clocks import PerfCounterStopwatch, WallClock
from twinbank.adapters.credit import load_study_file, run_study
from twinbank.adapters.governance import ClaimedRoles, FileRoleDirectory
from twinbank.adapters.memory import (
    InMemoryAuditTrail,
    InMemoryDecisionLog,
    InMemoryFeatureStateStore,
    InMemoryGovernanceStore,
)
from twinbank.adapters.models.xgboost_model import XGBoostTrainer
from twinbank.adapters.monitoring import decision_sample
from twinbank.adapters.sql import SqlAuditTrail, SqlDecisionLog, SqlGovernanceStore
from twinbank.adapters.transactions import generated_dataset, load_transactions
from twinbank.core.audit import AuditArchiver, DecisionEntries
from twinbank.core.features.handbook import handbook_feature_set
from twinbank.core.governance import GovernanceService, RoleDirectory
from twinbank.simulator.run import ScenarioRun

from .governance_settings import AuditSettings, GovernanceSettings, build_pseudonymiser
from .settings import PlatformSettings, Profile


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
        SqlAuditTrail.from_url,
        url=config.decisions_url,
        decision_entries=decision_entries.provider,
        batch_size=config.batch_size,
    )
    decision_log = providers.Selector(
        config.chain_decisions,
        on=providers.Factory(FanOutDecisionLog, decisions.log, decision_trail),
        off=decisions.log,
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
        decision_log=audit.decision_log.provider,
        stopwatch=platform.stopwatch,
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


def build_container(
    settings: PlatformSettings | None = None,
    sqlite_url: str = "sqlite://",
    *,
    audit_settings: AuditSettings | None = None,
    governance_settings: GovernanceSettings | None = None,
    governance_url: str | None = None,
    governance_backend: Literal["sql", "memory"] = "sql",
) -> ApplicationContainer:
    """Return a container configured from settings (by default, from the environment).

    ``sqlite_url`` is the decision database of the ``memory`` profile; the default is a
    private in-memory database. ``governance_url`` overrides the database of the
    inventory and its audit trail (by default the SQLite file of the governance
    settings in the ``memory`` profile, PostgreSQL otherwise); the ``memory``
    ``governance_backend`` keeps both in process memory instead.
    """
    settings = settings or PlatformSettings()
    audit_settings = audit_settings or AuditSettings()
    governance_settings = governance_settings or GovernanceSettings()
    if settings.profile == "production":
        # Fails now, not at the first decision, when the pseudonymisation key is missing.
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
            "features": {"profile": settings.profile},
            "decisions": {
                "profile": settings.profile,
                "sqlite_url": sqlite_url,
                "postgres_url": settings.postgres_url,
            },
            "audit": {
                "profile": settings.profile,
                "backend": governance_backend,
                "settings": audit_settings,
                "database_url": governance_url,
                "decisions_url": decisions_url,
                "batch_size": audit_settings.batch_size,
                "archive_dir": audit_settings.archive_dir,
                "chain_decisions": "on" if audit_settings.chain_decisions else "off",
            },
            "governance": {
                "profile": settings.profile,
                "backend": governance_backend,
                "roles_file": governance_settings.roles_file,
            },
        }
    )
    return container
