"""The rules engine: validation with file and field errors, firing, floors, null inputs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from twinbank.adapters.rules import load_rule_set
from twinbank.core.ensemble import InvalidRules, RulesEngine, RulesScorer, parse_rule_set
from twinbank.core.features.handbook import handbook_feature_set

INPUTS = ("amount", "average", "risk")
SHIPPED = Path(__file__).resolve().parents[2] / "scenarios" / "rules" / "handbook-patterns.yaml"


def rule(**overrides):
    base = {
        "code": "BIG",
        "description": "a big amount",
        "owner": "fraud-strategy",
        "version": "1",
        "when": [{"input": "amount", "op": ">", "value": 100}],
        "contribution": 2.0,
    }
    return base | overrides


def rule_set(*rules, base=-4.0):
    return parse_rule_set({"version": "t-1", "base_log_odds": base, "rules": list(rules)}, "t.yaml")


def test_shipped_rules_load_against_handbook_inputs():
    loaded, digest = load_rule_set(SHIPPED)
    engine = RulesEngine(loaded, ("amount", *handbook_feature_set().names))
    assert len(digest) == 64
    assert "SPENDING_SPIKE" in engine.codes


def test_unknown_field_names_file_and_field():
    data = rule(severity="high")
    with pytest.raises(InvalidRules, match=r"t\.yaml: field rules\.0\.severity: Extra inputs"):
        rule_set(data)


def test_rule_needs_exactly_one_effect():
    with pytest.raises(InvalidRules, match="exactly one of 'contribution'"):
        rule_set(rule(floor=0.9))


def test_condition_needs_exactly_one_right_hand_side():
    condition = {"input": "amount", "op": ">", "value": 1, "other": "average"}
    with pytest.raises(InvalidRules, match=r"rules\.0\.when\.0: Value error, set exactly one"):
        rule_set(rule(when=[condition]))


def test_unknown_operator_is_rejected():
    with pytest.raises(InvalidRules, match=r"rules\.0\.when\.0\.op"):
        rule_set(rule(when=[{"input": "amount", "op": "~", "value": 1}]))


def test_duplicate_codes_are_rejected():
    with pytest.raises(InvalidRules, match=r"repeated: \['BIG'\]"):
        rule_set(rule(), rule())


def test_unknown_input_names_rule_and_known_inputs():
    rules = rule_set(rule(when=[{"input": "velocity", "op": ">", "value": 1}]))
    with pytest.raises(InvalidRules, match=r"rule BIG .* reads 'velocity'.*known inputs"):
        RulesEngine(rules, INPUTS)


def test_yaml_syntax_error_names_file(tmp_path: Path):
    path = tmp_path / "broken.yaml"
    path.write_text("rules: [\n")
    with pytest.raises(InvalidRules, match=r"broken\.yaml: is not valid YAML"):
        load_rule_set(path)


def test_missing_file_names_path(tmp_path: Path):
    with pytest.raises(InvalidRules, match=r"absent\.yaml: cannot be read"):
        load_rule_set(tmp_path / "absent.yaml")


def test_contribution_floor_and_ratio_condition():
    rules = rule_set(
        rule(),
        rule(code="SPIKE", when=[{"input": "amount", "op": ">", "other": "average", "factor": 3}]),
        rule(
            code="RISKY",
            contribution=None,
            floor=0.8,
            when=[{"input": "risk", "op": ">=", "value": 0.5}],
        ),
    )
    engine = RulesEngine(rules, INPUTS)
    rows = np.array([[150.0, 40.0, 0.0], [50.0, 40.0, 0.6], [10.0, 40.0, 0.0]])
    hits = engine.evaluate(rows)
    assert hits.fired.tolist() == [[True, True, False], [False, False, True], [False, False, False]]
    np.testing.assert_allclose(hits.log_odds, [-4.0 + 2 + 2, -4.0, -4.0])
    np.testing.assert_allclose(hits.floor, [0.0, 0.8, 0.0])
    for row, expected in zip(rows, hits.log_odds, strict=True):
        assert engine.evaluate_row(row.tolist())[1] == pytest.approx(expected)


def test_null_input_never_fires():
    rules = rule_set(
        rule(when=[{"input": "amount", "op": "!=", "value": 5}]),
        rule(code="SPIKE", when=[{"input": "amount", "op": ">", "other": "average"}]),
    )
    engine = RulesEngine(rules, INPUTS)
    row = [math.nan, math.nan, 0.0]
    assert not engine.evaluate(np.array([row])).fired.any()
    assert engine.evaluate_row(row)[0] == ()
    assert engine.evaluate_row([200.0, math.nan, 0.0])[0] == (0,)


def test_rules_explanation_is_locally_accurate():
    rules = rule_set(
        rule(),
        rule(
            code="SPIKE",
            when=[{"input": "amount", "op": ">", "other": "average", "factor": 2}],
            contribution=1.5,
        ),
    )
    scorer = RulesScorer(RulesEngine(rules, INPUTS), INPUTS)
    for row in ([150.0, 40.0, 0.0], [150.0, 100.0, 0.0], [1.0, 1.0, 1.0]):
        vector = np.array(row)
        explanation = scorer.explain_row(vector)
        probability = scorer.score_row(vector)
        total = explanation.base_log_odds + sum(explanation.contributions)
        assert total == pytest.approx(math.log(probability / (1 - probability)), abs=1e-9)
