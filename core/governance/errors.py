"""Refusals of the governance rules. Each names the model, the person and the fix."""

from __future__ import annotations

from collections.abc import Iterable

from .inventory import Gate, ModelStatus, Role


class GovernanceRefusal(Exception):
    """A governance action that the rules do not allow; nothing was changed or recorded."""

    def __init__(self, model_id: str, message: str) -> None:
        super().__init__(message)
        self.model_id = model_id


class ModelNotFound(GovernanceRefusal):
    def __init__(self, model_id: str) -> None:
        super().__init__(
            model_id,
            f"model {model_id!r} is not in the inventory; register it first or check the id "
            "(NAME@VERSION)",
        )


class ModelAlreadyRegistered(GovernanceRefusal):
    def __init__(self, model_id: str) -> None:
        super().__init__(
            model_id,
            f"model {model_id!r} is already registered; register a new version instead",
        )


class RoleNotHeld(GovernanceRefusal):
    def __init__(self, model_id: str, user: str, role: Role) -> None:
        super().__init__(
            model_id,
            f"{user!r} does not hold the role {role.value!r} in the role directory; act in a "
            "role you hold or ask for it to be granted",
        )
        self.user = user
        self.role = role


class ActionNotAllowed(GovernanceRefusal):
    """The action does not apply to the model's status, or the role may not take it."""

    def __init__(self, model_id: str, action: str, reason: str) -> None:
        super().__init__(model_id, f"cannot {action} {model_id!r}: {reason}")
        self.action = action


class RoleMayNotAct(ActionNotAllowed):
    """The role the person acts in does not take this action (whatever the status)."""


class BuilderCannotReview(GovernanceRefusal):
    """Separation of duties: who built a model neither validates nor approves it."""

    def __init__(self, model_id: str, user: str, action: str) -> None:
        super().__init__(
            model_id,
            f"{user!r} built {model_id!r} and so cannot {action} it as a reviewer; a validator "
            "or approver who did not build it must act",
        )
        self.user = user


class DeveloperMustBeBuilder(GovernanceRefusal):
    def __init__(self, model_id: str, user: str, action: str) -> None:
        super().__init__(
            model_id,
            f"{user!r} is not one of the builders of {model_id!r} and so cannot {action} it "
            "as its developer",
        )
        self.user = user


class PersonActedInAnotherRole(GovernanceRefusal):
    """Separation of duties: one person cannot fill two required roles for one model."""

    def __init__(self, model_id: str, user: str, role: Role, earlier: Role) -> None:
        super().__init__(
            model_id,
            f"{user!r} already acted as {earlier.value} on {model_id!r} in this review and "
            f"cannot also act as {role.value}; another person must take that role",
        )
        self.user = user
        self.role = role
        self.earlier = earlier


class GatesNotPassed(GovernanceRefusal):
    def __init__(self, model_id: str, target: ModelStatus, missing: Iterable[Gate]) -> None:
        names = sorted(gate.value for gate in missing)
        super().__init__(
            model_id,
            f"{model_id!r} cannot move to {target.value}: gates not passed: {', '.join(names)}",
        )
        self.target = target
        self.missing = tuple(names)


class AlreadySignedOff(GovernanceRefusal):
    def __init__(self, model_id: str, gate: Gate, by: str) -> None:
        super().__init__(
            model_id,
            f"{gate.value} for {model_id!r} was already signed by {by!r} in this review",
        )
        self.gate = gate


class InvalidEvidence(GovernanceRefusal):
    def __init__(self, model_id: str, gate: Gate, problem: str) -> None:
        super().__init__(model_id, f"evidence for {gate.value} on {model_id!r}: {problem}")
        self.gate = gate


class ReasonRequired(GovernanceRefusal):
    def __init__(self, model_id: str, action: str) -> None:
        super().__init__(
            model_id, f"to {action} {model_id!r} give a reason; it goes into the audit trail"
        )


class ConcurrentModification(GovernanceRefusal):
    def __init__(self, model_id: str, revision: int) -> None:
        super().__init__(
            model_id,
            f"{model_id!r} changed while this action was being applied (expected revision "
            f"{revision}); reload its status and try again",
        )
