"""Compute the figures of FIDELITY.md: the twin against Erlang C and against the
failover behaviour that Route 53 and Global Accelerator document.

Run from the repository root (a few minutes):

    python benchmarks/fidelity_figures.py [--quick]

It prints Markdown tables. ``--quick`` halves the M/M/c run lengths.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from twinbank.entrypoints.containers import build_container
from twinbank.simulator.regions.fidelity import (
    detection_delay_bounds,
    erlang_c,
    mmc_scenario,
    waiting_estimates,
)
from twinbank.simulator.regions.report import build_report
from twinbank.simulator.regions.scenario import MultiRegionScenario

# (replicas, utilization, simulated requests)
MMC = [(1, 0.8, 2_000_000), (2, 0.7, 2_000_000), (4, 0.8, 2_000_000), (16, 0.9, 4_000_000)]
MEAN_SERVICE_MS = 1.0

# (balancer kind, probe interval s, failure threshold, DNS TTL s or None)
BALANCERS = [
    ("route53", 10.0, 3, 60.0),
    ("route53", 30.0, 3, 60.0),
    ("global-accelerator", 10.0, 3, None),
    ("global-accelerator", 30.0, 5, None),
]
RANDOM_PHASES = 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="halve the M/M/c run lengths")
    arguments = parser.parse_args()
    _erlang_table(0.5 if arguments.quick else 1.0)
    _failover_table()
    _phase_table()


def _erlang_table(scale: float) -> None:
    print(
        "| region | requests | P(wait) twin (95 % CI) | Erlang C | error | mean wait twin ms (95 % CI) | Erlang C ms | error | wall s |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for servers, utilization, requests in MMC:
        service_rate = 1e3 / MEAN_SERVICE_MS
        arrival_rate = utilization * servers * service_rate
        count = int(requests * scale)
        scenario = mmc_scenario(servers, arrival_rate, MEAN_SERVICE_MS, count, seed=1)
        started = time.perf_counter()
        result = build_container().regions.run(scenario=scenario).execute(None)
        wall = time.perf_counter() - started
        probability, wait = waiting_estimates(result)
        theory = erlang_c(servers, arrival_rate, service_rate)
        print(
            f"| M/M/{servers}, utilization {utilization:.0%} | {result.twin.metrics.requests_total():,} "
            f"| {probability.mean:.4f} ± {probability.half_width:.4f} ({probability.relative_half_width:.1%}) "
            f"| {theory.probability_of_wait:.4f} | {probability.relative_error(theory.probability_of_wait):.2%} "
            f"| {wait.mean * 1e3:.4f} ± {wait.half_width * 1e3:.4f} ({wait.relative_half_width:.1%}) "
            f"| {theory.mean_wait * 1e3:.4f} | {wait.relative_error(theory.mean_wait):.2%} | {wall:.1f} |"
        )
    print()


def _failover_scenario(
    kind: str,
    interval: float,
    threshold: int,
    ttl: float | None,
    outage_at: float,
    rate: float = 100.0,
) -> MultiRegionScenario:
    balancer: dict[str, Any] = {
        "kind": kind,
        "health_check": {"interval_seconds": interval, "failure_threshold": threshold},
    }
    if ttl is not None:
        balancer["dns_ttl_seconds"] = ttl
    return MultiRegionScenario.model_validate(
        {
            "kind": "multi-region",
            "name": "failover",
            "seed": 2,
            "horizon_seconds": outage_at + 800,
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
                        "requests_per_second": rate,
                        "home_jurisdictions": {"US": 1.0},
                    }
                ],
            },
            "faults": [
                {
                    "kind": "region-outage",
                    "region": "us-east-1",
                    "at_seconds": outage_at,
                    "duration_seconds": 600,
                }
            ],
        }
    )


def _failover(scenario: MultiRegionScenario) -> dict[str, Any]:
    result = build_container().regions.run(scenario=scenario).execute(None)
    (failover,) = build_report(result)["failovers"]
    return failover


def _failover_table() -> None:
    print(
        "| balancer | interval s | threshold | DNS TTL s | documented detection s | twin detection s "
        "| twin recovery detection s | traffic moved by (detection + TTL) s | last request to failed region s |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for kind, interval, threshold, ttl in BALANCERS:
        outage_at = 10 * interval
        failover = _failover(_failover_scenario(kind, interval, threshold, ttl, outage_at))
        print(
            f"| {kind} | {interval:g} | {threshold} | {ttl or 0:g} | {interval * threshold:g} "
            f"| {failover['detection_seconds']:g} | {failover['recovery_detection_seconds']:g} "
            f"| {failover['traffic_moved_by_seconds'] - outage_at:g} after the outage "
            f"| {failover['last_request_to_down_region_seconds'] - outage_at:.2f} after the outage |"
        )
    print()


def _phase_table() -> None:
    interval, threshold = 10.0, 3
    rng = np.random.default_rng(5)
    phases = rng.uniform(0.0, interval, RANDOM_PHASES)
    delays = np.array(
        [
            _failover(
                _failover_scenario("route53", interval, threshold, 60.0, 300.0 + phase, rate=5.0)
            )["detection_seconds"]
            for phase in phases
        ]
    )
    low, high = detection_delay_bounds(interval, threshold)
    print(
        f"Random outage phases, route53 with probes every {interval:g} s and threshold {threshold}, "
        f"{RANDOM_PHASES} runs: detection min {delays.min():.3f} s, mean {delays.mean():.3f} s, "
        f"max {delays.max():.3f} s; theory uniform on ({low:g}, {high:g}], mean {(low + high) / 2:g} s; "
        f"all within bounds: {bool(((delays > low) & (delays <= high)).all())}; "
        f"largest |delay - (interval x threshold - phase)|: "
        f"{np.abs(delays - (high - phases)).max():.2e} s"
    )


if __name__ == "__main__":
    main()
