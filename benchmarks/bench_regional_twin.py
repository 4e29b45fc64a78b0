"""Time the multi-region twin: simulated requests per wall-clock second, what each part
of a request costs, and a SimPy baseline measured in the same run.

The headline workload is one simulated hour at 1,000 requests per second across three
regions (us-east-1, eu-west-1, ap-southeast-1) with a 20-minute region outage, Route 53
failover and autoscaling. It is scenarios/region-outage.yaml without its fraud
section, so that it measures the twin alone. Service times are lognormal with the
median and p99 of the core's measured single-decision time on this machine.

The baseline serves the same arrivals with the textbook SimPy model: one process per
request on a FIFO Store of idle replicas (``SimpyServingCluster``). It does only the
queueing (no routing, network, metrics or faults), so the ratio understates what the
event-per-request design would cost for the whole twin.

The per-request parts are timed in isolation on 1,000,000 calls each; the core's own
decision (features, XGBoost score, policy, log append) is timed on a small generated
data set, one transaction at a time as a serving replica decides them.

Run from the repository root:

    python benchmarks/bench_regional_twin.py [--repetitions 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import simpy
from rich.console import Console
from rich.table import Table

from twinbank.core.decisioning import DecisionService
from twinbank.core.decisions import DecisionPolicy
from twinbank.core.features.streaming import StreamingFeatureEngine
from twinbank.entrypoints.containers import build_container
from twinbank.simulator.regions.cluster import ServingCluster
from twinbank.simulator.regions.fraud import SettableClock
from twinbank.simulator.regions.reference import SimpyServingCluster
from twinbank.simulator.regions.scenario import MultiRegionScenario
from twinbank.simulator.regions.traffic import GeneratedArrivals
from twinbank.simulator.scenario import Scenario

console = Console()
CALLS = 1_000_000

HEADLINE: dict[str, Any] = {
    "kind": "multi-region",
    "name": "bench-one-hour",
    "seed": 11,
    "horizon_seconds": 3600,
    "regions": [
        {
            "name": "us-east-1",
            "jurisdiction": "US",
            "utc_offset_hours": -4,
            "replicas": 3,
            "autoscaler": {"min_replicas": 2, "max_replicas": 16},
        },
        {
            "name": "eu-west-1",
            "jurisdiction": "EU",
            "utc_offset_hours": 1,
            "replicas": 3,
            "autoscaler": {"min_replicas": 2, "max_replicas": 16},
        },
        {
            "name": "ap-southeast-1",
            "jurisdiction": "SG",
            "utc_offset_hours": 8,
            "replicas": 2,
            "autoscaler": {"min_replicas": 2, "max_replicas": 8},
        },
    ],
    "global_load_balancer": {"kind": "route53", "health_check": {"interval_seconds": 10}},
    "residency": {"EU": ["EU"]},
    "serving": {
        "service_time": {"kind": "lognormal", "median_ms": 0.25, "p99_ms": 4.5},
        "overhead_ms": 0.5,
    },
    "traffic": {
        "kind": "generated",
        "origins": [
            {
                "region": "us-east-1",
                "requests_per_second": 450,
                "home_jurisdictions": {"US": 0.94, "EU": 0.04, "SG": 0.02},
            },
            {
                "region": "eu-west-1",
                "requests_per_second": 350,
                "home_jurisdictions": {"EU": 0.93, "US": 0.05, "SG": 0.02},
            },
            {
                "region": "ap-southeast-1",
                "requests_per_second": 200,
                "home_jurisdictions": {"SG": 0.95, "US": 0.03, "EU": 0.02},
            },
        ],
    },
    "faults": [
        {
            "kind": "region-outage",
            "region": "us-east-1",
            "at_seconds": 900,
            "duration_seconds": 1200,
        }
    ],
}
BASELINE_SECONDS = 300.0  # simulated seconds the SimPy baseline serves


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=3, help="timed runs of each workload")
    arguments = parser.parse_args()
    console.print(
        f"python {platform.python_version()}, simpy {simpy.__version__}, numpy {np.__version__}, "
        f"{platform.machine()}, {os.cpu_count()} logical CPUs, load average "
        f"{' '.join(f'{value:.2f}' for value in os.getloadavg())}"
    )
    scenario = MultiRegionScenario.model_validate(HEADLINE)
    headline = _headline(scenario, arguments.repetitions)
    baseline = _simpy_baseline(scenario, arguments.repetitions)
    _print_headline(headline, baseline)
    _print_parts(scenario, headline)


# -- the whole twin ------------------------------------------------------------------


def _headline(scenario: MultiRegionScenario, repetitions: int) -> dict[str, Any]:
    seconds, rates, breakdowns = [], [], []
    requests = 0
    for _ in range(repetitions):
        run = build_container().regions.run(scenario=scenario)
        started = time.perf_counter()
        result = run.execute(None)
        elapsed = time.perf_counter() - started
        requests = result.twin.metrics.requests_total()
        seconds.append(elapsed)
        rates.append(requests / elapsed)
        breakdowns.append(result.twin.costs.as_seconds())
    return {
        "seconds": np.array(seconds),
        "rates": np.array(rates),
        "requests": requests,
        "breakdown": breakdowns[int(np.argsort(seconds)[len(seconds) // 2])],
    }


def _simpy_baseline(scenario: MultiRegionScenario, repetitions: int) -> dict[str, Any]:
    """Serve BASELINE_SECONDS of the same arrivals with one SimPy process per request."""
    arrivals, _ = build_container().regions.run(scenario=scenario).arrivals()
    chunk = arrivals.between(0.0, BASELINE_SECONDS)
    rng = np.random.default_rng(1)
    services = (rng.lognormal(np.log(0.25e-3), np.log(18.0) / 2.326, len(chunk)) + 1.5e-3).tolist()
    times = chunk.times.tolist()
    origins = chunk.origins.tolist()
    seconds = []
    for _ in range(repetitions):
        env = simpy.Environment()
        clusters = [
            SimpyServingCluster(env, region.replicas, 0.1, 10_000) for region in scenario.regions
        ]
        env.process(_drive(env, clusters, times, origins, services))
        started = time.perf_counter()
        env.run()
        seconds.append(time.perf_counter() - started)
    values = np.array(seconds)
    return {"seconds": values, "rates": len(times) / values, "requests": len(times)}


def _drive(
    env: simpy.Environment,
    clusters: list[SimpyServingCluster],
    times: list[float],
    origins: list[int],
    services: list[float],
) -> Any:
    for arrival, origin, service in zip(times, origins, services, strict=True):
        yield env.timeout(arrival - env.now)
        clusters[origin].submit(service, None)


def _print_headline(headline: dict[str, Any], baseline: dict[str, Any]) -> None:
    table = Table(title="Simulated requests per wall-clock second")
    for column in ("workload", "requests", "median s", "p99 s", "median req/s", "p99 req/s"):
        table.add_column(column, justify="left" if column == "workload" else "right")
    for name, figures in (
        ("twin: 1 h x 1,000 req/s, 3 regions", headline),
        ("SimPy baseline: 300 s, queueing only", baseline),
    ):
        seconds, rates = figures["seconds"], figures["rates"]
        table.add_row(
            name,
            f"{figures['requests']:,}",
            f"{np.median(seconds):.2f}",
            f"{np.percentile(seconds, 99):.2f}",
            f"{np.median(rates):,.0f}",
            f"{np.percentile(rates, 1):,.0f}",
        )
    console.print(table)
    ratio = np.median(headline["rates"]) / np.median(baseline["rates"])
    console.print(f"twin / SimPy baseline, median requests per second: {ratio:.1f}x")
    breakdown = Table(title="Where the twin's time goes (median run)")
    breakdown.add_column("part")
    breakdown.add_column("seconds", justify="right")
    breakdown.add_column("us per request", justify="right")
    for name, value in headline["breakdown"].items():
        breakdown.add_row(name, f"{value:.2f}", f"{value / headline['requests'] * 1e6:.2f}")
    console.print(breakdown)


# -- parts of one request ------------------------------------------------------------


def _print_parts(scenario: MultiRegionScenario, headline: dict[str, Any]) -> None:
    run = build_container().regions.run(scenario=scenario)
    policy = run.policy
    rng = np.random.default_rng(3)
    origins = rng.integers(0, 3, CALLS).tolist()
    homes = rng.integers(0, len(policy.jurisdictions), CALLS).tolist()
    masks = rng.choice([7, 6, 5, 3], CALLS).tolist()
    route = policy.route_index

    def routing() -> None:
        for origin, home, mask in zip(origins, homes, masks, strict=True):
            route(origin, home, mask)

    arrivals = np.sort(rng.uniform(0.0, CALLS / 1000.0, CALLS)).tolist()
    services = rng.exponential(0.0008, CALLS).tolist()

    def queueing() -> None:
        cluster = ServingCluster(1, 0.1, 10_000)
        admit = cluster.admit
        for arrival, service in zip(arrivals, services, strict=True):
            admit(arrival, service, None)

    generated = run.arrivals()[0]
    assert isinstance(generated, GeneratedArrivals)

    def traffic() -> None:
        start = 0.0
        total = 0
        while total < CALLS:
            total += len(generated.between(start, start + 4.0))
            start += 4.0

    table = Table(title=f"One part of the request path, timed alone ({CALLS:,} requests)")
    for column in ("part", "median us/request", "p99 us/request", "x twin's whole request"):
        table.add_column(column, justify="left" if column == "part" else "right")
    whole = np.median(headline["seconds"]) / headline["requests"] * 1e6
    for name, work in (
        ("routing policy (core route_index)", routing),
        ("serving cluster admit (queue)", queueing),
        ("traffic generation (numpy)", traffic),
    ):
        per_request = _time(work, 3) / CALLS * 1e6
        table.add_row(
            name,
            f"{np.median(per_request):.3f}",
            f"{np.percentile(per_request, 99):.3f}",
            f"{np.median(per_request) / whole:.2f}",
        )
    decide, assess = _core_decision_times()
    for name, values in (
        ("core decision (DecisionService.decide)", decide),
        ("core assess only (streaming features)", assess),
    ):
        table.add_row(
            name,
            f"{np.median(values):.1f}",
            f"{np.percentile(values, 99):.1f}",
            f"{np.median(values) / whole:.0f}",
        )
    console.print(table)
    console.print(f"twin, whole request path: {whole:.2f} us per request (median run)")
    projected = headline["requests"] * decide.mean() / 1e6
    console.print(
        f"deciding every one of the {headline['requests']:,} requests with the core would add "
        f"{projected:,.0f} s at the measured mean of {decide.mean():.0f} us per decision"
    )


def _core_decision_times() -> tuple[np.ndarray, np.ndarray]:
    """Time single decide and assess calls of the real core, in microseconds."""
    container = build_container()
    replay = Scenario.model_validate(
        {
            "name": "bench-decisions",
            "transactions": {
                "kind": "generator",
                "settings": {"seed": 7, "days": 40, "customers": 1000, "terminals": 2000},
            },
            "model": {"training": {"training_start": "2018-04-16"}},
        }
    )
    dataset = container.transactions.generated(replay.transactions.settings)
    trainer = container.models.xgboost_trainer(settings=replay.model.hyperparameters)
    trained = container.simulation.scenario_run(
        scenario=replay, dataset=dataset, trainer=trainer
    ).train()
    engine = StreamingFeatureEngine(
        container.features.feature_set(), container.features.state_store()
    )
    service = DecisionService(
        engine,
        trained.scorer,
        DecisionPolicy(),
        container.regions.scratch_log(),
        SettableClock(),
        container.platform.stopwatch(),
    )
    decide, assess = [], []
    for index, record in enumerate(dataset):
        if index >= 30_000:
            break
        started = time.perf_counter_ns()
        if index % 2:
            service.decide(record.transaction)
            decide.append(time.perf_counter_ns() - started)
        else:
            service.assess(record.transaction)
            assess.append(time.perf_counter_ns() - started)
    return np.array(decide[500:]) / 1e3, np.array(assess[500:]) / 1e3


def _time(work: Callable[[], None], repetitions: int) -> np.ndarray:
    seconds = []
    for _ in range(repetitions):
        started = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - started)
    return np.array(seconds)


if __name__ == "__main__":
    main()
