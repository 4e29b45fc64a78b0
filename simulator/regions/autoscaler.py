"""The serving deployment of a region: replica restarts and the horizontal autoscaler.

The autoscaler follows the Kubernetes horizontal pod autoscaler's algorithm on one
metric, replica utilization. Utilization is the share of time replicas spent serving
over the last sync period, and like CPU utilization it cannot exceed 100 %. Then:

* recommendation = ceil(ready replicas * utilization / target), unless
  |utilization / target - 1| is within the tolerance, then the current count;
* scale-down takes the highest recommendation of the stabilization window, so a
  short dip does not remove replicas; scale-up acts at once;
* the result is clamped to [min_replicas, max_replicas].

New replicas become ready ``scale_up_delay + pod_start`` seconds after the decision.
A crashed replica is replaced by the deployment after ``pod_start`` seconds whether
or not autoscaling is enabled.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import simpy

from .specs import AutoscalerSpec

if TYPE_CHECKING:
    from .world import RegionalTwin, RegionState


@dataclass(frozen=True)
class ScalingAction:
    time: float
    region: str
    replicas_before: int
    replicas_after: int
    utilization: float
    reason: str  # "scale-up", "scale-down" or "replace-crashed"


class Deployment:
    """Replica counts of one region and the autoscaler that changes them."""

    def __init__(self, twin: RegionalTwin, region: RegionState, spec: AutoscalerSpec) -> None:
        self._twin = twin
        self._region = region
        self._spec = spec
        self.desired = region.cluster.replicas
        self._starting: list[simpy.Event] = []
        # The run starts in steady state: the initial count counts as a recommendation,
        # so nothing scales down before one stabilization window has passed.
        self._recommendations: deque[tuple[float, int]] = deque([(0.0, self.desired)])
        self._busy_seen = 0.0
        self.actions: list[ScalingAction] = []
        # (time, ready replicas, replicas starting), appended at every change.
        self.history: list[tuple[float, int, int]] = [(0.0, region.cluster.replicas, 0)]

    @property
    def starting(self) -> int:
        return len(self._starting)

    def start(self, env: simpy.Environment) -> None:
        if self._spec.enabled:
            env.process(self._autoscale(env))

    def replace_crashed(self, now: float, count: int) -> None:
        """Start ``count`` replacement replicas after the pod start time."""
        for _ in range(count):
            self._launch(self._spec.pod_start_seconds)
        self.actions.append(
            ScalingAction(
                now, self._region.spec.name, self._ready, self._ready, math.nan, "replace-crashed"
            )
        )
        self._record(now)

    # -- internals --------------------------------------------------------------------

    @property
    def _ready(self) -> int:
        return self._region.cluster.replicas

    def _autoscale(self, env: simpy.Environment) -> Generator[Any, Any, None]:
        spec = self._spec
        while True:
            yield env.timeout(spec.sync_period_seconds)
            now = env.now
            self._twin.advance(now)
            busy = self._region.cluster.busy_seconds
            worked, self._busy_seen = busy - self._busy_seen, busy
            if not self._region.up:
                continue  # no metrics from an unreachable region
            ready = self._ready
            if ready == 0:
                utilization = 1.0 if self._region.cluster.waiting else 0.0
                recommendation = max(self.desired, spec.min_replicas)
            else:
                utilization = min(1.0, worked / (ready * spec.sync_period_seconds))
                ratio = utilization / spec.target_utilization
                if abs(ratio - 1.0) <= spec.tolerance:
                    recommendation = self.desired
                else:
                    recommendation = math.ceil(ready * ratio)
            self._decide(now, recommendation, utilization)

    def _decide(self, now: float, recommendation: int, utilization: float) -> None:
        spec = self._spec
        window = self._recommendations
        window.append((now, recommendation))
        while window and window[0][0] < now - spec.scale_down_stabilization_seconds:
            window.popleft()
        stabilized = max(count for _, count in window)
        desired = min(spec.max_replicas, max(spec.min_replicas, stabilized))
        if desired == self.desired:
            return
        before = self.desired
        if desired > before:
            for _ in range(desired - before):
                self._launch(spec.scale_up_delay_seconds + spec.pod_start_seconds)
            reason = "scale-up"
        else:
            for _ in range(before - desired):
                if self._starting:
                    self._starting.pop().succeed()  # cancel the newest start
                else:
                    self._region.cluster.remove_replica(now)
            reason = "scale-down"
        self.desired = desired
        self.actions.append(
            ScalingAction(now, self._region.spec.name, before, desired, utilization, reason)
        )
        self._record(now)

    def _launch(self, delay: float) -> None:
        env = self._twin.env
        cancelled = env.event()
        self._starting.append(cancelled)
        env.process(self._become_ready(env, delay, cancelled))

    def _become_ready(
        self, env: simpy.Environment, delay: float, cancelled: simpy.Event
    ) -> Generator[Any, Any, None]:
        yield env.timeout(delay) | cancelled
        # A scale-down may cancel this start at the very instant it completes, after
        # the timeout fired but before this process resumed.
        if cancelled.triggered:
            return
        self._starting.remove(cancelled)
        self._twin.advance(env.now)
        self._region.cluster.add_replica(env.now)
        self._record(env.now)

    def _record(self, now: float) -> None:
        self.history.append((now, self._ready, self.starting))
