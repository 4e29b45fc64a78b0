"""Parts of a multi-region scenario: regions, network, load balancing, serving, traffic,
feature sync, faults and the fraud stream.

Every model forbids unknown fields. Checks that need several parts at once (a fault
naming an unknown region, a latency matrix over the wrong regions) live on
``MultiRegionScenario``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..scenario import ModelSpec, PolicySpec, TransactionSpec

REGION_NAME = r"^[a-z][a-z0-9-]*[a-z0-9]$"
JURISDICTION = r"^[A-Z][A-Z0-9_-]*$"


class StrictSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- regions -------------------------------------------------------------------------


class AutoscalerSpec(StrictSpec):
    """A horizontal pod autoscaler on replica utilization, with Kubernetes' defaults.

    Every ``sync_period_seconds`` it computes ``ceil(ready * utilization / target)``,
    ignores changes within ``tolerance`` of the target, scales down to the highest
    recommendation of the last ``scale_down_stabilization_seconds``, and starts new
    replicas ``scale_up_delay_seconds + pod_start_seconds`` after deciding.
    """

    enabled: bool = True
    min_replicas: int = Field(2, ge=1)
    max_replicas: int = Field(20, ge=1)
    target_utilization: float = Field(0.6, gt=0.0, le=1.0)
    tolerance: float = Field(0.1, ge=0.0, lt=1.0)
    sync_period_seconds: float = Field(15.0, gt=0.0)
    scale_up_delay_seconds: float = Field(
        10.0, ge=0.0, description="From the scaling decision until the new pods are scheduled."
    )
    pod_start_seconds: float = Field(
        45.0,
        ge=0.0,
        description="From scheduling until a pod is ready (image pull, model load, "
        "readiness probe); also the restart time of a crashed replica.",
    )
    scale_down_stabilization_seconds: float = Field(300.0, ge=0.0)

    @model_validator(mode="after")
    def _ordered(self) -> AutoscalerSpec:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas ({self.min_replicas}) must not exceed max_replicas "
                f"({self.max_replicas})"
            )
        return self


class LoadBalancerSpec(StrictSpec):
    """The regional load balancer: one FIFO queue in front of the region's replicas."""

    overhead_ms: float = Field(0.5, ge=0.0, description="Added to every request it forwards.")
    max_queue: int = Field(
        10_000, ge=0, description="Waiting requests beyond this are rejected (HTTP 503)."
    )


class RedisSpec(StrictSpec):
    """The region's replica of the online feature store."""

    lookup_ms: float = Field(1.0, ge=0.0, description="Round trip of one feature lookup.")
    timeout_ms: float = Field(
        5.0, ge=0.0, description="Time a replica waits on a failed feature store."
    )
    on_failure: Literal["remote-replica", "stand-in"] = Field(
        "remote-replica",
        description="remote-replica: read the closest healthy replica the customer's "
        "residency allows, else stand in; stand-in: decide with the stand-in rule.",
    )


class RegionSpec(StrictSpec):
    name: str = Field(pattern=REGION_NAME, description="Cloud region name, e.g. eu-west-1.")
    jurisdiction: str = Field(pattern=JURISDICTION, description="Where its data centres are.")
    utc_offset_hours: float = Field(
        0.0, ge=-12.0, le=14.0, description="Local time of its clients, for daily seasonality."
    )
    replicas: int = Field(3, ge=0, description="Replicas serving at the start.")
    autoscaler: AutoscalerSpec = Field(default_factory=AutoscalerSpec)
    load_balancer: LoadBalancerSpec = Field(default_factory=LoadBalancerSpec)
    redis: RedisSpec = Field(default_factory=RedisSpec)

    @model_validator(mode="after")
    def _replicas_within_bounds(self) -> RegionSpec:
        scaler = self.autoscaler
        if scaler.enabled and not scaler.min_replicas <= self.replicas <= scaler.max_replicas:
            raise ValueError(
                f"replicas ({self.replicas}) must lie within autoscaler.min_replicas "
                f"({scaler.min_replicas}) and autoscaler.max_replicas ({scaler.max_replicas})"
            )
        return self


