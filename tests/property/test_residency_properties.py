"""Data residency: no request is ever served, and no feature ever read, outside the
customer's allowed jurisdictions, over random topologies, outages and customers.

The first property checks the core's routing policy on its own; the second runs whole
twins (stale DNS answers, feature-store failures and remote feature reads included)
and checks what they served.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.regions import run_scenario
from twinbank.core.routing import (
    REJECTED_NO_HEALTHY_REGION,
    REJECTED_RESIDENCY,
    ResidencyPolicy,
    RoutingPolicy,
    ServingRegion,
)
from twinbank.simulator.regions.report import build_report

JURISDICTIONS = ["EU", "US", "SG", "CH"]


@st.composite
def topologies(
    draw: st.DrawFn,
) -> tuple[list[ServingRegion], list[list[float]], dict[str, list[str]]]:
    size = draw(st.integers(1, 6))
    regions = [
        ServingRegion(f"r{index}", draw(st.sampled_from(JURISDICTIONS))) for index in range(size)
    ]
    distances = st.floats(0.0, 400.0, allow_nan=False)
    matrix = [[draw(distances) for _ in range(size)] for _ in range(size)]
    homes = draw(st.lists(st.sampled_from(JURISDICTIONS), unique=True, max_size=3))
    rules = {
        home: draw(st.lists(st.sampled_from(JURISDICTIONS), min_size=1, max_size=3, unique=True))
        for home in homes
    }
    return regions, matrix, rules


@settings(max_examples=300, deadline=None)
@given(topologies(), st.data())
def test_policy_serves_only_allowed_healthy_regions(topology, data):  # type: ignore[no-untyped-def]
    regions, matrix, rules = topology
    residency = ResidencyPolicy.from_lists(rules)
    policy = RoutingPolicy(regions, matrix, residency, JURISDICTIONS)
    healthy = data.draw(st.integers(0, policy.all_healthy))
    origin = data.draw(st.integers(0, len(regions) - 1))
    home = data.draw(st.sampled_from(JURISDICTIONS))
    home_index = policy.jurisdiction_index(home)

    chosen = policy.route_index(origin, home_index, healthy)

    allowed_healthy = [
        index
        for index, region in enumerate(regions)
        if healthy >> index & 1 and residency.permits(home, region.jurisdiction)
    ]
    if chosen >= 0:
        assert residency.permits(home, regions[chosen].jurisdiction)
        assert healthy >> chosen & 1
        assert matrix[origin][chosen] == min(matrix[origin][index] for index in allowed_healthy)
    elif chosen == REJECTED_RESIDENCY:
        assert not allowed_healthy
        assert healthy != 0
    else:
        assert chosen == REJECTED_NO_HEALTHY_REGION
        assert healthy == 0


@st.composite
def twin_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    size = draw(st.integers(2, 4))
    names = [f"r{index}" for index in range(size)]
    jurisdictions = [draw(st.sampled_from(JURISDICTIONS[:3])) for _ in names]
    matrix = [
        [0.0 if i == j else draw(st.floats(5.0, 250.0)) for j in range(size)] for i in range(size)
    ]
    homes = draw(st.lists(st.sampled_from(JURISDICTIONS[:3]), unique=True, max_size=3))
    residency = {
        home: draw(
            st.lists(st.sampled_from(JURISDICTIONS[:3]), min_size=1, max_size=2, unique=True)
        )
        for home in homes
    }
    horizon = 90.0
    faults = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["region-outage", "redis-failure"]))
        start = draw(st.floats(0.0, 60.0))
        faults.append(
            {
                "kind": kind,
                "region": draw(st.sampled_from(names)),
                "at_seconds": start,
                "duration_seconds": draw(st.floats(1.0, horizon - start)),
            }
        )
    dns = draw(st.sampled_from([0.0, 5.0, 30.0]))
    origins = [
        {
            "region": name,
            "requests_per_second": draw(st.floats(20.0, 80.0)),
            "home_jurisdictions": dict.fromkeys(JURISDICTIONS[:3], 1.0 / 3),
        }
        for name in names
    ]
    return {
        "kind": "multi-region",
        "name": "residency-property",
        "seed": draw(st.integers(0, 1_000)),
        "horizon_seconds": horizon,
        "regions": [
            {
                "name": name,
                "jurisdiction": jurisdiction,
                "replicas": 2,
                "redis": {"on_failure": draw(st.sampled_from(["remote-replica", "stand-in"]))},
            }
            for name, jurisdiction in zip(names, jurisdictions, strict=True)
        ],
        "network": {"round_trip": {"regions": names, "matrix_ms": matrix}},
        "global_load_balancer": {
            "kind": "custom",
            "health_check": {"interval_seconds": 2.0, "failure_threshold": 2},
            "dns_ttl_seconds": dns,
        },
        "residency": residency,
        "serving": {"service_time": {"kind": "exponential", "mean_ms": 1.0}},
        "traffic": {"kind": "generated", "origins": origins},
        "faults": faults,
    }


@settings(max_examples=40, deadline=None)
@given(twin_scenarios())
def test_twin_never_serves_or_reads_outside_allowed_jurisdictions(doc):  # type: ignore[no-untyped-def]
    report = build_report(run_scenario(doc))
    residency = report["residency"]
    assert residency["served_outside_allowed_jurisdictions"] == 0
    assert residency["features_read_outside_allowed_jurisdictions"] == 0
    jurisdiction_of = {region["name"]: region["jurisdiction"] for region in doc["regions"]}
    for home, served in residency["served_by_home_jurisdiction"].items():
        allowed = doc["residency"].get(home)
        if allowed is not None:
            assert {jurisdiction_of[name] for name in served} <= set(allowed)
