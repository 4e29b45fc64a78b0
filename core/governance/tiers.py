"""What each risk tier requires before a model reaches production.

| tier | gates before approval | sign-offs before production | revalidation |
| --- | --- | --- | --- |
| 1 high | documentation, performance, fairness, independent validation | model risk management, risk committee | every 12 months |
| 2 medium | documentation, performance, fairness, independent validation | model risk management | every 24 months |
| 3 low | documentation, performance, independent validation (+ fairness for fair-lending models) | none beyond the validator's | every 36 months |

Fair-lending models (``fair_lending``) need the fairness gate at every tier. The roles
that must sign are those of the sign-off gates a tier requires: validator for tier 3;
validator and model risk manager for tier 2; all three for tier 1.
"""

from __future__ import annotations

from dataclasses import dataclass

from .inventory import SIGN_OFF_ROLES, Gate, ModelDetails, RiskTier, Role


@dataclass(frozen=True, slots=True)
class TierRule:
    """The gates of one tier, split by the stage that must pass them.

    ``validation_gates`` must pass before Validation -> Approval; ``approval_gates``
    are sign-offs required before Approval -> Production.
    """

    tier: RiskTier
    validation_gates: frozenset[Gate]
    approval_gates: frozenset[Gate]
    revalidation_months: int
    fairness_always: bool


_VALIDATION = frozenset(
    {Gate.DOCUMENTATION, Gate.PERFORMANCE, Gate.FAIRNESS, Gate.INDEPENDENT_VALIDATION}
)

TIER_RULES: dict[RiskTier, TierRule] = {
    RiskTier.HIGH: TierRule(
        RiskTier.HIGH,
        _VALIDATION,
        frozenset({Gate.MRM_SIGN_OFF, Gate.RISK_COMMITTEE_APPROVAL}),
        revalidation_months=12,
        fairness_always=True,
    ),
    RiskTier.MEDIUM: TierRule(
        RiskTier.MEDIUM,
        _VALIDATION,
        frozenset({Gate.MRM_SIGN_OFF}),
        revalidation_months=24,
        fairness_always=True,
    ),
    RiskTier.LOW: TierRule(
        RiskTier.LOW,
        _VALIDATION - {Gate.FAIRNESS},
        frozenset(),
        revalidation_months=36,
        fairness_always=False,
    ),
}


def validation_gates(model: ModelDetails) -> frozenset[Gate]:
    """Return the gates that must pass before the model moves from Validation to Approval."""
    rule = TIER_RULES[model.risk_tier]
    if model.fair_lending and not rule.fairness_always:
        return rule.validation_gates | {Gate.FAIRNESS}
    return rule.validation_gates


def approval_gates(model: ModelDetails) -> frozenset[Gate]:
    """Return the sign-offs required before the model moves from Approval to Production."""
    return TIER_RULES[model.risk_tier].approval_gates


def required_gates(model: ModelDetails) -> frozenset[Gate]:
    return validation_gates(model) | approval_gates(model)


def required_roles(model: ModelDetails) -> frozenset[Role]:
    """Return the roles whose sign-off the model's tier requires."""
    return frozenset(
        SIGN_OFF_ROLES[gate] for gate in required_gates(model) if gate in SIGN_OFF_ROLES
    )


def revalidation_months(model: ModelDetails) -> int:
    return TIER_RULES[model.risk_tier].revalidation_months