# -- network and global load balancing -----------------------------------------------


class RoundTripMatrix(StrictSpec):
    """Round-trip times between regions in ms: ``matrix_ms[i][j]`` from regions[i] to
    regions[j]. The diagonal is added to every request served in its client's region."""

    regions: list[str] = Field(min_length=1)
    matrix_ms: list[list[float]]


class NetworkSpec(StrictSpec):
    client_round_trip_ms: float = Field(
        20.0, ge=0.0, description="Client to the edge of its own region and back."
    )
    round_trip: RoundTripMatrix | None = Field(
        None,
        description="Inter-region round trips; the defaults cover the AWS regions "
        "us-east-1, eu-west-1 and ap-southeast-1.",
    )


class HealthCheckSpec(StrictSpec):
    """Health checks of each region's endpoint by the global load balancer.

    Probes run at ``first_probe_seconds + k * interval_seconds``. A region becomes
    unhealthy after ``failure_threshold`` consecutive failed probes and healthy again
    after as many consecutive passing probes (Route 53 and Global Accelerator both use
    one threshold for both directions).
    """

    interval_seconds: float = Field(30.0, gt=0.0)
    failure_threshold: int = Field(3, ge=1, le=10)
    first_probe_seconds: float = Field(0.0, ge=0.0)


class GlobalLoadBalancerSpec(StrictSpec):
    """Route 53 latency records with health checks, Global Accelerator, or free values.

    ``route53``: intervals of 10 or 30 s, thresholds 1-10 (the values Route 53 accepts);
    clients cache the DNS answer for ``dns_ttl_seconds``. ``global-accelerator``:
    intervals 10-30 s, thresholds 1-10, and no DNS caching because clients keep the
    accelerator's static addresses. ``custom``: any interval and TTL.
    """

    kind: Literal["route53", "global-accelerator", "custom"] = "route53"
    health_check: HealthCheckSpec = Field(default_factory=HealthCheckSpec)
    dns_ttl_seconds: float | None = Field(
        None, ge=0.0, description="Route 53 and custom only; default 60 s."
    )

    @model_validator(mode="after")
    def _documented_values(self) -> GlobalLoadBalancerSpec:
        interval = self.health_check.interval_seconds
        if self.kind == "route53" and interval not in (10.0, 30.0):
            raise ValueError(
                f"route53 health checks run every 10 or 30 seconds, not {interval}; use "
                "kind: custom for other intervals"
            )
        if self.kind == "global-accelerator":
            if not (10.0 <= interval <= 30.0 and interval.is_integer()):
                raise ValueError(
                    f"global-accelerator health checks run every 10 to 30 whole seconds, "
                    f"not {interval}; use kind: custom for other intervals"
                )
            if self.dns_ttl_seconds:
                raise ValueError(
                    f"global-accelerator keeps static addresses, so dns_ttl_seconds "
                    f"({self.dns_ttl_seconds}) does not apply; remove it or use kind: route53"
                )
        return self

    @property
    def ttl_seconds(self) -> float:
        if self.kind == "global-accelerator":
            return 0.0
        return 60.0 if self.dns_ttl_seconds is None else self.dns_ttl_seconds


# -- serving -------------------------------------------------------------------------


class CalibratedServiceTime(StrictSpec):
    """Resample the in-process decision latency measured on the fraud model."""

    kind: Literal["calibrated"]
    scale: float = Field(1.0, gt=0.0, description="Multiplies every measured time.")


class ExponentialServiceTime(StrictSpec):
    kind: Literal["exponential"]
    mean_ms: float = Field(gt=0.0)


class LognormalServiceTime(StrictSpec):
    kind: Literal["lognormal"]
    median_ms: float = Field(gt=0.0)
    p99_ms: float = Field(gt=0.0)

    @model_validator(mode="after")
    def _spread(self) -> LognormalServiceTime:
        if self.p99_ms <= self.median_ms:
            raise ValueError(f"p99_ms ({self.p99_ms}) must exceed median_ms ({self.median_ms})")
        return self


