"""The ensemble: XGBoost, a network and rules, combined, calibrated, explained, on a budget."""

from .budgets import NoTracing, StageBudgets, StageTracer
from .calibration import (
    Calibration,
    InvalidCalibrationData,
    IsotonicCalibration,
    PlattCalibration,
    ReliabilityBin,
    calibration_from_dict,
    expected_calibration_error,
    fit_isotonic,
    fit_platt,
    logit,
    reliability_table,
    sigmoid,
)
from .combiner import InvalidCombiner, WeightedCombiner, fit_combiner
from .components import (
    ComponentExplanation,
    ComponentScorer,
    ExplanationMethod,
    ExplanationUnavailable,
    RulesScorer,
)
from .decider import (
    OUTCOME_BY_CODE,
    BatchScores,
    EnsembleDecider,
    EnsembleDecisionService,
    EnsembleScorer,
    NoComponentAnswered,
    ensemble_probabilities,
)
from .rules import InvalidRules, Rule, RulesEngine, RuleSet, parse_rule_set

__all__ = [
    "OUTCOME_BY_CODE",
    "BatchScores",
    "Calibration",
    "ComponentExplanation",
    "ComponentScorer",
    "EnsembleDecider",
    "EnsembleDecisionService",
    "EnsembleScorer",
    "ExplanationMethod",
    "ExplanationUnavailable",
    "InvalidCalibrationData",
    "InvalidCombiner",
    "InvalidRules",
    "IsotonicCalibration",
    "NoComponentAnswered",
    "NoTracing",
    "PlattCalibration",
    "ReliabilityBin",
    "Rule",
    "RuleSet",
    "RulesEngine",
    "RulesScorer",
    "StageBudgets",
    "StageTracer",
    "WeightedCombiner",
    "calibration_from_dict",
    "ensemble_probabilities",
    "expected_calibration_error",
    "fit_combiner",
    "fit_isotonic",
    "fit_platt",
    "logit",
    "parse_rule_set",
    "reliability_table",
    "sigmoid",
]
