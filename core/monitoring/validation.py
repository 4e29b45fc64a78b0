"""Overdue validation of serving models, as monitoring alerts."""

from __future__ import annotations

from collections.abc import Iterable

from ..governance.inventory import ModelRecord, RiskTier
from ..governance.queries import validation_overdue
from .alerts import MonitoringAlert, Severity

_DAY_NS = 86_400_000_000_000


def overdue_validation_alerts(
    records: Iterable[ModelRecord], now_ns: int, warn_days: int = 30
) -> list[MonitoringAlert]:
    """Return a critical alert per serving model whose validation is overdue (a warning
    for tier 3), and a notice for those due within ``warn_days``."""
    records = list(records)
    alerts = []
    for record in validation_overdue(records, now_ns):
        days = (now_ns - (record.next_validation_ns or now_ns)) / _DAY_NS
        alerts.append(
            MonitoringAlert(
                rule="validation_overdue",
                subject=record.model_id,
                severity=Severity.WARNING
                if record.risk_tier is RiskTier.LOW
                else Severity.CRITICAL,
                value=days,
                threshold=0.0,
                message=f"{record.model_id} (tier {int(record.risk_tier)}): validation overdue by {days:.0f} days",
            )
        )
    soon = now_ns + warn_days * _DAY_NS
    for record in validation_overdue(records, soon):
        if record.next_validation_ns is not None and record.next_validation_ns > now_ns:
            days = (record.next_validation_ns - now_ns) / _DAY_NS
            alerts.append(
                MonitoringAlert(
                    rule="validation_due",
                    subject=record.model_id,
                    severity=Severity.INFO,
                    value=days,
                    threshold=float(warn_days),
                    message=f"{record.model_id}: validation due in {days:.0f} days",
                )
            )
    return alerts
