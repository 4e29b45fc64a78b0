"""The multi-region report as one HTML file: tables and matplotlib plots embedded as
PNG data URIs, inline CSS, no script and no external resource, so it opens from disk
in any browser.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # render to memory; no display is needed

import matplotlib.patches
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

REGION_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")
FAULT_COLOURS = {
    "region-outage": "#d62728",
    "redis-failure": "#9467bd",
    "slow-model": "#ff7f0e",
    "replication-lag": "#8c564b",
    "replica-crash": "#7f7f7f",
}
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; }
h1 { margin-bottom: 0.2rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
img { max-width: 100%; }
.note { color: #555; font-size: 0.9rem; }
"""


def render_html(report: dict[str, Any]) -> str:
    """Return the whole report page."""
    timeline = report["timeline"]
    sections = [
        f"<h1>Scenario {_text(report['scenario'])}</h1>",
        f"<p class='note'>{_text(report['description'])}</p>",
        _overview(report),
        "<h2>Latency over time</h2>",
        _image(_latency_figure(report, timeline)),
        "<h2>Traffic and availability</h2>",
        _image(_traffic_figure(report, timeline)),
        "<h2>Regions</h2>",
        _regions_table(report),
        "<h2>Replicas and autoscaling</h2>",
        _image(_replicas_figure(report, timeline)),
        _actions_table(report),
        "<h2>Failover timeline</h2>",
        _image(_failover_figure(report)),
        _failover_table(report),
        _transitions_table(report),
        "<h2>Feature sync</h2>",
        _image(_staleness_figure(report, timeline)),
        _sync_table(report),
        "<h2>Data residency</h2>",
        _residency_table(report),
    ]
    if report.get("fraud"):
        sections += ["<h2>Fraud outcomes</h2>", _fraud_section(report["fraud"])]
    sections += ["<h2>Run</h2>", _performance_table(report)]
    body = "\n".join(sections)
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>twinbank: {_text(report['scenario'])}</title>"
        f"<style>{STYLE}</style></head><body>\n{body}\n</body></html>\n"
    )


# -- figures -------------------------------------------------------------------------


def _latency_figure(report: dict[str, Any], timeline: dict[str, Any]) -> Figure:
    figure, axis = plt.subplots(figsize=(11, 4.2))
    times = _minutes(timeline)
    for position, (name, series) in enumerate(timeline["regions"].items()):
        colour = _colour(position)
        axis.plot(
            times, _values(series["p99_ms"]), color=colour, label=f"{name} p99", linewidth=1.6
        )
        axis.plot(
            times,
            _values(series["p50_ms"]),
            color=colour,
            linewidth=0.8,
            linestyle="--",
            label=f"{name} p50",
        )
    serving = _sla_targets(report)
    for target, label in serving:
        axis.axhline(target, color="#444", linewidth=0.7, linestyle=":")
        axis.annotate(label, (times[0] if times else 0, target), fontsize=8, va="bottom")
    _mark_faults(axis, report)
    axis.set_yscale("log")
    axis.set_xlabel("simulated minutes")
    axis.set_ylabel("end-to-end latency (ms), clients by origin region")
    axis.legend(fontsize=8, ncols=3)
    figure.tight_layout()
    return figure


def _traffic_figure(report: dict[str, Any], timeline: dict[str, Any]) -> Figure:
    figure, (rate, availability) = plt.subplots(2, 1, figsize=(11, 5), sharex=True)
    times = _minutes(timeline)
    for position, (name, series) in enumerate(timeline["regions"].items()):
        colour = _colour(position)
        rate.plot(
            times,
            _values(series["requests_per_second"]),
            color=colour,
            label=f"{name} client arrivals",
        )
        rate.plot(
            times,
            _values(series["served_per_second"]),
            color=colour,
            linestyle="--",
            linewidth=0.8,
            label=f"{name} served here",
        )
        availability.plot(times, _values(series["availability"]), color=colour, label=name)
    _mark_faults(rate, report)
    _mark_faults(availability, report)
    rate.set_ylabel("requests per second")
    rate.legend(fontsize=8, ncols=3)
    availability.set_ylabel("answered within window")
    availability.set_xlabel("simulated minutes")
    figure.tight_layout()
    return figure


