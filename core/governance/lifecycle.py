"""The lifecycle state machine: which action moves a model where, who may take it, and
what must have passed first.

Development -> Validation -> Approval -> Production -> Monitoring, with Rejected and
Retired beside them and a way back to Development. Every function is pure: it checks
the rules, then returns the changed record with the events to audit, or raises a
``GovernanceRefusal`` and changes nothing.

Separation of duties, for every action: acting as ``developer`` requires being one of
the model's builders, and acting in a reviewer role (validator, model risk manager,
risk committee) requires not being one. Within one review cycle a person acts in one
role only, so nobody signs two required roles.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from ..audit.canonical import canonical_json
from .errors import (
    ActionNotAllowed,
    AlreadySignedOff,
    BuilderCannotReview,
    DeveloperMustBeBuilder,
    GatesNotPassed,
    PersonActedInAnotherRole,
    ReasonRequired,
    RoleMayNotAct,
)
from .events import GovernanceEvent, GovernanceEventKind
from .inventory import (
    EVIDENCE_GATES,
    SIGN_OFF_GATES,
    ComplianceStatus,
    Gate,
    GateResult,
    ModelRecord,
    ModelRegistration,
    ModelStatus,
    Role,
    StatusChange,
)
from .tiers import approval_gates, revalidation_months, validation_gates

REVIEWER_ROLES = frozenset({Role.VALIDATOR, Role.MODEL_RISK_MANAGER, Role.RISK_COMMITTEE})
_PROMOTABLE_FROM = {
    ModelStatus.VALIDATION: ModelStatus.APPROVAL,
    ModelStatus.APPROVAL: ModelStatus.PRODUCTION,
    ModelStatus.PRODUCTION: ModelStatus.MONITORING,
}
_PROMOTERS = {
    ModelStatus.VALIDATION: frozenset({Role.VALIDATOR, Role.MODEL_RISK_MANAGER}),
    ModelStatus.APPROVAL: frozenset({Role.VALIDATOR, Role.MODEL_RISK_MANAGER}),
    ModelStatus.PRODUCTION: frozenset({Role.DEVELOPER, Role.VALIDATOR, Role.MODEL_RISK_MANAGER}),
}
_SIGNING_STATUS = {
    Gate.INDEPENDENT_VALIDATION: ModelStatus.VALIDATION,
    Gate.MRM_SIGN_OFF: ModelStatus.APPROVAL,
    Gate.RISK_COMMITTEE_APPROVAL: ModelStatus.APPROVAL,
}


@dataclass(frozen=True, slots=True)
class Actor:
    """A person and the role they act in."""

    user: str
    role: Role


@dataclass(frozen=True, slots=True)
class Change:
    """A changed record (``revision`` already increased) and the events that record it."""

    record: ModelRecord
    events: tuple[GovernanceEvent, ...]


def register(registration: ModelRegistration, actor: Actor, at_ns: int) -> Change:
    """Create the inventory record of a new model version, in Development.

    The registering developer and ``additional_builders`` are the model's builders.
    """
    model_id = registration.model_id
    _require_role(model_id, actor, {Role.DEVELOPER}, "register")
    builders = tuple(dict.fromkeys((actor.user, *registration.additional_builders)))
    change = StatusChange(
        from_status=None,
        to_status=ModelStatus.DEVELOPMENT,
        at_ns=at_ns,
        actor=actor.user,
        role=actor.role,
        action="registered",
    )
    record = ModelRecord(
        **registration.model_dump(),
        model_id=model_id,
        status=ModelStatus.DEVELOPMENT,
        builders=builders,
        registered_at_ns=at_ns,
        registered_by=actor.user,
        acting_roles={actor.user: actor.role},
        history=(change,),
    )
    event = _event(
        record,
        GovernanceEventKind.MODEL_REGISTERED,
        actor,
        at_ns,
        {"registration": registration.model_dump(mode="json"), "builders": list(builders)},
    )
    return Change(record, (event,))


def submit(record: ModelRecord, actor: Actor, at_ns: int, note: str = "") -> Change:
    """Development -> Validation, by one of the model's builders."""
    _require_status(record, "submit", {ModelStatus.DEVELOPMENT})
    acting = _act(record, actor, "submit", {Role.DEVELOPER})
    return _transition(
        record,
        actor,
        at_ns,
        ModelStatus.VALIDATION,
        GovernanceEventKind.MODEL_SUBMITTED,
        "submitted",
        note,
        acting_roles=acting,
    )


