"""A fairness report over several protected attributes, and the fairness gate."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from .disparate_impact import AttributeReport, GroupStatus


class AdverseImpactFinding(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    attribute: str
    group: str
    reference_group: str
    ratio: float
    p_value: float


class FairnessReport(BaseModel):
    """Fairness of one decision model's approvals on one population.

    ``population`` says which applicants were analysed (for example a held-out test
    set) and ``decision_rule`` how scores became approvals.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())

    model: str
    dataset: str
    population: str
    decision_rule: str
    attributes: list[AttributeReport]

    @property
    def findings(self) -> list[AdverseImpactFinding]:
        """Return every group with significant adverse impact (the gate's blockers)."""
        findings = []
        for attribute in self.attributes:
            for group in attribute.groups:
                if group.status is GroupStatus.ADVERSE_IMPACT:
                    comparison = group.approval
                    findings.append(
                        AdverseImpactFinding(
                            attribute=attribute.attribute,
                            group=group.group,
                            reference_group=attribute.reference_group,
                            ratio=comparison.ratio if comparison.ratio is not None else 0.0,
                            p_value=comparison.adjusted_p_value
                            if comparison.adjusted_p_value is not None
                            else 0.0,
                        )
                    )
        return findings

    @property
    def passed(self) -> bool:
        """True when no group shows a significant four-fifths violation."""
        return not self.findings
