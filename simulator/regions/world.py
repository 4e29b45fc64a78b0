"""The multi-region twin: regions, their serving clusters, the global load balancer and
every request between them, on one SimPy clock.

SimPy runs the processes that change the world at their instants: the traffic pump,
health checks, autoscalers, feature replication and faults. Requests do not get a
SimPy event each. The pump draws a chunk of arrivals ahead of time, and ``advance(t)``
walks the arrivals before t in order. It routes each one with the core's
``RoutingPolicy`` on the balancer view its client has cached, adds the network and
feature-store times, and admits it to the serving region's ``ServingCluster``. Every
process calls ``advance(now)`` before it changes anything, so each request meets
exactly the state in force at its arrival instant.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import simpy

from twinbank.core.ports import Stopwatch
from twinbank.core.routing import RoutingPolicy

from .autoscaler import Deployment
from .balancer import GlobalLoadBalancer
from .cluster import Drop, ServingCluster
from .faults import FaultSchedule
from .metrics import (
    FEATURES_REMOTE,
    FEATURES_UNAVAILABLE,
    FLAGS,
    REGION,
    SERVICE,
    TAG,
    TwinMetrics,
    Unserved,
)
from .scenario import MultiRegionScenario
from .service import ServiceTimes
from .specs import RegionSpec
from .sync import FeatureReplication
from .traffic import Arrivals

# Arrivals per chunk the pump aims for: large enough for numpy to pay off, small
# enough to keep memory flat.
CHUNK_REQUESTS = 4_096

_DROP_CAUSES = {Drop.QUEUE_FULL: Unserved.QUEUE_FULL, Drop.QUEUE_TIMEOUT: Unserved.QUEUE_TIMEOUT}
_REJECTION_CAUSES = {-1: Unserved.RESIDENCY_REJECTED, -2: Unserved.NO_HEALTHY_REGION}


class ArrivalSource(Protocol):
    def between(self, start: float, stop: float) -> Arrivals: ...


class DecisionDesk(Protocol):
    """Decides the requests that carry a transaction (``tag >= 0``) with the real core."""

    def arrived(self, tag: int) -> None: ...

    def served(
        self, tag: int, completion: float, latency: float, region: int, flags: int
    ) -> None: ...

    def unserved(self, tag: int, cause: Unserved) -> None: ...

    def settle(self, until: float) -> None: ...


@dataclass(frozen=True)
class InjectedRequests:
    """Requests that carry a transaction, sorted by time; ``tags`` index the transactions."""

    times: npt.NDArray[np.float64]
    origins: npt.NDArray[np.int64]
    homes: npt.NDArray[np.int64]
    tags: npt.NDArray[np.int64]


@dataclass(eq=False)
class RegionState:
    """The state of a region that the request loop reads and faults change."""

    index: int
    spec: RegionSpec
    cluster: ServingCluster
    up: bool = True
    feature_store_up: bool = True
    speed: float = 1.0  # service-time multiplier; a slow-model fault raises it
    up_changed_at: float = -math.inf

    def reachable_before(self, now: float) -> bool:
        """Return whether the region was up just before ``now``.

        Health probes use this, so that a probe at the very instant an outage starts
        or ends observes the state before it, whichever SimPy runs first.
        """
        return self.up if self.up_changed_at < now else not self.up

    def set_up(self, up: bool, now: float) -> None:
        if up != self.up:
            self.up = up
            self.up_changed_at = now

    def __post_init__(self) -> None:
        redis = self.spec.redis
        self.lookup = redis.lookup_ms / 1e3
        self.lookup_timeout = redis.timeout_ms / 1e3
        self.remote_features = redis.on_failure == "remote-replica"


@dataclass
class CostBreakdown:
    """Wall time spent in each part of a run, in nanoseconds.

    ``decisions_ns`` is the core's work on transaction-carrying requests (assessing on
    arrival, deciding when served); ``requests_ns`` excludes it.
    """

    traffic_ns: int = 0
    requests_ns: int = 0
    metrics_ns: int = 0
    decisions_ns: int = 0
    total_ns: int = 0
    chunks: int = 0
    requests: int = 0
    control_calls: int = 0

    def as_seconds(self) -> dict[str, float]:
        control = (
            self.total_ns - self.traffic_ns - self.requests_ns - self.metrics_ns - self.decisions_ns
        )
        return {
            "traffic_generation": round(self.traffic_ns / 1e9, 3),
            "request_loop": round(self.requests_ns / 1e9, 3),
            "metrics": round(self.metrics_ns / 1e9, 3),
            "core_decisions": round(self.decisions_ns / 1e9, 3),
            "simpy_processes_and_other": round(control / 1e9, 3),
            "total": round(self.total_ns / 1e9, 3),
        }


@dataclass
class TwinResult:
    metrics: TwinMetrics
    balancer: GlobalLoadBalancer
    deployments: list[Deployment]
    replication: FeatureReplication
    faults: FaultSchedule
    costs: CostBreakdown
    region_names: list[str]
    requests_generated: int = 0


class RegionalTwin:
    """One run of a multi-region scenario."""

    def __init__(
        self,
        scenario: MultiRegionScenario,
        policy: RoutingPolicy,
        arrivals: ArrivalSource,
        service_times: ServiceTimes,
        rng: np.random.Generator,
        stopwatch: Stopwatch,
        injected: InjectedRequests | None = None,
        desk: DecisionDesk | None = None,
        progress: Callable[[float], None] | None = None,
        expected_rate: float = 1_000.0,
    ) -> None:
        self.env = simpy.Environment()
        self.scenario = scenario
        self._policy = policy
        self._arrivals = arrivals
        self._service_times = service_times
        self._rng = rng
        self._stopwatch = stopwatch
        self._injected = injected
        self._desk = desk
        self._progress = progress
        self._chunk = min(10.0, max(0.01, CHUNK_REQUESTS / max(expected_rate, 1e-9)))

        serving = scenario.serving
        self._overhead = serving.overhead_ms / 1e3
        self._window = serving.authorization_window_ms / 1e3
        queue_timeout = (serving.queue_timeout_ms or serving.authorization_window_ms) / 1e3
        self.regions = [
            RegionState(
                index,
                spec,
                ServingCluster(spec.replicas, queue_timeout, spec.load_balancer.max_queue),
            )
            for index, spec in enumerate(scenario.regions)
        ]
        self._by_name = {region.spec.name: region for region in self.regions}

        round_trip = scenario.round_trip_matrix()
        client = scenario.network.client_round_trip_ms
        # Network part of a request's latency, by origin and serving region, in seconds.
        self._network = [
            [
                (client + round_trip[origin][region] + spec.load_balancer.overhead_ms) / 1e3
                for region, spec in enumerate(scenario.regions)
            ]
            for origin in range(len(scenario.regions))
        ]
        self._round_trip_s = [[value / 1e3 for value in row] for row in round_trip]

        self.metrics = TwinMetrics(
            regions=len(self.regions),
            jurisdictions=len(policy.jurisdictions),
            horizon=scenario.horizon_seconds,
            bucket_seconds=scenario.report.bucket_seconds,
            same_region_sla=serving.same_region_sla_ms / 1e3,
            cross_region_sla=serving.cross_region_sla_ms / 1e3,
            authorization_window=self._window,
            decision_budget=serving.decision_budget_ms / 1e3,
            staleness_target=scenario.feature_sync.staleness_target_seconds,
        )
        self.balancer = GlobalLoadBalancer(self, scenario.global_load_balancer, policy.all_healthy)
        self.deployments = [
            Deployment(self, region, region.spec.autoscaler) for region in self.regions
        ]
        self.replication = FeatureReplication(self, scenario.feature_sync, self.regions, round_trip)
        self.staleness = list(self.replication.staleness)
        self.faults = FaultSchedule(
            self, scenario.faults, np.random.default_rng(rng.integers(2**63))
        )

        self._view = self.balancer.view
        self._view_since = self.balancer.changed_at
        self._feature_stores = policy.all_healthy
        # Arrival time of the latest request routed to each region while it was down.
        self.last_unreachable = [math.nan] * len(self.regions)
        self._pending = _Pending.empty()
        # (arrival, origin, Unserved cause, 1 if counted as served before, tag)
        self._unserved: list[tuple[float, int, int, int, int]] = []
        self._taken_back: list[tuple[float, Any]] = []
        self.costs = CostBreakdown()
        self._generated = 0

    # -- queries for processes ----------------------------------------------------------

    def region(self, name: str) -> RegionState:
        return self._by_name[name]

    def regions_named(self, name: str | None) -> list[RegionState]:
        """Return the named region, or every region for None."""
        return list(self.regions) if name is None else [self._by_name[name]]

    # -- the run --------------------------------------------------------------------------

    def run(self) -> TwinResult:
        started = self._stopwatch.ticks_ns()
        env = self.env
        self.balancer.start(env, self.regions)
        for deployment in self.deployments:
            deployment.start(env)
        self.replication.start(env)
        self.faults.start(env)
        pump = env.process(self._pump())
        env.run(until=pump)
        self._finish()
        self.costs.total_ns = self._stopwatch.ticks_ns() - started
        return TwinResult(
            metrics=self.metrics,
            balancer=self.balancer,
            deployments=self.deployments,
            replication=self.replication,
            faults=self.faults,
            costs=self.costs,
            region_names=[region.spec.name for region in self.regions],
            requests_generated=self._generated,
        )

    def _pump(self) -> Generator[Any, Any, None]:
        horizon = self.scenario.horizon_seconds
        env = self.env
        start = 0.0
        while start < horizon:
            stop = min(start + self._chunk, horizon)
            self._load(start, stop)
            yield env.timeout(stop - env.now)
            self.advance(stop)
            self._collect()
            if self._progress is not None:
                self._progress(stop)
            start = stop

    def _finish(self) -> None:
        """Serve what is still waiting at the horizon; nothing new arrives."""
        for region in self.regions:
            if region.up:
                region.cluster.advance(math.inf)
        self._collect(until=math.inf)

    # -- arrivals -------------------------------------------------------------------------

    def _load(self, start: float, stop: float) -> None:
        watch = self._stopwatch
        began = watch.ticks_ns()
        arrivals = self._arrivals.between(start, stop)
        times, origins, homes = arrivals.times, arrivals.origins, arrivals.homes
        tags = np.full(len(times), -1, dtype=np.int64)

        injected = self._injected
        if injected is not None:
            first, last = np.searchsorted(injected.times, [start, stop], side="left")
            if last > first:
                times = np.concatenate([times, injected.times[first:last]])
                origins = np.concatenate([origins, injected.origins[first:last]])
                homes = np.concatenate([homes, injected.homes[first:last]])
                tags = np.concatenate([tags, injected.tags[first:last]])
                order = np.argsort(times, kind="stable")
                times, origins, homes, tags = (
                    times[order],
                    origins[order],
                    homes[order],
                    tags[order],
                )

        count = len(times)
        self._generated += count
        ttl = self.balancer.ttl
        ages = self._rng.uniform(0.0, ttl, count) if ttl > 0 else np.zeros(count)
        self._pending = _Pending(
            times.tolist(),
            origins.tolist(),
            homes.tolist(),
            self._service_times.draw(count).tolist(),
            ages.tolist(),
            tags.tolist(),
        )
        self.costs.traffic_ns += watch.ticks_ns() - began
        self.costs.chunks += 1

    def advance(self, until: float) -> None:
        """Route and admit every loaded arrival before ``until``, then let each cluster
        start what it can by ``until``. Every process calls this before it changes the
        world."""
        watch = self._stopwatch
        began = watch.ticks_ns()
        self.costs.control_calls += 1
        pending = self._pending
        index = pending.cursor
        times = pending.times
        count = len(times)
        if index < count and times[index] < until:
            pending.cursor = self._admit_until(pending, index, count, until)
        for region in self.regions:
            if region.up:
                region.cluster.advance(until)
        self.costs.requests_ns += watch.ticks_ns() - began

    def _admit_until(  # noqa: PLR0915 (one flat loop: calls cost more than statements here)
        self, pending: _Pending, index: int, count: int, until: float
    ) -> int:
        """Route and admit the arrivals before ``until``; return the next cursor.

        This is the twin's per-request path, kept in one flat loop because function
        calls cost more than statements here.
        """
        times, origins, homes = pending.times, pending.origins, pending.homes
        services, ages, tags = pending.services, pending.ages, pending.tags
        route = self._policy.route_index
        regions = self.regions
        network = self._network
        round_trip = self._round_trip_s
        staleness = self.staleness
        unserved = self._unserved
        last_unreachable = self.last_unreachable
        desk = self._desk
        overhead = self._overhead
        view = self._view
        view_since = self._view_since
        view_at = self.balancer.view_at
        stores = self._feature_stores
        ttl = self.balancer.ttl

        while index < count:
            arrival = times[index]
            if arrival >= until:
                break
            origin = origins[index]
            home = homes[index]
            tag = tags[index]
            index += 1
            if tag >= 0:
                desk.arrived(tag)  # type: ignore[union-attr]

            # Route on the balancer's view as of the client's cached DNS answer.
            if ttl:
                seen = arrival - ages[index - 1]
                mask = view if seen >= view_since else view_at(seen)
            else:
                mask = view
            target = route(origin, home, mask)
            if target < 0:
                unserved.append((arrival, origin, _REJECTION_CAUSES[target], 0, tag))
                continue
            region = regions[target]
            if not region.up:
                last_unreachable[target] = arrival
                unserved.append((arrival, origin, Unserved.REGION_UNREACHABLE, 0, tag))
                continue

            # The feature lookup holds the replica: local, remote (residency allowing)
            # or a timeout on the failed store.
            flags = 0
            source = target
            if region.feature_store_up:
                service = services[index - 1] * region.speed + region.lookup + overhead
                fresh = staleness[target]
            else:
                service = services[index - 1] * region.speed + overhead
                source = route(target, home, stores) if region.remote_features else -1
                if source >= 0:
                    service += round_trip[target][source] + region.lookup
                    flags = FEATURES_REMOTE
                    fresh = staleness[source]
                else:
                    service += region.lookup_timeout
                    flags = FEATURES_UNAVAILABLE
                    fresh = 0.0

            region.cluster.admit(
                arrival,
                service,
                (
                    arrival,
                    origin,
                    home,
                    target,
                    network[origin][target],
                    service,
                    flags,
                    tag,
                    fresh,
                    source,
                ),
            )
        return index

    # -- state changes ----------------------------------------------------------------

    def on_view_changed(self) -> None:
        self._view = self.balancer.view
        self._view_since = self.balancer.changed_at

    def on_regions_changed(self) -> None:
        """Recompute which feature-store replicas can be read (region and store up)."""
        mask = 0
        for region in self.regions:
            if region.up and region.feature_store_up:
                mask |= 1 << region.index
        self._feature_stores = mask

    def take_back(self, records: Sequence[Any], cause: Unserved) -> None:
        """Requests that started but were cut short (crash, outage)."""
        for record in records:
            self._taken_back.append((record[0], record))
            self._unserved.append((record[0], record[1], cause, 1, record[TAG]))

    def unserve(self, records: Sequence[Any], cause: Unserved) -> None:
        """Requests that were waiting and never started."""
        for record in records:
            self._unserved.append((record[0], record[1], cause, 0, record[TAG]))

    # -- metrics --------------------------------------------------------------------------

    def _collect(self, until: float | None = None) -> None:
        watch = self._stopwatch
        began = watch.ticks_ns()
        metrics = self.metrics
        unserved = self._unserved
        for region in self.regions:
            starts, records = region.cluster.take_started()
            if records:
                latency = metrics.add_served(starts, records)
                self.costs.requests += len(records)
                self._report_served(starts, records, latency)
            for record, drop in region.cluster.take_dropped():
                unserved.append((record[0], record[1], _DROP_CAUSES[drop], 0, record[TAG]))
        if self._taken_back:
            cut_short = self._taken_back
            metrics.add_served(
                [start for start, _ in cut_short], [record for _, record in cut_short], -1
            )
            self._taken_back = []
        if unserved:
            metrics.add_unserved([entry[:4] for entry in unserved])
            self.costs.requests += sum(1 for entry in unserved if entry[3] == 0)
            if self._desk is not None:
                for entry in unserved:
                    if entry[4] >= 0:
                        self._desk.unserved(entry[4], Unserved(entry[2]))
            self._unserved = []
        self.costs.metrics_ns += watch.ticks_ns() - began
        if self._desk is not None:
            began = watch.ticks_ns()
            self._desk.settle(self.env.now if until is None else until)
            self.costs.decisions_ns += watch.ticks_ns() - began

    def _report_served(
        self, starts: list[float], records: list[Any], latency: npt.NDArray[np.float64]
    ) -> None:
        desk = self._desk
        if desk is None:
            return
        for position, record in enumerate(records):
            tag = record[TAG]
            if tag >= 0:
                desk.served(
                    tag,
                    starts[position] + record[SERVICE],
                    float(latency[position]),
                    record[REGION],
                    record[FLAGS],
                )


@dataclass
class _Pending:
    """The loaded chunk of arrivals as Python lists, and how far ``advance`` got."""

    times: list[float]
    origins: list[int]
    homes: list[int]
    services: list[float]
    ages: list[float]
    tags: list[int]
    cursor: int = 0

    @classmethod
    def empty(cls) -> _Pending:
        return cls([], [], [], [], [], [])