class ConstantServiceTime(StrictSpec):
    kind: Literal["constant"]
    ms: float = Field(gt=0.0)


ServiceTimeSpec = Annotated[
    CalibratedServiceTime | ExponentialServiceTime | LognormalServiceTime | ConstantServiceTime,
    Field(discriminator="kind"),
]


class ServingSpec(StrictSpec):
    """Service of one request by a replica, and the deadlines and targets around it."""

    service_time: ServiceTimeSpec = Field(
        default_factory=lambda: CalibratedServiceTime(kind="calibrated", scale=1.0)
    )
    overhead_ms: float = Field(
        0.0, ge=0.0, description="Added to every service time (parsing, serialization)."
    )
    authorization_window_ms: float = Field(
        100.0,
        gt=0.0,
        description="End-to-end deadline; later responses are replaced by the stand-in decision.",
    )
    decision_budget_ms: float = Field(
        60.0, gt=0.0, description="In-replica time budget; longer services count as misses."
    )
    queue_timeout_ms: float | None = Field(
        None, gt=0.0, description="Maximum wait in a queue; default the authorization window."
    )
    same_region_sla_ms: float = Field(50.0, gt=0.0)
    cross_region_sla_ms: float = Field(150.0, gt=0.0)


# -- traffic -------------------------------------------------------------------------


class OriginSpec(StrictSpec):
    """Clients near one region, and the home jurisdictions of their customers.

    Generated requests carry no customer id: each draws its home jurisdiction from
    these shares. Transactions of the fraud section keep one per customer.
    """

    region: str
    requests_per_second: float = Field(ge=0.0, description="Mean over a day.")
    home_jurisdictions: dict[str, float] = Field(
        min_length=1, description="Share of requests per home jurisdiction; shares sum to 1."
    )

    @model_validator(mode="after")
    def _shares(self) -> OriginSpec:
        for name, share in self.home_jurisdictions.items():
            if not share >= 0.0:
                raise ValueError(f"home_jurisdictions.{name}: share {share} must be >= 0")
        total = sum(self.home_jurisdictions.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"home_jurisdictions shares sum to {total:g}; they must sum to 1")
        return self


class DailyProfile(StrictSpec):
    """Rate multiplier ``1 + amplitude * cos(2 pi (local hour - peak) / 24)``."""

    amplitude: float = Field(0.0, ge=0.0, lt=1.0)
    peak_local_hour: float = Field(13.0, ge=0.0, lt=24.0)


class BurstSpec(StrictSpec):
    """A scheduled burst: the origin's rate times ``multiplier`` for a while."""

    origin: str | None = Field(None, description="Region of the clients; none means all.")
    at_seconds: float = Field(ge=0.0)
    duration_seconds: float = Field(gt=0.0)
    multiplier: float = Field(gt=0.0)


class RandomBurstSpec(StrictSpec):
    """Bursts that start at random (a Poisson process per origin)."""

    per_hour: float = Field(0.0, ge=0.0)
    duration_seconds: float = Field(60.0, gt=0.0)
    multiplier: float = Field(2.0, gt=0.0)


class GeneratedTraffic(StrictSpec):
    """Poisson arrivals per origin with daily seasonality and bursts."""

    kind: Literal["generated"]
    origins: list[OriginSpec] = Field(min_length=1)
    daily_profile: DailyProfile = Field(default_factory=DailyProfile)
    bursts: list[BurstSpec] = Field(default_factory=list)
    random_bursts: RandomBurstSpec = Field(default_factory=RandomBurstSpec)


class ReplayedTraffic(StrictSpec):
    """Requests from a Parquet or CSV file with the columns ``offset_seconds`` (from the
    start of the run), ``origin`` (region name) and ``home_jurisdiction``."""

    kind: Literal["file"]
    path: Path


