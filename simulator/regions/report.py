"""The multi-region report: per region and over time, as JSON-ready data."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from twinbank.core.timestamps import to_datetime

from .fraud import FATES, MODEL, OUTCOME_CODE, OUTCOMES
from .metrics import (
    BUCKET_BINS,
    TOTAL_BINS,
    Unserved,
    percentile_from_histogram,
    percentiles_over_time,
)
from .run import FraudResult, MultiRegionResult
from .specs import RegionOutage

QUANTILES = (0.5, 0.95, 0.99)


def build_report(result: MultiRegionResult) -> dict[str, Any]:
    """Return the report of one run as JSON-ready data."""
    scenario = result.scenario
    twin = result.twin
    metrics = twin.metrics
    requests = metrics.requests_total()
    answered = int(metrics.answered.sum())
    return {
        "scenario": scenario.name,
        "kind": scenario.kind,
        "description": scenario.description,
        "seed": scenario.seed,
        "start": scenario.start.isoformat(),
        "horizon_seconds": scenario.horizon_seconds,
        "topology": _topology(result),
        "service_time": _service_time(result),
        "requests": {
            "total": requests,
            "expected": None
            if result.expected_requests is None
            else round(result.expected_requests),
            "answered_within_window": answered,
            "answered_late": int(metrics.late.sum()),
            "unserved": _unserved(metrics.unserved.sum(axis=(1, 2))),
            "availability": _ratio(answered, requests, 6),
            "authorization_window_ms": scenario.serving.authorization_window_ms,
        },
        "regions": {name: _region(result, index) for index, name in enumerate(twin.region_names)},
        "failovers": _failovers(result),
        "health_transitions": [
            {
                "time_seconds": round(change.time, 3),
                "region": change.region,
                "healthy": change.healthy,
                "consecutive_probes": change.probes,
            }
            for change in twin.balancer.transitions
        ],
        "faults": [
            {
                "kind": window.kind,
                "region": window.region,
                "start_seconds": window.start,
                "end_seconds": window.end,
                "detail": window.detail,
            }
            for window in sorted(twin.faults.windows, key=lambda window: window.start)
        ],
        "autoscaler_actions": [
            {
                "time_seconds": round(action.time, 3),
                "region": action.region,
                "replicas_before": action.replicas_before,
                "replicas_after": action.replicas_after,
                "utilization": None
                if math.isnan(action.utilization)
                else round(action.utilization, 4),
                "reason": action.reason,
            }
            for deployment in twin.deployments
            for action in deployment.actions
        ],
        "feature_sync": _feature_sync(result),
        "residency": _residency(result),
        "timeline": _timeline(result),
        "fraud": None if result.fraud is None else _fraud(result, result.fraud),
        "performance": _performance(result),
    }


# -- sections ------------------------------------------------------------------------


def _topology(result: MultiRegionResult) -> dict[str, Any]:
    scenario = result.scenario
    balancer = scenario.global_load_balancer
    check = balancer.health_check
    return {
        "regions": [
            {
                "name": region.name,
                "jurisdiction": region.jurisdiction,
                "replicas": region.replicas,
                "autoscaler": region.autoscaler.model_dump(),
                "load_balancer": region.load_balancer.model_dump(),
                "redis": region.redis.model_dump(),
            }
            for region in scenario.regions
        ],
        "round_trip_ms": {"regions": scenario.region_names, "matrix": scenario.round_trip_matrix()},
        "client_round_trip_ms": scenario.network.client_round_trip_ms,
        "global_load_balancer": {
            "kind": balancer.kind,
            "health_check_interval_seconds": check.interval_seconds,
            "failure_threshold": check.failure_threshold,
            "first_probe_seconds": check.first_probe_seconds,
            "dns_ttl_seconds": balancer.ttl_seconds,
            "documented_detection_seconds": check.interval_seconds * check.failure_threshold,
        },
        "residency": scenario.residency,
        "jurisdictions": list(result.policy.jurisdictions),
    }


def _service_time(result: MultiRegionResult) -> dict[str, Any]:
    described = result.service_times.describe()
    fraud = result.fraud
    if fraud is not None and fraud.model.calibration_seconds is not None:
        measured = fraud.model.calibration_seconds * 1e3
        described["calibration"] = {
            "measured": "wall time of single DecisionService.decide calls on this machine",
            "decisions": len(measured),
            **_summary_ms(measured),
        }
    return described


def _region(result: MultiRegionResult, index: int) -> dict[str, Any]:
    metrics = result.twin.metrics
    requests = int(metrics.requests[index].sum())
    answered = int(metrics.answered[index].sum())
    served = int(metrics.served[index].sum())
    p50, p95, p99 = percentile_from_histogram(metrics.latency_total[index], TOTAL_BINS, QUANTILES)
    latencies = int(metrics.latency_total[index].sum())
    deployment = result.twin.deployments[index]
    counts = [ready for _, ready, _ in deployment.history]
    replica_seconds = _replica_seconds(deployment.history, result.scenario.horizon_seconds)
    return {
        "clients": {
            "requests": requests,
            "availability": _ratio(answered, requests, 6),
            "answered_late": int(metrics.late[index].sum()),
            "latency_ms": {
                "p50": _ms(p50),
                "p95": _ms(p95),
                "p99": _ms(p99),
                "mean": _ms(metrics.latency_sum[index].sum() / latencies if latencies else None),
                "precision": "percentiles within 0.5 % (1 % log bins)",
            },
            "sla": {
                "same_region": _sla(
                    metrics.same_region[index],
                    metrics.same_region_breaches[index],
                    result.scenario.serving.same_region_sla_ms,
                ),
                "cross_region": _sla(
                    metrics.cross_region[index],
                    metrics.cross_region_breaches[index],
                    result.scenario.serving.cross_region_sla_ms,
                ),
            },
            "unserved": _unserved(metrics.unserved[:, index].sum(axis=1)),
        },
        "serving": {
            "requests_served": served,
            "mean_queue_wait_ms": _ms(metrics.wait_sum[index].sum() / served if served else None),
            "share_waited": _ratio(int(metrics.waited[index].sum()), served, 6),
            "mean_service_ms": _ms(metrics.service_sum[index].sum() / served if served else None),
            "utilization": _ratio(float(metrics.service_sum[index].sum()), replica_seconds, 4),
            "decision_budget_misses": int(metrics.budget_misses[index].sum()),
            "features_from_remote_replica": int(metrics.features_remote[index].sum()),
            "features_unavailable": int(metrics.features_unavailable[index].sum()),
            "replicas": {
                "initial": counts[0],
                "min": min(counts),
                "max": max(counts),
                "final": counts[-1],
                "replica_seconds": round(replica_seconds, 1),
            },
            "scaling_actions": len(deployment.actions),
        },
    }


def _failovers(result: MultiRegionResult) -> list[dict[str, Any]]:
    """Pair each region outage with the health transitions that detected it."""
    twin = result.twin
    scenario = result.scenario
    check = scenario.global_load_balancer.health_check
    ttl = scenario.global_load_balancer.ttl_seconds
    windows = {
        (window.region, window.start): window
        for window in twin.faults.windows
        if window.kind == "region-outage"
    }
    found = []
    for fault in scenario.faults:
        if not isinstance(fault, RegionOutage):
            continue
        window = windows.get((fault.region, fault.at_seconds))
        end = fault.at_seconds + fault.duration_seconds
        down = _first_transition(result, fault.region, False, fault.at_seconds)
        up = _first_transition(result, fault.region, True, end)
        found.append(
            {
                "region": fault.region,
                "outage_start_seconds": fault.at_seconds,
                "outage_end_seconds": end,
                "detected_at_seconds": down,
                "detection_seconds": None if down is None else round(down - fault.at_seconds, 6),
                "documented_detection_seconds": check.interval_seconds * check.failure_threshold,
                "traffic_moved_by_seconds": None if down is None else round(down + ttl, 6),
                "last_request_to_down_region_seconds": None
                if window is None or window.last_request_while_down is None
                else round(window.last_request_while_down, 6),
                "recovery_detected_at_seconds": up,
                "recovery_detection_seconds": None if up is None else round(up - end, 6),
                "traffic_back_by_seconds": None if up is None else round(up + ttl, 6),
            }
        )
    return found


def _first_transition(
    result: MultiRegionResult, region: str, healthy: bool, after: float
) -> float | None:
    for change in result.twin.balancer.transitions:
        if change.region == region and change.healthy == healthy and change.time >= after:
            return change.time
    return None


def _feature_sync(result: MultiRegionResult) -> dict[str, Any]:
    metrics = result.twin.metrics
    spec = result.scenario.feature_sync
    series = result.twin.replication.series
    values = np.array([row for _, row in series])
    served = metrics.served.sum(axis=1)
    stale = metrics.stale.sum(axis=1)
    return {
        "staleness_target_seconds": spec.staleness_target_seconds,
        "pipeline_lag_ms": spec.pipeline_lag_ms,
        "catch_up_rate": spec.catch_up_rate,
        "share_of_decisions_over_target": _ratio(int(stale.sum()), int(served.sum()), 6),
        "regions": {
            name: {
                "decisions_over_target": int(stale[index]),
                "share_over_target": _ratio(int(stale[index]), int(served[index]), 6),
                "mean_staleness_of_decisions_seconds": _round(
                    metrics.staleness_sum[index].sum() / served[index] if served[index] else None, 3
                ),
                "max_staleness_seconds": round(float(values[:, index].max()), 3),
            }
            for index, name in enumerate(result.twin.region_names)
        },
    }


def _residency(result: MultiRegionResult) -> dict[str, Any]:
    metrics = result.twin.metrics
    served, served_outside = _by_home(result, metrics.served_by_home)
    _, read_outside = _by_home(result, metrics.features_read_by_home)
    return {
        "rules": result.scenario.residency,
        "served_by_home_jurisdiction": served,
        "served_outside_allowed_jurisdictions": served_outside,
        "features_read_outside_allowed_jurisdictions": read_outside,
        "rejected_for_residency": int(metrics.unserved[Unserved.RESIDENCY_REJECTED].sum()),
    }


def _by_home(
    result: MultiRegionResult, matrix: npt.NDArray[np.int64]
) -> tuple[dict[str, dict[str, int]], int]:
    """Return a (home jurisdiction, region) count matrix by name, and the count of
    cells that residency forbids."""
    policy = result.policy
    outside = 0
    named: dict[str, dict[str, int]] = {}
    for home_index, home in enumerate(policy.jurisdictions):
        row = {}
        for region_index, region in enumerate(policy.regions):
            count = int(matrix[home_index, region_index])
            if count:
                row[region.name] = count
                if not policy.residency.permits(home, region.jurisdiction):
                    outside += count
        if row:
            named[home] = row
    return named, outside


def _timeline(result: MultiRegionResult) -> dict[str, Any]:
    metrics = result.twin.metrics
    width = metrics.bucket_seconds
    starts = np.arange(metrics.buckets) * width
    horizon = result.scenario.horizon_seconds
    spans = np.minimum(starts + width, horizon) - starts
    series = result.twin.replication.series
    sync_times = np.array([time for time, _ in series])
    sync_values = np.array([row for _, row in series])
    regions: dict[str, Any] = {}
    for index, name in enumerate(result.twin.region_names):
        requests = metrics.requests[index]
        quantiles = {
            f"p{round(quantile * 100)}_ms": _series_ms(
                percentiles_over_time(metrics.latency_histogram[index], BUCKET_BINS, quantile)
            )
            for quantile in QUANTILES
        }
        history = result.twin.deployments[index].history
        regions[name] = {
            "requests_per_second": _series(requests / spans, 2),
            "availability": _series(
                np.divide(
                    metrics.answered[index],
                    requests,
                    out=np.full(len(requests), np.nan),
                    where=requests > 0,
                ),
                5,
            ),
            **quantiles,
            "sla_breaches": (
                metrics.same_region_breaches[index] + metrics.cross_region_breaches[index]
            ).tolist(),
            "residency_rejections": metrics.unserved[Unserved.RESIDENCY_REJECTED, index].tolist(),
            "unserved": metrics.unserved[:, index].sum(axis=0).tolist(),
            "served_per_second": _series(metrics.served[index] / spans, 2),
            "replicas": [_replicas_at(history, end) for end in (starts + spans).tolist()],
            "staleness_seconds": _series(
                _step_values(sync_times, sync_values[:, index], starts + spans / 2), 3
            ),
        }
    return {"bucket_seconds": width, "start_seconds": starts.tolist(), "regions": regions}


def _fraud(result: MultiRegionResult, fraud: FraudResult) -> dict[str, Any]:
    desk = fraud.desk
    model = fraud.model
    scored = ~np.isnan(desk.scores)
    window_days = (model.window.end_ns - model.window.start_ns) / 86_400e9
    section: dict[str, Any] = {
        "transactions": len(model.window),
        "decided_period": {
            "first": to_datetime(model.window.start_ns).isoformat(),
            "end": to_datetime(model.window.end_ns).isoformat(),
        },
        "time_compression": round(window_days * 86_400 / result.scenario.horizon_seconds, 3),
        "model": {
            "version": model.trained.scorer.version,
            "inputs": list(model.trained.scorer.input_names),
            "training_transactions": int(model.trained.split.training.sum()),
            "training_wall_seconds": round(model.trained.seconds, 3),
        },
        "warm_up_transactions": fraud.warm_up_transactions,
        "fates": {FATES[code]: int((desk.fates == code).sum()) for code in range(len(FATES))},
        "outcomes": {
            "twin": _outcome_counts(desk.final),
            "without_faults": _outcome_counts(fraud.offline_outcomes),
        },
        "twin_scores_equal_offline": bool(
            np.allclose(desk.scores[scored], fraud.offline_scores[scored], rtol=0, atol=1e-6)
        ),
        "decided_by_model": int((desk.fates == MODEL).sum()),
        "decision_log": {"records": fraud.decisions_logged},
        "stand_in": result.scenario.fraud.stand_in.model_dump() if result.scenario.fraud else None,
    }
    dataset = model.dataset
    if dataset.is_fraud is not None:
        rows = slice(model.window.first, model.window.last)
        section["fraud"] = _fraud_counts(
            dataset.is_fraud[rows], dataset.amount[rows], desk.final, fraud.offline_outcomes
        )
    return section


def _fraud_counts(
    labels: npt.NDArray[np.bool_],
    amounts: npt.NDArray[np.float64],
    final: npt.NDArray[np.int8],
    offline: npt.NDArray[np.int8],
) -> dict[str, Any]:
    """Compare flagged frauds (step-up or decline) in the twin with the model alone."""
    approve = OUTCOME_CODE[OUTCOMES[0]]
    flagged = final != approve
    flagged_offline = offline != approve
    return {
        "frauds": int(labels.sum()),
        "caught": {
            "twin": int((flagged & labels).sum()),
            "without_faults": int((flagged_offline & labels).sum()),
        },
        "missed_because_of_faults": int((flagged_offline & ~flagged & labels).sum()),
        "caught_only_by_stand_in": int((~flagged_offline & flagged & labels).sum()),
        "false_positives": {
            "twin": int((flagged & ~labels).sum()),
            "without_faults": int((flagged_offline & ~labels).sum()),
        },
        "approved_fraud_amount": {
            "twin": round(float(amounts[~flagged & labels].sum()), 2),
            "without_faults": round(float(amounts[~flagged_offline & labels].sum()), 2),
        },
    }


def _performance(result: MultiRegionResult) -> dict[str, Any]:
    costs = result.twin.costs
    seconds = costs.total_ns / 1e9
    requests = result.twin.metrics.requests_total()
    return {
        "simulated_requests": requests,
        "twin_wall_seconds": round(seconds, 3),
        "simulated_requests_per_wall_second": round(requests / seconds, 1) if seconds else None,
        "preparation_wall_seconds": round(result.preparation_seconds, 3),
        "breakdown_seconds": costs.as_seconds(),
        "chunks": costs.chunks,
        "measured_as": "perf_counter wall time of this process; the machine may be shared",
    }


# -- helpers -------------------------------------------------------------------------


def _unserved(counts: npt.NDArray[np.int64]) -> dict[str, int]:
    return {cause.name: int(counts[cause]) for cause in Unserved}


def _sla(
    requests: npt.NDArray[np.int64], breaches: npt.NDArray[np.int64], target_ms: float
) -> dict[str, Any]:
    total = int(requests.sum())
    missed = int(breaches.sum())
    return {
        "target_ms": target_ms,
        "requests": total,
        "breaches": missed,
        "breach_rate": _ratio(missed, total, 6),
    }


def _summary_ms(values: npt.NDArray[np.float64]) -> dict[str, float]:
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {
        "p50_ms": round(float(p50), 4),
        "p95_ms": round(float(p95), 4),
        "p99_ms": round(float(p99), 4),
        "mean_ms": round(float(values.mean()), 4),
        "max_ms": round(float(values.max()), 4),
    }


def _outcome_counts(codes: npt.NDArray[np.int8]) -> dict[str, int]:
    return {outcome.value: int((codes == code).sum()) for code, outcome in enumerate(OUTCOMES)}


def _replica_seconds(history: list[tuple[float, int, int]], horizon: float) -> float:
    total = 0.0
    for (time, ready, _), (following, _, _) in zip(
        history, [*history[1:], (horizon, 0, 0)], strict=True
    ):
        total += ready * max(0.0, min(following, horizon) - min(time, horizon))
    return total


def _replicas_at(history: list[tuple[float, int, int]], time: float) -> int:
    ready = history[0][1]
    for changed, count, _ in history:
        if changed > time:
            break
        ready = count
    return ready


def _step_values(
    times: npt.NDArray[np.float64], values: npt.NDArray[np.float64], at: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    position = np.clip(np.searchsorted(times, at, side="right") - 1, 0, len(times) - 1)
    return values[position]


def _ratio(part: float, whole: float, digits: int) -> float | None:
    return round(part / whole, digits) if whole else None


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(float(seconds) * 1e3, 3)


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


def _series(values: npt.NDArray[np.float64], digits: int) -> list[float | None]:
    return [None if math.isnan(value) else round(value, digits) for value in values.tolist()]


def _series_ms(seconds: npt.NDArray[np.float64]) -> list[float | None]:
    return _series(seconds * 1e3, 3)
