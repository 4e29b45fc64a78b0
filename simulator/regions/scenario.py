"""Multi-region scenario files: the topology, traffic, faults and fraud stream of a run.

A multi-region scenario is YAML with ``kind: multi-region``; ``twinbank simulate``
reads it through ``twinbank.simulator.scenario.load_scenario``. Errors name the field
path, the bad value and what is expected.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ..scenario import FieldProblems
from .specs import (
    JURISDICTION,
    CalibratedServiceTime,
    FaultSpec,
    FeatureSyncSpec,
    FraudSpec,
    GeneratedTraffic,
    GlobalLoadBalancerSpec,
    NetworkSpec,
    RegionSpec,
    ReportSpec,
    ServingSpec,
    StrictSpec,
    TrafficSpec,
)

# Round-trip times in ms between AWS regions, used when a scenario gives no matrix.
# They are estimates of the order that public inter-region ping measurements report.
# Measured values move with date and path: a 2017 table, "Latency Between AWS Global
# Regions", lists about 81, 217 and 239 ms for the same three pairs. Replace them with
# your own measurements where they matter.
DEFAULT_ROUND_TRIP_MS = {
    frozenset({"us-east-1", "eu-west-1"}): 70.0,
    frozenset({"us-east-1", "ap-southeast-1"}): 212.0,
    frozenset({"eu-west-1", "ap-southeast-1"}): 181.0,
}

# Most time buckets a report may hold; each keeps a latency histogram per region.
MAX_BUCKETS = 5_000

Problems = list[tuple[tuple[str | int, ...], str, Any]]


class MultiRegionScenario(StrictSpec):
    """Regions serving card authorizations under traffic, faults and residency rules."""

    kind: Literal["multi-region"]
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    seed: int = Field(0, ge=0, description="Seed of every random draw of the run.")
    horizon_seconds: float = Field(gt=0.0, description="Simulated time the run covers.")
    start: datetime = Field(
        datetime(2018, 8, 8, 12, tzinfo=UTC),
        description="Date and time of simulated second 0 (sets the hour of day).",
    )
    regions: list[RegionSpec] = Field(min_length=1)
    network: NetworkSpec = Field(default_factory=NetworkSpec)
    global_load_balancer: GlobalLoadBalancerSpec = Field(default_factory=GlobalLoadBalancerSpec)
    residency: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Home jurisdiction -> jurisdictions where its customers may be served; "
        "jurisdictions without a rule may be served anywhere.",
    )
    serving: ServingSpec = Field(default_factory=ServingSpec)
    traffic: TrafficSpec
    feature_sync: FeatureSyncSpec = Field(default_factory=FeatureSyncSpec)
    fraud: FraudSpec | None = None
    faults: list[FaultSpec] = Field(default_factory=list)
    report: ReportSpec = Field(default_factory=ReportSpec)

    @field_validator("start")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @field_validator("residency")
    @classmethod
    def _residency_names(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        pattern = re.compile(JURISDICTION)
        for home, allowed in value.items():
            for name in (home, *allowed):
                if not pattern.match(name):
                    raise ValueError(
                        f"{name!r} is not a jurisdiction code; use upper-case codes such as EU"
                    )
            if not allowed:
                raise ValueError(f"{home}: allows no jurisdiction; list at least {home} itself")
        return value

    @model_validator(mode="after")
    def _cross_references(self) -> MultiRegionScenario:
        """Check what no single field can: names that refer to other fields, and limits
        that depend on the horizon."""
        problems: Problems = []
        names = [region.name for region in self.regions]
        for index, name in enumerate(names):
            if names.index(name) != index:
                problems.append((("regions", index, "name"), "repeats an earlier region", name))

        known = set(names)
        problems += self._round_trip_problems(known)
        problems += self._traffic_problems(known)
        problems += self._fault_problems(known)

        if isinstance(self.serving.service_time, CalibratedServiceTime) and self.fraud is None:
            problems.append(
                (
                    ("serving", "service_time", "kind"),
                    "calibrated service times are measured on the fraud model; add a fraud "
                    "section or choose exponential, lognormal or constant",
                    "calibrated",
                )
            )

        buckets = self.horizon_seconds / self.report.bucket_seconds
        if buckets > MAX_BUCKETS:
            problems.append(
                (
                    ("report", "bucket_seconds"),
                    f"gives {buckets:,.0f} buckets over the horizon; at most {MAX_BUCKETS:,} "
                    f"are kept, so use at least {self.horizon_seconds / MAX_BUCKETS:g}",
                    self.report.bucket_seconds,
                )
            )

        if problems:
            raise FieldProblems(problems)
        return self

    # -- derived values ---------------------------------------------------------------

    @property
    def region_names(self) -> list[str]:
        return [region.name for region in self.regions]

    def round_trip_matrix(self) -> list[list[float]]:
        """Return round-trip times in ms in the order of ``regions``."""
        names = self.region_names
        given = self.network.round_trip
        if given is not None:
            position = {name: index for index, name in enumerate(given.regions)}
            return [
                [given.matrix_ms[position[origin]][position[target]] for target in names]
                for origin in names
            ]
        return [
            [
                0.0 if origin == target else DEFAULT_ROUND_TRIP_MS[frozenset({origin, target})]
                for target in names
            ]
            for origin in names
        ]

    def home_jurisdictions(self) -> list[str]:
        """Return the home jurisdictions the generated traffic names, in first-seen order."""
        found: list[str] = []
        if isinstance(self.traffic, GeneratedTraffic):
            for origin in self.traffic.origins:
                found += [name for name in origin.home_jurisdictions if name not in found]
        return found

    # -- checks -----------------------------------------------------------------------

    def _round_trip_problems(self, known: set[str]) -> Problems:
        given = self.network.round_trip
        field = ("network", "round_trip")
        if given is None:
            missing = [
                f"{origin}-{target}"
                for position, origin in enumerate(self.region_names)
                for target in self.region_names[position + 1 :]
                if frozenset({origin, target}) not in DEFAULT_ROUND_TRIP_MS
            ]
            if missing:
                return [
                    (
                        field,
                        f"no default round-trip time for {', '.join(missing)}; give "
                        "network.round_trip with regions and matrix_ms",
                        None,
                    )
                ]
            return []
        problems: Problems = []
        size = len(given.regions)
        for index, name in enumerate(given.regions):
            if name not in known:
                problems.append(
                    (
                        (*field, "regions", index),
                        f"unknown region; regions are {sorted(known)}",
                        name,
                    )
                )
            elif given.regions.index(name) != index:
                problems.append(((*field, "regions", index), "repeats an earlier region", name))
        absent = sorted(known - set(given.regions))
        if absent:
            problems.append(((*field, "regions"), f"lacks the regions {absent}", given.regions))
        if len(given.matrix_ms) != size:
            problems.append(
                (
                    (*field, "matrix_ms"),
                    f"has {len(given.matrix_ms)} rows; a square matrix over {size} regions "
                    f"needs {size}",
                    given.matrix_ms,
                )
            )
        for index, row in enumerate(given.matrix_ms):
            if len(row) != size:
                problems.append(
                    (
                        (*field, "matrix_ms", index),
                        f"has {len(row)} values; a square matrix over {size} regions needs "
                        f"{size} per row",
                        row,
                    )
                )
            for column, value in enumerate(row):
                if not value >= 0.0 or value == float("inf"):
                    problems.append(
                        ((*field, "matrix_ms", index, column), "must be finite and >= 0 ms", value)
                    )
        return problems

    def _traffic_problems(self, known: set[str]) -> Problems:
        traffic = self.traffic
        if not isinstance(traffic, GeneratedTraffic):
            return []
        problems: Problems = []
        seen: set[str] = set()
        for index, origin in enumerate(traffic.origins):
            field = ("traffic", "origins", index, "region")
            if origin.region not in known:
                problems.append(
                    (field, f"unknown region; regions are {sorted(known)}", origin.region)
                )
            elif origin.region in seen:
                problems.append((field, "repeats an earlier origin", origin.region))
            seen.add(origin.region)
            for name in origin.home_jurisdictions:
                if not re.match(JURISDICTION, name):
                    problems.append(
                        (
                            ("traffic", "origins", index, "home_jurisdictions"),
                            "is not a jurisdiction code; use upper-case codes such as EU",
                            name,
                        )
                    )
        for index, burst in enumerate(traffic.bursts):
            if burst.origin is not None and burst.origin not in known:
                problems.append(
                    (
                        ("traffic", "bursts", index, "origin"),
                        f"unknown region; regions are {sorted(known)}",
                        burst.origin,
                    )
                )
            problems += self._horizon_problems(("traffic", "bursts", index), burst)
        return problems

    def _fault_problems(self, known: set[str]) -> Problems:
        problems: Problems = []
        for index, fault in enumerate(self.faults):
            region = getattr(fault, "region", None)
            if region is not None and region not in known:
                problems.append(
                    (
                        ("faults", index, "region"),
                        f"unknown region; regions are {sorted(known)}",
                        region,
                    )
                )
            problems += self._horizon_problems(("faults", index), fault)
        return problems

    def _horizon_problems(self, field: tuple[str | int, ...], event: Any) -> Problems:
        horizon = self.horizon_seconds
        if event.at_seconds >= horizon:
            return [
                (
                    (*field, "at_seconds"),
                    f"is outside the simulated horizon of {horizon:g} s; it must be below it",
                    event.at_seconds,
                )
            ]
        duration = getattr(event, "duration_seconds", None)
        if duration is not None and event.at_seconds + duration > horizon:
            return [
                (
                    (*field, "duration_seconds"),
                    f"ends at {event.at_seconds + duration:g} s, outside the simulated horizon "
                    f"of {horizon:g} s; shorten it to at most {horizon - event.at_seconds:g}",
                    duration,
                )
            ]
        return []
