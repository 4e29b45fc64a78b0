"""Distribution drift: population stability index and Kolmogorov-Smirnov tests for each
feature and for the score, and score-shift alerts.

PSI bins come from the reference sample's quantiles (deciles by default), so each bin
contains about the same share of the reference. Missing values (NaN) form a bin of
their own. PSI = sum over bins of (current share - reference share) * ln(current share /
reference share), with empty shares replaced by ``EMPTY_SHARE`` so that the sum stays
finite. Bands: below 0.1 stable, 0.1 to 0.25 moderate shift, 0.25 and above significant
shift.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field
from scipy import stats

from .alerts import MonitoringAlert, Severity

FloatArray = npt.NDArray[np.float64]

EMPTY_SHARE = 1e-4
"""Share used for a bin that one sample leaves empty (a common convention for PSI)."""


class InvalidMonitoringInput(ValueError):
    """A sample that cannot be compared; the message names it."""


class PsiBand(StrEnum):
    STABLE = "stable"
    MODERATE = "moderate_shift"
    SIGNIFICANT = "significant_shift"


class DriftSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    bins: int = Field(default=10, ge=2, le=100)
    psi_moderate: float = Field(default=0.1, gt=0)
    psi_significant: float = Field(default=0.25, gt=0)
    ks_alpha: float = Field(default=0.01, gt=0, lt=1)
    min_rows: int = Field(
        default=100, ge=1, description="Smaller samples are reported, not alerted."
    )


class PsiResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    psi: float
    band: PsiBand
    edges: list[float]
    reference_shares: list[float]
    current_shares: list[float]


class KsResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    statistic: float
    p_value: float


class DistributionDrift(BaseModel):
    """Drift of one variable (a feature or the score) from reference to current."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    reference_rows: int
    current_rows: int
    reference_missing: float
    current_missing: float
    psi: PsiResult
    ks: KsResult | None
    reference_mean: float | None
    current_mean: float | None


def population_stability_index(
    reference: npt.ArrayLike, current: npt.ArrayLike, settings: DriftSettings | None = None
) -> PsiResult:
    """Return the PSI of ``current`` against ``reference`` on reference-quantile bins."""
    settings = settings or DriftSettings()
    before = _sample("reference", reference)
    after = _sample("current", current)
    present = before[~np.isnan(before)]
    quantiles = np.linspace(0, 1, settings.bins + 1)[1:-1]
    edges = np.unique(np.quantile(present, quantiles)) if len(present) else np.empty(0)
    reference_shares = _shares(before, edges)
    current_shares = _shares(after, edges)
    smoothed_before = np.where(reference_shares > 0, reference_shares, EMPTY_SHARE)
    smoothed_after = np.where(current_shares > 0, current_shares, EMPTY_SHARE)
    psi = float(
        np.sum((smoothed_after - smoothed_before) * np.log(smoothed_after / smoothed_before))
    )
    return PsiResult(
        psi=psi,
        band=psi_band(psi, settings),
        edges=edges.tolist(),
        reference_shares=reference_shares.tolist(),
        current_shares=current_shares.tolist(),
    )


def psi_band(psi: float, settings: DriftSettings | None = None) -> PsiBand:
    settings = settings or DriftSettings()
    if psi >= settings.psi_significant:
        return PsiBand.SIGNIFICANT
    if psi >= settings.psi_moderate:
        return PsiBand.MODERATE
    return PsiBand.STABLE


def ks_test(reference: npt.ArrayLike, current: npt.ArrayLike) -> KsResult | None:
    """Return the two-sample Kolmogorov-Smirnov test on the present (non-NaN) values,
    or None when either sample has none."""
    before = _sample("reference", reference)
    after = _sample("current", current)
    before, after = before[~np.isnan(before)], after[~np.isnan(after)]
    if len(before) == 0 or len(after) == 0:
        return None
    result = stats.ks_2samp(before, after)
    return KsResult(statistic=float(result.statistic), p_value=float(result.pvalue))


