"""The in-memory governance adapter behind the HTTP service."""

from __future__ import annotations

import pytest

from twinbank.entrypoints.http.governance import (
    Action,
    ActionRejected,
    Actor,
    InMemoryGovernance,
    ModelNotFound,
    ModelState,
    Stage,
)


@pytest.fixture
def governance() -> InMemoryGovernance:
    moments = iter(range(1, 100))
    store = InMemoryGovernance(lambda: next(moments))
    store.register(ModelState("m1", "fraud", "v1", 1, "team", Stage.DEVELOPMENT, "bea", 0))
    return store


def test_lifecycle_moves_through_the_stages(governance: InMemoryGovernance):
    governance.act("m1", Action.SUBMIT_FOR_VALIDATION, Actor("bea", "model_developer"), "")
    governance.act("m1", Action.COMPLETE_VALIDATION, Actor("vera", "validator"), "ok")
    state = governance.act("m1", Action.APPROVE, Actor("rita", "model_risk_officer"), "")

    assert state.stage is Stage.PRODUCTION
    assert [event.to_stage for event in governance.history("m1")] == [
        Stage.VALIDATION,
        Stage.APPROVAL,
        Stage.PRODUCTION,
    ]


def test_builder_may_not_validate_own_model(governance: InMemoryGovernance):
    governance.act("m1", Action.SUBMIT_FOR_VALIDATION, Actor("bea", "model_developer"), "")

    with pytest.raises(ActionRejected, match="separation of duties"):
        governance.act("m1", Action.COMPLETE_VALIDATION, Actor("bea", "validator"), "")
    assert governance.model("m1").stage is Stage.VALIDATION


def test_wrong_role_is_rejected(governance: InMemoryGovernance):
    with pytest.raises(ActionRejected, match="role 'validator' may not"):
        governance.act("m1", Action.SUBMIT_FOR_VALIDATION, Actor("vera", "validator"), "")


def test_action_in_wrong_stage_names_allowed_ones(governance: InMemoryGovernance):
    with pytest.raises(ActionRejected, match=r"allowed now: \['submit_for_validation'\]"):
        governance.act("m1", Action.APPROVE, Actor("rita", "model_risk_officer"), "")


def test_unknown_model_is_not_found(governance: InMemoryGovernance):
    with pytest.raises(ModelNotFound):
        governance.history("m2")