def _replicas_figure(report: dict[str, Any], timeline: dict[str, Any]) -> Figure:
    figure, axis = plt.subplots(figsize=(11, 3.5))
    times = _minutes(timeline)
    for position, (name, series) in enumerate(timeline["regions"].items()):
        axis.step(
            times,
            series["replicas"],
            where="mid",
            color=_colour(position),
            label=name,
            linewidth=1.5 + 0.6 * (len(timeline["regions"]) - position),
        )
    for action in report["autoscaler_actions"]:
        marker = "^" if action["replicas_after"] > action["replicas_before"] else "v"
        if action["reason"] == "replace-crashed":
            marker = "x"
        axis.plot(
            action["time_seconds"] / 60,
            action["replicas_after"],
            marker,
            color="#333",
            markersize=5,
        )
    _mark_faults(axis, report)
    axis.set_xlabel("simulated minutes")
    axis.set_ylabel("ready replicas")
    axis.legend(fontsize=8)
    figure.tight_layout()
    return figure


def _failover_figure(report: dict[str, Any]) -> Figure:
    """Per region, three lanes: faults, the balancer's view, and where clients send traffic."""
    regions = [region["name"] for region in report["topology"]["regions"]]
    horizon = report["horizon_seconds"] / 60
    ttl = report["topology"]["global_load_balancer"]["dns_ttl_seconds"] / 60
    figure, axis = plt.subplots(figsize=(11, 1.2 + 0.95 * len(regions)))
    ticks, labels = [], []
    for row, name in enumerate(reversed(regions)):
        base = row * 4
        unhealthy = _unhealthy_spans(report, name, horizon)
        _traffic_lane(axis, base + 0.1, unhealthy, ttl, horizon)
        _balancer_lane(axis, base + 1.1, unhealthy, horizon)
        _fault_lane(axis, base + 2.1, report, name, horizon)
        ticks += [base + 0.5, base + 1.5, base + 2.5]
        labels += [f"{name}: client traffic", f"{name}: balancer view", f"{name}: faults"]

    axis.set_yticks(ticks, labels, fontsize=8)
    axis.set_xlim(0, horizon)
    axis.set_xlabel(
        "simulated minutes. Green: healthy / routed here; red: unhealthy / routed away; "
        "hatched: DNS answers cached, traffic moving"
    )
    handles = [
        matplotlib.patches.Patch(color=colour, label=kind)
        for kind, colour in FAULT_COLOURS.items()
        if any(fault["kind"] == kind for fault in report["faults"])
    ]
    if handles:
        axis.legend(handles=handles, fontsize=8, loc="upper right")
    figure.tight_layout()
    return figure


def _traffic_lane(
    axis: Any, bottom: float, unhealthy: list[tuple[float, float]], ttl: float, horizon: float
) -> None:
    """Routed here (green), routed away (red), and one TTL of moving traffic (hatched)."""
    axis.broken_barh([(0, horizon)], (bottom, 0.8), facecolors="#2ca02c", alpha=0.35)
    for start, end in unhealthy:
        away_start = min(start + ttl, horizon)
        axis.broken_barh(
            [(away_start, max(0.0, end - away_start))], (bottom, 0.8), facecolors="#d62728"
        )
        for begin in (start, end):
            axis.broken_barh(
                [(begin, min(ttl, horizon - begin))],
                (bottom, 0.8),
                facecolors="white",
                edgecolors="#555",
                hatch="///",
            )


def _balancer_lane(
    axis: Any, bottom: float, unhealthy: list[tuple[float, float]], horizon: float
) -> None:
    axis.broken_barh([(0, horizon)], (bottom, 0.8), facecolors="#2ca02c", alpha=0.35)
    axis.broken_barh(
        [(start, end - start) for start, end in unhealthy], (bottom, 0.8), facecolors="#d62728"
    )


