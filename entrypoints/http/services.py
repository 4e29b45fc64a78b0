"""Everything the HTTP application uses, assembled by the composition root."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from opentelemetry.sdk.trace import TracerProvider

from twinbank.adapters.journal import DurableJournal
from twinbank.core.features.online import OnlineFeatureService
from twinbank.core.governance import GovernanceService, ModelNotFound, ModelRecord
from twinbank.core.ports import Clock, OnlineFeatureStore

from .auth import ApiKeyRegistry
from .bounded import BoundedCall
from .decider import DecisionPipeline, StateReader
from .forwarding import Forwarding
from .metrics import ServiceMetrics
from .online_reads import OnlineReadBatcher
from .schemas import DependencyCheck, ServedModel
from .settings import GovernanceGate, ServeSettings

log = logging.getLogger(__name__)

GOVERNANCE_CHECK_TIMEOUT_S = 2.0
"""How long a readiness check waits for the governance inventory to respond."""


@dataclass
class BackgroundWork:
    """A thread started with the application and stopped before it ends (the embedded
    stream worker of the memory profile)."""

    name: str
    run: Callable[[threading.Event], object]
    stop_event: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(
            target=self.run, args=(self.stop_event,), name=self.name, daemon=True
        )
        self.thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout_s)


@dataclass
class ServingServices:
    settings: ServeSettings
    pipeline: DecisionPipeline
    online: OnlineFeatureService
    online_reads: OnlineReadBatcher
    online_store: OnlineFeatureStore
    state_reader: StateReader
    governance: Callable[[], GovernanceService]
    """The composition root's provider. Each call returns the service and, when the
    inventory's database was unreachable before, connects to it first."""
    keys: ApiKeyRegistry
    metrics: ServiceMetrics
    clock: Clock
    served_model: ServedModel
    governance_gate: GovernanceGate
    journal: DurableJournal
    forwarding: Forwarding
    background: list[BackgroundWork] = field(default_factory=list)
    tracer_provider: TracerProvider | None = None
    _started: bool = False
    _inventory_lookup: BoundedCall[ModelRecord] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._inventory_lookup = BoundedCall(
            "governance inventory", self._served_model_record, GOVERNANCE_CHECK_TIMEOUT_S
        )

    def _served_model_record(self) -> ModelRecord:
        return self.governance().model(self.served_model.inventory_id)

    def start(self) -> None:
        if self._started:
            return
        self.forwarding.start()
        # Open the feature-state connection now, so the first decision does not pay
        # for connecting inside its lookup budget.
        warm = self._ping("feature state store", self.state_reader.ping)
        if not warm.ok:
            log.warning("feature state not reachable at start: %s", warm.detail)
        for work in self.background:
            work.start()
        self._started = True
        log.info(
            "decision service started: model %s, %s forwarding, %d background workers",
            self.served_model.model_version,
            self.settings.forwarding,
            len(self.background),
        )

    def stop(self) -> None:
        if not self._started:
            return
        for work in self.background:
            work.stop()
        self.forwarding.stop()
        self.journal.close()
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        self._started = False
        log.info("decision service stopped")

    def readiness(self) -> dict[str, DependencyCheck]:
        """Check each dependency; decisions go on while remote ones are down."""
        checks = {"model": DependencyCheck(ok=True, detail=self.served_model.model_version)}
        checks["feature_state"] = self._ping("feature state store", self.state_reader.ping)
        checks["online_store"] = self._ping("online feature store", self.online_store.ping)
        checks["governance"] = self.governance_check()
        try:
            self.journal.sync()
            checks["journal"] = DependencyCheck(ok=True, detail=str(self.journal.folder))
        except OSError as error:
            checks["journal"] = DependencyCheck(ok=False, detail=f"cannot sync: {error}")
        for status in self.forwarding.statuses():
            detail = f"{status.backlog} records waiting in the journal"
            if not status.healthy:
                detail += f"; last error: {status.last_error}"
            checks[f"forward_{status.name}"] = DependencyCheck(ok=status.healthy, detail=detail)
        return checks

    def governance_check(self) -> DependencyCheck:
        """Check the served model's status in the inventory.

        The check fails when the inventory is unreachable or has not responded within
        ``GOVERNANCE_CHECK_TIMEOUT_S``, or with ``enforce`` when the
        model has left production and monitoring since the start (because a restart
        would reject it). With ``report`` it passes in any status and names the status.
        """
        model_id = self.served_model.inventory_id
        try:
            record = self._inventory_lookup()
        except ModelNotFound:
            return DependencyCheck(
                ok=self.governance_gate == "report",
                detail=f"{model_id} is not in the governance inventory "
                f"(governance_gate {self.governance_gate}); register it and take it to production",
            )
        except Exception as error:  # the inventory's database is down, hung or unreadable
            return DependencyCheck(
                ok=False,
                detail=f"governance inventory unreachable: {type(error).__name__}: {error}",
            )
        detail = f"{model_id} is in {record.status.value} (governance_gate {self.governance_gate})"
        return DependencyCheck(
            ok=record.is_serving or self.governance_gate == "report", detail=detail
        )

    def refresh_gauges(self) -> None:
        for status in self.forwarding.statuses():
            self.metrics.journal_backlog.labels(status.name).set(status.backlog)
            self.metrics.forwarder_healthy.labels(status.name).set(1 if status.healthy else 0)

    @staticmethod
    def _ping(what: str, ping: Callable[[], bool]) -> DependencyCheck:
        try:
            reachable = ping()
        except Exception as error:  # any failure means unreachable; report which
            return DependencyCheck(
                ok=False, detail=f"{what} unreachable: {type(error).__name__}: {error}"
            )
        return DependencyCheck(
            ok=reachable, detail="reachable" if reachable else f"{what} did not answer"
        )
