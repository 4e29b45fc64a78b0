"""Request arrivals per origin region: generated (Poisson with daily seasonality and
bursts) or replayed from a file.

Both produce arrivals chunk by chunk, sorted by time, as numpy arrays: the arrival
time in simulated seconds, the origin region index and the home jurisdiction index.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from .specs import GeneratedTraffic, ReplayedTraffic

SECONDS_PER_DAY = 86_400.0
TRAFFIC_COLUMNS = ("offset_seconds", "origin", "home_jurisdiction")


class InvalidTrafficFile(ValueError):
    """A traffic file that cannot be read or has bad columns or values."""


@dataclass(frozen=True)
class Arrivals:
    times: npt.NDArray[np.float64]
    origins: npt.NDArray[np.int64]
    homes: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.times)

    @classmethod
    def empty(cls) -> Arrivals:
        return cls(np.empty(0), np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))


@dataclass(frozen=True)
class BurstWindow:
    start: float
    end: float
    multiplier: float


class GeneratedArrivals:
    """A non-homogeneous Poisson process per origin, sampled exactly by thinning.

    The rate of origin o at simulated second t is
    ``requests_per_second * (1 + amplitude * cos(2 pi (local_hour(t) - peak) / 24))``
    times the multiplier of every burst active at t. Candidates are drawn at an upper
    bound of the rate over the chunk and kept with probability rate / bound, which
    gives the process with exactly that rate.
    """

    def __init__(
        self,
        spec: GeneratedTraffic,
        region_index: Callable[[str], int],
        jurisdiction_index: Callable[[str], int],
        utc_offset_hours: Sequence[float],
        start_hour_utc: float,
        horizon: float,
        rng: np.random.Generator,
    ) -> None:
        self._spec = spec
        self._rng = rng
        self._origins = [region_index(origin.region) for origin in spec.origins]
        self._rates = [origin.requests_per_second for origin in spec.origins]
        self._homes = [
            np.array([jurisdiction_index(name) for name in origin.home_jurisdictions])
            for origin in spec.origins
        ]
        self._shares = [
            np.array(list(origin.home_jurisdictions.values())) for origin in spec.origins
        ]
        self._local_hour_at_zero = [
            (start_hour_utc + utc_offset_hours[region]) % 24.0 for region in self._origins
        ]
        self._bursts = [self._windows(position, horizon) for position in range(len(self._origins))]

    @property
    def burst_windows(self) -> dict[int, list[BurstWindow]]:
        """Return the bursts of each origin region index, scheduled and random."""
        return {region: self._bursts[pos] for pos, region in enumerate(self._origins)}

    def rate(self, position: int, times: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Return the arrival rate (requests per second) of origin ``position`` at ``times``."""
        profile = self._spec.daily_profile
        hours = self._local_hour_at_zero[position] + times / 3600.0
        seasonal = 1.0 + profile.amplitude * np.cos(
            2.0 * math.pi * (hours - profile.peak_local_hour) / 24.0
        )
        rate = self._rates[position] * seasonal
        for window in self._bursts[position]:
            inside = (times >= window.start) & (times < window.end)
            rate = np.where(inside, rate * window.multiplier, rate)
        return np.asarray(rate, dtype=np.float64)

    def between(self, start: float, stop: float) -> Arrivals:
        """Draw the arrivals in ``[start, stop)`` of every origin, sorted by time."""
        rng = self._rng
        times, origins, homes = [], [], []
        for position, region in enumerate(self._origins):
            bound = self._rate_bound(position, start, stop)
            if bound <= 0.0:
                continue
            count = rng.poisson(bound * (stop - start))
            candidates = rng.uniform(start, stop, count)
            kept = candidates[rng.uniform(0.0, bound, count) < self.rate(position, candidates)]
            times.append(kept)
            origins.append(np.full(len(kept), region, dtype=np.int64))
            homes.append(
                rng.choice(self._homes[position], size=len(kept), p=self._shares[position])
            )
        if not times:
            return Arrivals.empty()
        all_times = np.concatenate(times)
        order = np.argsort(all_times, kind="stable")
        return Arrivals(
            all_times[order], np.concatenate(origins)[order], np.concatenate(homes)[order]
        )

    def expected_requests(self, horizon: float, step: float = 1.0) -> float:
        """Return the expected number of arrivals over the horizon (midpoint rule)."""
        grid = np.arange(0.0, horizon, step) + step / 2
        return float(
            sum(self.rate(position, grid).sum() * step for position in range(len(self._origins)))
        )

    def _rate_bound(self, position: int, start: float, stop: float) -> float:
        bound = self._rates[position] * (1.0 + self._spec.daily_profile.amplitude)
        for window in self._bursts[position]:
            if window.start < stop and window.end > start:
                bound *= max(1.0, window.multiplier)
        return bound

    def _windows(self, position: int, horizon: float) -> list[BurstWindow]:
        region = self._spec.origins[position].region
        windows = [
            BurstWindow(
                burst.at_seconds, burst.at_seconds + burst.duration_seconds, burst.multiplier
            )
            for burst in self._spec.bursts
            if burst.origin in (None, region)
        ]
        random = self._spec.random_bursts
        if random.per_hour > 0:
            count = self._rng.poisson(random.per_hour * horizon / 3600.0)
            for start in np.sort(self._rng.uniform(0.0, horizon, count)).tolist():
                windows.append(
                    BurstWindow(start, start + random.duration_seconds, random.multiplier)
                )
        return windows


