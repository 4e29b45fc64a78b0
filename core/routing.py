"""Where a card authorization is decided: latency-based routing across serving regions,
failover on health checks, and data residency.

A request comes from an origin region (where the client is) on behalf of a customer
whose data belongs to a home jurisdiction. The policy sends it to the healthy region
with the lowest round-trip time from the origin among the regions whose jurisdiction
the customer's residency rule allows. When none of those is healthy the request is
rejected: it is never served outside the allowed jurisdictions, not even during a
failover.

The same policy chooses where a replica reads a customer's features from when its own
feature store is down, with "healthy" meaning "feature store available".

Hot paths call ``route_index`` with integer indices and a bitmask of healthy regions,
in which bit ``i`` is set when region ``i`` is healthy. ``route`` makes the same
decision by name.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum


class InvalidTopology(ValueError):
    """Regions, round-trip times or residency rules that do not describe a topology."""


class Rejection(StrEnum):
    """The reason a request was not routed to any region."""

    # A healthy region exists, but only outside the customer's allowed jurisdictions.
    RESIDENCY = "RESIDENCY"
    # No region the customer may use is healthy, and no other region is either.
    NO_HEALTHY_REGION = "NO_HEALTHY_REGION"


# Negative results of ``RoutingPolicy.route_index``.
REJECTED_RESIDENCY = -1
REJECTED_NO_HEALTHY_REGION = -2
REJECTION_CODES = {
    REJECTED_RESIDENCY: Rejection.RESIDENCY,
    REJECTED_NO_HEALTHY_REGION: Rejection.NO_HEALTHY_REGION,
}


@dataclass(frozen=True, slots=True)
class ServingRegion:
    """A region that serves decisions, and the jurisdiction its data centres are in."""

    name: str
    jurisdiction: str


@dataclass(frozen=True)
class ResidencyPolicy:
    """Jurisdictions where each home jurisdiction's customer data may be processed.

    A home jurisdiction with a rule may be served only in the listed jurisdictions
    (for example EU -> {EU}); a home jurisdiction without a rule may be served anywhere.
    """

    rules: Mapping[str, frozenset[str]]

    def __post_init__(self) -> None:
        for home, allowed in self.rules.items():
            if not allowed:
                raise InvalidTopology(
                    f"residency rule for {home!r} allows no jurisdiction; list at least "
                    f"{home!r} itself"
                )

    @classmethod
    def from_lists(cls, rules: Mapping[str, Iterable[str]]) -> ResidencyPolicy:
        return cls({home: frozenset(allowed) for home, allowed in rules.items()})

    def allowed(self, home: str) -> frozenset[str] | None:
        """Return the jurisdictions allowed for ``home``, or None when unrestricted."""
        return self.rules.get(home)

    def permits(self, home: str, jurisdiction: str) -> bool:
        allowed = self.rules.get(home)
        return allowed is None or jurisdiction in allowed


@dataclass(frozen=True, slots=True)
class Route:
    """The outcome of routing one request: a region, or a rejection with its reason.

    ``failover`` is true when the region differs from the one the policy would choose
    with every region healthy.
    """

    region: str | None
    rejection: Rejection | None = None
    failover: bool = False

    @property
    def served(self) -> bool:
        return self.region is not None


class RoutingPolicy:
    """Latency-based routing with health-check failover and data residency."""

    def __init__(
        self,
        regions: Sequence[ServingRegion],
        round_trip_ms: Sequence[Sequence[float]],
        residency: ResidencyPolicy,
        home_jurisdictions: Iterable[str] = (),
    ) -> None:
        """``round_trip_ms[i][j]`` is the round-trip time from region i to region j.

        ``home_jurisdictions`` adds jurisdictions that customers may come from besides
        those of the regions and the residency rules. Raises InvalidTopology naming the
        bad value.
        """
        self._regions = tuple(regions)
        self._check_regions()
        self._round_trip_ms = self._checked_matrix(round_trip_ms)
        self._residency = residency
        known = {region.jurisdiction for region in self._regions} | set(residency.rules)
        for allowed in residency.rules.values():
            known |= allowed
        known |= set(home_jurisdictions)
        self._jurisdictions = tuple(sorted(known))
        self._region_index = {region.name: index for index, region in enumerate(self._regions)}
        self._jurisdiction_index = {name: index for index, name in enumerate(self._jurisdictions)}
        # _preferences[origin][home]: allowed region indices, closest first (ties by name).
        self._preferences = tuple(
            tuple(self._preference(origin, home) for home in range(len(self._jurisdictions)))
            for origin in range(len(self._regions))
        )
        self._allowed_masks = tuple(
            sum(1 << region for region in self._preferences[0][home])
            for home in range(len(self._jurisdictions))
        )
        self._all_regions_mask = (1 << len(self._regions)) - 1

    # -- topology -------------------------------------------------------------------

    @property
    def regions(self) -> tuple[ServingRegion, ...]:
        return self._regions

    @property
    def jurisdictions(self) -> tuple[str, ...]:
        """Return every known jurisdiction, sorted; positions are jurisdiction indices."""
        return self._jurisdictions

    @property
    def residency(self) -> ResidencyPolicy:
        return self._residency

    @property
    def all_healthy(self) -> int:
        """Return the health bitmask with every region healthy."""
        return self._all_regions_mask

    def round_trip_ms(self, origin: int, region: int) -> float:
        return self._round_trip_ms[origin][region]

    def region_index(self, name: str) -> int:
        try:
            return self._region_index[name]
        except KeyError:
            raise InvalidTopology(
                f"unknown region {name!r}; regions are {', '.join(self._region_index)}"
            ) from None

    def jurisdiction_index(self, name: str) -> int:
        try:
            return self._jurisdiction_index[name]
        except KeyError:
            raise InvalidTopology(
                f"unknown jurisdiction {name!r}; jurisdictions are {', '.join(self._jurisdictions)}"
            ) from None

    def health_mask(self, healthy: Iterable[str]) -> int:
        """Return the bitmask of the named healthy regions."""
        mask = 0
        for name in healthy:
            mask |= 1 << self.region_index(name)
        return mask

    def permitted_regions(self, home: int) -> int:
        """Return the bitmask of regions that may serve customers of jurisdiction ``home``."""
        return self._allowed_masks[home]

    def preferences(self, origin: int, home: int) -> tuple[int, ...]:
        """Return the regions allowed for ``home``, closest to ``origin`` first."""
        return self._preferences[origin][home]

    # -- decisions ------------------------------------------------------------------

    def route_index(self, origin: int, home: int, healthy: int) -> int:
        """Return the index of the region that serves the request, or a negative code.

        The region is the closest healthy one among those the residency rule of
        ``home`` allows. Negative results: REJECTED_RESIDENCY, REJECTED_NO_HEALTHY_REGION.
        """
        for region in self._preferences[origin][home]:
            if healthy >> region & 1:
                return region
        if healthy & self._all_regions_mask:
            return REJECTED_RESIDENCY
        return REJECTED_NO_HEALTHY_REGION

    def route(self, origin: str, home: str, healthy: Iterable[str]) -> Route:
        """Route a request by names; see ``route_index``."""
        origin_index = self.region_index(origin)
        home_index = self.jurisdiction_index(home)
        chosen = self.route_index(origin_index, home_index, self.health_mask(healthy))
        if chosen < 0:
            return Route(None, REJECTION_CODES[chosen])
        preferred = self.route_index(origin_index, home_index, self._all_regions_mask)
        return Route(self._regions[chosen].name, None, failover=chosen != preferred)

    # -- construction helpers -------------------------------------------------------

    def _check_regions(self) -> None:
        if not self._regions:
            raise InvalidTopology("a topology needs at least one region")
        names = [region.name for region in self._regions]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise InvalidTopology(f"region names must be unique; repeated: {duplicates}")

    def _checked_matrix(self, matrix: Sequence[Sequence[float]]) -> tuple[tuple[float, ...], ...]:
        size = len(self._regions)
        if len(matrix) != size:
            raise InvalidTopology(
                f"round-trip matrix has {len(matrix)} rows for {size} regions; it must be "
                f"{size} x {size}"
            )
        rows = []
        for index, row in enumerate(matrix):
            if len(row) != size:
                raise InvalidTopology(
                    f"round-trip matrix row {index} ({self._regions[index].name}) has "
                    f"{len(row)} values; it must have {size}"
                )
            for value in row:
                if not math.isfinite(value) or value < 0:
                    raise InvalidTopology(
                        f"round-trip matrix row {index} ({self._regions[index].name}) contains "
                        f"{value!r}; times must be finite and >= 0 ms"
                    )
            rows.append(tuple(float(value) for value in row))
        return tuple(rows)

    def _preference(self, origin: int, home: int) -> tuple[int, ...]:
        allowed = self._residency.allowed(self._jurisdictions[home])
        candidates = [
            index
            for index, region in enumerate(self._regions)
            if allowed is None or region.jurisdiction in allowed
        ]
        distances = self._round_trip_ms[origin]
        return tuple(
            sorted(candidates, key=lambda index: (distances[index], self._regions[index].name))
        )
