"""Monitoring rules as pure functions: drift (PSI and KS) of features and scores, fraud
rate by segment, feature freshness and overdue validation. The twin feeds them with
simulated traffic, a live service with real traffic."""

from .alerts import MonitoringAlert, Severity
from .drift import (
    EMPTY_SHARE,
    DistributionDrift,
    DriftSettings,
    InvalidMonitoringInput,
    KsResult,
    PsiBand,
    PsiResult,
    distribution_drift,
    drift_alerts,
    feature_drift,
    ks_test,
    population_stability_index,
    psi_band,
    score_shift,
)
from .freshness import FeatureFreshness, feature_freshness
from .segments import SegmentRate, SegmentSettings, fraud_rate_by_segment
from .validation import overdue_validation_alerts

__all__ = [
    "EMPTY_SHARE",
    "DistributionDrift",
    "DriftSettings",
    "FeatureFreshness",
    "InvalidMonitoringInput",
    "KsResult",
    "MonitoringAlert",
    "PsiBand",
    "PsiResult",
    "SegmentRate",
    "SegmentSettings",
    "Severity",
    "distribution_drift",
    "drift_alerts",
    "feature_drift",
    "feature_freshness",
    "fraud_rate_by_segment",
    "ks_test",
    "overdue_validation_alerts",
    "population_stability_index",
    "psi_band",
    "score_shift",
]
