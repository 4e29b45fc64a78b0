"""Model cards generated from the inventory record and its evidence."""

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
from twinbank.core.governance import GovernanceService, ModelCard, build_model_card

MODEL = "card-fraud@1"

SECTIONS = (
    "## Model details",
    "## Intended use",
    "## Factors",
    "## Metrics",
    "## Evaluation data",
    "## Training data",
    "## Quantitative analyses",
    "## Ethical considerations",
    "## Caveats and recommendations",
    "## Governance",
)


@pytest.fixture
def service() -> GovernanceService:
    container = governance_container("memory", None)
    use_clock(container, SettableClock())
    return container.governance.service()


def deployed(service: GovernanceService, auc: float = 0.9, adverse: bool = False) -> None:
    service.register(ALICE, registration(fair_lending=True))
    service.submit(ALICE, MODEL)
    service.record_gate_result(BOB, MODEL, documentation())
    service.record_gate_result(BOB, MODEL, performance(MODEL, auc=auc))
    service.record_gate_result(BOB, MODEL, fairness(MODEL, adverse=adverse))


def test_card_has_every_section(service: GovernanceService):
    deployed(service)
    service.sign(BOB, MODEL)
    service.promote(BOB, MODEL)
    service.sign(CAROL, MODEL)
    service.sign(DAVE, MODEL)
    service.promote(CAROL, MODEL)
    card = build_model_card(service.model(MODEL), START_NS + DAY_NS)
    text = card.markdown()
    positions = [text.index(section) for section in SECTIONS]
    assert positions == sorted(positions)
    assert card.model_details["status"] == "production"
    assert [metric.name for metric in card.metrics] == ["auc_roc", "average_precision"]
    auc = card.metrics[0]
    assert (auc.value, auc.lower, auc.upper, auc.threshold, auc.meets_threshold) == (
        0.9,
        pytest.approx(0.88),
        pytest.approx(0.92),
        0.85,
        True,
    )
    assert card.training_data["lineage"]["training_run"] == "run-42"
    assert [analysis.attribute for analysis in card.quantitative_analyses] == ["group"]
    assert card.fairness_gate.startswith("passed")
    assert any("fair-lending" in note for note in card.ethical_considerations)
    assert "Next validation due 2026-01-01T00:00:00Z." in card.caveats_and_recommendations
    assert "| risk_committee_approval | yes | passed | dave |" in text
    assert ModelCard.model_validate_json(card.model_dump_json()) == card


def test_card_flags_adverse_impact_and_weak_metric(service: GovernanceService):
    deployed(service, auc=0.86, adverse=True)
    card = build_model_card(service.model(MODEL), START_NS)
    assert card.fairness_gate.startswith("failed: group = b")
    assert any(
        note.startswith("Significant adverse impact on group = b")
        for note in card.ethical_considerations
    )
    caveats = " ".join(card.caveats_and_recommendations)
    assert "auc_roc meets its threshold 0.85 but the lower bound of its interval (0.840)" in caveats
    assert "average_precision is reported without a confidence interval" in caveats
    assert "it must not make live decisions" in caveats
    assert "Do not approve for production" in caveats
    assert "fairness_validation_passed" in caveats


def test_card_without_evidence_says_so(service: GovernanceService):
    service.register(ALICE, registration(tier=1))
    card = build_model_card(service.model(MODEL), START_NS)
    assert card.metrics == []
    assert card.quantitative_analyses == []
    assert card.fairness_gate == "no fairness analysis recorded"
    assert "No fairness analysis has been recorded" in " ".join(card.ethical_considerations)
    assert "No performance evidence is recorded" in " ".join(card.caveats_and_recommendations)
    assert "No performance evidence recorded." in card.markdown()


def test_given_evidence_replaces_recorded_evidence(service: GovernanceService):
    service.register(ALICE, registration())
    card = build_model_card(
        service.model(MODEL), START_NS, performance(MODEL, auc=0.95), fairness(MODEL)
    )
    assert card.metrics[0].value == 0.95
    assert card.fairness_gate.startswith("passed")


def test_overdue_validation_is_a_caveat(service: GovernanceService):
    service.register(ALICE, registration(tier=3))
    service.submit(ALICE, MODEL)
    service.record_gate_result(BOB, MODEL, documentation())
    service.record_gate_result(BOB, MODEL, performance(MODEL))
    service.sign(BOB, MODEL)
    service.promote(BOB, MODEL)
    service.promote(BOB, MODEL)
    card = build_model_card(service.model(MODEL), START_NS + 4 * 365 * DAY_NS)
    assert (
        "Validation is overdue since 2028-01-01T00:00:00Z; revalidate now."
        in card.caveats_and_recommendations
    )
