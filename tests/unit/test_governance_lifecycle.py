"""The governance lifecycle through the application service, on the in-memory backend."""

from __future__ import annotations

import pytest

from tests.support.governance import (
    ALICE,
    BOB,
    CAROL,
    DAVE,
    DAY_NS,
    START_NS,
    SettableClock,
    documentation,
    fairness,
    performance,
    registration,
    use_clock,
)
from tests.support.governance_backends import governance_container
from twinbank.core.audit import verify_trail
from twinbank.core.governance import (
    ActionNotAllowed,
    Actor,
    AlreadySignedOff,
    BuilderCannotReview,
    ComplianceStatus,
    DeveloperMustBeBuilder,
    Gate,
    GatesNotPassed,
    GovernanceService,
    InvalidEvidence,
    InventoryQuery,
    ModelAlreadyRegistered,
    ModelNotFound,
    ModelStatus,
    PersonActedInAnotherRole,
    ReasonRequired,
    RiskTier,
    Role,
)
from twinbank.entrypoints.containers import ApplicationContainer

MODEL = "card-fraud@1"


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock()


@pytest.fixture
def container(clock: SettableClock) -> ApplicationContainer:
    container = governance_container("memory", None)
    use_clock(container, clock)
    return container


@pytest.fixture
def service(container: ApplicationContainer) -> GovernanceService:
    return container.governance.service()


def validate(service: GovernanceService, model_id: str = MODEL, validator=BOB) -> None:  # type: ignore[no-untyped-def]
    service.submit(ALICE, model_id)
    service.record_gate_result(validator, model_id, documentation())
    service.record_gate_result(validator, model_id, performance(model_id))
    service.record_gate_result(validator, model_id, fairness(model_id))
    service.sign(validator, model_id)
    service.promote(validator, model_id)


def test_tier_one_model_reaches_production(service: GovernanceService, container, clock):
    service.register(ALICE, registration())
    validate(service)
    assert service.model(MODEL).status is ModelStatus.APPROVAL
    service.sign(CAROL, MODEL)
    service.sign(DAVE, MODEL, "approved at the March committee")
    clock.advance(1)
    record = service.promote(CAROL, MODEL)
    assert record.status is ModelStatus.PRODUCTION
    assert [change.to_status for change in record.history] == [
        ModelStatus.DEVELOPMENT,
        ModelStatus.VALIDATION,
        ModelStatus.APPROVAL,
        ModelStatus.PRODUCTION,
    ]
    assert {result.recorded_by for result in record.gate_results.values()} == {
        "bob",
        "carol",
        "dave",
    }
    trail = container.audit.trail()
    kinds = [stored.kind for stored in trail.records()]
    assert kinds == [
        "governance.model_registered",
        "governance.model_submitted",
        "governance.gate_result_recorded",
        "governance.gate_result_recorded",
        "governance.gate_result_recorded",
        "governance.signed_off",
        "governance.model_promoted",
        "governance.signed_off",
        "governance.signed_off",
        "governance.model_promoted",
    ]
    assert verify_trail(trail).ok


def test_builder_cannot_validate(service: GovernanceService):
    service.register(ALICE, registration())
    service.submit(ALICE, MODEL)
    with pytest.raises(BuilderCannotReview, match="alice"):
        service.record_gate_result(Actor("alice", Role.VALIDATOR), MODEL, documentation())


def test_additional_builder_cannot_approve(service: GovernanceService):
    service.register(ALICE, registration(builders=("carol",)))
    validate(service)
    with pytest.raises(BuilderCannotReview, match="carol"):
        service.sign(CAROL, MODEL)


def test_one_person_cannot_sign_two_roles(service: GovernanceService):
    service.register(ALICE, registration())
    validate(service)
    with pytest.raises(PersonActedInAnotherRole, match="already acted as validator"):
        service.sign(Actor("bob", Role.MODEL_RISK_MANAGER), MODEL)