def record_evidence(
    record: ModelRecord,
    actor: Actor,
    at_ns: int,
    gate: Gate,
    passed: bool,
    evidence: dict[str, Any],
    note: str = "",
) -> Change:
    """Record a validator's result for an evidence gate (documentation, performance,
    fairness) during Validation, before the independent validation is signed.

    A later result for the same gate replaces the earlier one; both stay in the audit
    trail.
    """
    action = f"record {gate.value} for"
    if gate not in EVIDENCE_GATES:
        raise ActionNotAllowed(
            record.model_id,
            action,
            f"{gate.value} is passed by a sign-off, not by evidence; use sign",
        )
    _require_status(record, action, {ModelStatus.VALIDATION})
    if record.passed(Gate.INDEPENDENT_VALIDATION):
        raise ActionNotAllowed(
            record.model_id,
            action,
            "the independent validation is already signed off on the evidence it saw; return "
            "the model to development to revise the evidence",
        )
    acting = _act(record, actor, action, {Role.VALIDATOR})
    result = GateResult(
        gate=gate,
        passed=passed,
        recorded_by=actor.user,
        role=actor.role,
        recorded_at_ns=at_ns,
        evidence=evidence,
        evidence_sha256=evidence_digest(evidence),
        note=note,
    )
    updated = _update(
        record,
        gate_results={**record.gate_results, gate: result},
        acting_roles=acting,
    )
    event = _event(
        updated,
        GovernanceEventKind.GATE_RESULT_RECORDED,
        actor,
        at_ns,
        {
            "gate": gate.value,
            "passed": passed,
            "evidence": evidence,
            "evidence_sha256": result.evidence_sha256,
            "note": note,
            "review_cycle": record.review_cycle,
        },
    )
    return Change(updated, (event,))


def sign(record: ModelRecord, actor: Actor, at_ns: int, note: str = "") -> Change:
    """Sign the gate of the actor's role: independent validation (validator, during
    Validation, once the other validation gates passed), model risk management sign-off
    or risk committee approval (during Approval)."""
    gate = SIGN_OFF_GATES.get(actor.role)
    if gate is None:
        raise ActionNotAllowed(
            record.model_id,
            "sign",
            f"the role {actor.role.value} signs no gate; sign as validator, "
            "model_risk_manager or risk_committee",
        )
    _require_status(record, f"sign {gate.value} for", {_SIGNING_STATUS[gate]})
    acting = _act(record, actor, f"sign {gate.value} for", {actor.role})
    earlier = record.gate_results.get(gate)
    if earlier is not None and earlier.passed:
        raise AlreadySignedOff(record.model_id, gate, earlier.recorded_by)
    updates: dict[str, Any] = {}
    if gate is Gate.INDEPENDENT_VALIDATION:
        missing = _missing(record, validation_gates(record) - {Gate.INDEPENDENT_VALIDATION})
        if missing:
            raise GatesNotPassed(record.model_id, ModelStatus.APPROVAL, missing)
        updates = {
            "last_validation_ns": at_ns,
            "next_validation_ns": add_months(at_ns, revalidation_months(record)),
            "compliance_status": ComplianceStatus.COMPLIANT,
        }
    result = GateResult(
        gate=gate,
        passed=True,
        recorded_by=actor.user,
        role=actor.role,
        recorded_at_ns=at_ns,
        note=note,
    )
    updated = _update(
        record, gate_results={**record.gate_results, gate: result}, acting_roles=acting, **updates
    )
    event = _event(
        updated,
        GovernanceEventKind.SIGNED_OFF,
        actor,
        at_ns,
        {"gate": gate.value, "note": note, "review_cycle": record.review_cycle},
    )
    return Change(updated, (event,))


def promote(record: ModelRecord, actor: Actor, at_ns: int) -> Change:
    """Move the model one stage on: Validation -> Approval -> Production -> Monitoring.

    Approval needs every validation gate of the tier; Production needs those and every
    sign-off of the tier.
    """
    target = _PROMOTABLE_FROM.get(record.status)
    if target is None:
        raise ActionNotAllowed(
            record.model_id,
            "promote",
            f"it is in {record.status.value}; only validation, approval and production "
            "move on by promotion",
        )
    acting = _act(record, actor, f"promote to {target.value}", _PROMOTERS[record.status])
    missing = missing_gates(record, target)
    if missing:
        raise GatesNotPassed(record.model_id, target, missing)
    return _transition(
        record,
        actor,
        at_ns,
        target,
        GovernanceEventKind.MODEL_PROMOTED,
        "promoted",
        acting_roles=acting,
    )


