"""Registrations, evidence and a settable clock for governance tests."""

from __future__ import annotations

import numpy as np
from dependency_injector import providers

from twinbank.core.fairness import FairnessReport, analyse_attribute
from twinbank.core.governance import (
    Actor,
    DocumentationEvidence,
    FinancialExposure,
    Lineage,
    MetricEstimate,
    ModelRegistration,
    PerformanceEvidence,
    RiskTier,
    Role,
)
from twinbank.entrypoints.containers import ApplicationContainer

START_NS = 1_735_689_600_000_000_000  # 2025-01-01T00:00:00Z
DAY_NS = 86_400_000_000_000

ALICE = Actor("alice", Role.DEVELOPER)
BOB = Actor("bob", Role.VALIDATOR)
CAROL = Actor("carol", Role.MODEL_RISK_MANAGER)
DAVE = Actor("dave", Role.RISK_COMMITTEE)


class SettableClock:
    """Business time that tests move by hand."""

    def __init__(self, now_ns: int = START_NS) -> None:
        self.now = now_ns

    def now_ns(self) -> int:
        return self.now

    def advance(self, days: float) -> int:
        self.now += int(days * DAY_NS)
        return self.now


def use_clock(container: ApplicationContainer, clock: SettableClock) -> None:
    container.platform.clock.override(providers.Object(clock))


def registration(
    name: str = "card-fraud",
    version: str = "1",
    tier: int = 1,
    *,
    fair_lending: bool = False,
    builders: tuple[str, ...] = (),
    owner: str = "head-of-fraud",
) -> ModelRegistration:
    return ModelRegistration(
        name=name,
        version=version,
        risk_tier=RiskTier(tier),
        owner=owner,
        material_use="Approves, steps up or declines card payments in real time.",
        decisions_per_year=400_000_000,
        financial_exposure=FinancialExposure(amount=2.5e9, currency="EUR"),
        fair_lending=fair_lending,
        lineage=Lineage(
            training_data_version="handbook-2018-07-25",
            feature_pipeline_version="fs-abc123",
            training_run="run-42",
        ),
        performance_thresholds={"auc_roc": 0.85, "average_precision": 0.5},
        description="Gradient-boosted trees on the 14 handbook features and the amount.",
        intended_use="Fraud scoring of card-present and card-not-present payments.",
        out_of_scope_uses=("credit decisions",),
        limitations=("Trained on simulated data.",),
        additional_builders=builders,
    )


def documentation(complete: bool = True) -> DocumentationEvidence:
    return DocumentationEvidence(reference="docs://card-fraud/1", complete=complete)


def performance(
    model_id: str, auc: float = 0.9, average_precision: float = 0.6
) -> PerformanceEvidence:
    return PerformanceEvidence(
        model=model_id,
        evaluation_data="handbook test week 2018-08-08 to 2018-08-14",
        training_data="handbook training week 2018-07-25 to 2018-07-31",
        metrics={
            "auc_roc": MetricEstimate(
                value=auc, lower=auc - 0.02, upper=auc + 0.02, method="DeLong"
            ),
            "average_precision": MetricEstimate(value=average_precision),
        },
    )


def fairness(model_id: str, adverse: bool = False) -> FairnessReport:
    """A report on synthetic approvals: group b's rate is 0.75 (adverse) or 0.95 of a's."""
    rate_b = 0.6 if adverse else 0.76
    groups = np.array(["a"] * 1000 + ["b"] * 1000)
    approved = np.r_[np.arange(1000) < 800, np.arange(1000) < int(rate_b * 1000)]
    return FairnessReport(
        model=model_id,
        dataset="synthetic",
        population="2,000 applicants",
        decision_rule="approve when the default probability is below 0.5",
        attributes=[analyse_attribute("group", groups, approved)],
    )