def test_developer_who_did_not_build_cannot_submit(service: GovernanceService):
    service.register(ALICE, registration())
    with pytest.raises(DeveloperMustBeBuilder, match="erin"):
        service.submit(Actor("erin", Role.DEVELOPER), MODEL)


def test_promotion_names_missing_gates(service: GovernanceService):
    service.register(ALICE, registration())
    service.submit(ALICE, MODEL)
    service.record_gate_result(BOB, MODEL, documentation())
    with pytest.raises(GatesNotPassed) as refused:
        service.promote(BOB, MODEL)
    assert refused.value.missing == (
        "fairness_validation_passed",
        "independent_validation_complete",
        "performance_thresholds_met",
    )


def test_independent_validation_needs_evidence_gates_first(service: GovernanceService):
    service.register(ALICE, registration())
    service.submit(ALICE, MODEL)
    service.record_gate_result(BOB, MODEL, documentation())
    with pytest.raises(GatesNotPassed, match="performance_thresholds_met"):
        service.sign(BOB, MODEL)


def test_production_needs_every_sign_off_of_tier_one(service: GovernanceService):
    service.register(ALICE, registration())
    validate(service)
    service.sign(CAROL, MODEL)
    with pytest.raises(GatesNotPassed, match="risk_committee_approval"):
        service.promote(CAROL, MODEL)


def test_tier_two_needs_no_committee(service: GovernanceService):
    service.register(ALICE, registration(tier=2))
    validate(service)
    with pytest.raises(GatesNotPassed, match="model_risk_management_sign_off"):
        service.promote(BOB, MODEL)
    service.sign(CAROL, MODEL)
    assert service.promote(CAROL, MODEL).status is ModelStatus.PRODUCTION


def test_tier_three_needs_validator_only(service: GovernanceService):
    service.register(ALICE, registration(tier=3))
    service.submit(ALICE, MODEL)
    service.record_gate_result(BOB, MODEL, documentation())
    service.record_gate_result(BOB, MODEL, performance(MODEL))
    service.sign(BOB, MODEL)
    service.promote(BOB, MODEL)
    assert service.promote(BOB, MODEL).status is ModelStatus.PRODUCTION


def test_fair_lending_tier_three_needs_fairness(service: GovernanceService):
    service.register(ALICE, registration(tier=3, fair_lending=True))
    service.submit(ALICE, MODEL)
    service.record_gate_result(BOB, MODEL, documentation())
    service.record_gate_result(BOB, MODEL, performance(MODEL))
    with pytest.raises(GatesNotPassed, match="fairness_validation_passed"):
        service.sign(BOB, MODEL)


def test_significant_adverse_impact_fails_fairness_gate(service: GovernanceService):
    service.register(ALICE, registration())
    service.submit(ALICE, MODEL)
    record = service.record_gate_result(BOB, MODEL, fairness(MODEL, adverse=True))
    result = record.gate_results[Gate.FAIRNESS]
    assert result.passed is False
    assert result.evidence["findings"][0]["group"] == "b"
    service.record_gate_result(BOB, MODEL, documentation())
    service.record_gate_result(BOB, MODEL, performance(MODEL))
    with pytest.raises(GatesNotPassed, match="fairness_validation_passed"):
        service.sign(BOB, MODEL)


def test_performance_below_threshold_fails_gate(service: GovernanceService):
    service.register(ALICE, registration())
    service.submit(ALICE, MODEL)
    record = service.record_gate_result(BOB, MODEL, performance(MODEL, auc=0.80))
    result = record.gate_results[Gate.PERFORMANCE]
    assert result.passed is False
    checks = {check["metric"]: check for check in result.evidence["checks"]}
    assert checks["auc_roc"]["passed"] is False
    assert checks["average_precision"]["passed"] is True
    assert len(result.evidence_sha256) == 64


