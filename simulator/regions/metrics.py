"""What the twin measures, per region and per time bucket.

The request loop appends plain tuples; ``TwinMetrics`` turns them into counts with
numpy once per chunk. A request counts in the bucket of its arrival. Latencies go
into log-spaced histograms (5 % bins per bucket, 1 % bins per region over the whole
run), so percentiles are exact to within half a bin. Sums of waits and latencies are
exact.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

# Fields of a served request's record, in order (see ``RegionalTwin.advance``).
ARRIVAL, ORIGIN, HOME, REGION, NETWORK, SERVICE, FLAGS, TAG, STALENESS, SOURCE = range(10)
FIELDS = 10

# Bits of FLAGS.
FEATURES_REMOTE = 1
FEATURES_UNAVAILABLE = 2


class Unserved(IntEnum):
    """The reason a request got no response from a replica; values index count arrays."""

    RESIDENCY_REJECTED = 0
    NO_HEALTHY_REGION = 1
    REGION_UNREACHABLE = 2
    QUEUE_FULL = 3
    QUEUE_TIMEOUT = 4
    REPLICA_CRASHED = 5


LATENCY_FLOOR_SECONDS = 1e-4
LATENCY_CEILING_SECONDS = 100.0


@dataclass(frozen=True)
class LogBins:
    """Log-spaced latency bins from LATENCY_FLOOR_SECONDS to LATENCY_CEILING_SECONDS."""

    ratio: float

    @property
    def count(self) -> int:
        return math.ceil(
            math.log(LATENCY_CEILING_SECONDS / LATENCY_FLOOR_SECONDS) / math.log(self.ratio)
        )

    def index(self, seconds: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        scaled = np.log(np.maximum(seconds, LATENCY_FLOOR_SECONDS) / LATENCY_FLOOR_SECONDS)
        return np.minimum((scaled / math.log(self.ratio)).astype(np.int64), self.count - 1)

    def midpoints(self) -> npt.NDArray[np.float64]:
        """Return each bin's geometric midpoint in seconds."""
        exponents = np.arange(self.count, dtype=np.float64) + 0.5
        return np.asarray(LATENCY_FLOOR_SECONDS * self.ratio**exponents, dtype=np.float64)


BUCKET_BINS = LogBins(1.05)
TOTAL_BINS = LogBins(1.01)


