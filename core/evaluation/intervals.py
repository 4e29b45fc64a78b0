"""Confidence intervals of evaluation metrics."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy.typing as npt
from scipy import stats

from .inputs import binary_labels, both_classes, finite_scores, require_equal_lengths, require_rows


@dataclass(frozen=True, slots=True)
class AucInterval:
    auc: float
    lower: float
    upper: float
    standard_error: float
    confidence: float


def auc_delong_interval(
    labels: npt.ArrayLike, scores: npt.ArrayLike, confidence: float = 0.95
) -> AucInterval:
    """Return the AUC ROC with DeLong's asymptotic confidence interval.

    DeLong's variance comes from each positive's and each negative's share of the
    Mann-Whitney statistic (its structural components), computed here from mid-ranks,
    so ties count one half as in ``auc_roc``. The interval is the normal one around the
    estimate, clipped to [0, 1]. Raises InvalidEvaluationInput as ``auc_roc`` does.
    """
    fraud = binary_labels("labels", labels)
    score = finite_scores("scores", scores)
    require_equal_lengths({"labels": fraud, "scores": score})
    require_rows("labels", fraud)
    both_classes("labels", fraud, "an AUC interval")
    positives, negatives = score[fraud], score[~fraud]
    m, n = len(positives), len(negatives)
    overall = stats.rankdata(score, method="average")
    positive_ranks = overall[fraud]
    negative_ranks = overall[~fraud]
    within_positive = stats.rankdata(positives, method="average")
    within_negative = stats.rankdata(negatives, method="average")
    auc = (positive_ranks.sum() - m * (m + 1) / 2) / (m * n)
    # Share of negatives each positive outscores, and of positives each negative is below.
    positive_components = (positive_ranks - within_positive) / n
    negative_components = 1.0 - (negative_ranks - within_negative) / m
    variance = 0.0
    if m > 1:
        variance += positive_components.var(ddof=1) / m
    if n > 1:
        variance += negative_components.var(ddof=1) / n
    standard_error = math.sqrt(variance)
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    return AucInterval(
        auc=float(auc),
        lower=max(0.0, float(auc) - z * standard_error),
        upper=min(1.0, float(auc) + z * standard_error),
        standard_error=standard_error,
        confidence=confidence,
    )
