"""The scorer port of the ensemble: a component that scores rows and may explain them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import numpy as np
import numpy.typing as npt

from .calibration import sigmoid
from .rules import RulesEngine

FloatArray = npt.NDArray[np.float64]


class ExplanationMethod(StrEnum):
    """The method by which a component explains its score; the first two are exact (local accuracy)."""

    TREE_SHAP = "tree-shap"
    RULE_WEIGHTS = "rule-weights"
    OFFLINE = "offline"
    """Not explained while deciding; the record marks it, and an offline job explains it."""


class ExplanationUnavailable(RuntimeError):
    """Raised by ``explain_row`` of a component whose method is OFFLINE."""


@dataclass(frozen=True, slots=True)
class ComponentExplanation:
    """Additive contributions, in log-odds, of each input to one component's score.

    Local accuracy: ``base_log_odds + sum(contributions) == logit(score)`` up to float
    rounding.
    """

    base_log_odds: float
    contributions: tuple[float, ...]
    """One value per input, in the component's ``input_names`` order."""


class ComponentScorer(Protocol):
    """A scoring component of the ensemble (XGBoost, the network, the rules)."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def input_names(self) -> tuple[str, ...]: ...

    @property
    def explanation_method(self) -> ExplanationMethod: ...

    def score_matrix(self, inputs: FloatArray) -> FloatArray:
        """Return one fraud probability in [0, 1] per row."""
        ...

    def score_row(self, row: FloatArray) -> float:
        """Return the probability of one row (a 1-D array); faster than a 1-row matrix."""
        ...

    def explain_row(self, row: FloatArray) -> ComponentExplanation:
        """Return the row's contributions; raises ExplanationUnavailable when OFFLINE."""
        ...


class RulesScorer:
    """The rules engine behind the component port.

    Its score is ``sigmoid(base_log_odds + contributions of firing rules)``, so the rule
    weights are an exact explanation. Floors do not enter this score: the decision
    applies them after calibration (see ``EnsembleDecider``).
    """

    def __init__(self, engine: RulesEngine, input_names: tuple[str, ...]) -> None:
        self._engine = engine
        self._input_names = input_names

    name = "rules"
    explanation_method = ExplanationMethod.RULE_WEIGHTS

    @property
    def engine(self) -> RulesEngine:
        return self._engine

    @property
    def version(self) -> str:
        return self._engine.rule_set.version

    @property
    def input_names(self) -> tuple[str, ...]:
        return self._input_names

    def score_matrix(self, inputs: FloatArray) -> FloatArray:
        return sigmoid(self._engine.evaluate(inputs).log_odds)

    def score_row(self, row: FloatArray) -> float:
        _, log_odds, _ = self._engine.evaluate_row(row.tolist())
        return float(sigmoid(np.array(log_odds)))

    def explain_row(self, row: FloatArray) -> ComponentExplanation:
        """Spread each firing rule's contribution evenly over the inputs it reads."""
        fired, _, _ = self._engine.evaluate_row(row.tolist())
        index = {name: position for position, name in enumerate(self._input_names)}
        contributions = np.zeros(len(self._input_names))
        rules = self._engine.rule_set.rules
        for position in fired:
            rule = rules[position]
            names = list(dict.fromkeys(name for c in rule.when for name in c.inputs))
            share = self._engine.contributions[position] / len(names)
            for name in names:
                contributions[index[name]] += share
        return ComponentExplanation(
            self._engine.rule_set.base_log_odds, tuple(float(c) for c in contributions)
        )