def _fault_lane(
    axis: Any, bottom: float, report: dict[str, Any], region: str, horizon: float
) -> None:
    for fault in report["faults"]:
        if fault["region"] not in (region, None):
            continue
        # Instant faults (crashes) get a sliver of width so that they show.
        width = max((fault["end_seconds"] - fault["start_seconds"]) / 60, horizon / 300)
        axis.broken_barh(
            [(fault["start_seconds"] / 60, width)],
            (bottom, 0.8),
            facecolors=FAULT_COLOURS.get(fault["kind"], "#999"),
        )


def _staleness_figure(report: dict[str, Any], timeline: dict[str, Any]) -> Figure:
    figure, axis = plt.subplots(figsize=(11, 3.5))
    times = _minutes(timeline)
    for position, (name, series) in enumerate(timeline["regions"].items()):
        axis.plot(times, _values(series["staleness_seconds"]), color=_colour(position), label=name)
    target = report["feature_sync"]["staleness_target_seconds"]
    axis.axhline(target, color="#444", linestyle=":", linewidth=0.8)
    axis.annotate(
        f"target {target:g} s", (times[0] if times else 0, target), fontsize=8, va="bottom"
    )
    _mark_faults(axis, report)
    axis.set_yscale("log")
    axis.set_xlabel("simulated minutes")
    axis.set_ylabel("feature staleness (s)")
    axis.legend(fontsize=8)
    figure.tight_layout()
    return figure


def _mark_faults(axis: Any, report: dict[str, Any]) -> None:
    for fault in report["faults"]:
        colour = FAULT_COLOURS.get(fault["kind"], "#999")
        start = fault["start_seconds"] / 60
        end = fault["end_seconds"] / 60
        if end > start:
            axis.axvspan(start, end, color=colour, alpha=0.12)
        else:
            axis.axvline(start, color=colour, linewidth=1.0)


def _unhealthy_spans(
    report: dict[str, Any], region: str, horizon: float
) -> list[tuple[float, float]]:
    spans = []
    down_since = None
    for change in report["health_transitions"]:
        if change["region"] != region:
            continue
        if not change["healthy"]:
            down_since = change["time_seconds"] / 60
        elif down_since is not None:
            spans.append((down_since, change["time_seconds"] / 60))
            down_since = None
    if down_since is not None:
        spans.append((down_since, horizon))
    return spans


def _image(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=96)
    plt.close(figure)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"<img alt='plot' src='data:image/png;base64,{encoded}'>"


# -- tables --------------------------------------------------------------------------


def _overview(report: dict[str, Any]) -> str:
    requests = report["requests"]
    balancer = report["topology"]["global_load_balancer"]
    rows = [
        ("simulated horizon", f"{report['horizon_seconds']:,.0f} s from {report['start']}"),
        ("requests", f"{requests['total']:,}"),
        ("availability (answered within window)", _percent(requests["availability"])),
        (
            "unserved",
            ", ".join(f"{name}: {count:,}" for name, count in requests["unserved"].items() if count)
            or "none",
        ),
        (
            "global load balancer",
            f"{balancer['kind']}: probes every {balancer['health_check_interval_seconds']:g} s, "
            f"threshold {balancer['failure_threshold']}, DNS TTL {balancer['dns_ttl_seconds']:g} s",
        ),
        ("service time", _service_text(report["service_time"])),
        (
            "served outside allowed jurisdictions",
            f"{report['residency']['served_outside_allowed_jurisdictions']:,}",
        ),
    ]
    return _table(["measure", "value"], rows)