def reject(record: ModelRecord, actor: Actor, at_ns: int, reason: str) -> Change:
    """Validation or Approval -> Rejected, by a reviewer."""
    _require_reason(record, "reject", reason)
    _require_status(record, "reject", {ModelStatus.VALIDATION, ModelStatus.APPROVAL})
    acting = _act(record, actor, "reject", REVIEWER_ROLES)
    return _transition(
        record,
        actor,
        at_ns,
        ModelStatus.REJECTED,
        GovernanceEventKind.MODEL_REJECTED,
        "rejected",
        reason,
        acting_roles=acting,
    )


def return_to_development(record: ModelRecord, actor: Actor, at_ns: int, reason: str) -> Change:
    """Send the model back to Development and start a new review cycle.

    From Validation or Approval a reviewer sends it back, or a builder withdraws it;
    from Rejected a builder takes it back for rework; from Production or Monitoring a
    validator or model risk manager withdraws it, and it stops serving. Gate results
    and the roles people acted in are cleared for the new cycle.
    """
    _require_reason(record, "return to development", reason)
    allowed = {
        ModelStatus.VALIDATION: {Role.DEVELOPER, *REVIEWER_ROLES},
        ModelStatus.APPROVAL: {Role.DEVELOPER, *REVIEWER_ROLES},
        ModelStatus.REJECTED: {Role.DEVELOPER},
        ModelStatus.PRODUCTION: {Role.VALIDATOR, Role.MODEL_RISK_MANAGER},
        ModelStatus.MONITORING: {Role.VALIDATOR, Role.MODEL_RISK_MANAGER},
    }
    _require_status(record, "return to development", set(allowed))
    _act(record, actor, "return to development", allowed[record.status])
    return _transition(
        record,
        actor,
        at_ns,
        ModelStatus.DEVELOPMENT,
        GovernanceEventKind.MODEL_RETURNED_TO_DEVELOPMENT,
        "returned_to_development",
        reason,
        review_cycle=record.review_cycle + 1,
        gate_results={},
        acting_roles={},
    )


def retire(record: ModelRecord, actor: Actor, at_ns: int, reason: str) -> Change:
    """Retire the model for good: a model risk manager from any status, or a builder
    abandoning a model still in Development or Rejected."""
    _require_reason(record, "retire", reason)
    if record.status is ModelStatus.RETIRED:
        raise ActionNotAllowed(record.model_id, "retire", "it is already retired")
    allowed = {Role.MODEL_RISK_MANAGER}
    if record.status in {ModelStatus.DEVELOPMENT, ModelStatus.REJECTED}:
        allowed.add(Role.DEVELOPER)
    acting = _act(record, actor, "retire", allowed)
    return _transition(
        record,
        actor,
        at_ns,
        ModelStatus.RETIRED,
        GovernanceEventKind.MODEL_RETIRED,
        "retired",
        reason,
        acting_roles=acting,
    )


def supersede(record: ModelRecord, successor_id: str, actor: Actor, at_ns: int) -> Change:
    """Retire a serving version because ``successor_id`` has just been promoted to
    Production: one version of a model serves at a time."""
    return _transition(
        record,
        actor,
        at_ns,
        ModelStatus.RETIRED,
        GovernanceEventKind.MODEL_RETIRED,
        "superseded",
        f"superseded by {successor_id}",
    )


def record_periodic_validation(
    record: ModelRecord,
    actor: Actor,
    at_ns: int,
    compliance: ComplianceStatus,
    note: str = "",
) -> Change:
    """Record a validator's periodic revalidation of a serving model; it sets the last
    and next validation dates and the compliance status."""
    action = "record a periodic validation of"
    if compliance is ComplianceStatus.NOT_ASSESSED:
        raise ActionNotAllowed(
            record.model_id,
            action,
            "a validation must conclude compliant, findings_open or non_compliant",
        )
    _require_status(record, action, {ModelStatus.PRODUCTION, ModelStatus.MONITORING})
    acting = _act(record, actor, action, {Role.VALIDATOR})
    next_ns = add_months(at_ns, revalidation_months(record))
    updated = _update(
        record,
        last_validation_ns=at_ns,
        next_validation_ns=next_ns,
        compliance_status=compliance,
        acting_roles=acting,
    )
    event = _event(
        updated,
        GovernanceEventKind.PERIODIC_VALIDATION_RECORDED,
        actor,
        at_ns,
        {
            "compliance_status": compliance.value,
            "last_validation_ns": at_ns,
            "next_validation_ns": next_ns,
            "note": note,
        },
    )
    return Change(updated, (event,))