def distribution_drift(
    name: str,
    reference: npt.ArrayLike,
    current: npt.ArrayLike,
    settings: DriftSettings | None = None,
) -> DistributionDrift:
    settings = settings or DriftSettings()
    before = _sample("reference", reference)
    after = _sample("current", current)
    return DistributionDrift(
        name=name,
        reference_rows=len(before),
        current_rows=len(after),
        reference_missing=float(np.isnan(before).mean()),
        current_missing=float(np.isnan(after).mean()),
        psi=population_stability_index(before, after, settings),
        ks=ks_test(before, after),
        reference_mean=_mean(before),
        current_mean=_mean(after),
    )


def feature_drift(
    reference: Mapping[str, npt.ArrayLike],
    current: Mapping[str, npt.ArrayLike],
    settings: DriftSettings | None = None,
) -> list[DistributionDrift]:
    """Return the drift of every feature in ``reference``; ``current`` must have them all."""
    missing = sorted(set(reference) - set(current))
    if missing:
        raise InvalidMonitoringInput(f"current sample lacks the features {missing}")
    return [
        distribution_drift(name, reference[name], current[name], settings) for name in reference
    ]


def drift_alerts(
    drifts: list[DistributionDrift], rule: str, settings: DriftSettings | None = None
) -> list[MonitoringAlert]:
    """Return alerts for PSI above its bands and for KS tests below ``ks_alpha``.

    A sample smaller than ``min_rows`` raises no alert: its PSI and KS are too noisy.
    """
    settings = settings or DriftSettings()
    alerts = []
    for drift in drifts:
        if min(drift.reference_rows, drift.current_rows) < settings.min_rows:
            continue
        band = drift.psi.band
        if band is not PsiBand.STABLE:
            severity = Severity.CRITICAL if band is PsiBand.SIGNIFICANT else Severity.WARNING
            threshold = (
                settings.psi_significant if band is PsiBand.SIGNIFICANT else settings.psi_moderate
            )
            alerts.append(
                MonitoringAlert(
                    rule=f"{rule}.psi",
                    subject=drift.name,
                    severity=severity,
                    value=drift.psi.psi,
                    threshold=threshold,
                    message=f"{drift.name}: PSI {drift.psi.psi:.3f} ({band.value.replace('_', ' ')})",
                )
            )
        if drift.ks is not None and drift.ks.p_value < settings.ks_alpha:
            alerts.append(
                MonitoringAlert(
                    rule=f"{rule}.ks",
                    subject=drift.name,
                    severity=Severity.WARNING,
                    value=drift.ks.statistic,
                    threshold=settings.ks_alpha,
                    message=(
                        f"{drift.name}: Kolmogorov-Smirnov D = {drift.ks.statistic:.3f}, "
                        f"p = {drift.ks.p_value:.2e} below {settings.ks_alpha:g}"
                    ),
                )
            )
    return alerts


def score_shift(
    reference: npt.ArrayLike, current: npt.ArrayLike, settings: DriftSettings | None = None
) -> tuple[DistributionDrift, list[MonitoringAlert]]:
    """Return the score's drift and its alerts (rule ``score_shift``)."""
    drift = distribution_drift("score", reference, current, settings)
    return drift, drift_alerts([drift], "score_shift", settings)


def _sample(name: str, values: npt.ArrayLike) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise InvalidMonitoringInput(f"{name} sample must be 1-D, got shape {array.shape}")
    if len(array) == 0:
        raise InvalidMonitoringInput(f"{name} sample is empty")
    if np.isinf(array).any():
        raise InvalidMonitoringInput(f"{name} sample contains infinite values; drop or clip them")
    return array


def _shares(values: FloatArray, edges: FloatArray) -> FloatArray:
    """Return the share of values per bin, with the missing-value bin last."""
    missing = np.isnan(values)
    present = values[~missing]
    # Bin i contains edges[i-1] < x <= edges[i], so ties at an edge go to the lower bin.
    counts = np.bincount(np.searchsorted(edges, present, side="left"), minlength=len(edges) + 1)
    shares = np.append(counts, missing.sum()).astype(np.float64)
    return shares / len(values)


def _mean(values: FloatArray) -> float | None:
    present = values[~np.isnan(values)]
    return float(present.mean()) if len(present) else None
