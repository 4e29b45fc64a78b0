"""Disparate impact of approval decisions on the groups of one protected attribute.

For each group: its approval rate, the ratio of that rate to the reference group's
(disparate impact ratio), the four-fifths rule (a ratio below 0.8 is adverse impact),
and a test of equal rates with intervals. A group is flagged only when its ratio is
below the threshold *and* the difference is statistically significant, so that a small
group's chance shortfall alone raises no alert. When outcomes are known, equal
opportunity compares approval rates among qualified applicants (those who repaid).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from .statistics import (
    Interval,
    RateTest,
    choose_test,
    difference_interval,
    holm_adjusted,
    rate_test_p_value,
    ratio_interval,
    wilson_interval,
)


class InvalidFairnessInput(ValueError):
    """Group labels and decisions that cannot be analysed; the message names the problem."""


class FairnessSettings(BaseModel):
    """How adverse impact is judged.

    ``reference_groups`` names the reference group of an attribute; an attribute not
    named there is compared with its group of highest approval rate.
    ``p_value_adjustment`` may apply Holm's correction across one attribute's groups;
    the default leaves p-values unadjusted, which raises more alerts.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    four_fifths_threshold: float = Field(default=0.8, gt=0, le=1)
    alpha: float = Field(default=0.05, gt=0, lt=1)
    confidence: float = Field(default=0.95, gt=0, lt=1)
    small_group_size: int = Field(default=30, ge=1, description="Below this, Fisher's exact test.")
    min_expected_count: float = Field(default=5.0, ge=0)
    reference_groups: dict[str, str] = Field(default_factory=dict)
    p_value_adjustment: Literal["none", "holm"] = "none"


class GroupStatus(StrEnum):
    REFERENCE = "reference"
    PASSES = "passes"
    BELOW_THRESHOLD_NOT_SIGNIFICANT = "below_threshold_not_significant"
    ADVERSE_IMPACT = "adverse_impact"


class Comparison(BaseModel):
    """One group's rate against the reference group's rate."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rate: float
    rate_interval: Interval
    ratio: float | None
    ratio_interval: Interval | None
    difference: float
    difference_interval: Interval | None
    test: RateTest | None
    p_value: float | None
    adjusted_p_value: float | None
    significant: bool


class EqualOpportunity(BaseModel):
    """Approval among qualified applicants (true positive rate) against the reference's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    qualified: int
    approved_qualified: int
    comparison: Comparison


class GroupResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    group: str
    applicants: int
    approved: int
    approval: Comparison
    below_four_fifths: bool
    status: GroupStatus
    equal_opportunity: EqualOpportunity | None = None


