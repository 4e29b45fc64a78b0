"""Failover in the twin against the behaviour Route 53 and Global Accelerator document.

With probes every ``interval`` seconds and a failure threshold of ``threshold``, a
region that fails at a probe instant (or just after it) is marked unhealthy
``interval * threshold`` seconds later; at a random phase, after a delay in
``((threshold - 1) * interval, threshold * interval]``. Clients of a DNS-based
balancer keep sending to the failed region for up to one DNS TTL after that; with
Global Accelerator they stop at once.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.regions import run_scenario
from twinbank.simulator.regions.fidelity import detection_delay_bounds
from twinbank.simulator.regions.report import build_report

OUTAGE_SECONDS = 600.0  # a multiple of every interval below, so recovery is at a probe instant too
RATE = 100.0


def _scenario(
    kind: str, interval: float, threshold: int, ttl: float | None, outage_at: float
) -> dict[str, Any]:
    balancer: dict[str, Any] = {
        "kind": kind,
        "health_check": {"interval_seconds": interval, "failure_threshold": threshold},
    }
    if ttl is not None:
        balancer["dns_ttl_seconds"] = ttl
    return {
        "kind": "multi-region",
        "name": "failover",
        "seed": 2,
        "horizon_seconds": outage_at + OUTAGE_SECONDS + 200,
        "regions": [
            {"name": "us-east-1", "jurisdiction": "US", "replicas": 4},
            {"name": "eu-west-1", "jurisdiction": "EU", "replicas": 4},
        ],
        "global_load_balancer": balancer,
        "serving": {"service_time": {"kind": "exponential", "mean_ms": 1.0}},
        "traffic": {
            "kind": "generated",
            "origins": [
                {
                    "region": "us-east-1",
                    "requests_per_second": RATE,
                    "home_jurisdictions": {"US": 1.0},
                }
            ],
        },
        "faults": [
            {
                "kind": "region-outage",
                "region": "us-east-1",
                "at_seconds": outage_at,
                "duration_seconds": OUTAGE_SECONDS,
            }
        ],
    }


def _failover(doc: dict[str, Any]) -> dict[str, Any]:
    (failover,) = build_report(run_scenario(doc))["failovers"]
    return failover


CONFIGURATIONS = [
    ("route53", 10.0, 3, 60.0),
    ("route53", 30.0, 3, 60.0),
    ("route53", 10.0, 1, 0.0),
    ("global-accelerator", 10.0, 3, None),
    ("global-accelerator", 30.0, 5, None),
    ("custom", 5.0, 2, 15.0),
]


@pytest.mark.parametrize(("kind", "interval", "threshold", "ttl"), CONFIGURATIONS)
def test_outage_at_probe_instant_is_detected_after_interval_times_threshold(
    kind: str, interval: float, threshold: int, ttl: float | None
):
    outage_at = 10 * interval  # a probe instant: probes run at 0, interval, 2 * interval, ...
    failover = _failover(_scenario(kind, interval, threshold, ttl, outage_at))
    documented = interval * threshold
    assert failover["documented_detection_seconds"] == documented
    assert failover["detection_seconds"] == pytest.approx(documented, abs=1e-9)
    assert failover["recovery_detection_seconds"] == pytest.approx(documented, abs=1e-9)


@pytest.mark.parametrize(("kind", "interval", "threshold", "ttl"), CONFIGURATIONS)
def test_clients_leave_within_one_ttl_of_detection(
    kind: str, interval: float, threshold: int, ttl: float | None
):
    failover = _failover(_scenario(kind, interval, threshold, ttl, 10 * interval + 0.25))
    detected = failover["detected_at_seconds"]
    last = failover["last_request_to_down_region_seconds"]
    moved_by = failover["traffic_moved_by_seconds"]
    assert moved_by == pytest.approx(detected + (ttl or 0.0))
    assert last <= moved_by
    # At 100 requests per second some client still holds the old answer in the last
    # seconds of the TTL, and without DNS the last request comes just before detection.
    assert last > moved_by - (3.0 if ttl else 0.1)


@pytest.mark.parametrize("phase", [0.001, 1.7, 3.3, 5.0, 6.9, 9.999])
def test_detection_delay_lies_within_bounds_at_any_phase(phase: float):
    interval, threshold = 10.0, 3
    failover = _failover(_scenario("route53", interval, threshold, 60.0, 300 + phase))
    low, high = detection_delay_bounds(interval, threshold)
    assert low < failover["detection_seconds"] <= high
    assert failover["detection_seconds"] == pytest.approx(high - phase, abs=1e-9)