class TwinMetrics:
    """Counters of one run: R regions, H jurisdictions, B time buckets."""

    def __init__(
        self,
        regions: int,
        jurisdictions: int,
        horizon: float,
        bucket_seconds: float,
        same_region_sla: float,
        cross_region_sla: float,
        authorization_window: float,
        decision_budget: float,
        staleness_target: float,
    ) -> None:
        buckets = max(1, math.ceil(horizon / bucket_seconds - 1e-9))
        self.bucket_seconds = bucket_seconds
        self.buckets = buckets
        self._same_sla = same_region_sla
        self._cross_sla = cross_region_sla
        self._window = authorization_window
        self._budget = decision_budget
        self._staleness_target = staleness_target
        shape = (regions, buckets)

        # By origin region (what clients see).
        self.requests = np.zeros(shape, dtype=np.int64)
        self.answered = np.zeros(shape, dtype=np.int64)  # served within the window
        self.late = np.zeros(shape, dtype=np.int64)  # served after the window
        self.unserved = np.zeros((len(Unserved), *shape), dtype=np.int64)
        self.same_region = np.zeros(shape, dtype=np.int64)
        self.same_region_breaches = np.zeros(shape, dtype=np.int64)
        self.cross_region = np.zeros(shape, dtype=np.int64)
        self.cross_region_breaches = np.zeros(shape, dtype=np.int64)
        self.latency_sum = np.zeros(shape)
        self.latency_histogram = np.zeros((*shape, BUCKET_BINS.count), dtype=np.int32)
        self.latency_total = np.zeros((regions, TOTAL_BINS.count), dtype=np.int64)

        # By serving region (what each cluster did).
        self.served = np.zeros(shape, dtype=np.int64)
        self.wait_sum = np.zeros(shape)
        self.waited = np.zeros(shape, dtype=np.int64)
        self.service_sum = np.zeros(shape)
        self.budget_misses = np.zeros(shape, dtype=np.int64)
        self.features_remote = np.zeros(shape, dtype=np.int64)
        self.features_unavailable = np.zeros(shape, dtype=np.int64)
        self.stale = np.zeros(shape, dtype=np.int64)  # staleness above the target
        self.staleness_sum = np.zeros(shape)
        self.staleness_max = np.zeros(shape)

        # Residency: served requests by home jurisdiction and serving region, and feature
        # reads by home jurisdiction and the region whose feature store was read.
        self.served_by_home = np.zeros((jurisdictions, regions), dtype=np.int64)
        self.features_read_by_home = np.zeros((jurisdictions, regions), dtype=np.int64)

    def bucket_of(self, times: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        return np.minimum((times / self.bucket_seconds).astype(np.int64), self.buckets - 1)

    def add_served(
        self, starts: list[float], records: list[tuple[float, ...]], sign: int = 1
    ) -> npt.NDArray[np.float64]:
        """Count served requests (``sign=-1`` takes back requests cut short).

        Returns the end-to-end latency of each, in seconds.
        """
        if not records:
            return np.empty(0)
        columns = np.fromiter(
            itertools.chain.from_iterable(records), dtype=np.float64, count=len(records) * FIELDS
        ).reshape(len(records), FIELDS)
        start = np.array(starts, dtype=np.float64)
        arrival = columns[:, ARRIVAL]
        origin = columns[:, ORIGIN].astype(np.int64)
        region = columns[:, REGION].astype(np.int64)
        service = columns[:, SERVICE]
        flags = columns[:, FLAGS].astype(np.int64)
        staleness = columns[:, STALENESS]
        wait = start - arrival
        latency = columns[:, NETWORK] + wait + service
        in_window = latency <= self._window
        same = origin == region
        ones = np.full(len(records), float(sign))

        by_origin = _Grid(origin, self.bucket_of(arrival), self.requests.shape[0])
        if sign > 0:
            by_origin.add(self.requests, ones)
        by_origin.add(self.answered, ones * in_window)
        by_origin.add(self.late, ones * ~in_window)
        by_origin.add(self.same_region, ones * same)
        by_origin.add(self.same_region_breaches, ones * (same & (latency > self._same_sla)))
        by_origin.add(self.cross_region, ones * ~same)
        by_origin.add(self.cross_region_breaches, ones * (~same & (latency > self._cross_sla)))
        by_origin.add(self.latency_sum, ones * latency)
        by_origin.add_histogram(self.latency_histogram, BUCKET_BINS.index(latency), sign)
        totals = origin * TOTAL_BINS.count + TOTAL_BINS.index(latency)
        self.latency_total += sign * np.bincount(totals, minlength=self.latency_total.size).reshape(
            self.latency_total.shape
        )

        by_region = _Grid(region, by_origin.bucket, self.served.shape[0])
        by_region.add(self.served, ones)
        by_region.add(self.wait_sum, ones * wait)
        by_region.add(self.waited, ones * (wait > 0))
        by_region.add(self.service_sum, ones * service)
        by_region.add(self.budget_misses, ones * (service > self._budget))
        by_region.add(self.features_remote, ones * ((flags & FEATURES_REMOTE) > 0))
        by_region.add(self.features_unavailable, ones * ((flags & FEATURES_UNAVAILABLE) > 0))
        by_region.add(self.stale, ones * (staleness > self._staleness_target))
        by_region.add(self.staleness_sum, ones * staleness)
        if sign > 0:
            np.maximum.at(self.staleness_max, (region, by_origin.bucket), staleness)
        home = columns[:, HOME].astype(np.int64)
        regions = self.served.shape[0]
        self.served_by_home += sign * np.bincount(
            home * regions + region, minlength=self.served_by_home.size
        ).reshape(self.served_by_home.shape)
        source = columns[:, SOURCE].astype(np.int64)
        read = source >= 0
        self.features_read_by_home += sign * np.bincount(
            home[read] * regions + source[read], minlength=self.features_read_by_home.size
        ).reshape(self.features_read_by_home.shape)
        return latency

    def add_unserved(self, records: list[tuple[float, int, int, int]]) -> None:
        """Count requests that got no response: ``(arrival, origin, cause, counted)``.

        ``counted`` is 1 when the request was already counted as served and taken back.
        """
        if not records:
            return
        columns = np.array(records, dtype=np.float64)
        origin = columns[:, 1].astype(np.int64)
        cause = columns[:, 2].astype(np.int64)
        bucket = self.bucket_of(columns[:, 0])
        fresh = columns[:, 3] == 0
        np.add.at(self.requests, (origin[fresh], bucket[fresh]), 1)
        np.add.at(self.unserved, (cause, origin, bucket), 1)

    # -- summaries ----------------------------------------------------------------------

    def requests_total(self) -> int:
        return int(self.requests.sum())


def percentile_from_histogram(
    counts: npt.NDArray[np.integer], bins: LogBins, quantiles: tuple[float, ...]
) -> list[float | None]:
    """Return latency quantiles (seconds) from bin counts along the last axis.

    Works on one histogram (1-D) and returns None for an empty one.
    """
    total = int(counts.sum())
    if total == 0:
        return [None for _ in quantiles]
    cumulative = np.cumsum(counts)
    midpoints = bins.midpoints()
    found: list[float | None] = []
    for quantile in quantiles:
        rank = max(1, math.ceil(quantile * total))
        found.append(float(midpoints[int(np.searchsorted(cumulative, rank))]))
    return found


def percentiles_over_time(
    histogram: npt.NDArray[np.integer], bins: LogBins, quantile: float
) -> npt.NDArray[np.float64]:
    """Return one latency quantile (seconds) per bucket of a (buckets, bins) histogram;
    NaN where a bucket is empty."""
    totals = histogram.sum(axis=-1)
    cumulative = np.cumsum(histogram, axis=-1)
    ranks = np.maximum(1, np.ceil(quantile * totals))
    index = (cumulative < ranks[..., None]).sum(axis=-1)
    values = bins.midpoints()[np.minimum(index, bins.count - 1)]
    return np.where(totals > 0, values, np.nan)


class _Grid:
    """Adds per-request values into (region, bucket) arrays with one ``bincount`` over
    the few buckets a chunk touches, much cheaper than ``np.add.at``."""

    def __init__(
        self, region: npt.NDArray[np.int64], bucket: npt.NDArray[np.int64], regions: int
    ) -> None:
        self.bucket = bucket
        self._first = int(bucket.min())
        self._span = int(bucket.max()) - self._first + 1
        self._regions = regions
        self._key = region * self._span + (bucket - self._first)

    def add(self, target: npt.NDArray[np.generic], values: npt.NDArray[np.float64]) -> None:
        sums = np.bincount(self._key, weights=values, minlength=self._regions * self._span)
        window = target[:, self._first : self._first + self._span]
        np.add(window, sums.reshape(self._regions, self._span).astype(target.dtype), out=window)

    def add_histogram(
        self, target: npt.NDArray[np.integer], bins: npt.NDArray[np.int64], sign: int
    ) -> None:
        count = target.shape[-1]
        keys = self._key * count + bins
        sums = np.bincount(keys, minlength=self._regions * self._span * count)
        window = target[:, self._first : self._first + self._span, :]
        window += (sign * sums).reshape(self._regions, self._span, count).astype(target.dtype)
