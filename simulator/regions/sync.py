"""Feature sync between regions through a global event stream, and its staleness.

Every decision updates its customer's features, and the update is published on a
global event stream that each region's feature-store replica consumes. An update
produced in region p reaches region r after half the p-r round trip plus the
pipeline lag. Each replica keeps a watermark W: every event older than W has been
applied. Its staleness at time t is t - W, the age of the newest update it may be
missing, so every decision served there reads features that old.

Each tick, a replica moves W towards ``t - lag`` (lag: the slowest live producer's
one-way time plus the pipeline lag, plus any injected replication lag), but by at
most ``catch_up_rate`` seconds of stream per second and never backwards. A replica
that is down, or in a region that is down, does not move at all. So when the lag
jumps, staleness grows at one second per second until the new lag is reached; when
it drops, the replica catches up at ``catch_up_rate - 1`` seconds per second.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any

import simpy

from .specs import FeatureSyncSpec

if TYPE_CHECKING:
    from .world import RegionalTwin, RegionState


class FeatureReplication:
    """Watermarks and staleness series of every region's feature-store replica."""

    def __init__(
        self,
        twin: RegionalTwin,
        spec: FeatureSyncSpec,
        regions: list[RegionState],
        round_trip_ms: Sequence[Sequence[float]],
    ) -> None:
        self._twin = twin
        self._spec = spec
        self._regions = regions
        self._one_way = [[value / 2000.0 for value in row] for row in round_trip_ms]
        self.extra_lag = [0.0] * len(regions)
        initial = [self._lag(region) for region in regions]
        self._watermark = [-lag for lag in initial]
        self.staleness = list(initial)
        # (time, staleness per region), one row per tick.
        self.series: list[tuple[float, tuple[float, ...]]] = [(0.0, tuple(initial))]

    def start(self, env: simpy.Environment) -> None:
        env.process(self._tick(env))

    def _lag(self, region: RegionState) -> float:
        producers = [
            self._one_way[other.index][region.index]
            for other in self._regions
            if other.up and other.index != region.index
        ]
        slowest = max(producers, default=0.0)
        return slowest + self._spec.pipeline_lag_ms / 1e3 + self.extra_lag[region.index]

    def _tick(self, env: simpy.Environment) -> Generator[Any, Any, None]:
        tick = self._spec.tick_seconds
        rate = self._spec.catch_up_rate
        while True:
            yield env.timeout(tick)
            now = env.now
            self._twin.advance(now)
            for region in self._regions:
                index = region.index
                if not (region.up and region.feature_store_up):
                    continue
                target = now - self._lag(region)
                current = self._watermark[index]
                self._watermark[index] = max(current, min(target, current + rate * tick))
            self.staleness = [now - mark for mark in self._watermark]
            self._twin.staleness = self.staleness
            self.series.append((now, tuple(self.staleness)))
