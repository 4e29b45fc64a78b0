"""The core's routing policy: latency-based, health-check failover, data residency."""

from __future__ import annotations

import re

import pytest

from twinbank.core.routing import (
    REJECTED_NO_HEALTHY_REGION,
    REJECTED_RESIDENCY,
    InvalidTopology,
    Rejection,
    ResidencyPolicy,
    Route,
    RoutingPolicy,
    ServingRegion,
)

REGIONS = [
    ServingRegion("us-east-1", "US"),
    ServingRegion("eu-west-1", "EU"),
    ServingRegion("eu-central-1", "EU"),
    ServingRegion("ap-southeast-1", "SG"),
]
ROUND_TRIP_MS = [
    [0, 70, 90, 212],
    [70, 0, 25, 181],
    [90, 25, 0, 160],
    [212, 181, 160, 0],
]
ALL = ["us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-1"]


@pytest.fixture
def policy() -> RoutingPolicy:
    return RoutingPolicy(REGIONS, ROUND_TRIP_MS, ResidencyPolicy.from_lists({"EU": ["EU"]}))


def test_request_goes_to_closest_healthy_region(policy: RoutingPolicy):
    assert policy.route("us-east-1", "US", ALL) == Route("us-east-1")
    assert policy.route("ap-southeast-1", "SG", ALL) == Route("ap-southeast-1")


def test_failover_takes_next_closest_region(policy: RoutingPolicy):
    healthy = ["eu-west-1", "eu-central-1", "ap-southeast-1"]
    assert policy.route("us-east-1", "US", healthy) == Route("eu-west-1", failover=True)
    assert policy.route("us-east-1", "US", ["ap-southeast-1"]) == Route(
        "ap-southeast-1", failover=True
    )


def test_eu_customer_abroad_is_served_in_the_eu(policy: RoutingPolicy):
    route = policy.route("us-east-1", "EU", ALL)
    assert route == Route("eu-west-1")
    assert not route.failover


def test_eu_customer_fails_over_only_within_the_eu(policy: RoutingPolicy):
    assert policy.route("eu-west-1", "EU", ["us-east-1", "eu-central-1"]) == Route(
        "eu-central-1", failover=True
    )


def test_no_allowed_region_healthy_rejects_for_residency(policy: RoutingPolicy):
    route = policy.route("eu-west-1", "EU", ["us-east-1", "ap-southeast-1"])
    assert route == Route(None, Rejection.RESIDENCY)
    assert not route.served


def test_nothing_healthy_rejects_for_no_healthy_region(policy: RoutingPolicy):
    assert policy.route("eu-west-1", "EU", []) == Route(None, Rejection.NO_HEALTHY_REGION)
    assert policy.route("us-east-1", "US", []) == Route(None, Rejection.NO_HEALTHY_REGION)


def test_unrestricted_customer_uses_any_jurisdiction(policy: RoutingPolicy):
    assert policy.route("eu-west-1", "US", ["ap-southeast-1"]) == Route(
        "ap-southeast-1", failover=True
    )


def test_route_index_codes_match_route(policy: RoutingPolicy):
    eu = policy.jurisdiction_index("EU")
    origin = policy.region_index("eu-west-1")
    us_only = policy.health_mask(["us-east-1"])
    assert policy.route_index(origin, eu, us_only) == REJECTED_RESIDENCY
    assert policy.route_index(origin, eu, 0) == REJECTED_NO_HEALTHY_REGION
    assert policy.route_index(origin, eu, policy.all_healthy) == origin


def test_equal_round_trips_break_ties_by_name():
    regions = [ServingRegion("b-region", "X"), ServingRegion("a-region", "X")]
    policy = RoutingPolicy(regions, [[0, 5], [5, 0]], ResidencyPolicy({}))
    other = RoutingPolicy(regions, [[0, 0], [0, 0]], ResidencyPolicy({}))
    assert policy.route("b-region", "X", ["a-region", "b-region"]).region == "b-region"
    assert other.route("b-region", "X", ["a-region", "b-region"]).region == "a-region"


def test_preferences_and_permitted_regions(policy: RoutingPolicy):
    eu = policy.jurisdiction_index("EU")
    us_east = policy.region_index("us-east-1")
    assert policy.preferences(us_east, eu) == (1, 2)
    assert policy.permitted_regions(eu) == 0b0110
    assert policy.permitted_regions(policy.jurisdiction_index("US")) == 0b1111


def test_jurisdictions_include_residency_and_extra_homes():
    policy = RoutingPolicy(
        REGIONS, ROUND_TRIP_MS, ResidencyPolicy.from_lists({"CH": ["CH", "EU"]}), ["BR"]
    )
    assert policy.jurisdictions == ("BR", "CH", "EU", "SG", "US")
    assert policy.route("us-east-1", "CH", ALL).region == "eu-west-1"
    assert policy.route("us-east-1", "BR", ALL).region == "us-east-1"


def test_residency_policy_permits():
    residency = ResidencyPolicy.from_lists({"EU": ["EU"]})
    assert residency.permits("EU", "EU")
    assert not residency.permits("EU", "US")
    assert residency.permits("US", "SG")
    assert residency.allowed("US") is None


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        ([[0, 1], [1, 0]], "2 rows for 4 regions"),
        ([[0, 1, 2, 3], [1, 0, 2], [2, 2, 0, 1], [3, 2, 1, 0]], "row 1 (eu-west-1) has 3 values"),
        (
            [[0, -1, 2, 3], [1, 0, 2, 3], [2, 2, 0, 1], [3, 2, 1, 0]],
            "row 0 (us-east-1) contains -1",
        ),
        (
            [[0, 1, 2, 3], [1, 0, 2, float("nan")], [2, 2, 0, 1], [3, 2, 1, 0]],
            "contains nan",
        ),
    ],
)
def test_invalid_round_trip_matrix_is_rejected(matrix: list[list[float]], message: str):
    with pytest.raises(InvalidTopology, match=re.escape(message)):
        RoutingPolicy(REGIONS, matrix, ResidencyPolicy({}))


def test_duplicate_region_names_are_rejected():
    with pytest.raises(InvalidTopology, match="repeated: \\['a'\\]"):
        RoutingPolicy(
            [ServingRegion("a", "X"), ServingRegion("a", "Y")],
            [[0, 0], [0, 0]],
            ResidencyPolicy({}),
        )


def test_empty_topology_is_rejected():
    with pytest.raises(InvalidTopology, match="at least one region"):
        RoutingPolicy([], [], ResidencyPolicy({}))


def test_residency_rule_allowing_nothing_is_rejected():
    with pytest.raises(InvalidTopology, match="'EU' allows no jurisdiction"):
        ResidencyPolicy.from_lists({"EU": []})


def test_unknown_names_raise_with_the_value(policy: RoutingPolicy):
    with pytest.raises(InvalidTopology, match="unknown region 'us-west-2'"):
        policy.route("us-west-2", "US", ALL)
    with pytest.raises(InvalidTopology, match="unknown jurisdiction 'JP'"):
        policy.route("us-east-1", "JP", ALL)
