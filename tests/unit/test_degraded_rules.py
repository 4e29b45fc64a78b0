"""Rule floors and reason codes on degraded decisions of the single-model service."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from twinbank.adapters.clocks import PerfCounterStopwatch
from twinbank.adapters.memory import InMemoryDecisionLog, InMemoryFeatureStateStore
from twinbank.adapters.rules import load_rule_set
from twinbank.core.decisioning import Assessment, DecisionService
from twinbank.core.decisions import DecisionPolicy, Outcome
from twinbank.core.ensemble import RulesEngine
from twinbank.core.features.handbook import handbook_feature_set
from twinbank.core.features.streaming import StreamingFeatureEngine
from twinbank.core.features.vector import FeatureVector
from twinbank.core.transactions import Transaction

RULES = Path(__file__).resolve().parents[2] / "scenarios" / "rules" / "handbook-patterns.yaml"
FEATURES = handbook_feature_set()
INPUTS = ("amount", *FEATURES.names)


class LowScorer:
    version = "low-1"
    input_names = INPUTS

    def score_matrix(self, inputs):
        return np.full(len(inputs), 0.01)


class FixedClock:
    def now_ns(self) -> int:
        return 0


def service() -> DecisionService:
    rule_set, _ = load_rule_set(RULES)
    return DecisionService(
        StreamingFeatureEngine(FEATURES, InMemoryFeatureStateStore()),
        LowScorer(),
        DecisionPolicy(),
        InMemoryDecisionLog(),
        FixedClock(),
        PerfCounterStopwatch(),
        degraded_rules=RulesEngine(rule_set, INPUTS),
    )


def assessment(amount: float, degraded: tuple[str, ...]) -> Assessment:
    vector = FeatureVector(FEATURES.names, (math.nan,) * len(FEATURES.names), FEATURES.version)
    return Assessment(Transaction(1, 0, 2, 3, amount), vector, 0, degraded)


def test_degraded_decision_takes_rule_floor():
    (record,) = service().decide_assessed([assessment(500.0, ("feature_state",))])
    assert record.score == 0.75
    assert record.outcome is Outcome.DECLINE
    assert "AMOUNT_ABOVE_220" in record.reasons


def test_healthy_decision_ignores_rules():
    (record,) = service().decide_assessed([assessment(500.0, ())])
    assert record.score == 0.01
    assert record.outcome is Outcome.APPROVE
    assert "AMOUNT_ABOVE_220" not in record.reasons


def test_degraded_small_amount_keeps_model_score():
    (record,) = service().decide_assessed([assessment(20.0, ("feature_state",))])
    assert record.score == 0.01
    assert record.reasons == ("SCORE_BELOW_STEP_UP_THRESHOLD",)