class AttributeReport(BaseModel):
    """The analysis of one protected attribute."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    attribute: str
    reference_group: str
    reference_rule: Literal["highest_rate", "configured"]
    settings: FairnessSettings
    applicants: int
    groups: list[GroupResult]

    @property
    def adverse_impact(self) -> list[GroupResult]:
        return [group for group in self.groups if group.status is GroupStatus.ADVERSE_IMPACT]


def analyse_attribute(
    attribute: str,
    groups: Sequence[str] | npt.NDArray[np.str_],
    approved: Sequence[bool] | npt.NDArray[np.bool_],
    qualified: Sequence[bool] | npt.NDArray[np.bool_] | None = None,
    settings: FairnessSettings | None = None,
    order: Sequence[str] = (),
) -> AttributeReport:
    """Analyse approval decisions by the groups of one protected attribute.

    ``groups`` contains each applicant's group label, ``approved`` the decision, and
    ``qualified`` (optional) whether the applicant turned out creditworthy. Groups are
    reported in ``order`` (such as age bands from young to old), then by name. Raises
    InvalidFairnessInput for mismatched lengths, no applicants, fewer than two groups
    or a configured reference group that does not occur.
    """
    settings = settings or FairnessSettings()
    labels, decisions, outcomes = _checked(attribute, groups, approved, qualified)
    present = set(labels.tolist())
    names = [name for name in order if name in present]
    names += sorted(present - set(names))
    counts = {
        name: (int(decisions[labels == name].sum()), int((labels == name).sum())) for name in names
    }
    reference, rule = _reference_group(attribute, counts, settings)
    approval = _comparisons(counts, reference, settings)
    opportunity = _equal_opportunity(labels, decisions, outcomes, names, reference, settings)
    results = []
    for name in names:
        comparison = approval[name]
        below = (
            name != reference
            and comparison.ratio is not None
            and comparison.ratio < settings.four_fifths_threshold
        )
        results.append(
            GroupResult(
                group=name,
                applicants=counts[name][1],
                approved=counts[name][0],
                approval=comparison,
                below_four_fifths=below,
                status=_status(name == reference, below, comparison.significant),
                equal_opportunity=opportunity.get(name),
            )
        )
    return AttributeReport(
        attribute=attribute,
        reference_group=reference,
        reference_rule=rule,
        settings=settings,
        applicants=len(labels),
        groups=results,
    )


def _checked(
    attribute: str,
    groups: Sequence[str] | npt.NDArray[np.str_],
    approved: Sequence[bool] | npt.NDArray[np.bool_],
    qualified: Sequence[bool] | npt.NDArray[np.bool_] | None,
) -> tuple[npt.NDArray[np.str_], npt.NDArray[np.bool_], npt.NDArray[np.bool_] | None]:
    labels = np.asarray(groups).astype(str)
    decisions = _booleans(attribute, "approved", approved)
    outcomes = None if qualified is None else _booleans(attribute, "qualified", qualified)
    lengths = {"groups": len(labels), "approved": len(decisions)}
    if outcomes is not None:
        lengths["qualified"] = len(outcomes)
    if len(set(lengths.values())) > 1:
        raise InvalidFairnessInput(
            f"{attribute}: arrays differ in length {lengths}; give one value per applicant"
        )
    if len(labels) == 0:
        raise InvalidFairnessInput(f"{attribute}: no applicants to analyse")
    if len(set(labels.tolist())) < 2:
        raise InvalidFairnessInput(
            f"{attribute}: every applicant is in group {labels[0]!r}; a comparison needs at "
            "least two groups"
        )
    return labels, decisions, outcomes


def _booleans(attribute: str, name: str, values: object) -> npt.NDArray[np.bool_]:
    array = np.asarray(values)
    if array.dtype != np.bool_:
        if not np.issubdtype(array.dtype, np.number) or not np.isin(array, (0, 1)).all():
            raise InvalidFairnessInput(
                f"{attribute}: {name} must be booleans or 0/1, got dtype {array.dtype}"
            )
        array = array == 1
    return array.astype(np.bool_, copy=False)


def _reference_group(
    attribute: str, counts: dict[str, tuple[int, int]], settings: FairnessSettings
) -> tuple[str, Literal["highest_rate", "configured"]]:
    configured = settings.reference_groups.get(attribute)
    if configured is not None:
        if configured not in counts:
            raise InvalidFairnessInput(
                f"{attribute}: reference group {configured!r} does not occur; "
                f"the groups are {sorted(counts)}"
            )
        return configured, "configured"
    # Highest rate; among equal rates the largest group, then the first name (max keeps
    # the first of equal keys).
    best = max(
        sorted(counts), key=lambda name: (counts[name][0] / counts[name][1], counts[name][1])
    )
    return best, "highest_rate"


def _comparisons(
    counts: dict[str, tuple[int, int]], reference: str, settings: FairnessSettings
) -> dict[str, Comparison]:
    ref_successes, ref_trials = counts[reference]
    tests: dict[str, RateTest] = {}
    p_values: dict[str, float] = {}
    for name, (successes, trials) in counts.items():
        if name == reference:
            continue
        test = choose_test(
            successes,
            trials,
            ref_successes,
            ref_trials,
            settings.small_group_size,
            settings.min_expected_count,
        )
        tests[name] = test
        p_values[name] = rate_test_p_value(test, successes, trials, ref_successes, ref_trials)
    adjusted = dict(p_values)
    if settings.p_value_adjustment == "holm" and p_values:
        adjusted = dict(zip(p_values, holm_adjusted(list(p_values.values())), strict=True))
    comparisons = {}
    for name, (successes, trials) in counts.items():
        is_reference = name == reference
        ratio = None
        if ref_successes > 0:
            ratio = (successes / trials) / (ref_successes / ref_trials)
        comparisons[name] = Comparison(
            rate=successes / trials,
            rate_interval=wilson_interval(successes, trials, settings.confidence),
            ratio=ratio,
            ratio_interval=None
            if is_reference
            else ratio_interval(successes, trials, ref_successes, ref_trials, settings.confidence),
            difference=successes / trials - ref_successes / ref_trials,
            difference_interval=None
            if is_reference
            else difference_interval(
                successes, trials, ref_successes, ref_trials, settings.confidence
            ),
            test=tests.get(name),
            p_value=p_values.get(name),
            adjusted_p_value=adjusted.get(name),
            significant=(not is_reference) and adjusted[name] < settings.alpha,
        )
    return comparisons


def _equal_opportunity(
    labels: npt.NDArray[np.str_],
    decisions: npt.NDArray[np.bool_],
    outcomes: npt.NDArray[np.bool_] | None,
    names: list[str],
    reference: str,
    settings: FairnessSettings,
) -> dict[str, EqualOpportunity]:
    if outcomes is None:
        return {}
    counts = {
        name: (
            int((decisions & outcomes & (labels == name)).sum()),
            int((outcomes & (labels == name)).sum()),
        )
        for name in names
    }
    if counts[reference][1] == 0:
        return {}
    present = {name: count for name, count in counts.items() if count[1] > 0}
    comparisons = _comparisons(present, reference, settings)
    return {
        name: EqualOpportunity(
            qualified=present[name][1],
            approved_qualified=present[name][0],
            comparison=comparisons[name],
        )
        for name in present
    }


def _status(is_reference: bool, below: bool, significant: bool) -> GroupStatus:
    if is_reference:
        return GroupStatus.REFERENCE
    if not below:
        return GroupStatus.PASSES
    if significant:
        return GroupStatus.ADVERSE_IMPACT
    return GroupStatus.BELOW_THRESHOLD_NOT_SIGNIFICANT
