"""Scheduled faults: each one a SimPy process that changes the twin at its instants."""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from .metrics import Unserved
from .specs import (
    FaultSpec,
    RedisFailure,
    RegionOutage,
    ReplicaCrash,
    ReplicationLag,
    SlowModel,
)

if TYPE_CHECKING:
    from .world import RegionalTwin, RegionState


@dataclass(frozen=True)
class FaultWindow:
    """A fault as it happened: ``end`` equals ``start`` for instant faults."""

    kind: str
    region: str | None
    start: float
    end: float
    detail: str
    # Region outages: arrival of the last request routed to the region while it was down.
    last_request_while_down: float | None = None


class FaultSchedule:
    """Runs the scenario's faults against the twin."""

    def __init__(self, twin: RegionalTwin, faults: list[FaultSpec], rng: np.random.Generator):
        self._twin = twin
        self._faults = faults
        self._rng = rng
        self.windows: list[FaultWindow] = []

    def start(self, env: simpy.Environment) -> None:
        for fault in self._faults:
            env.process(self._run(env, fault))

    def _run(self, env: simpy.Environment, fault: FaultSpec) -> Generator[Any, Any, None]:
        twin = self._twin
        yield env.timeout(fault.at_seconds)
        twin.advance(env.now)
        if isinstance(fault, ReplicaCrash):
            self._crash(env.now, twin.region(fault.region), fault.replicas)
            return
        targets = twin.regions_named(getattr(fault, "region", None))
        self._begin(fault, targets)
        yield env.timeout(fault.duration_seconds)
        twin.advance(env.now)
        last_request = None
        if isinstance(fault, RegionOutage):
            index = targets[0].index
            last_request = twin.last_unreachable[index]
            twin.last_unreachable[index] = float("nan")
        self._end(fault, targets)
        self.windows.append(
            FaultWindow(
                fault.kind,
                getattr(fault, "region", None),
                fault.at_seconds,
                env.now,
                self._detail(fault),
                None if last_request is None or math.isnan(last_request) else last_request,
            )
        )

    def _begin(self, fault: FaultSpec, targets: list[RegionState]) -> None:
        twin = self._twin
        now = twin.env.now
        for region in targets:
            if isinstance(fault, RegionOutage):
                region.set_up(False, now)
                in_service, waiting = region.cluster.fail_all(now)
                twin.take_back(in_service, Unserved.REGION_UNREACHABLE)
                twin.unserve(waiting, Unserved.REGION_UNREACHABLE)
            elif isinstance(fault, RedisFailure):
                region.feature_store_up = False
            elif isinstance(fault, SlowModel):
                region.speed *= fault.factor
            elif isinstance(fault, ReplicationLag):
                twin.replication.extra_lag[region.index] += fault.lag_seconds
        twin.on_regions_changed()

    def _end(self, fault: FaultSpec, targets: list[RegionState]) -> None:
        twin = self._twin
        now = twin.env.now
        for region in targets:
            if isinstance(fault, RegionOutage):
                region.set_up(True, now)
            elif isinstance(fault, RedisFailure):
                region.feature_store_up = True
            elif isinstance(fault, SlowModel):
                region.speed /= fault.factor
            elif isinstance(fault, ReplicationLag):
                twin.replication.extra_lag[region.index] -= fault.lag_seconds
        twin.on_regions_changed()

    def _crash(self, now: float, region: RegionState, count: int) -> None:
        replicas = region.cluster.replica_ids()
        victims = self._rng.choice(replicas, size=min(count, len(replicas)), replace=False)
        cut_short = []
        for replica in sorted(int(victim) for victim in victims):
            record = region.cluster.crash(now, replica)
            if record is not None:
                cut_short.append(record)
        self._twin.take_back(cut_short, Unserved.REPLICA_CRASHED)
        self._twin.deployments[region.index].replace_crashed(now, len(victims))
        self.windows.append(
            FaultWindow("replica-crash", region.spec.name, now, now, f"{len(victims)} replica(s)")
        )

    @staticmethod
    def _detail(fault: FaultSpec) -> str:
        if isinstance(fault, SlowModel):
            return f"service times x{fault.factor:g}"
        if isinstance(fault, ReplicationLag):
            return f"+{fault.lag_seconds:g} s replication lag"
        return ""
