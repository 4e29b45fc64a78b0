"""Time the hash-chained audit trail against the unchained decision table.

Writes the same synthetic decision records (the handbook's 14 features plus the
amount, about 1 % declines) to the existing decision table (``SqlDecisionLog``, the
baseline) and to the audit trail (``SqlAuditTrail``: pseudonymise, encode, hash, chain,
insert), on SQLite and on PostgreSQL, in batches of ``--batch-size``. Then verifies the
chain. Each database is new (a temporary SQLite file; a private PostgreSQL schema that
is dropped afterwards).

Reported per store: records per second overall, this process's CPU time per record
(less sensitive than wall time to other work on a shared machine), and the median and
p99 time of one batch (append ``--batch-size`` records, then flush), with the ratio to
the baseline on the same database measured in the same run.

Run: python benchmarks/bench_audit_trail.py [--records 200000] [--batch-size 5000]
     [--postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/test] [--skip-postgres]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import create_engine

from twinbank.adapters.sql import SqlAuditTrail, SqlDecisionLog
from twinbank.core.audit import DecisionEntries, Pseudonymiser, verify_trail
from twinbank.core.decisions import DecisionRecord, Outcome, StageLatency
from twinbank.core.features.handbook import handbook_feature_set
from twinbank.core.features.vector import FeatureVector
from twinbank.core.transactions import Transaction

console = Console()


def synthetic_records(count: int, seed: int = 0) -> list[DecisionRecord]:
    rng = np.random.default_rng(seed)
    feature_set = handbook_feature_set()
    names = feature_set.names
    values = rng.gamma(2.0, 20.0, size=(count, len(names))).round(6)
    values[:, :2] = rng.integers(0, 2, size=(count, 2))
    scores = rng.beta(1, 30, count)
    start = 1_522_540_800_000_000_000
    records = []
    for index in range(count):
        score = float(scores[index])
        outcome = (
            Outcome.DECLINE
            if score >= 0.7
            else Outcome.STEP_UP
            if score >= 0.3
            else Outcome.APPROVE
        )
        timestamp = start + index * 8_000_000_000
        records.append(
            DecisionRecord(
                decision_id=str(uuid.UUID(int=int(rng.integers(0, 2**62)) << 64 | index)),
                transaction=Transaction(
                    transaction_id=index,
                    timestamp_ns=timestamp,
                    customer_id=int(rng.integers(0, 5_000)),
                    terminal_id=int(rng.integers(0, 10_000)),
                    amount=float(round(rng.gamma(2.0, 30.0), 2)),
                ),
                decided_at_ns=timestamp + 2_000_000,
                score=score,
                outcome=outcome,
                reasons=("SCORE_BELOW_STEP_UP_THRESHOLD",),
                policy_version="thresholds-v1",
                model_version="xgb-0123456789ab",
                features=FeatureVector(names, tuple(values[index].tolist()), feature_set.version),
                latency=StageLatency(features_ns=40_000, scoring_ns=9_000, policy_ns=2_000),
            )
        )
    return records


def time_batches(
    log, records: list[DecisionRecord], batch_size: int, label: str, progress: Progress
) -> tuple[float, float, np.ndarray]:  # type: ignore[no-untyped-def]
    """Return the wall seconds, this process's CPU seconds, and each batch's milliseconds."""
    task = progress.add_task(label, total=len(records))
    batches = []
    cpu_started = time.process_time()
    started = time.perf_counter()
    for start in range(0, len(records), batch_size):
        batch_started = time.perf_counter()
        for record in records[start : start + batch_size]:
            log.append(record)
        log.flush()
        batches.append(time.perf_counter() - batch_started)
        progress.update(task, advance=min(batch_size, len(records) - start))
    wall = time.perf_counter() - started
    return wall, time.process_time() - cpu_started, np.array(batches) * 1_000


@contextmanager
def sqlite_urls() -> Iterator[Callable[[str], str]]:
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as folder:
        yield lambda name: f"sqlite:///{Path(folder) / name}.db"


@contextmanager
def postgres_urls(base: str) -> Iterator[Callable[[str], str]]:
    schemas: list[str] = []
    admin = create_engine(base)

    def url(name: str) -> str:
        schema = f"bench_{name}_{uuid.uuid4().hex[:8]}"
        with admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        schemas.append(schema)
        return f"{base}?options={quote(f'-csearch_path={schema}')}"

    try:
        yield url
    finally:
        with admin.begin() as connection:
            for schema in schemas:
                connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def run_backend(
    name: str, urls: Callable[[str], str], records: list[DecisionRecord], batch_size: int
) -> list[tuple[str, ...]]:
    entries = DecisionEntries(Pseudonymiser(b"benchmark key, 32 bytes long...", "bench"))
    with Progress(console=console, transient=True) as progress:
        baseline = SqlDecisionLog.from_url(urls("baseline"), batch_size)
        base_total, base_cpu, base_batches = time_batches(
            baseline, records, batch_size, f"{name}: decision table", progress
        )
        baseline.close()
        trail = SqlAuditTrail.from_url(urls("audit"), lambda: entries, batch_size)
        total, cpu, batches = time_batches(
            trail, records, batch_size, f"{name}: audit trail", progress
        )
    verify_started = time.perf_counter()
    result = verify_trail(trail)
    verify_seconds = time.perf_counter() - verify_started
    if not result.ok or result.records_checked != len(records) + 1:
        raise SystemExit(f"{name}: the benchmark chain does not verify: {result}")
    trail.close()
    count = len(records)
    return [
        (
            name,
            "decision table (baseline)",
            f"{count / base_total:,.0f}",
            f"{base_cpu / count * 1e6:,.1f}",
            f"{np.median(base_batches):,.1f}",
            f"{np.percentile(base_batches, 99):,.1f}",
            "1.00",
        ),
        (
            name,
            "audit trail (chained)",
            f"{count / total:,.0f}",
            f"{cpu / count * 1e6:,.1f}",
            f"{np.median(batches):,.1f}",
            f"{np.percentile(batches, 99):,.1f}",
            f"{np.median(batches) / np.median(base_batches):.2f}",
        ),
        (name, "verify the chain", f"{(count + 1) / verify_seconds:,.0f}", "", "", "", ""),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000, help="decision records to write")
    parser.add_argument("--batch-size", type=int, default=5_000, help="records per transaction")
    parser.add_argument(
        "--postgres-url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
        help="PostgreSQL server for the second run",
    )
    parser.add_argument("--skip-postgres", action="store_true", help="measure SQLite only")
    args = parser.parse_args()

    with console.status(f"Building {args.records:,} decision records"):
        records = synthetic_records(args.records)
    rows = []
    with sqlite_urls() as urls:
        rows += run_backend("SQLite", urls, records, args.batch_size)
    if not args.skip_postgres:
        with postgres_urls(args.postgres_url) as urls:
            rows += run_backend("PostgreSQL", urls, records, args.batch_size)

    table = Table(title=f"{args.records:,} decisions in batches of {args.batch_size:,}")
    columns = (
        "database",
        "store",
        "records/s",
        "client CPU µs/record",
        "batch median ms",
        "batch p99 ms",
        "ratio",
    )
    for column in columns:
        table.add_column(column, justify="left" if column in {"database", "store"} else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print(
        "ratio: median batch time over the decision table's on the same database; client CPU: "
        "this process only (not the PostgreSQL server); verify: records per second read and "
        "re-hashed"
    )


if __name__ == "__main__":
    main()
