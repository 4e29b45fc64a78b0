"""Time SQLite inserts of a replay's decision database by write batch and page cache.

Reads the decision rows and audit records of a finished scenario run
(``twinbank simulate ... --out DIR`` writes ``DIR/decisions.db``) and inserts them
``--copies`` times into a new SQLite file with the same schema. Each copy after the
first gets new decision ids (the first two hexadecimal digits replaced), so the
random-key indexes grow as in a longer replay. Two connections write, one per table,
as the decision table and the audit trail do, each batch in one transaction. The
rows are inserted as stored: this measures SQLite alone, not the chaining.

Reported per variant: this process's user and system CPU time, wall time and the
file size. Variants are ``BATCH``, ``BATCH:CACHE_KIB`` or ``BATCH:CACHE_KIB:wal``
(``5000``, ``25000:262144``, ``5000:262144:wal``). Without a cache size SQLite's
default (2 MiB) applies, and without ``wal`` its rollback journal.

Run: python benchmarks/bench_decision_database.py DIR/decisions.db [--copies 5]
     [--variants 5000 5000:262144 5000:262144:wal 25000 25000:262144]
"""

from __future__ import annotations

import argparse
import resource
import sqlite3
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

console = Console()

Row = tuple[object, ...]


def read_rows(source: Path) -> tuple[list[str], list[Row], list[Row]]:
    """Return the schema statements, decision rows and audit records of a database."""
    with sqlite3.connect(source) as connection:
        schema = [
            sql
            for (sql,) in connection.execute(
                "SELECT sql FROM sqlite_master "
                "WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
            )
        ]
        decisions = connection.execute("SELECT * FROM decisions ORDER BY rowid").fetchall()
        audit = connection.execute("SELECT * FROM audit_records ORDER BY seq").fetchall()
    return schema, decisions, audit


def renamed(decision_id: object, copy: int) -> object:
    """Return a decision id unique to one copy, or the id itself in the first copy."""
    if copy == 0 or not isinstance(decision_id, str):
        return decision_id
    return f"z{copy}{decision_id[2:]}"


def insert_copies(
    path: Path,
    rows: tuple[list[str], list[Row], list[Row]],
    copies: int,
    batch_size: int,
    cache_kib: int | None,
    write_ahead_log: bool,
) -> tuple[float, float, float]:
    """Insert the rows ``copies`` times; return user CPU, system CPU and wall seconds."""
    schema, decisions, audit = rows
    table_writer = sqlite3.connect(path, isolation_level=None)
    chain_writer = sqlite3.connect(path, isolation_level=None)
    for connection in (table_writer, chain_writer):
        if cache_kib is not None:
            connection.execute(f"PRAGMA cache_size = -{cache_kib}")
    if write_ahead_log:
        table_writer.execute("PRAGMA journal_mode = WAL")
    for statement in schema:
        table_writer.execute(statement)

    insert_decision = (
        f"INSERT INTO decisions VALUES ({', '.join('?' * len(decisions[0]))}) "
        "ON CONFLICT DO NOTHING"
    )
    insert_record = f"INSERT INTO audit_records VALUES ({', '.join('?' * len(audit[0]))})"

    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    seq = 0
    for copy in range(copies):
        for start in range(0, len(decisions), batch_size):
            batch = [
                (renamed(row[0], copy), *row[1:]) for row in decisions[start : start + batch_size]
            ]
            table_writer.execute("BEGIN")
            table_writer.executemany(insert_decision, batch)
            table_writer.execute("COMMIT")

            records = []
            for row in audit[start : start + batch_size]:
                seq += 1
                records.append((seq, row[1], row[2], renamed(row[3], copy), *row[4:]))
            chain_writer.execute("BEGIN IMMEDIATE")
            chain_writer.executemany(insert_record, records)
            chain_writer.execute("COMMIT")
    table_writer.close()
    chain_writer.close()

    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    return after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="decisions.db of a finished scenario run")
    parser.add_argument("--copies", type=int, default=5, help="times the rows are inserted")
    parser.add_argument(
        "--variants",
        nargs="+",
        default=["5000", "5000:262144", "25000", "25000:262144"],
        help="BATCH, BATCH:CACHE_KIB or BATCH:CACHE_KIB:wal, each measured in a new file",
    )
    arguments = parser.parse_args()
    rows = read_rows(arguments.source)
    table = Table(title=f"{len(rows[1]):,} decisions x {arguments.copies} copies")
    for column in ("batch", "page cache", "journal", "user s", "system s", "CPU s", "wall s", "MB"):
        table.add_column(column, justify="right")
    for variant in arguments.variants:
        batch_text, _, options = variant.partition(":")
        cache_text, _, journal = options.partition(":")
        cache_kib = int(cache_text) if cache_text else None
        with tempfile.TemporaryDirectory(prefix="bench-decision-db-") as folder:
            path = Path(folder) / "decisions.db"
            user, system, wall = insert_copies(
                path, rows, arguments.copies, int(batch_text), cache_kib, journal == "wal"
            )
            size_mb = path.stat().st_size / 1e6
        table.add_row(
            f"{int(batch_text):,}",
            "2 MiB (default)" if cache_kib is None else f"{cache_kib // 1024} MiB",
            "write-ahead log" if journal == "wal" else "rollback",
            f"{user:.1f}",
            f"{system:.1f}",
            f"{user + system:.1f}",
            f"{wall:.1f}",
            f"{size_mb:,.0f}",
        )
        console.print(f"{variant}: {user + system:.1f} s CPU, {wall:.1f} s wall")
    console.print(table)


if __name__ == "__main__":
    main()
