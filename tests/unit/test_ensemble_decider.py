"""The ensemble decider: combination, floors, explanations and degradation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from twinbank.adapters.memory import InMemoryDecisionLog
from twinbank.core.decisioning import Assessment
from twinbank.core.decisions import DecisionPolicy, Outcome
from twinbank.core.ensemble import (
    ComponentExplanation,
    EnsembleDecider,
    EnsembleDecisionService,
    ExplanationMethod,
    ExplanationUnavailable,
    NoComponentAnswered,
    PlattCalibration,
    RulesEngine,
    RulesScorer,
    StageBudgets,
    WeightedCombiner,
    parse_rule_set,
)
from twinbank.core.features.vector import FeatureVector
from twinbank.core.modeling import ModelInputs
from twinbank.core.transactions import Transaction
from twinbank.simulator.scenario import ModelSpec

FEATURES = ("average", "risk")
INPUTS = ModelInputs(("amount", *FEATURES), FEATURES)
MS = 1_000_000


class SteppedStopwatch:
    """A stopwatch that components advance by hand; each reading adds 1 µs."""

    def __init__(self) -> None:
        self.now = 0

    def ticks_ns(self) -> int:
        self.now += 1_000
        return self.now


class FixedClock:
    def now_ns(self) -> int:
        return 1_700_000_000_000_000_000


class LinearComponent:
    """log-odds = bias + amount * slope; explains itself exactly."""

    explanation_method = ExplanationMethod.TREE_SHAP
    input_names = INPUTS.names

    def __init__(self, name: str, slope: float, bias: float = -3.0) -> None:
        self.name = name
        self.version = f"{name}-1"
        self.slope = slope
        self.bias = bias

    def score_matrix(self, inputs):
        return 1 / (1 + np.exp(-(self.bias + self.slope * inputs[:, 0])))

    def score_row(self, row) -> float:
        return float(self.score_matrix(row.reshape(1, -1))[0])

    def explain_row(self, row) -> ComponentExplanation:
        return ComponentExplanation(self.bias, (self.slope * row[0], 0.0, 0.0))


class RaisingComponent(LinearComponent):
    def score_row(self, row) -> float:
        raise RuntimeError("model server unreachable")

    def explain_row(self, row) -> ComponentExplanation:
        raise RuntimeError("model server unreachable")


class SlowComponent(LinearComponent):
    """Advances the stopwatch past the 30 ms model budget, as a slow model would."""

    def __init__(self, name: str, stopwatch: SteppedStopwatch) -> None:
        super().__init__(name, 1.0)
        self.stopwatch = stopwatch

    def score_row(self, row) -> float:
        self.stopwatch.now += 45 * MS
        return super().score_row(row)

    def explain_row(self, row) -> ComponentExplanation:
        self.stopwatch.now += 45 * MS
        return super().explain_row(row)


class OfflineComponent(LinearComponent):
    explanation_method = ExplanationMethod.OFFLINE

    def explain_row(self, row) -> ComponentExplanation:
        raise ExplanationUnavailable("offline")


def rules() -> RulesScorer:
    rule_set = parse_rule_set(
        {
            "version": "r-1",
            "base_log_odds": -4.0,
            "rules": [
                {
                    "code": "RISKY_TERMINAL",
                    "description": "d",
                    "owner": "o",
                    "version": "1",
                    "when": [{"input": "risk", "op": ">=", "value": 0.5}],
                    "contribution": 2.0,
                },
                {
                    "code": "HUGE",
                    "description": "d",
                    "owner": "o",
                    "version": "1",
                    "when": [{"input": "amount", "op": ">", "value": 1000}],
                    "floor": 0.9,
                },
            ],
        },
        "test",
    )
    return RulesScorer(RulesEngine(rule_set, INPUTS.names), INPUTS.names)


def decider(components, weights, stopwatch=None):
    names = tuple(c.name for c in components)
    return EnsembleDecider(
        INPUTS,
        components,
        WeightedCombiner(names, weights),
        PlattCalibration(1.0, 0.0),
        DecisionPolicy(),
        stopwatch or SteppedStopwatch(),
        FixedClock(),
        StageBudgets(),
    )


def transaction(amount: float, transaction_id: int = 1) -> Transaction:
    return Transaction(transaction_id, 0, 7, 9, amount)


def features(average: float = 50.0, risk: float = 0.0) -> FeatureVector:
    return FeatureVector(FEATURES, (average, risk), "fs-1")


def test_combined_score_is_weighted_log_odds():
    record = decider([LinearComponent("a", 0.01), rules()], (0.5, 0.5)).decide(
        transaction(100.0), features(risk=0.6)
    )
    expected = 0.5 * (-3.0 + 1.0) + 0.5 * (-4.0 + 2.0)
    assert record.explanation.combined_log_odds == pytest.approx(expected)
    assert record.score == pytest.approx(1 / (1 + math.exp(-expected)))
    assert "RISKY_TERMINAL" in record.reasons
    assert record.explanation.reason_codes == ("RISKY_TERMINAL",)
    assert record.degraded == ()


def test_floor_rule_lifts_score_to_decline():
    record = decider([LinearComponent("a", 0.0), rules()], (1.0, 1.0)).decide(
        transaction(5000.0), features()
    )
    assert record.score == 0.9
    assert record.outcome is Outcome.DECLINE
    assert record.explanation.floor == 0.9
    assert record.explanation.reason_codes == ("HUGE",)


def test_top_contributions_in_score_units():
    record = decider([LinearComponent("a", 0.02), rules()], (2.0, 1.0)).decide(
        transaction(100.0), features(risk=0.9)
    )
    positive = dict(record.explanation.top_positive)
    assert positive["amount"] == pytest.approx(2.0 * 0.02 * 100.0)
    assert positive["risk"] == pytest.approx(1.0 * 2.0)
    assert record.explanation.units == "log-odds"


def test_raising_component_is_left_out_and_weights_renormalize():
    record = decider([RaisingComponent("broken", 1.0), rules()], (3.0, 1.0)).decide(
        transaction(10.0), features(risk=0.9)
    )
    assert record.degraded == ("broken: raised RuntimeError: model server unreachable",)
    assert record.explanation.combined_log_odds == pytest.approx(4.0 * (-4.0 + 2.0))
    report = {r.name: r for r in record.explanation.components}
    assert report["broken"].left_out.startswith("raised RuntimeError")
    assert report["broken"].weight is None
    assert report["rules"].weight == pytest.approx(4.0)


def test_component_over_budget_is_left_out():
    stopwatch = SteppedStopwatch()
    slow = SlowComponent("slow", stopwatch)
    record = decider([slow, rules()], (1.0, 1.0), stopwatch).decide(transaction(10.0), features())
    assert len(record.degraded) == 1
    assert record.degraded[0].startswith("slow: took 45.00 ms, over the 30.0 ms budget")
    assert record.explanation.combined_log_odds == pytest.approx(2.0 * -4.0)
    stages = dict(record.explanation.stage_ns)
    assert stages["slow"] >= 45 * MS


def test_all_components_left_out_raises():
    with pytest.raises(NoComponentAnswered, match="no component with a weight answered"):
        decider([RaisingComponent("a", 1.0)], (1.0,)).decide(transaction(1.0), features())


def test_non_finite_score_is_left_out():
    broken = LinearComponent("nan", float("nan"))
    record = decider([broken, rules()], (1.0, 1.0)).decide(transaction(10.0), features())
    assert record.degraded == ("nan: returned a non-finite score nan",)
    assert record.explanation.combined_log_odds == pytest.approx(2.0 * -4.0)


def test_offline_component_is_marked_in_record():
    record = decider([OfflineComponent("network", 0.01), rules()], (1.0, 1.0)).decide(
        transaction(100.0), features()
    )
    assert record.explanation.explained_offline == ("network",)


def test_null_feature_is_listed_in_record():
    record = decider([LinearComponent("a", 0.01), rules()], (1.0, 1.0)).decide(
        transaction(100.0), features(average=math.nan)
    )
    assert record.explanation.null_inputs == ("average",)


def test_stage_timings_cover_every_stage():
    record = decider([LinearComponent("a", 0.01), rules()], (1.0, 1.0)).decide(
        transaction(100.0), features(), features_ns=5_000
    )
    names = [name for name, _ in record.explanation.stage_ns]
    assert names == ["features", "a", "rules", "decision"]
    assert dict(record.explanation.stage_ns)["features"] >= 5_000


def test_slow_features_are_recorded_as_degraded():
    record = decider([LinearComponent("a", 0.01)], (1.0,)).decide(
        transaction(100.0), features(), features_ns=25 * MS
    )
    assert record.degraded[0].startswith("features: took 25.")


def test_batch_scores_equal_single_decisions():
    ensemble = decider([LinearComponent("a", 0.01), rules()], (0.7, 0.3))
    amounts = [5.0, 100.0, 300.0, 2000.0]
    risks = [0.0, 0.6, 0.0, 0.9]
    matrix = np.array([[a, 50.0, r] for a, r in zip(amounts, risks, strict=True)])
    batch = ensemble.score_batch(matrix)
    for position, (amount, risk) in enumerate(zip(amounts, risks, strict=True)):
        record = ensemble.decide(transaction(amount), features(risk=risk))
        assert batch.probabilities[position] == pytest.approx(record.score)
        assert ["APPROVE", "STEP_UP", "DECLINE"][batch.outcomes[position]] == record.outcome


def test_mismatched_combiner_names_are_rejected():
    with pytest.raises(ValueError, match="same components in the same order"):
        EnsembleDecider(
            INPUTS,
            [LinearComponent("a", 1.0)],
            WeightedCombiner(("b",), (1.0,)),
            PlattCalibration(1.0, 0.0),
            DecisionPolicy(),
            SteppedStopwatch(),
            FixedClock(),
        )


def test_ensemble_scenario_needs_artifact():
    with pytest.raises(ValueError, match="kind 'ensemble' loads a stored artifact"):
        ModelSpec.model_validate({"kind": "ensemble", "training": {"training_start": "2018-07-25"}})


def test_artifact_version_must_be_hash():
    with pytest.raises(ValueError, match=r"artifact\.version"):
        ModelSpec.model_validate(
            {
                "kind": "ensemble",
                "artifact": {"store": "out", "version": "latest"},
                "training": {"training_start": "2018-07-25"},
            }
        )


@pytest.mark.parametrize("kind", ["xgboost", "ensemble"])
def test_empty_model_inputs_are_rejected(kind: str):
    document: dict[str, object] = {
        "kind": kind,
        "inputs": [],
        "training": {"training_start": "2018-07-25"},
    }
    if kind == "ensemble":
        document["artifact"] = {"store": "out", "version": "0123456789abcdef"}
    with pytest.raises(ValueError, match="inputs"):
        ModelSpec.model_validate(document)


def test_degraded_features_leave_rules_alone():
    record = decider([LinearComponent("a", 0.01), rules()], (1.0, 1.0)).decide(
        transaction(5000.0), features(), degraded_features=("feature_state",)
    )
    assert record.degraded[0] == "feature_state"
    assert record.degraded[1] == "a: features degraded; the rules decide alone"
    assert record.explanation.combined_log_odds == pytest.approx(2.0 * -4.0)
    assert record.score == 0.9
    assert record.explanation.reason_codes == ("HUGE",)


def test_service_decides_and_logs_each_assessment():
    log = InMemoryDecisionLog()
    service = EnsembleDecisionService(
        decider([LinearComponent("a", 0.01), rules()], (1.0, 1.0)), log
    )
    assessments = [
        Assessment(transaction(10.0), features(), 1_000),
        Assessment(transaction(2000.0, 2), features(), 1_000, ("feature_state",)),
    ]
    records = service.decide_assessed(assessments)
    assert log.count() == 2
    assert records[0].degraded == ()
    assert records[1].degraded[0] == "feature_state"
    assert records[1].outcome is Outcome.DECLINE