def test_evidence_for_another_model_is_invalid(service: GovernanceService):
    service.register(ALICE, registration())
    service.submit(ALICE, MODEL)
    with pytest.raises(InvalidEvidence, match="card-fraud@2"):
        service.record_gate_result(BOB, MODEL, performance("card-fraud@2"))


def test_missing_threshold_metric_is_invalid(service: GovernanceService):
    service.register(ALICE, registration())
    service.submit(ALICE, MODEL)
    evidence = performance(MODEL).model_copy(update={"metrics": {}})
    with pytest.raises(InvalidEvidence, match="auc_roc"):
        service.record_gate_result(BOB, MODEL, evidence)


def test_evidence_after_sign_off_is_refused(service: GovernanceService):
    service.register(ALICE, registration())
    service.submit(ALICE, MODEL)
    service.record_gate_result(BOB, MODEL, documentation())
    service.record_gate_result(BOB, MODEL, performance(MODEL))
    service.record_gate_result(BOB, MODEL, fairness(MODEL))
    service.sign(BOB, MODEL)
    with pytest.raises(ActionNotAllowed, match="already signed off"):
        service.record_gate_result(BOB, MODEL, documentation(complete=False))


def test_second_sign_off_of_a_role_is_refused(service: GovernanceService):
    service.register(ALICE, registration())
    validate(service)
    service.sign(CAROL, MODEL)
    with pytest.raises(AlreadySignedOff, match="carol"):
        service.sign(Actor("frank", Role.MODEL_RISK_MANAGER), MODEL)


def test_refused_action_records_nothing(service: GovernanceService, container):
    service.register(ALICE, registration())
    trail = container.audit.trail()
    head = trail.head()
    with pytest.raises(ActionNotAllowed):
        service.promote(BOB, MODEL)
    assert trail.head() == head
    assert service.model(MODEL).revision == 1


def test_duplicate_registration_is_refused(service: GovernanceService):
    service.register(ALICE, registration())
    with pytest.raises(ModelAlreadyRegistered):
        service.register(ALICE, registration())


def test_unknown_model_is_named(service: GovernanceService):
    with pytest.raises(ModelNotFound, match="nothing@1"):
        service.submit(ALICE, "nothing@1")


def test_return_to_development_starts_new_cycle(service: GovernanceService):
    service.register(ALICE, registration())
    validate(service)
    with pytest.raises(ReasonRequired):
        service.return_to_development(CAROL, MODEL, " ")
    record = service.return_to_development(CAROL, MODEL, "challenger outperforms it")
    assert record.status is ModelStatus.DEVELOPMENT
    assert record.review_cycle == 2
    assert record.gate_results == {}
    assert record.acting_roles == {}
    assert service.submit(ALICE, MODEL).status is ModelStatus.VALIDATION


def test_rejected_model_can_be_reworked(service: GovernanceService):
    service.register(ALICE, registration())
    service.submit(ALICE, MODEL)
    assert service.reject(BOB, MODEL, "documentation missing").status is ModelStatus.REJECTED
    with pytest.raises(ActionNotAllowed):
        service.promote(BOB, MODEL)
    assert service.return_to_development(ALICE, MODEL, "rework").status is ModelStatus.DEVELOPMENT


def test_builder_cannot_reject(service: GovernanceService):
    service.register(ALICE, registration())
    service.submit(ALICE, MODEL)
    with pytest.raises(ActionNotAllowed):
        service.reject(ALICE, MODEL, "mine")


def test_retired_model_stays_retired(service: GovernanceService):
    service.register(ALICE, registration())
    service.retire(ALICE, MODEL, "abandoned")
    with pytest.raises(ActionNotAllowed, match="already retired"):
        service.retire(CAROL, MODEL, "again")
    with pytest.raises(ActionNotAllowed):
        service.submit(ALICE, MODEL)


