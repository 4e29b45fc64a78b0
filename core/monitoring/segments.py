"""Fraud rate by segment (region, channel, merchant category, amount band), compared
between a reference period and the current one."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from ..fairness.statistics import Interval, choose_test, rate_test_p_value, wilson_interval
from .alerts import MonitoringAlert, Severity


class SegmentSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    alpha: float = Field(default=0.01, gt=0, lt=1)
    min_ratio: float = Field(
        default=1.5, gt=1, description="Alert when the rate grows this many times."
    )
    confidence: float = Field(default=0.95, gt=0, lt=1)


class SegmentRate(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    segment: str
    transactions: int
    frauds: int
    rate: float
    interval: Interval
    reference_rate: float | None
    ratio: float | None
    p_value: float | None


def fraud_rate_by_segment(
    segments: npt.ArrayLike,
    is_fraud: npt.ArrayLike,
    reference_segments: npt.ArrayLike | None = None,
    reference_is_fraud: npt.ArrayLike | None = None,
    settings: SegmentSettings | None = None,
) -> tuple[list[SegmentRate], list[MonitoringAlert]]:
    """Return each segment's fraud rate with its Wilson interval, and alerts for segments
    whose rate rose at least ``min_ratio`` times over the reference period's with a
    significant test (Fisher's exact test for small segments, else the z-test)."""
    settings = settings or SegmentSettings()
    labels = np.asarray(segments).astype(str)
    fraud = np.asarray(is_fraud).astype(bool)
    if len(labels) != len(fraud):
        raise ValueError(f"segments ({len(labels)}) and labels ({len(fraud)}) differ in length")
    reference: dict[str, tuple[int, int]] = {}
    if reference_segments is not None and reference_is_fraud is not None:
        before = np.asarray(reference_segments).astype(str)
        before_fraud = np.asarray(reference_is_fraud).astype(bool)
        for name in np.unique(before):
            rows = before == name
            reference[str(name)] = (int(before_fraud[rows].sum()), int(rows.sum()))
    rates, alerts = [], []
    for name in sorted(set(labels.tolist())):
        rows = labels == name
        frauds, total = int(fraud[rows].sum()), int(rows.sum())
        rate = frauds / total
        known = reference.get(name)
        reference_rate = ratio = p_value = None
        if known is not None:
            reference_rate = known[0] / known[1]
            ratio = rate / reference_rate if reference_rate > 0 else None
            test = choose_test(frauds, total, known[0], known[1], 30, 5.0)
            p_value = rate_test_p_value(test, frauds, total, known[0], known[1])
            grew = rate > reference_rate and (ratio is None or ratio >= settings.min_ratio)
            if grew and p_value < settings.alpha:
                alerts.append(
                    MonitoringAlert(
                        rule="fraud_rate_by_segment",
                        subject=name,
                        severity=Severity.CRITICAL,
                        value=rate,
                        threshold=reference_rate * settings.min_ratio,
                        message=(
                            f"segment {name}: fraud rate {rate:.4f} against {reference_rate:.4f} "
                            f"in the reference period (p = {p_value:.2e})"
                        ),
                    )
                )
        rates.append(
            SegmentRate(
                segment=name,
                transactions=total,
                frauds=frauds,
                rate=rate,
                interval=wilson_interval(frauds, total, settings.confidence),
                reference_rate=reference_rate,
                ratio=ratio,
                p_value=p_value,
            )
        )
    return rates, alerts