class ReplayedArrivals:
    """Arrivals read from a traffic file (see ``ReplayedTraffic``)."""

    def __init__(
        self,
        times: npt.NDArray[np.float64],
        origins: npt.NDArray[np.int64],
        homes: npt.NDArray[np.int64],
    ) -> None:
        self._times = times
        self._origins = origins
        self._homes = homes

    @property
    def burst_windows(self) -> dict[int, list[BurstWindow]]:
        return {}

    def __len__(self) -> int:
        return len(self._times)

    def between(self, start: float, stop: float) -> Arrivals:
        first, last = np.searchsorted(self._times, [start, stop], side="left")
        return Arrivals(self._times[first:last], self._origins[first:last], self._homes[first:last])


@dataclass(frozen=True)
class TrafficFile:
    """A validated traffic file: offsets sorted, origin and home names as given."""

    path: Path
    offsets: npt.NDArray[np.float64]
    origins: npt.NDArray[np.object_]
    homes: npt.NDArray[np.object_]

    def jurisdictions(self) -> list[str]:
        return sorted(set(self.homes.tolist()))

    def arrivals(
        self, region_index: Callable[[str], int], jurisdiction_index: Callable[[str], int]
    ) -> ReplayedArrivals:
        origin_codes = {name: region_index(name) for name in set(self.origins.tolist())}
        home_codes = {name: jurisdiction_index(name) for name in set(self.homes.tolist())}
        return ReplayedArrivals(
            self.offsets,
            np.array([origin_codes[name] for name in self.origins.tolist()], dtype=np.int64),
            np.array([home_codes[name] for name in self.homes.tolist()], dtype=np.int64),
        )


def read_traffic_file(spec: ReplayedTraffic, regions: Sequence[str], horizon: float) -> TrafficFile:
    """Read and validate a traffic file.

    Raises InvalidTrafficFile naming the file, the column, the first bad row and value.
    """
    path = spec.path
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        elif path.suffix.lower() == ".csv":
            frame = pd.read_csv(path)
        else:
            raise InvalidTrafficFile(
                f"{path}: unknown traffic file type {path.suffix!r}; use .parquet or .csv"
            )
    except (OSError, ValueError) as error:
        if isinstance(error, InvalidTrafficFile):
            raise
        raise InvalidTrafficFile(f"{path}: cannot read the traffic file ({error})") from error
    missing = [column for column in TRAFFIC_COLUMNS if column not in frame.columns]
    if missing:
        raise InvalidTrafficFile(
            f"{path}: column(s) {missing} missing; a traffic file has the columns "
            f"{list(TRAFFIC_COLUMNS)}"
        )
    offsets = pd.to_numeric(frame["offset_seconds"], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(offsets) | (offsets < 0) | (offsets >= horizon)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InvalidTrafficFile(
            f"{path}: column 'offset_seconds', row {row}: {frame['offset_seconds'].tolist()[row]!r} "
            f"is not a number of seconds in [0, {horizon:g}) (the scenario's horizon)"
        )
    origins = frame["origin"].astype(str).to_numpy(dtype=object)
    unknown = ~np.isin(origins, np.array(list(regions), dtype=object))
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        raise InvalidTrafficFile(
            f"{path}: column 'origin', row {row}: {origins[row]!r} is not a region of the "
            f"scenario; regions are {list(regions)}"
        )
    homes = frame["home_jurisdiction"].astype(str).to_numpy(dtype=object)
    pattern = pd.Series(homes).str.fullmatch(r"[A-Z][A-Z0-9_-]*").to_numpy()
    if not pattern.all():
        row = int(np.flatnonzero(~pattern)[0])
        raise InvalidTrafficFile(
            f"{path}: column 'home_jurisdiction', row {row}: {homes[row]!r} is not a "
            "jurisdiction code; use upper-case codes such as EU"
        )
    order = np.argsort(offsets, kind="stable")
    return TrafficFile(path, offsets[order], origins[order], homes[order])
