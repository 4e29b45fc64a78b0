"""Checks of the twin against theory: Erlang C for an M/M/c region, and the failover
detection time that health-check settings imply.

``mmc_scenario`` builds a one-region scenario that is an M/M/c queue (Poisson
arrivals, exponential service, c replicas, no autoscaling, no network, no deadline).
``waiting_estimates`` reads the probability of waiting and the mean wait from a run
with batch means. The horizon is cut into equal batches, the first ones are dropped
as warm-up, and the spread of the batch averages gives a Student-t confidence
interval. Batches of thousands of service times are long enough for their averages
to be close to independent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from .run import MultiRegionResult
from .scenario import MultiRegionScenario


@dataclass(frozen=True)
class ErlangC:
    probability_of_wait: float
    mean_wait: float  # seconds, over all requests (those that do not wait count 0)


def erlang_c(servers: int, arrival_rate: float, service_rate: float) -> ErlangC:
    """Return the M/M/c waiting figures; raises ValueError for an unstable queue."""
    offered = arrival_rate / service_rate
    if offered >= servers:
        raise ValueError(
            f"offered load {offered:g} erlangs needs more than {servers} servers; "
            "the queue has no steady state"
        )
    # Erlang B by its stable recursion, then C = B / (1 - rho (1 - B)).
    blocking = 1.0
    for count in range(1, servers + 1):
        blocking = offered * blocking / (count + offered * blocking)
    utilization = offered / servers
    waiting = blocking / (1.0 - utilization * (1.0 - blocking))
    return ErlangC(waiting, waiting / (servers * service_rate - arrival_rate))


@dataclass(frozen=True)
class Estimate:
    mean: float
    half_width: float  # of the 95 % confidence interval
    batches: int

    def relative_error(self, expected: float) -> float:
        return abs(self.mean - expected) / expected

    @property
    def relative_half_width(self) -> float:
        return self.half_width / abs(self.mean) if self.mean else math.inf


def mmc_scenario(
    servers: int,
    arrival_rate: float,
    mean_service_ms: float,
    requests: int,
    batches: int = 40,
    seed: int = 0,
) -> MultiRegionScenario:
    """Return a one-region M/M/c scenario of about ``requests`` arrivals."""
    horizon = requests / arrival_rate
    unlimited = 1e12
    document: dict[str, Any] = {
        "kind": "multi-region",
        "name": f"mmc-{servers}",
        "seed": seed,
        "horizon_seconds": horizon,
        "regions": [
            {
                "name": "us-east-1",
                "jurisdiction": "US",
                "replicas": servers,
                "autoscaler": {"enabled": False},
                "load_balancer": {"overhead_ms": 0.0, "max_queue": 10**9},
                "redis": {"lookup_ms": 0.0},
            }
        ],
        "network": {"client_round_trip_ms": 0.0},
        "serving": {
            "service_time": {"kind": "exponential", "mean_ms": mean_service_ms},
            "authorization_window_ms": unlimited,
            "queue_timeout_ms": unlimited,
        },
        "traffic": {
            "kind": "generated",
            "origins": [
                {
                    "region": "us-east-1",
                    "requests_per_second": arrival_rate,
                    "home_jurisdictions": {"US": 1.0},
                }
            ],
        },
        "report": {"bucket_seconds": horizon / batches},
    }
    return MultiRegionScenario.model_validate(document)


def waiting_estimates(
    result: MultiRegionResult, warm_up_batches: int = 2
) -> tuple[Estimate, Estimate]:
    """Return batch-means estimates of P(wait) and the mean wait (seconds) of region 0."""
    metrics = result.twin.metrics
    served = metrics.served[0, warm_up_batches:].astype(np.float64)
    probability = metrics.waited[0, warm_up_batches:] / served
    mean_wait = metrics.wait_sum[0, warm_up_batches:] / served
    return _estimate(probability), _estimate(mean_wait)


def _estimate(values: np.ndarray) -> Estimate:
    count = len(values)
    spread = stats.t.ppf(0.975, count - 1) * values.std(ddof=1) / math.sqrt(count)
    return Estimate(float(values.mean()), float(spread), count)


def detection_delay_bounds(interval: float, threshold: int) -> tuple[float, float]:
    """Return the detection delay range ``((threshold - 1) * interval, threshold * interval]``
    for an outage that starts at a uniformly random phase of the probe schedule."""
    return (threshold - 1) * interval, threshold * interval