def missing_gates(record: ModelRecord, target: ModelStatus) -> frozenset[Gate]:
    """Return the gates that block a move to ``target`` (empty when none do)."""
    if target is ModelStatus.APPROVAL:
        return _missing(record, validation_gates(record))
    if target is ModelStatus.PRODUCTION:
        return _missing(record, validation_gates(record) | approval_gates(record))
    return frozenset()


def next_stage(record: ModelRecord) -> ModelStatus | None:
    """Return the status that promotion would move the model to, or None."""
    return _PROMOTABLE_FROM.get(record.status)


def evidence_digest(evidence: dict[str, Any]) -> str:
    """Return the SHA-256 of the evidence's canonical JSON."""
    return hashlib.sha256(canonical_json(evidence).encode("utf-8")).hexdigest()


def add_months(time_ns: int, months: int) -> int:
    """Return the same UTC instant ``months`` calendar months later; the 31st becomes the
    last day of a shorter month."""
    seconds, remainder = divmod(time_ns, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    month_index = moment.month - 1 + months
    year = moment.year + month_index // 12
    month = month_index % 12 + 1
    following = date(year + month // 12, month % 12 + 1, 1)
    day = min(moment.day, (following - date(year, month, 1)).days)
    shifted = moment.replace(year=year, month=month, day=day)
    return int(shifted.timestamp()) * 1_000_000_000 + remainder


def _act(
    record: ModelRecord, actor: Actor, action: str, allowed: Collection[Role]
) -> dict[str, Role]:
    """Check that the actor may take the action; return the updated acting roles."""
    _require_role(record.model_id, actor, allowed, action)
    is_builder = actor.user in record.builders
    if actor.role is Role.DEVELOPER and not is_builder:
        raise DeveloperMustBeBuilder(record.model_id, actor.user, action)
    if actor.role in REVIEWER_ROLES and is_builder:
        raise BuilderCannotReview(record.model_id, actor.user, action)
    earlier = record.acting_roles.get(actor.user)
    if earlier is not None and earlier is not actor.role:
        raise PersonActedInAnotherRole(record.model_id, actor.user, actor.role, earlier)
    return {**record.acting_roles, actor.user: actor.role}


def _require_role(model_id: str, actor: Actor, allowed: Collection[Role], action: str) -> None:
    if actor.role not in allowed:
        names = ", ".join(sorted(role.value for role in allowed))
        raise RoleMayNotAct(
            model_id, action, f"the role {actor.role.value} may not do this; it takes: {names}"
        )


def _require_status(record: ModelRecord, action: str, allowed: Collection[ModelStatus]) -> None:
    if record.status not in allowed:
        names = ", ".join(sorted(status.value for status in allowed))
        raise ActionNotAllowed(
            record.model_id, action, f"it is in {record.status.value}, and this applies in: {names}"
        )


def _require_reason(record: ModelRecord, action: str, reason: str) -> None:
    if not reason.strip():
        raise ReasonRequired(record.model_id, action)


def _missing(record: ModelRecord, gates: frozenset[Gate]) -> frozenset[Gate]:
    return frozenset(gate for gate in gates if not record.passed(gate))


def _update(record: ModelRecord, **changes: Any) -> ModelRecord:
    return record.model_copy(update={**changes, "revision": record.revision + 1})


def _transition(
    record: ModelRecord,
    actor: Actor,
    at_ns: int,
    target: ModelStatus,
    kind: GovernanceEventKind,
    action: str,
    reason: str = "",
    **changes: Any,
) -> Change:
    step = StatusChange(
        from_status=record.status,
        to_status=target,
        at_ns=at_ns,
        actor=actor.user,
        role=actor.role,
        action=action,
        reason=reason,
    )
    updated = _update(record, status=target, history=(*record.history, step), **changes)
    event = _event(
        updated,
        kind,
        actor,
        at_ns,
        {
            "from_status": record.status.value,
            "to_status": target.value,
            "action": action,
            "reason": reason,
            "review_cycle": record.review_cycle,
        },
    )
    return Change(updated, (event,))


def _event(
    record: ModelRecord,
    kind: GovernanceEventKind,
    actor: Actor,
    at_ns: int,
    details: dict[str, Any],
) -> GovernanceEvent:
    return GovernanceEvent(
        kind, record.model_id, record.version, at_ns, actor.user, actor.role, details
    )
