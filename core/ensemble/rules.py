"""The rules engine: known fraud patterns as declared, versioned, owned rules.

A rule fires when all its conditions hold. A firing rule either adds ``contribution``
log-odds to the rules component's score, or sets ``floor``, a minimum for the final
fraud probability of the decision. A condition over a null (NaN) input is false, so a
rule never fires on data that is not there; the decision record lists null inputs.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

Comparison = Literal[">", ">=", "<", "<=", "==", "!="]
COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


class InvalidRules(ValueError):
    """A rule file that fails validation; the message names the source, field and fix."""


class Condition(BaseModel):
    """``input op value``, or ``input op factor * other`` when ``other`` names an input."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: str = Field(min_length=1, description="A request field or feature name.")
    op: Comparison
    value: float | None = None
    other: str | None = Field(None, description="Compare against this input instead.")
    factor: float = Field(1.0, description="Multiplies ``other``.")

    @model_validator(mode="after")
    def _one_right_hand_side(self) -> Condition:
        if (self.value is None) == (self.other is None):
            raise ValueError("set exactly one of 'value' (a number) and 'other' (an input name)")
        return self

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.input,) if self.other is None else (self.input, self.other)


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$", description="Reason code, upper snake case.")
    description: str = Field(min_length=1)
    owner: str = Field(min_length=1, description="Team or person answerable for the rule.")
    version: str = Field(min_length=1)
    when: tuple[Condition, ...] = Field(min_length=1)
    contribution: float | None = Field(None, description="Log-odds added when the rule fires.")
    floor: float | None = Field(
        None, gt=0.0, le=1.0, description="Minimum fraud probability when the rule fires."
    )

    @model_validator(mode="after")
    def _one_effect(self) -> Rule:
        if (self.contribution is None) == (self.floor is None):
            raise ValueError("set exactly one of 'contribution' (log-odds) and 'floor' (0-1]")
        return self


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(min_length=1)
    base_log_odds: float = Field(
        description="Score of the rules component, in log-odds, when no rule fires."
    )
    rules: tuple[Rule, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_codes(self) -> RuleSet:
        codes = [rule.code for rule in self.rules]
        duplicates = sorted({code for code in codes if codes.count(code) > 1})
        if duplicates:
            raise ValueError(f"reason codes must be unique; repeated: {duplicates}")
        return self

    @property
    def inputs(self) -> tuple[str, ...]:
        """Return every input name the conditions read, in first-use order."""
        seen: dict[str, None] = {}
        for rule in self.rules:
            for condition in rule.when:
                for name in condition.inputs:
                    seen[name] = None
        return tuple(seen)


def parse_rule_set(data: object, source: str) -> RuleSet:
    """Validate parsed YAML or JSON as a rule set; raises InvalidRules naming ``source``."""
    try:
        return RuleSet.model_validate(data)
    except ValidationError as error:
        problems = []
        for problem in error.errors():
            location = ".".join(str(part) for part in problem["loc"]) or "(top level)"
            problems.append(f"{source}: field {location}: {problem['msg']}")
        raise InvalidRules(
            "\n".join(problems) + "\nFix the fields above; every rule needs code, description, "
            "owner, version, when and one of contribution or floor."
        ) from None


@dataclass(frozen=True, slots=True)
class RuleHits:
    """The rules that fired on a batch of rows, and their effects."""

    fired: BoolArray
    """``(rows, rules)``: True where the rule fired."""
    log_odds: FloatArray
    """Per row, the rules component's score in log-odds."""
    floor: FloatArray
    """Per row, the highest floor among firing rules, 0 when none fired."""


class RulesEngine:
    """Evaluates a rule set over model-input rows (the columns ``input_names``).

    Raises InvalidRules at construction when a condition reads an input that is not a
    column, naming the rule and the known inputs.
    """

    def __init__(self, rule_set: RuleSet, input_names: Sequence[str]) -> None:
        index = {name: position for position, name in enumerate(input_names)}
        for rule in rule_set.rules:
            for condition in rule.when:
                for name in condition.inputs:
                    if name not in index:
                        raise InvalidRules(
                            f"rule {rule.code} (rule set {rule_set.version}) reads {name!r}, "
                            f"which is not an input; known inputs: {sorted(index)}"
                        )
        self._rule_set = rule_set
        self._index = index
        self._contributions = np.array([rule.contribution or 0.0 for rule in rule_set.rules])
        self._floors = np.array([rule.floor or 0.0 for rule in rule_set.rules])
        self._compiled = [
            [
                (
                    COMPARISONS[c.op],
                    index[c.input],
                    c.value,
                    None if c.other is None else index[c.other],
                    c.factor,
                )
                for c in rule.when
            ]
            for rule in rule_set.rules
        ]

    @property
    def rule_set(self) -> RuleSet:
        return self._rule_set

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(rule.code for rule in self._rule_set.rules)

    @property
    def contributions(self) -> FloatArray:
        """Log-odds each rule adds when it fires (0 for floor rules)."""
        return self._contributions

    def evaluate(self, inputs: FloatArray) -> RuleHits:
        """Evaluate every rule on every row of an ``(n, len(input_names))`` matrix."""
        fired = np.ones((inputs.shape[0], len(self._compiled)), dtype=np.bool_)
        with np.errstate(invalid="ignore"):
            for position, conditions in enumerate(self._compiled):
                for compare, column, value, other, factor in conditions:
                    left = inputs[:, column]
                    right = value if other is None else factor * inputs[:, other]
                    # Comparisons with NaN are False, except !=, so null inputs are
                    # excluded explicitly: a rule never fires on missing data.
                    holds = compare(left, right) & ~np.isnan(left)
                    if other is not None:
                        holds &= ~np.isnan(inputs[:, other])
                    fired[:, position] &= holds
        log_odds = self._rule_set.base_log_odds + fired @ self._contributions
        floor = (fired * self._floors).max(axis=1, initial=0.0)
        return RuleHits(fired, log_odds, floor)

    def evaluate_row(self, row: Sequence[float]) -> tuple[tuple[int, ...], float, float]:
        """Return the positions of firing rules, the log-odds and the floor for one row."""
        fired = []
        log_odds = self._rule_set.base_log_odds
        floor = 0.0
        for position, conditions in enumerate(self._compiled):
            if all(_holds(row, *condition) for condition in conditions):
                fired.append(position)
                log_odds += self._contributions[position]
                floor = max(floor, self._floors[position])
        return tuple(fired), float(log_odds), float(floor)


def _holds(
    row: Sequence[float],
    compare: Callable[[Any, Any], Any],
    column: int,
    value: float | None,
    other: int | None,
    factor: float,
) -> bool:
    left = row[column]
    if math.isnan(left):
        return False
    if other is None:
        return bool(compare(left, value))
    right = row[other]
    if math.isnan(right):
        return False
    return bool(compare(left, factor * right))
