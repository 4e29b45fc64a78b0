"""The model-governance port the HTTP service uses, and an in-memory adapter of it.

NOTE: the governance platform (inventory, lifecycle, audit trail) lands as its own
core application service. At that merge, an adapter maps this small port onto it in
the composition root, and ``InMemoryGovernance`` stays only as the test double. The
in-memory lifecycle below follows the product's stages and separation of duties so
that the endpoints can be exercised end to end before then.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol


class Stage(StrEnum):
    DEVELOPMENT = "development"
    VALIDATION = "validation"
    APPROVAL = "approval"
    PRODUCTION = "production"
    MONITORING = "monitoring"
    RETIRED = "retired"
    REJECTED = "rejected"


class Action(StrEnum):
    SUBMIT_FOR_VALIDATION = "submit_for_validation"
    COMPLETE_VALIDATION = "complete_validation"
    APPROVE = "approve"
    START_MONITORING = "start_monitoring"
    RETIRE = "retire"
    REJECT = "reject"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who performs a governance action: a user and the role their API key grants."""

    user: str
    role: str


@dataclass(frozen=True, slots=True)
class ModelState:
    """A model's inventory entry as the service shows it."""

    model_id: str
    name: str
    version: str
    risk_tier: int
    owner: str
    stage: Stage
    built_by: str
    updated_at_ns: int


@dataclass(frozen=True, slots=True)
class GovernanceEvent:
    model_id: str
    action: Action
    user: str
    role: str
    from_stage: Stage
    to_stage: Stage
    at_ns: int
    note: str


class ModelNotFound(KeyError):
    def __init__(self, model_id: str) -> None:
        super().__init__(model_id)
        self.model_id = model_id

    def __str__(self) -> str:
        return f"model {self.model_id!r} is not in the inventory"


class ActionRejected(ValueError):
    """A governance action the model's stage, the actor's role or separation of duties
    forbids; the message says which rule and what would be allowed."""


class ModelGovernance(Protocol):
    """What the HTTP service reads and asks of model governance."""

    def models(self) -> list[ModelState]: ...

    def model(self, model_id: str) -> ModelState:
        """Raises ModelNotFound."""
        ...

    def history(self, model_id: str) -> list[GovernanceEvent]:
        """Raises ModelNotFound."""
        ...

    def act(self, model_id: str, action: Action, actor: Actor, note: str) -> ModelState:
        """Perform an action; raises ModelNotFound or ActionRejected."""
        ...


@dataclass(frozen=True, slots=True)
class _Rule:
    sources: frozenset[Stage]
    target: Stage
    roles: frozenset[str]
    independent: bool  # the model's builder may not perform it


RULES: dict[Action, _Rule] = {
    Action.SUBMIT_FOR_VALIDATION: _Rule(
        frozenset({Stage.DEVELOPMENT}), Stage.VALIDATION, frozenset({"model_developer"}), False
    ),
    Action.COMPLETE_VALIDATION: _Rule(
        frozenset({Stage.VALIDATION}), Stage.APPROVAL, frozenset({"validator"}), True
    ),
    Action.APPROVE: _Rule(
        frozenset({Stage.APPROVAL}),
        Stage.PRODUCTION,
        frozenset({"model_risk_officer", "risk_committee"}),
        True,
    ),
    Action.START_MONITORING: _Rule(
        frozenset({Stage.PRODUCTION}), Stage.MONITORING, frozenset({"operator"}), False
    ),
    Action.RETIRE: _Rule(
        frozenset({Stage.PRODUCTION, Stage.MONITORING}),
        Stage.RETIRED,
        frozenset({"model_risk_officer", "operator"}),
        False,
    ),
    Action.REJECT: _Rule(
        frozenset({Stage.VALIDATION, Stage.APPROVAL}),
        Stage.REJECTED,
        frozenset({"validator", "model_risk_officer", "risk_committee"}),
        True,
    ),
}


class InMemoryGovernance:
    """Inventory and lifecycle in memory; every action appends to the model's history."""

    def __init__(self, clock: Callable[[], int]) -> None:
        self._clock = clock
        self._models: dict[str, ModelState] = {}
        self._history: dict[str, list[GovernanceEvent]] = {}
        self._lock = threading.Lock()

    def register(self, state: ModelState) -> None:
        with self._lock:
            self._models[state.model_id] = state
            self._history.setdefault(state.model_id, [])

    def models(self) -> list[ModelState]:
        with self._lock:
            return sorted(self._models.values(), key=lambda state: state.model_id)

    def model(self, model_id: str) -> ModelState:
        with self._lock:
            return self._get(model_id)

    def history(self, model_id: str) -> list[GovernanceEvent]:
        with self._lock:
            self._get(model_id)
            return list(self._history[model_id])

    def act(self, model_id: str, action: Action, actor: Actor, note: str) -> ModelState:
        rule = RULES[action]
        with self._lock:
            state = self._get(model_id)
            if state.stage not in rule.sources:
                allowed = sorted(a.value for a, r in RULES.items() if state.stage in r.sources)
                raise ActionRejected(
                    f"model {model_id!r} is in stage {state.stage.value!r}; {action.value!r} "
                    f"applies in {sorted(s.value for s in rule.sources)}; allowed now: {allowed}"
                )
            if actor.role not in rule.roles:
                raise ActionRejected(
                    f"role {actor.role!r} may not {action.value!r}; roles allowed: "
                    f"{sorted(rule.roles)}"
                )
            if rule.independent and actor.user == state.built_by:
                raise ActionRejected(
                    f"user {actor.user!r} built model {model_id!r} and may not "
                    f"{action.value!r} it (separation of duties)"
                )
            now = self._clock()
            updated = replace(state, stage=rule.target, updated_at_ns=now)
            self._models[model_id] = updated
            self._history[model_id].append(
                GovernanceEvent(
                    model_id, action, actor.user, actor.role, state.stage, rule.target, now, note
                )
            )
            return updated

    def _get(self, model_id: str) -> ModelState:
        try:
            return self._models[model_id]
        except KeyError:
            raise ModelNotFound(model_id) from None