def _regions_table(report: dict[str, Any]) -> str:
    rows = []
    for name, region in report["regions"].items():
        clients = region["clients"]
        serving = region["serving"]
        latency = clients["latency_ms"]
        sla = clients["sla"]
        rows.append(
            (
                name,
                f"{clients['requests']:,}",
                _percent(clients["availability"]),
                f"{_num(latency['p50'])} / {_num(latency['p95'])} / {_num(latency['p99'])}",
                f"{sla['same_region']['breaches']:,} of {sla['same_region']['requests']:,}",
                f"{sla['cross_region']['breaches']:,} of {sla['cross_region']['requests']:,}",
                f"{clients['unserved']['RESIDENCY_REJECTED']:,}",
                f"{serving['requests_served']:,}",
                _percent(serving["utilization"]),
                f"{serving['replicas']['min']}-{serving['replicas']['max']}",
            )
        )
    return (
        _table(
            [
                "region",
                "client requests",
                "availability",
                "latency p50 / p95 / p99 (ms)",
                "same-region SLA breaches",
                "cross-region SLA breaches",
                "residency rejections",
                "served here",
                "utilization",
                "replicas",
            ],
            rows,
        )
        + "<p class='note'>Client figures count requests by origin region; served figures by serving region.</p>"
    )


def _actions_table(report: dict[str, Any]) -> str:
    actions = report["autoscaler_actions"]
    rows = [
        (
            f"{action['time_seconds']:,.0f}",
            action["region"],
            action["reason"],
            f"{action['replicas_before']} → {action['replicas_after']}",
            _percent(action["utilization"]),
        )
        for action in actions[:60]
    ]
    more = (
        f"<p class='note'>{len(actions) - 60} more in report.json.</p>" if len(actions) > 60 else ""
    )
    return _table(["time (s)", "region", "action", "replicas", "utilization"], rows) + more


def _failover_table(report: dict[str, Any]) -> str:
    rows = [
        (
            failover["region"],
            _num(failover["outage_start_seconds"]),
            _num(failover["detection_seconds"]),
            _num(failover["documented_detection_seconds"]),
            _num(failover["traffic_moved_by_seconds"]),
            _num(failover["last_request_to_down_region_seconds"]),
            _num(failover["outage_end_seconds"]),
            _num(failover["recovery_detection_seconds"]),
            _num(failover["traffic_back_by_seconds"]),
        )
        for failover in report["failovers"]
    ]
    if not rows:
        return "<p class='note'>No region outage in this scenario.</p>"
    return _table(
        [
            "region",
            "outage at (s)",
            "detection (s)",
            "interval × threshold (s)",
            "traffic moved by (s)",
            "last request to it (s)",
            "outage end (s)",
            "recovery detection (s)",
            "traffic back by (s)",
        ],
        rows,
    )


def _transitions_table(report: dict[str, Any]) -> str:
    rows = [
        (
            f"{change['time_seconds']:,.1f}",
            change["region"],
            "healthy" if change["healthy"] else "unhealthy",
            str(change["consecutive_probes"]),
        )
        for change in report["health_transitions"]
    ]
    if not rows:
        return "<p class='note'>The balancer never changed its view of a region.</p>"
    return _table(["time (s)", "region", "marked", "consecutive probes"], rows)


def _sync_table(report: dict[str, Any]) -> str:
    sync = report["feature_sync"]
    rows = [
        (
            name,
            _num(region["mean_staleness_of_decisions_seconds"]),
            _num(region["max_staleness_seconds"]),
            f"{region['decisions_over_target']:,}",
            _percent(region["share_over_target"]),
        )
        for name, region in sync["regions"].items()
    ]
    return _table(
        [
            "region",
            "mean staleness of decisions (s)",
            "max staleness (s)",
            f"decisions over {sync['staleness_target_seconds']:g} s",
            "share",
        ],
        rows,
    )


def _residency_table(report: dict[str, Any]) -> str:
    residency = report["residency"]
    regions = [region["name"] for region in report["topology"]["regions"]]
    rows = [
        (home, *(f"{served.get(name, 0):,}" for name in regions))
        for home, served in residency["served_by_home_jurisdiction"].items()
    ]
    rules = ", ".join(
        f"{home} only in {', '.join(allowed)}" for home, allowed in residency["rules"].items()
    )
    return (
        f"<p>Rules: {_text(rules or 'none')}. Served outside the allowed jurisdictions: "
        f"<b>{residency['served_outside_allowed_jurisdictions']:,}</b>. Rejected for residency: "
        f"{residency['rejected_for_residency']:,}.</p>"
        + _table(["home jurisdiction", *regions], rows)
    )