def test_developer_cannot_retire_serving_model(service: GovernanceService):
    service.register(ALICE, registration(tier=3))
    service.submit(ALICE, MODEL)
    service.record_gate_result(BOB, MODEL, documentation())
    service.record_gate_result(BOB, MODEL, performance(MODEL))
    service.sign(BOB, MODEL)
    service.promote(BOB, MODEL)
    service.promote(BOB, MODEL)
    with pytest.raises(ActionNotAllowed, match="model_risk_manager"):
        service.retire(ALICE, MODEL, "done")
    assert service.retire(CAROL, MODEL, "replaced by rules").status is ModelStatus.RETIRED


def deploy(service: GovernanceService, version: str) -> None:
    model_id = f"card-fraud@{version}"
    service.register(ALICE, registration(version=version, tier=2))
    validate(service, model_id)
    service.sign(CAROL, model_id)
    service.promote(CAROL, model_id)


def test_promotion_supersedes_serving_version(service: GovernanceService, clock):
    deploy(service, "1")
    first_serving = clock.now
    clock.advance(30)
    service.promote(ALICE, "card-fraud@1")  # production -> monitoring
    clock.advance(30)
    deploy(service, "2")
    second_serving = clock.now
    assert service.model("card-fraud@1").status is ModelStatus.RETIRED
    assert service.model("card-fraud@1").history[-1].action == "superseded"
    assert service.in_production_at("card-fraud", first_serving - 1) is None
    assert service.in_production_at("card-fraud", first_serving).version == "1"
    assert service.in_production_at("card-fraud", first_serving + 45 * DAY_NS).version == "1"
    assert service.in_production_at("card-fraud", second_serving).version == "2"
    assert service.in_production_at("other", second_serving) is None


def test_overdue_validation_by_tier(service: GovernanceService, clock):
    deploy(service, "1")
    assert service.overdue_validations() == []
    record = service.model("card-fraud@1")
    assert record.compliance_status is ComplianceStatus.COMPLIANT
    assert record.last_validation_ns == START_NS
    clock.advance(2 * 365 + 1)  # tier 2 revalidates every 24 months
    assert [model.model_id for model in service.overdue_validations()] == ["card-fraud@1"]
    service.record_periodic_validation(
        Actor("grace", Role.VALIDATOR), "card-fraud@1", ComplianceStatus.FINDINGS_OPEN, "drift"
    )
    record = service.model("card-fraud@1")
    assert record.compliance_status is ComplianceStatus.FINDINGS_OPEN
    assert record.last_validation_ns == clock.now
    assert service.overdue_validations() == []


def test_inventory_queries(service: GovernanceService):
    service.register(ALICE, registration("card-fraud", "1", tier=1))
    service.register(ALICE, registration("card-fraud", "2", tier=2))
    service.register(ALICE, registration("credit-limit", "1", tier=3, owner="head-of-credit"))
    service.submit(ALICE, "credit-limit@1")

    def ids(query: InventoryQuery) -> list[str]:
        return [record.model_id for record in service.inventory(query)]

    assert ids(InventoryQuery()) == ["card-fraud@1", "card-fraud@2", "credit-limit@1"]
    assert ids(InventoryQuery(risk_tier=RiskTier.MEDIUM)) == ["card-fraud@2"]
    assert ids(InventoryQuery(status=ModelStatus.VALIDATION)) == ["credit-limit@1"]
    assert ids(InventoryQuery(owner="head-of-credit")) == ["credit-limit@1"]
    assert ids(InventoryQuery(name="card-fraud", risk_tier=RiskTier.HIGH)) == ["card-fraud@1"]


def test_status_report_lists_blockers(service: GovernanceService):
    service.register(ALICE, registration())
    service.submit(ALICE, MODEL)
    report = service.status(MODEL)
    assert report.next_stage is ModelStatus.APPROVAL
    assert Gate.DOCUMENTATION in report.blocking_gates
    assert report.required_roles == {Role.VALIDATOR, Role.MODEL_RISK_MANAGER, Role.RISK_COMMITTEE}
    assert len(report.required_gates) == 6
