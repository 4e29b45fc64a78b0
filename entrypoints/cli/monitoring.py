"""``twinbank monitoring``: monitoring rules on the decisions a run or service recorded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from twinbank.adapters.sql import SqlAuditTrail
from twinbank.core.monitoring import (
    DistributionDrift,
    DriftSettings,
    drift_alerts,
    feature_drift,
    score_shift,
)

from .console import console, fail_bad_input
from .governance_common import DatabaseOption, format_time, open_container, parse_time

app = typer.Typer(help="Monitoring rules: drift of scores and features.", no_args_is_help=True)

_DAY_NS = 86_400 * 10**9


@app.command("drift")
def drift(
    database: DatabaseOption = None,
    window_days: Annotated[
        float,
        typer.Option(min=0.01, help="Length of the reference and the current window, in days."),
    ] = 7.0,
    reference_start: Annotated[
        str | None,
        typer.Option(help="ISO 8601 start of the reference window; by default the first decision."),
    ] = None,
    current_start: Annotated[
        str | None,
        typer.Option(
            help="ISO 8601 start of the current window; by default WINDOW_DAYS before the last decision."
        ),
    ] = None,
    bins: Annotated[int, typer.Option(min=2, max=100, help="PSI bins (reference quantiles).")] = 10,
    out: Annotated[
        Path | None, typer.Option(help="Also write the figures and alerts as JSON.")
    ] = None,
) -> None:
    """Compare the score and every feature between a reference window and the current
    window of recorded decisions: PSI (0.1 and 0.25 bands), Kolmogorov-Smirnov, means."""
    container = open_container(database)
    trail = container.audit.trail()
    if not isinstance(trail, SqlAuditTrail):
        fail_bad_input("monitoring drift reads a database; pass --database")
    span = trail.decision_time_range()
    if span is None:
        fail_bad_input(
            "the audit trail holds no decisions; run a scenario or point --database at one"
        )
    window = int(window_days * _DAY_NS)
    reference_from = (
        parse_time(reference_start, "--reference-start") if reference_start else span[0]
    )
    current_from = (
        parse_time(current_start, "--current-start") if current_start else span[1] + 1 - window
    )
    sample = container.monitoring.decision_sample
    with console.status("Reading the reference and current decisions"):
        reference = sample(start_ns=reference_from, end_ns=reference_from + window)
        current = sample(start_ns=current_from, end_ns=current_from + window)
    if reference.rows == 0 or current.rows == 0:
        fail_bad_input(
            f"reference window has {reference.rows} and current window {current.rows} decisions; "
            "choose windows that hold decisions"
        )
    settings = DriftSettings(bins=bins)
    score, score_alerts = score_shift(reference.scores, current.scores, settings)
    names = [name for name in reference.features if name in current.features]
    features = feature_drift(
        {name: reference.features[name] for name in names},
        {name: current.features[name] for name in names},
        settings,
    )
    alerts = score_alerts + drift_alerts(features, "feature_drift", settings)
    console.print(
        f"Reference {format_time(reference_from)} + {window_days:g} d: {reference.rows:,} decisions; "
        f"current {format_time(current_from)} + {window_days:g} d: {current.rows:,} decisions"
    )
    console.print(_drift_table([score, *features]))
    for alert in alerts:
        console.print(f"[bold]{alert.severity.value}[/bold] {alert.rule}: {alert.message}")
    if not alerts:
        console.print("No drift alert.")
    if out is not None:
        document = {
            "reference": {"start_ns": reference_from, "rows": reference.rows},
            "current": {"start_ns": current_from, "rows": current.rows},
            "window_days": window_days,
            "drift": [item.model_dump(mode="json") for item in (score, *features)],
            "alerts": [alert.model_dump(mode="json") for alert in alerts],
        }
        out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def _drift_table(drifts: list[DistributionDrift]) -> Table:
    table = Table(title="Drift from the reference window to the current window")
    for column in (
        "variable",
        "PSI",
        "band",
        "KS D",
        "KS p",
        "reference mean",
        "current mean",
        "missing",
    ):
        table.add_column(column, justify="left" if column in {"variable", "band"} else "right")
    for item in drifts:
        table.add_row(
            item.name,
            f"{item.psi.psi:.4f}",
            item.psi.band.value.replace("_", " "),
            "–" if item.ks is None else f"{item.ks.statistic:.3f}",
            "–" if item.ks is None else f"{item.ks.p_value:.2e}",
            "–" if item.reference_mean is None else f"{item.reference_mean:.4g}",
            "–" if item.current_mean is None else f"{item.current_mean:.4g}",
            f"{item.reference_missing:.1%} -> {item.current_missing:.1%}",
        )
    return table
