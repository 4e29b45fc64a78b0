"""Fair-lending checks: approval rates by protected group, disparate impact, the
four-fifths rule with significance tests and intervals, and equal opportunity."""

from .disparate_impact import (
    AttributeReport,
    Comparison,
    EqualOpportunity,
    FairnessSettings,
    GroupResult,
    GroupStatus,
    InvalidFairnessInput,
    analyse_attribute,
)
from .report import AdverseImpactFinding, FairnessReport
from .statistics import (
    Interval,
    InvalidCounts,
    RateTest,
    choose_test,
    difference_interval,
    fisher_exact_test,
    holm_adjusted,
    ratio_interval,
    two_proportion_z_test,
    wilson_interval,
)

__all__ = [
    "AdverseImpactFinding",
    "AttributeReport",
    "Comparison",
    "EqualOpportunity",
    "FairnessReport",
    "FairnessSettings",
    "GroupResult",
    "GroupStatus",
    "Interval",
    "InvalidCounts",
    "InvalidFairnessInput",
    "RateTest",
    "analyse_attribute",
    "choose_test",
    "difference_interval",
    "fisher_exact_test",
    "holm_adjusted",
    "ratio_interval",
    "two_proportion_z_test",
    "wilson_interval",
]
