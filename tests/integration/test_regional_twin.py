"""The multi-region twin as a whole: autoscaling, feature sync, faults, accounting and
determinism, on small runs through the composition root."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.regions import document, run_scenario
from twinbank.simulator.regions.report import build_report


def _one_region(rate: float, service_ms: float, replicas: int, **autoscaler: Any) -> dict[str, Any]:
    return {
        "kind": "multi-region",
        "name": "one-region",
        "seed": 1,
        "horizon_seconds": 400,
        "regions": [
            {
                "name": "us-east-1",
                "jurisdiction": "US",
                "replicas": replicas,
                "autoscaler": {"min_replicas": 1, "max_replicas": 10, **autoscaler},
            }
        ],
        "serving": {"service_time": {"kind": "constant", "ms": service_ms}},
        "traffic": {
            "kind": "generated",
            "origins": [
                {
                    "region": "us-east-1",
                    "requests_per_second": rate,
                    "home_jurisdictions": {"US": 1.0},
                }
            ],
        },
    }


def _actions(result: Any) -> list[tuple[float, int, int, str]]:
    return [
        (action.time, action.replicas_before, action.replicas_after, action.reason)
        for action in result.twin.deployments[0].actions
    ]


def test_overload_scales_up_after_delay_and_pod_start():
    # 300 requests/s of 10 ms (+1 ms feature lookup) is 3.3 erlangs on 2 replicas: saturated.
    result = run_scenario(
        _one_region(300, 10.0, 2, scale_up_delay_seconds=10, pod_start_seconds=45)
    )
    first = result.twin.deployments[0].actions[0]
    assert (first.time, first.replicas_before, first.replicas_after) == (15.0, 2, 4)
    assert first.utilization == pytest.approx(1.0)
    history = result.twin.deployments[0].history
    assert [entry[1] for entry in history if entry[0] < 70.0] == [2, 2]
    assert any(time == pytest.approx(70.0) and ready == 4 for time, ready, _ in history)


def test_scale_down_waits_for_stabilization_window():
    result = run_scenario(_one_region(10, 10.0, 4, scale_down_stabilization_seconds=300))
    assert _actions(result) == [(315.0, 4, 1, "scale-down")]


def test_utilization_within_tolerance_keeps_replicas():
    # 3 replicas at 60 % utilization: 180 requests/s of 10 ms (+1 ms lookup is 66 %).
    result = run_scenario(_one_region(164, 10.0, 3, tolerance=0.15))
    assert _actions(result) == []


def test_scale_up_is_capped_at_max_replicas():
    result = run_scenario(_one_region(2_000, 10.0, 2, max_replicas=5))
    assert max(action.replicas_after for action in result.twin.deployments[0].actions) == 5
    assert max(ready for _, ready, _ in result.twin.deployments[0].history) == 5


def test_disabled_autoscaler_still_replaces_crashed_replicas():
    doc = _one_region(50, 5.0, 3, enabled=False, pod_start_seconds=45)
    doc["faults"] = [
        {"kind": "replica-crash", "region": "us-east-1", "at_seconds": 20, "replicas": 2}
    ]
    result = run_scenario(doc)
    assert _actions(result) == [(20.0, 1, 1, "replace-crashed")]
    history = result.twin.deployments[0].history
    assert history[0][1] == 3
    assert (20.0, 1, 2) in history
    assert [ready for time, ready, _ in history if time == pytest.approx(65.0)][-1] == 3


def test_crash_cuts_requests_in_service_short():
    doc = _one_region(400, 20.0, 10, enabled=False)
    doc["faults"] = [
        {"kind": "replica-crash", "region": "us-east-1", "at_seconds": 50, "replicas": 5}
    ]
    report = build_report(run_scenario(doc))
    crashed = report["requests"]["unserved"]["REPLICA_CRASHED"]
    # 400 requests/s of 21 ms on 10 replicas keeps about 8.4 busy: most victims are busy.
    assert 2 <= crashed <= 5


def test_requests_are_all_accounted_for():
    doc = document(
        horizon_seconds=300,
        faults=[
            {
                "kind": "region-outage",
                "region": "us-east-1",
                "at_seconds": 60,
                "duration_seconds": 120,
            },
            {"kind": "replica-crash", "region": "eu-west-1", "at_seconds": 100, "replicas": 1},
        ],
    )
    report = build_report(run_scenario(doc))
    requests = report["requests"]
    unserved = sum(requests["unserved"].values())
    assert (
        requests["total"]
        == requests["answered_within_window"] + requests["answered_late"] + unserved
    )
    assert abs(requests["total"] - requests["expected"]) < 4 * requests["expected"] ** 0.5
    per_region = sum(region["clients"]["requests"] for region in report["regions"].values())
    assert per_region == requests["total"]


def test_same_seed_gives_the_same_report():
    doc = document(
        faults=[
            {
                "kind": "region-outage",
                "region": "eu-west-1",
                "at_seconds": 30,
                "duration_seconds": 60,
            }
        ]
    )
    first = build_report(run_scenario(doc))
    second = build_report(run_scenario(doc))
    for report in (first, second):
        del report["performance"]
    assert first == second
    third = build_report(run_scenario({**doc, "seed": 4}))
    assert third["requests"]["total"] != first["requests"]["total"]


def test_staleness_follows_pipeline_lag_and_lag_spikes():
    doc = document(
        horizon_seconds=700,
        feature_sync={"pipeline_lag_ms": 500, "catch_up_rate": 5, "staleness_target_seconds": 60},
        faults=[
            {
                "kind": "replication-lag",
                "region": "ap-southeast-1",
                "at_seconds": 300,
                "duration_seconds": 300,
                "lag_seconds": 120,
            }
        ],
    )
    result = run_scenario(doc)
    series = dict(result.twin.replication.series)
    # us-east-1 hears from eu-west-1 (35 ms one way) and ap-southeast-1 (106 ms), plus 500 ms.
    assert series[100.0][0] == pytest.approx(0.606)
    ap = {time: values[2] for time, values in series.items()}
    base = 0.5 + 0.106  # us-east-1 is the farthest producer, 106 ms one way
    # Staleness is sampled each second, and the tick at the fault's own instant already
    # sees the changed lag.
    assert ap[299.0] == pytest.approx(base)
    assert ap[360.0] == pytest.approx(base + 61)  # grows one second per second
    assert ap[500.0] == pytest.approx(base + 120)  # the new lag
    assert ap[610.0] == pytest.approx(base + 120 - 4 * 11)  # catches up at 5 - 1 s/s
    assert ap[640.0] == pytest.approx(base)
    report = build_report(result)
    stale = report["feature_sync"]["regions"]["ap-southeast-1"]["decisions_over_target"]
    # Staleness exceeds 60 s from t = 360 to t = 615: about 255 s of 100 requests/s.
    assert 22_000 < stale < 28_000
    assert report["feature_sync"]["regions"]["us-east-1"]["decisions_over_target"] == 0


def test_region_outage_stalls_its_feature_replica():
    doc = document(
        horizon_seconds=400,
        faults=[
            {
                "kind": "region-outage",
                "region": "eu-west-1",
                "at_seconds": 100,
                "duration_seconds": 200,
            }
        ],
    )
    series = dict(run_scenario(doc).twin.replication.series)
    assert series[299.0][1] == pytest.approx(series[100.0][1] + 199.0, abs=0.01)


def test_feature_store_failure_degrades_decisions():
    doc = document(
        horizon_seconds=200,
        regions=[
            {"name": "us-east-1", "jurisdiction": "US", "replicas": 4},
            {
                "name": "eu-west-1",
                "jurisdiction": "EU",
                "replicas": 8,
                "redis": {"on_failure": "remote-replica"},
            },
            {"name": "ap-southeast-1", "jurisdiction": "SG", "replicas": 4},
        ],
        faults=[
            {
                "kind": "redis-failure",
                "region": "eu-west-1",
                "at_seconds": 50,
                "duration_seconds": 100,
            }
        ],
    )
    report = build_report(run_scenario(doc))
    serving = report["regions"]["eu-west-1"]["serving"]
    # eu-west-1 serves EU customers (90 % of its own clients, 10 % of us-east-1's) and
    # US customers (10 % of its clients). During 100 s, US customers read us-east-1's
    # replica; EU customers have no other EU replica and get the stand-in decision.
    assert 1_000 < serving["features_from_remote_replica"] < 2_000
    assert 14_000 < serving["features_unavailable"] < 17_000
    assert report["residency"]["features_read_outside_allowed_jurisdictions"] == 0


def test_slow_model_misses_the_decision_budget():
    doc = document(
        horizon_seconds=120,
        regions=[
            {
                "name": "us-east-1",
                "jurisdiction": "US",
                "replicas": 10,
                "autoscaler": {"max_replicas": 40},
            },
            {"name": "eu-west-1", "jurisdiction": "EU", "replicas": 2},
            {"name": "ap-southeast-1", "jurisdiction": "SG", "replicas": 2},
        ],
        serving={"service_time": {"kind": "constant", "ms": 1.0}},
        faults=[
            {
                "kind": "slow-model",
                "region": "us-east-1",
                "at_seconds": 30,
                "duration_seconds": 30,
                "factor": 70,
            }
        ],
    )
    report = build_report(run_scenario(doc))
    misses = report["regions"]["us-east-1"]["serving"]["decision_budget_misses"]
    assert misses > 0
    assert report["regions"]["eu-west-1"]["serving"]["decision_budget_misses"] == 0