TrafficSpec = Annotated[GeneratedTraffic | ReplayedTraffic, Field(discriminator="kind")]


# -- feature sync --------------------------------------------------------------------


class FeatureSyncSpec(StrictSpec):
    """Feature updates travel between regions on a global event stream.

    An update produced in region p reaches region r after half the p-r round trip
    plus ``pipeline_lag_ms``. A replica that fell behind applies the stream at
    ``catch_up_rate`` seconds of events per second until it is current again.
    """

    pipeline_lag_ms: float = Field(500.0, ge=0.0)
    catch_up_rate: float = Field(5.0, gt=1.0)
    staleness_target_seconds: float = Field(60.0, gt=0.0)
    tick_seconds: float = Field(1.0, gt=0.0, description="Resolution of the staleness series.")


# -- faults --------------------------------------------------------------------------


class _Fault(StrictSpec):
    at_seconds: float = Field(ge=0.0, description="Simulated seconds from the start.")


class RegionOutage(_Fault):
    """The region is unreachable: in-flight and queued requests fail, health checks fail."""

    kind: Literal["region-outage"]
    region: str
    duration_seconds: float = Field(gt=0.0)


class ReplicaCrash(_Fault):
    """Replicas die at once; their in-flight requests fail; each restarts after the pod start time."""

    kind: Literal["replica-crash"]
    region: str
    replicas: int = Field(1, ge=1)


class RedisFailure(_Fault):
    """The region's feature-store replica is down; decisions degrade."""

    kind: Literal["redis-failure"]
    region: str
    duration_seconds: float = Field(gt=0.0)


class SlowModel(_Fault):
    """Service times multiply by ``factor`` (a slow model release or a noisy neighbour)."""

    kind: Literal["slow-model"]
    region: str | None = Field(None, description="None means every region.")
    duration_seconds: float = Field(gt=0.0)
    factor: float = Field(gt=1.0)


class ReplicationLag(_Fault):
    """Events on the global stream reach the region ``lag_seconds`` later than usual."""

    kind: Literal["replication-lag"]
    region: str | None = Field(None, description="None means every region.")
    duration_seconds: float = Field(gt=0.0)
    lag_seconds: float = Field(gt=0.0)


FaultSpec = Annotated[
    RegionOutage | ReplicaCrash | RedisFailure | SlowModel | ReplicationLag,
    Field(discriminator="kind"),
]


# -- fraud stream --------------------------------------------------------------------


class StandInSpec(StrictSpec):
    version: str = "stand-in-v1"
    approve_up_to: float = Field(100.0, ge=0.0, allow_inf_nan=False)


class CalibrationSpec(StrictSpec):
    """Measurement of the in-process decision latency for calibrated service times."""

    decisions: int = Field(2_000, ge=50, description="Single decisions timed.")
    discard: int = Field(200, ge=0, description="First timings dropped (cold caches).")
    history_days: float = Field(
        8.0, ge=0.0, description="Days of history fed to the windows before timing."
    )

    @model_validator(mode="after")
    def _keeps_some(self) -> CalibrationSpec:
        if self.discard >= self.decisions:
            raise ValueError(f"discard ({self.discard}) must be below decisions ({self.decisions})")
        return self


class FraudSpec(StrictSpec):
    """Transactions decided by the real core as they pass through the twin.

    The model trains on the protocol's training week. The transactions of its test
    period are then spread over the twin's horizon, in order, and each one becomes a
    request of its customer's origin region.
    """

    transactions: TransactionSpec
    label_delay_days: float = Field(7.0, ge=0.0)
    model: ModelSpec
    policy: PolicySpec = Field(default_factory=PolicySpec)
    stand_in: StandInSpec = Field(default_factory=StandInSpec)
    calibration: CalibrationSpec = Field(default_factory=CalibrationSpec)


class ReportSpec(StrictSpec):
    bucket_seconds: float = Field(10.0, gt=0.0, description="Width of the time series' steps.")
