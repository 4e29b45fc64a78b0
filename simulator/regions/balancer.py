"""The global load balancer: health checks per region and the view clients route on.

One logical health checker probes each region's endpoint every ``interval`` seconds
from ``first_probe_seconds`` on. A probe fails when the region is unreachable or its
load balancer has no replica to forward to. A probe at the instant an outage starts
still passes. After ``failure_threshold`` consecutive failures the region is marked
unhealthy, after as many consecutive passes healthy again. So an outage that starts
at a probe instant, or just after it, is detected ``interval * failure_threshold``
seconds later; with a random phase the delay is uniform on
``((failure_threshold - 1) * interval, failure_threshold * interval]``.

With DNS-based routing (Route 53) a client keeps the answer it resolved for the
record's TTL. Clients resolve independently, so at any instant the age of the answer
a request uses is uniform on ``[0, TTL)``: a request at time t routes on the view the
balancer held at ``t - age``, and traffic leaves a failed region over one TTL after
detection. Global Accelerator has no DNS step, so requests use the current view.
"""

from __future__ import annotations

import bisect
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import simpy

from .specs import GlobalLoadBalancerSpec

if TYPE_CHECKING:
    from .world import RegionalTwin, RegionState


@dataclass(frozen=True)
class HealthTransition:
    """The balancer changed its view of a region at ``time``."""

    time: float
    region: str
    healthy: bool
    probes: int  # consecutive probes behind the change


class GlobalLoadBalancer:
    """Health checks and the history of the routing view (a bitmask of healthy regions)."""

    def __init__(self, twin: RegionalTwin, spec: GlobalLoadBalancerSpec, all_healthy: int) -> None:
        self._twin = twin
        self._spec = spec
        self.ttl = spec.ttl_seconds
        self.view = all_healthy
        self._change_times: list[float] = [float("-inf")]
        self._change_views: list[int] = [all_healthy]
        self.transitions: list[HealthTransition] = []
        self.probes = 0

    @property
    def changed_at(self) -> float:
        """Return the time of the latest view change (-inf before the first)."""
        return self._change_times[-1]

    def view_at(self, time: float) -> int:
        """Return the routing view in force at ``time``."""
        position = bisect.bisect_right(self._change_times, time) - 1
        return self._change_views[position]

    def start(self, env: simpy.Environment, regions: list[RegionState]) -> None:
        for region in regions:
            env.process(self._probe(env, region))

    def _probe(self, env: simpy.Environment, region: RegionState) -> Generator[Any, Any, None]:
        check = self._spec.health_check
        next_probe = check.first_probe_seconds
        healthy = True
        streak = 0
        while True:
            yield env.timeout(next_probe - env.now)
            self.probes += 1
            passed = region.reachable_before(env.now) and region.cluster.replicas > 0
            streak = streak + 1 if passed != healthy else 0
            if streak >= check.failure_threshold:
                healthy = passed
                self._change(env.now, region, healthy, streak)
                streak = 0
            next_probe += check.interval_seconds

    def _change(self, now: float, region: RegionState, healthy: bool, probes: int) -> None:
        self._twin.advance(now)
        bit = 1 << region.index
        self.view = self.view | bit if healthy else self.view & ~bit
        self._change_times.append(now)
        self._change_views.append(self.view)
        self.transitions.append(HealthTransition(now, region.spec.name, healthy, probes))
        self._twin.on_view_changed()
