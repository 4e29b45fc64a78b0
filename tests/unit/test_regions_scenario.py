"""Multi-region scenario files: defaults, the discriminated union, and errors that name
the field, the bad value and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.regions import THREE_REGIONS, document
from twinbank.simulator.regions.scenario import MultiRegionScenario
from twinbank.simulator.scenario import InvalidScenario, Scenario, load_scenario

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ["region-outage", "redis-failure", "traffic-spike", "eu-residency-failover"]


def _load(tmp_path: Path, doc: dict[str, Any]) -> Any:
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return load_scenario(path)


def _error(tmp_path: Path, doc: dict[str, Any]) -> str:
    with pytest.raises(InvalidScenario) as raised:
        _load(tmp_path, doc)
    return str(raised.value)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenarios_load(name: str):
    scenario = load_scenario(ROOT / "scenarios" / f"{name}.yaml")
    assert isinstance(scenario, MultiRegionScenario)
    assert scenario.name == name
    assert scenario.fraud is not None


@pytest.mark.parametrize("name", ["baseline", "handbook-replay"])
def test_replay_scenarios_still_load_without_kind(name: str):
    scenario = load_scenario(ROOT / "scenarios" / f"{name}.yaml")
    assert isinstance(scenario, Scenario)
    assert scenario.kind == "replay"


def test_defaults_fill_the_topology(tmp_path: Path):
    scenario = _load(tmp_path, THREE_REGIONS)
    assert scenario.round_trip_matrix() == [
        [0.0, 70.0, 212.0],
        [70.0, 0.0, 181.0],
        [212.0, 181.0, 0.0],
    ]
    balancer = scenario.global_load_balancer
    assert (balancer.kind, balancer.health_check.interval_seconds) == ("route53", 30.0)
    assert balancer.health_check.failure_threshold == 3
    assert balancer.ttl_seconds == 60.0
    assert scenario.regions[0].autoscaler.target_utilization == 0.6
    assert sorted(scenario.home_jurisdictions()) == ["EU", "SG", "US"]


def test_explicit_matrix_is_reordered_to_region_order(tmp_path: Path):
    doc = document(
        network={
            "round_trip": {
                "regions": ["ap-southeast-1", "us-east-1", "eu-west-1"],
                "matrix_ms": [[0, 200, 180], [200, 0, 75], [180, 75, 0]],
            }
        }
    )
    assert _load(tmp_path, doc).round_trip_matrix() == [
        [0.0, 75.0, 200.0],
        [75.0, 0.0, 180.0],
        [200.0, 180.0, 0.0],
    ]


def test_global_accelerator_has_no_dns_ttl(tmp_path: Path):
    doc = document(
        global_load_balancer={
            "kind": "global-accelerator",
            "health_check": {"interval_seconds": 10},
        }
    )
    assert _load(tmp_path, doc).global_load_balancer.ttl_seconds == 0.0


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {
                "faults": [
                    {
                        "kind": "region-outage",
                        "region": "us-west-2",
                        "at_seconds": 10,
                        "duration_seconds": 5,
                    }
                ]
            },
            "faults.0.region: unknown region; regions are ['ap-southeast-1', 'eu-west-1', 'us-east-1'] (got 'us-west-2')",
        ),
        (
            {
                "faults": [
                    {
                        "kind": "redis-failure",
                        "region": "eu-west-1",
                        "at_seconds": 200,
                        "duration_seconds": 5,
                    }
                ]
            },
            "faults.0.at_seconds: is outside the simulated horizon of 120 s; it must be below it (got 200.0)",
        ),
        (
            {
                "faults": [
                    {"kind": "slow-model", "at_seconds": 100, "duration_seconds": 50, "factor": 3}
                ]
            },
            "faults.0.duration_seconds: ends at 150 s, outside the simulated horizon of 120 s; shorten it to at most 20 (got 50.0)",
        ),
        (
            {
                "network": {
                    "round_trip": {
                        "regions": ["us-east-1", "eu-west-1", "ap-southeast-1"],
                        "matrix_ms": [[0, 70, 212], [70, 0]],
                    }
                }
            },
            "network.round_trip.matrix_ms: has 2 rows; a square matrix over 3 regions needs 3",
        ),
        (
            {
                "network": {
                    "round_trip": {
                        "regions": ["us-east-1", "eu-west-1", "ap-southeast-1"],
                        "matrix_ms": [[0, 70, 212], [70, 0], [212, 181, 0]],
                    }
                }
            },
            "network.round_trip.matrix_ms.1: has 2 values; a square matrix over 3 regions needs 3 per row (got [70.0, 0.0])",
        ),
        (
            {
                "network": {
                    "round_trip": {
                        "regions": ["us-east-1", "eu-west-1", "us-west-2"],
                        "matrix_ms": [[0, 1, 2], [1, 0, 2], [2, 2, 0]],
                    }
                }
            },
            "network.round_trip.regions.2: unknown region",
        ),
        (
            {
                "network": {
                    "round_trip": {
                        "regions": ["us-east-1", "eu-west-1", "ap-southeast-1"],
                        "matrix_ms": [[0, 70, 212], [70, 0, -1], [212, 181, 0]],
                    }
                }
            },
            "network.round_trip.matrix_ms.1.2: must be finite and >= 0 ms (got -1.0)",
        ),
        (
            {
                "regions": [
                    {"name": "us-east-1", "jurisdiction": "US"},
                    {"name": "us-west-2", "jurisdiction": "US"},
                ]
            },
            "network.round_trip: no default round-trip time for us-east-1-us-west-2",
        ),
        (
            {
                "traffic": {
                    "kind": "generated",
                    "origins": [
                        {
                            "region": "mars-1",
                            "requests_per_second": 1,
                            "home_jurisdictions": {"US": 1},
                        }
                    ],
                }
            },
            "traffic.origins.0.region: unknown region",
        ),
        (
            {
                "traffic": {
                    "kind": "generated",
                    "origins": [
                        {
                            "region": "us-east-1",
                            "requests_per_second": 1,
                            "home_jurisdictions": {"US": 0.5, "EU": 0.4},
                        }
                    ],
                }
            },
            "home_jurisdictions shares sum to 0.9; they must sum to 1",
        ),
        (
            {
                "traffic": {
                    "kind": "generated",
                    "origins": [
                        {
                            "region": "us-east-1",
                            "requests_per_second": 1,
                            "home_jurisdictions": {"US": 1},
                        }
                    ],
                    "bursts": [
                        {
                            "origin": "eu-west-2",
                            "at_seconds": 1,
                            "duration_seconds": 1,
                            "multiplier": 2,
                        }
                    ],
                }
            },
            "traffic.bursts.0.origin: unknown region",
        ),
        (
            {"serving": {"service_time": {"kind": "calibrated"}}},
            "serving.service_time.kind: calibrated service times are measured on the fraud model",
        ),
        (
            {"global_load_balancer": {"health_check": {"interval_seconds": 15}}},
            "route53 health checks run every 10 or 30 seconds, not 15.0",
        ),
        (
            {
                "global_load_balancer": {
                    "kind": "global-accelerator",
                    "health_check": {"interval_seconds": 10},
                    "dns_ttl_seconds": 60,
                }
            },
            "dns_ttl_seconds (60.0) does not apply",
        ),
        (
            {"global_load_balancer": {"health_check": {"failure_threshold": 11}}},
            "global_load_balancer.health_check.failure_threshold: Input should be less than or equal to 10",
        ),
        (
            {"regions": [{"name": "us-east-1", "jurisdiction": "US", "replicas": 30}]},
            "replicas (30) must lie within autoscaler.min_replicas (2) and autoscaler.max_replicas (20)",
        ),
        ({"residency": {"eu": ["EU"]}}, "'eu' is not a jurisdiction code"),
        ({"report": {"bucket_seconds": 0.001}}, "report.bucket_seconds: gives 120,000 buckets"),
        ({"colour": "blue"}, "colour: Extra inputs are not permitted"),
    ],
)
def test_invalid_scenario_names_the_field(tmp_path: Path, changes: dict[str, Any], expected: str):
    message = _error(tmp_path, document(**changes))
    assert expected in message
    assert "scenario.yaml" in message


def test_several_problems_are_all_reported(tmp_path: Path):
    doc = document(
        faults=[
            {"kind": "replica-crash", "region": "nowhere", "at_seconds": 500},
            {
                "kind": "region-outage",
                "region": "eu-west-1",
                "at_seconds": 100,
                "duration_seconds": 60,
            },
        ]
    )
    message = _error(tmp_path, doc)
    assert message.splitlines()[0].endswith("3 invalid field(s)")
    assert "faults.0.region" in message
    assert "faults.0.at_seconds" in message
    assert "faults.1.duration_seconds" in message


def test_unknown_kind_is_rejected(tmp_path: Path):
    message = _error(tmp_path, document(kind="regional"))
    assert (
        "kind: unknown scenario kind (got 'regional'); expected one of replay, multi-region"
        in message
    )


def test_replay_errors_keep_their_field_paths(tmp_path: Path):
    doc = {
        "name": "x",
        "transactions": {"kind": "file"},
        "model": {"training": {"training_start": "nope"}},
    }
    assert "  model.training.training_start:" in _error(tmp_path, doc)
