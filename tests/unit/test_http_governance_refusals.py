"""Each governance refusal maps to one HTTP status with the core's message."""

from __future__ import annotations

import json

import pytest

from twinbank.core.governance import (
    ActionNotAllowed,
    AlreadySignedOff,
    BuilderCannotReview,
    ConcurrentModification,
    DeveloperMustBeBuilder,
    Gate,
    GatesNotPassed,
    GovernanceRefusal,
    InvalidEvidence,
    ModelAlreadyRegistered,
    ModelNotFound,
    ModelStatus,
    PersonActedInAnotherRole,
    ReasonRequired,
    Role,
    RoleMayNotAct,
    RoleNotHeld,
)
from twinbank.entrypoints.http.app import refusal_response

MODEL_ID = "card-fraud@1"

CASES: list[tuple[GovernanceRefusal, int]] = [
    (ModelNotFound(MODEL_ID), 404),
    (ModelAlreadyRegistered(MODEL_ID), 409),
    (ConcurrentModification(MODEL_ID, 3), 409),
    (RoleNotHeld(MODEL_ID, "eve", Role.VALIDATOR), 403),
    (RoleMayNotAct(MODEL_ID, "register", "the role validator may not do this"), 403),
    (BuilderCannotReview(MODEL_ID, "dan", "sign"), 403),
    (DeveloperMustBeBuilder(MODEL_ID, "eve", "submit"), 403),
    (PersonActedInAnotherRole(MODEL_ID, "vera", Role.MODEL_RISK_MANAGER, Role.VALIDATOR), 403),
    (ActionNotAllowed(MODEL_ID, "submit", "it is in production"), 409),
    (GatesNotPassed(MODEL_ID, ModelStatus.APPROVAL, [Gate.DOCUMENTATION]), 409),
    (AlreadySignedOff(MODEL_ID, Gate.MRM_SIGN_OFF, "mona"), 409),
]


def _all_refusals(kind: type[GovernanceRefusal]) -> set[type[GovernanceRefusal]]:
    found = set()
    for subclass in kind.__subclasses__():
        found |= {subclass, *_all_refusals(subclass)}
    return found


@pytest.mark.parametrize(("refusal", "status"), CASES, ids=lambda case: type(case).__name__)
def test_refusal_status_and_message(refusal: GovernanceRefusal, status: int):
    response = refusal_response(refusal)
    body = json.loads(response.body)

    assert response.status_code == status
    assert body["detail"] == str(refusal)
    assert body["refusal"] == type(refusal).__name__


@pytest.mark.parametrize(
    ("refusal", "field"),
    [
        (
            InvalidEvidence(MODEL_ID, Gate.PERFORMANCE, "the evidence is about another model"),
            "evidence",
        ),
        (ReasonRequired(MODEL_ID, "reject"), "note"),
    ],
)
def test_request_refusal_names_field(refusal: GovernanceRefusal, field: str):
    response = refusal_response(refusal)
    (problem,) = json.loads(response.body)["detail"]

    assert response.status_code == 422
    assert problem["loc"] == ["body", field]
    assert problem["msg"] == str(refusal)


def test_every_refusal_kind_covered():
    covered = {type(refusal) for refusal, _ in CASES} | {InvalidEvidence, ReasonRequired}

    assert _all_refusals(GovernanceRefusal) == covered
