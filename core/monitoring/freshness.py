"""Feature freshness: how long ago each feature was last updated."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

from .alerts import MonitoringAlert, Severity


class FeatureFreshness(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    feature: str
    last_updated_ns: int | None
    age_ns: int | None
    max_age_ns: int
    stale: bool


def feature_freshness(
    last_updated_ns: Mapping[str, int | None],
    now_ns: int,
    max_age_ns: int | Mapping[str, int],
) -> tuple[list[FeatureFreshness], list[MonitoringAlert]]:
    """Return each feature's age and alerts for stale ones.

    ``max_age_ns`` is one limit for all features or one per feature (a feature's ttl).
    A feature never updated is stale; one older than twice its limit is critical.
    """
    statuses, alerts = [], []
    for feature in sorted(last_updated_ns):
        limit = max_age_ns if isinstance(max_age_ns, int) else max_age_ns[feature]
        updated = last_updated_ns[feature]
        age = None if updated is None else now_ns - updated
        stale = age is None or age > limit
        statuses.append(
            FeatureFreshness(
                feature=feature, last_updated_ns=updated, age_ns=age, max_age_ns=limit, stale=stale
            )
        )
        if stale:
            critical = age is None or age > 2 * limit
            alerts.append(
                MonitoringAlert(
                    rule="feature_freshness",
                    subject=feature,
                    severity=Severity.CRITICAL if critical else Severity.WARNING,
                    value=None if age is None else age / 1e9,
                    threshold=limit / 1e9,
                    message=(
                        f"{feature}: never updated"
                        if age is None
                        else f"{feature}: last updated {age / 1e9:,.0f} s ago, limit {limit / 1e9:,.0f} s"
                    ),
                )
            )
    return statuses, alerts