def _fraud_section(fraud: dict[str, Any]) -> str:
    outcomes = fraud["outcomes"]
    rows = [
        (name, f"{outcomes['twin'][name]:,}", f"{outcomes['without_faults'][name]:,}")
        for name in outcomes["twin"]
    ]
    parts = [
        f"<p>{fraud['transactions']:,} transactions of {fraud['decided_period']['first'][:10]} to "
        f"{fraud['decided_period']['end'][:10]} submitted through the twin (time compressed "
        f"{fraud['time_compression']:g}x); {fraud['decided_by_model']:,} decided by the model "
        f"{_text(fraud['model']['version'])}, the rest by the stand-in rule. Twin scores equal "
        f"offline batch scores: {fraud['twin_scores_equal_offline']}.</p>",
        _table(["outcome", "twin", "same model, no faults"], rows),
        _table(
            ["fate", "transactions"],
            [(name, f"{count:,}") for name, count in fraud["fates"].items() if count],
        ),
    ]
    if "fraud" in fraud:
        caught = fraud["fraud"]
        parts.append(
            _table(
                ["measure", "twin", "same model, no faults"],
                [
                    (
                        "frauds caught (step-up or decline)",
                        f"{caught['caught']['twin']:,}",
                        f"{caught['caught']['without_faults']:,}",
                    ),
                    (
                        "false positives",
                        f"{caught['false_positives']['twin']:,}",
                        f"{caught['false_positives']['without_faults']:,}",
                    ),
                    (
                        "approved fraud amount",
                        f"{caught['approved_fraud_amount']['twin']:,.2f}",
                        f"{caught['approved_fraud_amount']['without_faults']:,.2f}",
                    ),
                    (
                        "frauds missed because of faults",
                        f"{caught['missed_because_of_faults']:,}",
                        "",
                    ),
                ],
            )
        )
    return "\n".join(parts)


def _performance_table(report: dict[str, Any]) -> str:
    performance = report["performance"]
    rows = [
        ("simulated requests", f"{performance['simulated_requests']:,}"),
        ("twin wall time (s)", _num(performance["twin_wall_seconds"])),
        (
            "simulated requests per wall second",
            f"{performance['simulated_requests_per_wall_second'] or 0:,.0f}",
        ),
        *(
            (f"of which {name.replace('_', ' ')} (s)", _num(value))
            for name, value in performance["breakdown_seconds"].items()
            if name != "total"
        ),
    ]
    return _table(["measure", "value"], rows)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{_text(cell)}</th>" for cell in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{_text(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# -- formatting ----------------------------------------------------------------------


def _sla_targets(report: dict[str, Any]) -> list[tuple[float, str]]:
    region = next(iter(report["regions"].values()))
    sla = region["clients"]["sla"]
    return [
        (
            sla["same_region"]["target_ms"],
            f"same-region SLA {sla['same_region']['target_ms']:g} ms",
        ),
        (
            sla["cross_region"]["target_ms"],
            f"cross-region SLA {sla['cross_region']['target_ms']:g} ms",
        ),
    ]


def _service_text(service: dict[str, Any]) -> str:
    text = f"{service['kind']}, mean {service['mean_ms']:.3f} ms, p99 {service['p99_ms']:.3f} ms"
    if "calibration" in service:
        text += f" (from {service['calibration']['decisions']:,} timed core decisions)"
    return text


def _colour(position: int) -> str:
    return REGION_COLOURS[position % len(REGION_COLOURS)]


def _minutes(timeline: dict[str, Any]) -> list[float]:
    width = timeline["bucket_seconds"]
    return [(start + width / 2) / 60 for start in timeline["start_seconds"]]


def _values(series: list[float | None]) -> np.ndarray:
    return np.array([math.nan if value is None else value for value in series], dtype=float)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.3f} %"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.3f}".rstrip("0").rstrip(".")


def _text(value: Any) -> str:
    return html.escape(str(value))
