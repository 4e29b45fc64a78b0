"""The governance application service: the one API that the CLI and HTTP call.

Every action checks the role directory, applies a lifecycle rule and commits the
changed record with its audit events in one transaction. A refused action raises a
``GovernanceRefusal`` and stores nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..ports import Clock
from . import lifecycle
from .errors import ModelAlreadyRegistered, ModelNotFound, RoleNotHeld
from .evidence import GateEvidence, gate_of, judge
from .inventory import ComplianceStatus, Gate, ModelRecord, ModelRegistration, ModelStatus, Role
from .lifecycle import Actor, Change
from .ports import GovernanceStore, RoleDirectory
from .queries import InventoryQuery, validation_overdue, version_in_production_at
from .tiers import required_gates, required_roles


@dataclass(frozen=True, slots=True)
class ModelStatusReport:
    """Where a model stands and what blocks its next promotion."""

    record: ModelRecord
    next_stage: ModelStatus | None
    blocking_gates: frozenset[Gate]
    required_gates: frozenset[Gate]
    required_roles: frozenset[Role]


class GovernanceService:
    def __init__(self, store: GovernanceStore, roles: RoleDirectory, clock: Clock) -> None:
        self._store = store
        self._roles = roles
        self._clock = clock

    # Actions

    def register(self, actor: Actor, registration: ModelRegistration) -> ModelRecord:
        self._require_role(registration.model_id, actor)
        if self._store.get(registration.model_id) is not None:
            raise ModelAlreadyRegistered(registration.model_id)
        return self._commit([lifecycle.register(registration, actor, self._now())])

    def submit(self, actor: Actor, model_id: str, note: str = "") -> ModelRecord:
        record = self._acting_on(model_id, actor)
        return self._commit([lifecycle.submit(record, actor, self._now(), note)])

    def record_gate_result(
        self, actor: Actor, model_id: str, evidence: GateEvidence, note: str = ""
    ) -> ModelRecord:
        """Judge the evidence for its gate (see ``evidence.judge``) and record the result."""
        record = self._acting_on(model_id, actor)
        passed, plain = judge(record, evidence)
        change = lifecycle.record_evidence(
            record, actor, self._now(), gate_of(evidence), passed, plain, note
        )
        return self._commit([change])

    def sign(self, actor: Actor, model_id: str, note: str = "") -> ModelRecord:
        record = self._acting_on(model_id, actor)
        return self._commit([lifecycle.sign(record, actor, self._now(), note)])

    def promote(self, actor: Actor, model_id: str) -> ModelRecord:
        """Promote one stage; promotion to Production retires the version serving before."""
        record = self._acting_on(model_id, actor)
        now = self._now()
        change = lifecycle.promote(record, actor, now)
        changes = [change]
        if change.record.status is ModelStatus.PRODUCTION:
            for incumbent in self._store.find(InventoryQuery(name=record.name)):
                if incumbent.is_serving and incumbent.model_id != model_id:
                    changes.append(lifecycle.supersede(incumbent, model_id, actor, now))
        return self._commit(changes)

    def reject(self, actor: Actor, model_id: str, reason: str) -> ModelRecord:
        record = self._acting_on(model_id, actor)
        return self._commit([lifecycle.reject(record, actor, self._now(), reason)])

    def return_to_development(self, actor: Actor, model_id: str, reason: str) -> ModelRecord:
        record = self._acting_on(model_id, actor)
        return self._commit([lifecycle.return_to_development(record, actor, self._now(), reason)])

    def retire(self, actor: Actor, model_id: str, reason: str) -> ModelRecord:
        record = self._acting_on(model_id, actor)
        return self._commit([lifecycle.retire(record, actor, self._now(), reason)])

    def record_periodic_validation(
        self, actor: Actor, model_id: str, compliance: ComplianceStatus, note: str = ""
    ) -> ModelRecord:
        record = self._acting_on(model_id, actor)
        change = lifecycle.record_periodic_validation(record, actor, self._now(), compliance, note)
        return self._commit([change])

    # Queries

    def model(self, model_id: str) -> ModelRecord:
        record = self._store.get(model_id)
        if record is None:
            raise ModelNotFound(model_id)
        return record

    def status(self, model_id: str) -> ModelStatusReport:
        record = self.model(model_id)
        next_stage = lifecycle.next_stage(record)
        blocking = lifecycle.missing_gates(record, next_stage) if next_stage else frozenset()
        return ModelStatusReport(
            record=record,
            next_stage=next_stage,
            blocking_gates=blocking,
            required_gates=required_gates(record),
            required_roles=required_roles(record),
        )

    def inventory(self, query: InventoryQuery | None = None) -> list[ModelRecord]:
        return self._store.find(query or InventoryQuery())

    def overdue_validations(self, at_ns: int | None = None) -> list[ModelRecord]:
        """Return serving models due for revalidation at ``at_ns`` (default: now)."""
        at = self._now() if at_ns is None else at_ns
        return validation_overdue(self._store.find(InventoryQuery()), at)

    def in_production_at(self, name: str, at_ns: int) -> ModelRecord | None:
        """Return the version of model ``name`` that was serving at ``at_ns``."""
        return version_in_production_at(self._store.find(InventoryQuery(name=name)), name, at_ns)

    # Helpers

    def _now(self) -> int:
        return self._clock.now_ns()

    def _require_role(self, model_id: str, actor: Actor) -> None:
        if not self._roles.holds(actor.user, actor.role):
            raise RoleNotHeld(model_id, actor.user, actor.role)

    def _acting_on(self, model_id: str, actor: Actor) -> ModelRecord:
        record = self.model(model_id)
        self._require_role(model_id, actor)
        return record

    def _commit(self, changes: Sequence[Change]) -> ModelRecord:
        records = [change.record for change in changes]
        entries = [event.audit_entry() for change in changes for event in change.events]
        self._store.commit(records, entries)
        return records[0]
