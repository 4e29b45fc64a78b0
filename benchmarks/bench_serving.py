"""Load-test the decision service and the stream worker on real servers, on 127.0.0.1.

The script starts a private Redis (its own port, stopped by PID at the end), uses the
PostgreSQL on 127.0.0.1:5432 (started with pg_ctlcluster when it is down) in a fresh
schema, trains a model on the handbook data once per feature set, and then:

1. publishes the handbook's transactions and labels of the days before a cutoff to
   the event stream and times ``twinbank worker`` draining them into Redis features
   (the worker's events per second);
2. starts ``twinbank serve`` and runs locust headless against it, one phase at a
   time: the trivial ``/healthz`` route at full speed (the ceiling of this server on
   this machine), decisions at full speed, decisions at the target rate for the full
   duration, then the same two for online features;
3. stops every process by PID and writes the figures to BENCHMARKS.md (between the
   serving-benchmark markers) and to ``WORK/results.json``.

Decision requests are the handbook's transactions after the cutoff, in time order,
each phase with its own slice, so no request repeats an earlier transaction.

Run from the repository root, with the handbook data:

    TWINBANK_DATA_DIR=... python benchmarks/bench_serving.py [--duration 60]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import redis
import yaml
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text

from twinbank.adapters.redis import RedisEventStream
from twinbank.adapters.transactions import load_transactions
from twinbank.core.events import interleave_labels
from twinbank.core.features.catalog import feature_set_named
from twinbank.core.timestamps import days, from_datetime, to_datetime
from twinbank.core.transactions import FraudLabel, Transaction
from twinbank.entrypoints.worker.assemble import CONSUMER_GROUP

ROOT = Path(__file__).resolve().parents[1]
LOCUSTFILE = ROOT / "benchmarks" / "locust" / "decisions.py"
BENCHMARKS = ROOT / "BENCHMARKS.md"
MARK = "<!-- serving-benchmark {variant}:{edge} -->"
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
KEY = "benchmark-" + uuid.uuid4().hex
console = Console()


@dataclass
class Phase:
    """Figures of one locust phase (latencies in milliseconds)."""

    name: str
    route: str
    users: int
    offered_rps: float | None
    seconds: int
    requests: int
    failures: int
    rps: float
    steady_rps: float
    p50: float
    p95: float
    p99: float


class Processes:
    """Child processes, each stopped by its PID in reverse start order."""

    def __init__(self, logs: Path) -> None:
        self._logs = logs
        self._children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(
        self, name: str, command: list[str], environment: dict[str, str]
    ) -> subprocess.Popen[bytes]:
        log = (self._logs / f"{name}.log").open("ab")
        child = subprocess.Popen(
            command, env={**os.environ, **environment}, stdout=log, stderr=subprocess.STDOUT
        )
        self._children.append((name, child))
        console.log(f"started {name} (pid {child.pid})")
        return child

    def stop(self, name: str) -> None:
        for entry in list(self._children):
            if entry[0] == name:
                self._terminate(*entry)
                self._children.remove(entry)

    def stop_all(self) -> None:
        while self._children:
            self._terminate(*self._children.pop())

    @staticmethod
    def _terminate(name: str, child: subprocess.Popen[bytes]) -> None:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        console.log(f"stopped {name} (pid {child.pid}, exit {child.returncode})")


def twinbank(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "twinbank.entrypoints.cli", *arguments]


def wait_for(condition, what: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.1)


def ensure_postgres() -> None:
    probe = ["pg_isready", "-h", "127.0.0.1", "-p", "5432"]

    def ready() -> bool:
        return subprocess.run(probe, capture_output=True, check=False).returncode == 0

    if ready():
        return
    console.log("PostgreSQL is down; starting it")
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"], check=True
    )
    wait_for(ready, "PostgreSQL", 30)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def prepare_events(
    data_dir: Path, cutoff: datetime, seed_days: int, requests_needed: int
) -> tuple[list[Transaction | FraudLabel], list[Transaction], list[int]]:
    """Return the seeding events, the decision transactions and the seeded customers."""
    dataset = load_transactions(data_dir / "handbook" / "transactions.parquet", None)
    cutoff_ns = from_datetime(cutoff)
    start_ns = cutoff_ns - days(seed_days)
    seed: list[Transaction | FraudLabel] = []
    later: list[Transaction] = []
    seeded_customers: set[int] = set()
    for event in interleave_labels(dataset, days(7)):
        if isinstance(event, FraudLabel):
            if start_ns <= event.revealed_at_ns < cutoff_ns:
                seed.append(event)
            continue
        if start_ns <= event.timestamp_ns < cutoff_ns:
            seed.append(event)
            seeded_customers.add(event.customer_id)
        elif event.timestamp_ns >= cutoff_ns:
            later.append(event)
            if len(later) >= requests_needed:
                break
    return seed, later, sorted(seeded_customers)


def write_requests(path: Path, transactions: list[Transaction]) -> None:
    with path.open("w", encoding="utf-8") as lines:
        for transaction in transactions:
            moment = to_datetime(transaction.timestamp_ns).isoformat().replace("+00:00", "Z")
            lines.write(
                json.dumps(
                    {
                        "transaction_id": transaction.transaction_id,
                        "timestamp": moment,
                        "customer_id": transaction.customer_id,
                        "terminal_id": transaction.terminal_id,
                        "amount": transaction.amount,
                    }
                )
                + "\n"
            )


def run_locust(
    work: Path,
    name: str,
    user_class: str,
    route: str,
    base_url: str,
    users: int,
    rate_per_user: float,
    seconds: int,
    environment: dict[str, str],
) -> Phase:
    prefix = work / f"locust-{name}"
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), user_class,
        "--headless", "--only-summary", "-u", str(users), "-r", str(users),
        "-t", f"{seconds}s", "-H", base_url, "--csv", str(prefix), "--stop-timeout", "5",
    ]  # fmt: skip
    console.log(f"locust phase {name}: {users} users, {seconds} s")
    with (work / f"locust-{name}.log").open("wb") as log:
        subprocess.run(
            command,
            env={**os.environ, **environment, "TWINBANK_BENCH_RATE": str(rate_per_user)},
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=seconds + 120,
            check=False,
        )
    with (work / f"locust-{name}_stats.csv").open(encoding="utf-8") as stats:
        row = next(r for r in csv.DictReader(stats) if r["Name"] == route)
    return Phase(
        name=name,
        route=route,
        users=users,
        offered_rps=users * rate_per_user if rate_per_user else None,
        seconds=seconds,
        requests=int(row["Request Count"]),
        failures=int(row["Failure Count"]),
        rps=float(row["Requests/s"]),
        steady_rps=steady_rate(work / f"locust-{name}_stats_history.csv"),
        p50=float(row["50%"]),
        p95=float(row["95%"]),
        p99=float(row["99%"]),
    )


def steady_rate(history: Path, settle_s: int = 5) -> float:
    """Return the requests per second once every user runs, from ``settle_s`` seconds
    after the first completed request to the last second that locust recorded.

    Locust's own rate divides by the whole phase, including the second in which its
    users start, so it stays below the offered rate however fast the server is."""
    with history.open(encoding="utf-8") as rows:
        counts = [
            (int(row["Timestamp"]), int(row["Total Request Count"]))
            for row in csv.DictReader(rows)
            if row["Name"] == "Aggregated" and int(row["Total Request Count"]) > 0
        ]
    if len(counts) < 2:
        return math.nan
    first = next((c for c in counts if c[0] >= counts[0][0] + settle_s), counts[0])
    last = counts[-1]
    if last[0] <= first[0]:
        return math.nan
    return (last[1] - first[1]) / (last[0] - first[0])


def set_nice(pid: int, value: int) -> None:
    """Set the nice value of every thread of a process, because Linux keeps one per
    thread."""
    if value == 0:
        return
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.setpriority(os.PRIO_PROCESS, int(task.name), value)
    console.log(f"set nice {value} for process {pid}")


def write_markdown(results: dict[str, object]) -> None:
    nice = results["nice"]
    assert isinstance(nice, dict)
    variant = f"journal_sync={results['journal_sync']}"
    if results.get("forwarding", "process") != "process":
        variant += f" forwarding={results['forwarding']}"
    if results.get("feature_set", "handbook-profile") != "handbook-profile":
        variant += f" feature_set={results['feature_set']}"
    for name, value in nice.items():
        if value:
            variant += f" {name}={value}"
    start_mark = MARK.format(variant=variant, edge="start")
    end_mark = MARK.format(variant=variant, edge="end")
    phases = [Phase(**phase) for phase in results["phases"]]  # type: ignore[union-attr]
    worker = results["worker"]
    assert isinstance(worker, dict)
    ceiling = next(phase for phase in phases if phase.name == "ceiling")
    lines = [
        start_mark,
        f"With `journal_sync: {results['journal_sync']}` and `forwarding: "
        f"{results.get('forwarding', 'process')}`, feature set "
        f"`{results.get('feature_set', 'handbook')}`. Measured {results['finished']} on {results['machine']}; load average (1/5/15 min) "
        f"{results['load_before']} before and {results['load_after']} after. Locust, the "
        "service, the worker, Redis and PostgreSQL share the machine's cores"
        + (f" ({results['priorities']})." if results.get("priorities") else "."),
        "",
        "Command:",
        "",
        "```bash",
        str(results["command"]),
        "```",
        "",
        "| phase | route | users | offered req/s | seconds | requests | failures | req/s | steady req/s | p50 ms | p95 ms | p99 ms | req/s vs ceiling |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for phase in phases:
        offered = "max" if phase.offered_rps is None else f"{phase.offered_rps:,.0f}"
        lines.append(
            f"| {phase.name} | `{phase.route}` | {phase.users} | {offered} | {phase.seconds} | "
            f"{phase.requests:,} | {phase.failures:,} | {phase.rps:,.0f} | "
            f"{phase.steady_rps:,.0f} | {phase.p50:g} | "
            f"{phase.p95:g} | {phase.p99:g} | {phase.rps / ceiling.rps:.2f} |"
        )
    lines += [
        "",
        f"Stream worker: {worker['events']:,} handbook events ({worker['seed_days']} days "
        f"before {worker['cutoff']}) from Redis Streams into Redis window state, online "
        f"values and the PostgreSQL offline history in {worker['seconds']:.1f} s: "
        f"**{worker['events_per_second']:,.0f} events/s**.",
        "",
        f"Online feature requests read 1 customer x {results['online_features']} features "
        f"(every customer feature of the {results.get('feature_set', 'handbook')} set).",
        "",
        f"Degraded decisions (feature-state read over its 20 ms budget or failed): "
        f"{results['degraded_decisions']:,.0f} of {results['decisions']:,.0f}.",
        end_mark,
    ]
    block = "\n".join(lines)
    current = BENCHMARKS.read_text(encoding="utf-8")
    if start_mark in current:
        before = current[: current.index(start_mark)]
        after = current[current.index(end_mark) + len(end_mark) :]
        BENCHMARKS.write_text(before + block + after, encoding="utf-8")
    elif "<!-- serving-benchmark " in current:
        # A new combination of settings goes after the last block of the page.
        last_end = current.index(":end -->", current.rindex("<!-- serving-benchmark "))
        cut = last_end + len(":end -->")
        BENCHMARKS.write_text(current[:cut] + "\n\n" + block + current[cut:], encoding="utf-8")
    else:
        BENCHMARKS.write_text(
            current.rstrip() + "\n\n## Serving\n\n" + block + "\n", encoding="utf-8"
        )


def main() -> None:  # noqa: PLR0915 (one straight sequence of benchmark steps)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=ROOT / "out" / "bench-serving")
    parser.add_argument(
        "--duration", type=int, default=60, help="Seconds of each target-rate phase."
    )
    parser.add_argument("--probe", type=int, default=20, help="Seconds of each full-speed phase.")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--decision-rate", type=float, default=1000.0)
    parser.add_argument("--feature-rate", type=float, default=2000.0)
    parser.add_argument("--seed-days", type=int, default=17)
    parser.add_argument("--cutoff", default="2018-08-01T00:00:00+00:00")
    parser.add_argument("--redis-port", type=int, default=6391)
    parser.add_argument(
        "--journal-sync",
        choices=("fsync", "os"),
        default="fsync",
        help="Answer after the decision record is on disk (fsync) or in the OS (os).",
    )
    parser.add_argument(
        "--inline-sync-below-ms",
        type=float,
        default=None,
        help="The service's journal_inline_sync_below_ms (its default when omitted).",
    )
    parser.add_argument(
        "--forwarding",
        choices=("thread", "process"),
        default=None,
        help="Where the service runs its journal forwarders (its default, process, when omitted).",
    )
    parser.add_argument(
        "--redis-nice",
        type=int,
        default=0,
        help=(
            "Nice value of the private Redis during the load phases (negative: ahead of "
            "the other processes, as on a host of its own; needs root)."
        ),
    )
    parser.add_argument(
        "--worker-nice",
        type=int,
        default=0,
        help="Nice value of the stream worker during the load phases (positive: background).",
    )
    parser.add_argument("--no-markdown", action="store_true", help="Do not touch BENCHMARKS.md.")
    parser.add_argument(
        "--no-worker-history",
        action="store_true",
        help="Run the worker with --no-history: online features only, no offline history rows.",
    )
    parser.add_argument(
        "--worker-commit-interval-ms",
        type=int,
        default=None,
        help="The worker's --commit-interval-ms (its default when omitted).",
    )
    parser.add_argument(
        "--feature-set",
        choices=("handbook", "handbook-profile"),
        default="handbook-profile",
        help="Features the worker, the service and the model compute (TWINBANK_FEATURE_SET); "
        "handbook-profile carries 15 per customer, handbook 6.",
    )
    parser.add_argument(
        "--only",
        choices=("all", "worker"),
        default="all",
        help="Run every phase, or only the worker's drain (prints its figure; no markdown).",
    )
    arguments = parser.parse_args()

    data_dir = os.environ.get("TWINBANK_DATA_DIR")
    if not data_dir:
        raise SystemExit("set TWINBANK_DATA_DIR to the folder that holds handbook/")
    work: Path = arguments.work
    work.mkdir(parents=True, exist_ok=True)
    for stale in work.glob("locust-*"):
        stale.unlink()
    shutil.rmtree(work / "journal", ignore_errors=True)
    load_before = load_average()
    processes = Processes(work)
    schema = f"bench_serving_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES)
    try:
        ensure_postgres()
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        postgres_url = f"{POSTGRES}?options=-csearch_path%3D{schema}"
        redis_url = f"redis://127.0.0.1:{arguments.redis_port}/0"
        redis_server = processes.start(
            "redis",
            ["redis-server", "--bind", "127.0.0.1", "--port", str(arguments.redis_port),
             "--save", "", "--appendonly", "no"],
            {},
        )  # fmt: skip
        client = redis.Redis.from_url(redis_url)
        wait_for(lambda: _pings(client), "the private Redis", 20)

        model = work / f"model-{arguments.feature_set}"
        if arguments.only == "all" and not (model / "manifest.json").exists():
            console.log(f"training a model on {arguments.feature_set} (protocol training week)")
            subprocess.run(
                twinbank(
                    "train-model", str(scenario_with_features(work, arguments.feature_set)),
                    "--transactions", str(Path(data_dir) / "handbook" / "transactions.parquet"),
                    "--out", str(model),
                ),
                check=True,
            )  # fmt: skip

        cutoff = datetime.fromisoformat(arguments.cutoff)
        probe_requests = int(arguments.probe * 3000)
        target_requests = int(arguments.duration * arguments.decision_rate * 1.2)
        if arguments.only == "worker":
            probe_requests = target_requests = 0
        with console.status("reading the handbook transactions"):
            seed, later, customers = prepare_events(
                Path(data_dir), cutoff, arguments.seed_days, probe_requests + target_requests
            )
        write_requests(work / "requests-probe.jsonl", later[:probe_requests])
        write_requests(work / "requests-target.jsonl", later[probe_requests:])

        environment = {
            "TWINBANK_REDIS_URL": redis_url,
            "TWINBANK_POSTGRES_URL": postgres_url,
            "TWINBANK_FEATURE_PREFIX": "bench",
            "TWINBANK_FEATURE_SET": arguments.feature_set,
            "TWINBANK_EVENT_STREAM": "bench:events",
            "TWINBANK_BENCH_KEY_VALUE": KEY,
        }
        stream = RedisEventStream(client, "bench:events")
        with console.status(f"publishing {len(seed):,} seeding events"):
            for start in range(0, len(seed), 10_000):
                stream.publish(seed[start : start + 10_000])
        observer = stream.subscription(CONSUMER_GROUP, "benchmark-observer")
        launched = time.monotonic()
        stream_worker = processes.start(
            "worker",
            twinbank(
                "worker",
                "--profile",
                "local",
                "--consumer",
                "bench",
                *(["--no-history"] if arguments.no_worker_history else []),
                *(
                    []
                    if arguments.worker_commit_interval_ms is None
                    else ["--commit-interval-ms", str(arguments.worker_commit_interval_ms)]
                ),
            ),
            environment,
        )
        wait_for(lambda: observer.lag() < len(seed), "the worker's first batch", 120)
        started = time.monotonic()
        first_lag = observer.lag()
        wait_for(lambda: observer.lag() == 0, "the worker to drain the seeding events", 3600)
        drained = time.monotonic()
        drain_seconds = drained - started
        worker = {
            "events": first_lag,
            "seconds": drain_seconds,
            "events_per_second": first_lag / drain_seconds,
            "seconds_from_launch": drained - launched,
            "seed_days": arguments.seed_days,
            "cutoff": arguments.cutoff[:10],
        }
        console.log(f"worker: {worker['events_per_second']:,.0f} events/s")
        if arguments.only == "worker":
            _report_worker_only(work, worker, load_before)
            return

        set_nice(redis_server.pid, arguments.redis_nice)
        set_nice(stream_worker.pid, arguments.worker_nice)
        port = _free_port()
        config = {
            "port": port,
            "model": str(model),
            "journal": str(work / "journal"),
            "journal_sync": arguments.journal_sync,
            **(
                {}
                if arguments.inline_sync_below_ms is None
                else {"journal_inline_sync_below_ms": arguments.inline_sync_below_ms}
            ),
            **({} if arguments.forwarding is None else {"forwarding": arguments.forwarding}),
            "api_keys": [
                {
                    "name": "benchmark",
                    "user": "benchmark",
                    "role": "service",
                    "scopes": ["decide", "read"],
                    "key_env": "TWINBANK_BENCH_KEY_VALUE",
                }
            ],
        }
        (work / "serve.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
        processes.start(
            "serve",
            twinbank(
                "serve", str(work / "serve.yaml"), "--profile", "local", "--log-level", "warning"
            ),
            environment,
        )
        base_url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(f"{base_url}/healthz"), "twinbank serve", 120)

        features = [
            name
            for name in feature_set_named(arguments.feature_set).names
            if name.startswith("CUSTOMER_ID_")
        ]
        locust_environment = {
            "TWINBANK_BENCH_KEY": KEY,
            "TWINBANK_BENCH_CUSTOMERS": ",".join(str(c) for c in customers),
            "TWINBANK_BENCH_FEATURES": ",".join(features),
        }
        users = arguments.users
        decision_rate = arguments.decision_rate / users
        feature_rate = arguments.feature_rate / users
        phases = [
            run_locust(work, "ceiling", "CeilingUser", "/healthz", base_url, users, 0, arguments.probe, locust_environment),
            run_locust(work, "decisions-max", "DecisionUser", "/v1/decisions", base_url, users, 0, arguments.probe,
                       {**locust_environment, "TWINBANK_BENCH_REQUESTS": str(work / "requests-probe.jsonl")}),
            run_locust(work, "decisions-target", "DecisionUser", "/v1/decisions", base_url, users, decision_rate, arguments.duration,
                       {**locust_environment, "TWINBANK_BENCH_REQUESTS": str(work / "requests-target.jsonl")}),
            run_locust(work, "features-max", "OnlineFeatureUser", "/v1/features/online", base_url, users, 0, arguments.probe, locust_environment),
            run_locust(work, "features-target", "OnlineFeatureUser", "/v1/features/online", base_url, users, feature_rate, arguments.duration, locust_environment),
        ]  # fmt: skip
        metrics = httpx.get(f"{base_url}/metrics", timeout=10).text
        (work / f"metrics-{arguments.journal_sync}.txt").write_text(metrics, encoding="utf-8")
        decided = _metric_total(metrics, "twinbank_decisions_total")
        degraded = _metric_total(metrics, "twinbank_degraded_decisions_total")
    finally:
        processes.stop_all()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()

    results = {
        "finished": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()} Linux, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_before": load_before,
        "journal_sync": arguments.journal_sync,
        "forwarding": arguments.forwarding or "process",
        "feature_set": arguments.feature_set,
        "nice": {"redis_nice": arguments.redis_nice, "worker_nice": arguments.worker_nice},
        "priorities": _priorities(arguments.redis_nice, arguments.worker_nice),
        "load_after": load_average(),
        "command": "TWINBANK_DATA_DIR=... python benchmarks/bench_serving.py "
        + " ".join(_arguments_without_work(sys.argv[1:])),
        "worker": worker,
        "online_features": len(features),
        "decisions": decided,
        "degraded_decisions": degraded,
        "phases": [asdict(phase) for phase in phases],
    }
    (work / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    table = Table(title="Serving benchmark")
    for column in ("phase", "req/s", "steady req/s", "failures", "p50 ms", "p95 ms", "p99 ms"):
        table.add_column(column, justify="right" if column != "phase" else "left")
    for phase in phases:
        table.add_row(
            phase.name,
            f"{phase.rps:,.0f}",
            f"{phase.steady_rps:,.0f}",
            str(phase.failures),
            f"{phase.p50:g}",
            f"{phase.p95:g}",
            f"{phase.p99:g}",
        )
    console.print(table)
    console.print(f"worker: {worker['events_per_second']:,.0f} events/s")
    if not arguments.no_markdown:
        write_markdown(results)
        console.print(f"wrote the figures to {BENCHMARKS}")


def scenario_with_features(work: Path, feature_set: str) -> Path:
    """Write the handbook replay scenario with ``feature_set`` into ``work``; return it."""
    scenario = yaml.safe_load((ROOT / "scenarios" / "handbook-replay.yaml").read_text("utf-8"))
    scenario["feature_set"] = feature_set
    path = work / f"scenario-{feature_set}.yaml"
    path.write_text(yaml.safe_dump(scenario, sort_keys=False), encoding="utf-8")
    return path


def _report_worker_only(work: Path, worker: dict[str, object], load_before: str) -> None:
    """Print and save the worker's figure of a ``--only worker`` run."""
    results = {"load_before": load_before, "load_after": load_average(), "worker": worker}
    (work / "results-worker.json").write_text(json.dumps(results, indent=2) + "\n", "utf-8")
    console.print(
        f"worker: {worker['events']:,} events in {worker['seconds']:.1f} s, "
        f"{worker['events_per_second']:,.0f} events/s ({worker['seconds_from_launch']:.1f} s "
        "from the worker's launch to the last acknowledgement); load average "
        f"{results['load_before']} before, {results['load_after']} after"
    )


def _priorities(redis_nice: int, worker_nice: int) -> str:
    """Return the nice values that differ from 0, as words for the benchmark page."""
    changed = [
        f"{name} at nice {value}"
        for name, value in (("Redis", redis_nice), ("the worker", worker_nice))
        if value
    ]
    if not changed:
        return ""
    return " and ".join(changed) + " during the load phases"


def _arguments_without_work(arguments: list[str]) -> list[str]:
    """Return the command-line arguments without ``--work`` and its folder, which is
    local to the run."""
    kept: list[str] = []
    skip = False
    for argument in arguments:
        if skip:
            skip = False
        elif argument == "--work":
            skip = True
        elif not argument.startswith("--work="):
            kept.append(argument)
    return kept


def _metric_total(exposition: str, name: str) -> float:
    """Return the sum of a counter's samples over all label values."""
    total = 0.0
    for line in exposition.splitlines():
        if line.startswith((name + "{", name + " ")):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


if __name__ == "__main__":
    main()
