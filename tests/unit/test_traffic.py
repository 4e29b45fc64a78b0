"""Request arrivals: Poisson with daily seasonality and bursts, or replayed from a file."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from twinbank.simulator.regions.specs import GeneratedTraffic, ReplayedTraffic
from twinbank.simulator.regions.traffic import (
    GeneratedArrivals,
    InvalidTrafficFile,
    read_traffic_file,
)

REGIONS = ["us-east-1", "eu-west-1"]
HOMES = ["EU", "US"]


def _arrivals(spec: dict, start_hour: float = 0.0, horizon: float = 3600.0, seed: int = 1):
    traffic = GeneratedTraffic.model_validate({"kind": "generated", **spec})
    return GeneratedArrivals(
        traffic,
        REGIONS.index,
        HOMES.index,
        utc_offset_hours=[-5.0, 0.0],
        start_hour_utc=start_hour,
        horizon=horizon,
        rng=np.random.default_rng(seed),
    )


def _draw(arrivals: GeneratedArrivals, horizon: float, chunk: float = 7.0):
    parts = [
        arrivals.between(start, min(start + chunk, horizon))
        for start in np.arange(0, horizon, chunk)
    ]
    return (
        np.concatenate([part.times for part in parts]),
        np.concatenate([part.origins for part in parts]),
        np.concatenate([part.homes for part in parts]),
    )


STEADY = {
    "origins": [
        {
            "region": "us-east-1",
            "requests_per_second": 200,
            "home_jurisdictions": {"US": 0.8, "EU": 0.2},
        },
        {"region": "eu-west-1", "requests_per_second": 100, "home_jurisdictions": {"EU": 1.0}},
    ]
}


def test_steady_rate_gives_poisson_counts():
    times, origins, homes = _draw(_arrivals(STEADY), 600.0)
    us = origins == REGIONS.index("us-east-1")
    # 120,000 expected arrivals from us-east-1: a Poisson count has sd 346 (0.3 %).
    assert abs(us.sum() - 120_000) < 4 * math.sqrt(120_000)
    assert abs((~us).sum() - 60_000) < 4 * math.sqrt(60_000)
    assert np.all(np.diff(times) >= 0)
    assert times.min() >= 0
    assert times.max() < 600.0
    share_eu = (homes[us] == HOMES.index("EU")).mean()
    assert abs(share_eu - 0.2) < 0.005
    assert np.all(homes[~us] == HOMES.index("EU"))


def test_interarrival_times_are_exponential():
    times, origins, _ = _draw(_arrivals(STEADY), 300.0)
    gaps = np.diff(times[origins == 1])
    assert abs(gaps.mean() - 0.01) < 0.0003
    # Exponential gaps: the coefficient of variation is 1.
    assert abs(gaps.std() / gaps.mean() - 1.0) < 0.03


def test_daily_profile_follows_local_time():
    spec = {**STEADY, "daily_profile": {"amplitude": 0.5, "peak_local_hour": 13}}
    arrivals = _arrivals(spec, start_hour=18.0)
    # us-east-1 is UTC-5: at 18:00 UTC its clients are at their 13:00 peak.
    peak = arrivals.rate(0, np.array([0.0]))[0]
    trough = arrivals.rate(0, np.array([12 * 3600.0]))[0]
    assert peak == pytest.approx(300.0)
    assert trough == pytest.approx(100.0)
    assert arrivals.rate(1, np.array([0.0]))[0] == pytest.approx(
        100 * (1 + 0.5 * math.cos(2 * math.pi * 5 / 24))
    )


def test_seasonal_counts_match_the_rate_integral():
    spec = {**STEADY, "daily_profile": {"amplitude": 0.6, "peak_local_hour": 2}}
    arrivals = _arrivals(spec, horizon=7200.0)
    times, _, _ = _draw(arrivals, 7200.0, chunk=13.0)
    expected = arrivals.expected_requests(7200.0)
    assert abs(len(times) - expected) < 4 * math.sqrt(expected)


def test_scheduled_burst_multiplies_its_origin_only():
    spec = {
        **STEADY,
        "bursts": [
            {"origin": "eu-west-1", "at_seconds": 100, "duration_seconds": 50, "multiplier": 4}
        ],
    }
    arrivals = _arrivals(spec, horizon=300.0)
    times, origins, _ = _draw(arrivals, 300.0)
    eu = origins == 1
    inside = (times >= 100) & (times < 150)
    assert abs((eu & inside).sum() - 20_000) < 4 * math.sqrt(20_000)
    assert abs((~eu & inside).sum() - 10_000) < 4 * math.sqrt(10_000)
    assert arrivals.rate(1, np.array([99.9, 100.0, 149.9, 150.0])).tolist() == [100, 400, 400, 100]


def test_random_bursts_are_seeded():
    spec = {**STEADY, "random_bursts": {"per_hour": 6, "duration_seconds": 30, "multiplier": 3}}
    first = _arrivals(spec, seed=4).burst_windows
    again = _arrivals(spec, seed=4).burst_windows
    other = _arrivals(spec, seed=5).burst_windows
    assert first == again
    assert first != other
    assert sum(len(windows) for windows in first.values()) > 0
    assert all(window.multiplier == 3 for windows in first.values() for window in windows)


def _traffic_file(tmp_path: Path, frame: pd.DataFrame, suffix: str = ".csv") -> ReplayedTraffic:
    path = tmp_path / f"traffic{suffix}"
    if suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False)
    return ReplayedTraffic(kind="file", path=path)


VALID = pd.DataFrame(
    {
        "offset_seconds": [3.0, 1.0, 2.0],
        "origin": ["us-east-1", "eu-west-1", "us-east-1"],
        "home_jurisdiction": ["US", "EU", "EU"],
    }
)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_traffic_file_replays_sorted(tmp_path: Path, suffix: str):
    traffic = read_traffic_file(_traffic_file(tmp_path, VALID, suffix), REGIONS, 10.0)
    assert traffic.jurisdictions() == ["EU", "US"]
    replayed = traffic.arrivals(REGIONS.index, HOMES.index)
    chunk = replayed.between(0.0, 2.5)
    assert chunk.times.tolist() == [1.0, 2.0]
    assert chunk.origins.tolist() == [1, 0]
    assert chunk.homes.tolist() == [0, 0]
    assert len(replayed) == 3


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (VALID.drop(columns=["origin"]), "column(s) ['origin'] missing"),
        (
            VALID.assign(offset_seconds=[1.0, 20.0, 2.0]),
            "column 'offset_seconds', row 1: 20.0 is not a number of seconds in [0, 10)",
        ),
        (VALID.assign(offset_seconds=["1", "x", "2"]), "row 1: 'x' is not a number"),
        (
            VALID.assign(origin=["us-east-1", "mars-1", "us-east-1"]),
            "column 'origin', row 1: 'mars-1' is not a region",
        ),
        (
            VALID.assign(home_jurisdiction=["US", "eu", "EU"]),
            "column 'home_jurisdiction', row 1: 'eu' is not a jurisdiction code",
        ),
    ],
)
def test_invalid_traffic_file_names_column_and_row(
    tmp_path: Path, frame: pd.DataFrame, expected: str
):
    with pytest.raises(InvalidTrafficFile) as raised:
        read_traffic_file(_traffic_file(tmp_path, frame), REGIONS, 10.0)
    assert expected in str(raised.value)
    assert "traffic.csv" in str(raised.value)


def test_traffic_file_of_unknown_type_is_rejected(tmp_path: Path):
    path = tmp_path / "traffic.json"
    path.write_text("[]")
    with pytest.raises(InvalidTrafficFile, match=r"unknown traffic file type '\.json'"):
        read_traffic_file(ReplayedTraffic(kind="file", path=path), REGIONS, 10.0)


def test_missing_traffic_file_is_reported(tmp_path: Path):
    with pytest.raises(InvalidTrafficFile, match="cannot read the traffic file"):
        read_traffic_file(ReplayedTraffic(kind="file", path=tmp_path / "absent.csv"), REGIONS, 10.0)
