"""The audit trail in a relational database through SQLAlchemy Core.

One table contains the chain. Writers append in batches: each batch locks the chain
against other writers (a table lock on PostgreSQL, BEGIN IMMEDIATE on SQLite), reads
the head, chains its entries after it and inserts them in one transaction. Should two
writers still collide on the primary key or on a decision id, the loser rolls back,
reads the new head and tries again. Decision records are buffered and written
``batch_size`` at a time, which is what makes chaining a replay of millions of
decisions practical.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator, Sequence

import psycopg
from sqlalchemy import Connection, Engine, bindparam, create_engine, func, insert, select
from sqlalchemy.exc import IntegrityError

from twinbank.core.audit import (
    DECISION_KIND,
    FEATURE_SET_KIND,
    AuditEntry,
    ChainedRecord,
    ChainHead,
    DecisionEntries,
    chain_entries,
    feature_set_entry,
    head_after,
)
from twinbank.core.decisions import DecisionRecord

from .audit_schema import WRITE_OPTION, audit_metadata, audit_records, prepare_engine

logger = logging.getLogger(__name__)

MAX_WRITE_ATTEMPTS = 5
_READ_CHUNK = 5_000

BeforeChaining = Callable[[Connection], None]
"""Work to do in the same transaction as an append, before the entries are chained."""


class ChainWriteConflict(RuntimeError):
    """Other writers kept taking the chain head; the entries were not stored."""


class SqlAuditTrail:
    """The AuditTrail and DecisionLog ports on a SQLAlchemy engine.

    The engine must not have connected yet when SQLite is used (see ``prepare_engine``).
    ``decision_entries`` is called on the first decision appended, so that a trail that
    only records governance events never needs the pseudonymisation key.
    """

    def __init__(
        self,
        engine: Engine,
        decision_entries: Callable[[], DecisionEntries],
        batch_size: int = 5_000,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self._engine = prepare_engine(engine)
        self._writer = self._engine.execution_options(**{WRITE_OPTION: True})
        self._entries_factory = decision_entries
        self._entries: DecisionEntries | None = None
        self._batch_size = batch_size
        self._pending: list[AuditEntry] = []
        self._pending_feature_sets: set[str] = set()
        self._stored_feature_sets: set[str] | None = None
        self._lock = threading.RLock()
        audit_metadata.create_all(self._engine)

    @classmethod
    def from_url(
        cls, url: str, decision_entries: Callable[[], DecisionEntries], batch_size: int = 5_000
    ) -> SqlAuditTrail:
        return cls(create_engine(url), decision_entries, batch_size)

    @property
    def engine(self) -> Engine:
        return self._engine

    # DecisionLog

    def append(self, record: DecisionRecord) -> None:
        """Buffer a decision; a full buffer is chained and written at once.

        NOTE: the write runs on the caller's thread, so the append that fills a batch
        takes the whole batch's write time; a live service should call ``flush`` from
        a background thread to keep that off the decision path.
        """
        if self._entries is None:
            self._entries = self._entries_factory()
        entry, feature_sets = self._entries.entry(record)
        with self._lock:
            known = self._known_feature_sets()
            for feature_set in feature_sets:
                if feature_set.version not in known:
                    self._pending.append(feature_set_entry(feature_set, entry.recorded_at_ns))
                    known.add(feature_set.version)
                    self._pending_feature_sets.add(feature_set.version)
            self._pending.append(entry)
            if len(self._pending) >= self._batch_size:
                self._write_pending([])

    def flush(self) -> None:
        with self._lock:
            if self._pending:
                self._write_pending([])

    def count(self) -> int:
        """Return the number of decisions stored (after writing the buffer)."""
        self.flush()
        statement = select(func.count()).where(audit_records.c.kind == DECISION_KIND)
        with self._engine.connect() as connection:
            return int(connection.execute(statement).scalar_one())

    def close(self) -> None:
        self.flush()
        self._engine.dispose()

    # AuditTrail

    def append_entries(
        self, entries: Sequence[AuditEntry], before_chaining: BeforeChaining | None = None
    ) -> ChainHead:
        """Chain and store buffered decisions, then ``entries``, in one transaction.

        ``before_chaining`` runs first in the same transaction (the governance store
        writes its tables there), so that a state change and its audit events are
        committed together or not at all. An entry whose decision id is already stored
        is skipped.
        """
        with self._lock:
            return self._write_pending(list(entries), before_chaining)

    def head(self) -> ChainHead:
        with self._engine.connect() as connection:
            return _read_head(connection)

    def records(self, first_seq: int = 1, last_seq: int | None = None) -> Iterator[ChainedRecord]:
        """Return records in order, read in chunks of short transactions."""
        after = first_seq - 1
        while True:
            statement = (
                select(audit_records)
                .where(audit_records.c.seq > after)
                .order_by(audit_records.c.seq)
                .limit(_READ_CHUNK)
            )
            if last_seq is not None:
                statement = statement.where(audit_records.c.seq <= last_seq)
            with self._engine.connect() as connection:
                rows = connection.execute(statement).all()
            for row in rows:
                yield _record(row)
            if len(rows) < _READ_CHUNK:
                return
            after = rows[-1].seq

    def seq_of(self, record_hash: str) -> int | None:
        statement = select(audit_records.c.seq).where(audit_records.c.record_hash == record_hash)
        with self._engine.connect() as connection:
            return connection.execute(statement.limit(1)).scalar_one_or_none()

    def recorded_times(self, first_seq: int = 1) -> Iterator[tuple[int, int]]:
        after = first_seq - 1
        columns = (audit_records.c.seq, audit_records.c.recorded_at_ns)
        chunk = _READ_CHUNK * 20
        while True:
            statement = (
                select(*columns)
                .where(audit_records.c.seq > after)
                .order_by(audit_records.c.seq)
                .limit(chunk)
            )
            with self._engine.connect() as connection:
                rows = connection.execute(statement).all()
            for seq, recorded_at_ns in rows:
                yield int(seq), int(recorded_at_ns)
            if len(rows) < chunk:
                return
            after = rows[-1].seq

    def decision(self, decision_id: str) -> ChainedRecord | None:
        self.flush()
        statement = select(audit_records).where(audit_records.c.decision_id == decision_id)
        with self._engine.connect() as connection:
            row = connection.execute(statement).first()
        return None if row is None else _record(row)

    def feature_set_names(self, version: str) -> tuple[str, ...] | None:
        self.flush()
        for body in self._feature_set_bodies():
            if body["feature_set_version"] == version:
                return tuple(body["names"])
        return None

    def decisions_between(self, start_ns: int, end_ns: int) -> Iterator[ChainedRecord]:
        """Return the decisions recorded in ``[start_ns, end_ns)``, in chain order."""
        self.flush()
        columns = audit_records.c
        after = 0
        while True:
            statement = (
                select(audit_records)
                .where(columns.seq > after)
                .where(columns.kind == DECISION_KIND)
                .where(columns.recorded_at_ns >= start_ns)
                .where(columns.recorded_at_ns < end_ns)
                .order_by(columns.seq)
                .limit(_READ_CHUNK)
            )
            with self._engine.connect() as connection:
                rows = connection.execute(statement).all()
            for row in rows:
                yield _record(row)
            if len(rows) < _READ_CHUNK:
                return
            after = rows[-1].seq

    def decision_time_range(self) -> tuple[int, int] | None:
        """Return the earliest and latest decision times, or None without decisions."""
        self.flush()
        columns = audit_records.c
        statement = select(
            func.min(columns.recorded_at_ns), func.max(columns.recorded_at_ns)
        ).where(columns.kind == DECISION_KIND)
        with self._engine.connect() as connection:
            first, last = connection.execute(statement).one()
        return None if first is None else (int(first), int(last))

    def decisions_of_customer(self, customer_pseudonym: str) -> list[ChainedRecord]:
        """Return a customer's decisions, found by pseudonym (subject-access requests)."""
        self.flush()
        statement = (
            select(audit_records)
            .where(audit_records.c.customer_pseudonym == customer_pseudonym)
            .order_by(audit_records.c.seq)
        )
        with self._engine.connect() as connection:
            return [_record(row) for row in connection.execute(statement)]

    # Writing

    def _write_pending(
        self, entries: list[AuditEntry], before_chaining: BeforeChaining | None = None
    ) -> ChainHead:
        batch = [*self._pending, *entries]
        for attempt in range(1, MAX_WRITE_ATTEMPTS + 1):
            try:
                head = self._write_batch(batch, before_chaining)
            except (IntegrityError, psycopg.IntegrityError) as error:
                if attempt == MAX_WRITE_ATTEMPTS:
                    raise ChainWriteConflict(
                        f"{len(batch)} audit entries were not stored after {attempt} attempts: "
                        f"other writers kept changing the chain head ({error})"
                    ) from error
                logger.warning(
                    "audit chain head changed under a write of %d entries (attempt %d of %d); "
                    "retrying",
                    len(batch),
                    attempt,
                    MAX_WRITE_ATTEMPTS,
                )
                continue
            self._pending = []
            self._pending_feature_sets.clear()
            return head
        raise AssertionError("unreachable")  # pragma: no cover

    def _write_batch(
        self, batch: list[AuditEntry], before_chaining: BeforeChaining | None
    ) -> ChainHead:
        with self._writer.begin() as connection:
            _lock_chain(connection)
            if before_chaining is not None:
                before_chaining(connection)
            head = _read_head(connection)
            fresh = _without_stored(connection, batch)
            records = chain_entries(fresh, head)
            if records:
                _insert(connection, records)
        return head_after(records, head)

    def _known_feature_sets(self) -> set[str]:
        if self._stored_feature_sets is None:
            self._stored_feature_sets = {
                str(body["feature_set_version"]) for body in self._feature_set_bodies()
            }
        return self._stored_feature_sets

    def _feature_set_bodies(self) -> Iterator[dict]:  # type: ignore[type-arg]
        statement = (
            select(audit_records.c.body)
            .where(audit_records.c.kind == FEATURE_SET_KIND)
            .order_by(audit_records.c.seq)
        )
        with self._engine.connect() as connection:
            bodies = connection.execute(statement).scalars().all()
        for body in bodies:
            yield json.loads(body)


def _lock_chain(connection: Connection) -> None:
    """Serialise writers of the chain for the rest of the transaction.

    On PostgreSQL a table lock that conflicts only with itself and other writes, so
    readers and verification go on. SQLite transactions that write already began with
    BEGIN IMMEDIATE (see ``prepare_engine``).
    """
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("LOCK TABLE audit_records IN SHARE ROW EXCLUSIVE MODE")


def _read_head(connection: Connection) -> ChainHead:
    statement = (
        select(audit_records.c.seq, audit_records.c.record_hash)
        .order_by(audit_records.c.seq.desc())
        .limit(1)
    )
    row = connection.execute(statement).first()
    return ChainHead() if row is None else ChainHead(int(row.seq), row.record_hash)


def _without_stored(connection: Connection, batch: list[AuditEntry]) -> list[AuditEntry]:
    """Drop entries already stored: decisions by id, feature sets by version, and repeats
    inside the batch."""
    decision_ids = [entry.decision_id for entry in batch if entry.decision_id is not None]
    stored_ids: set[str] = set()
    if decision_ids:
        statement = select(audit_records.c.decision_id).where(
            audit_records.c.decision_id.in_(bindparam("ids", expanding=True))
        )
        for start in range(0, len(decision_ids), 10_000):
            chunk = decision_ids[start : start + 10_000]
            stored_ids.update(connection.execute(statement, {"ids": chunk}).scalars())
    has_feature_sets = any(entry.kind == FEATURE_SET_KIND for entry in batch)
    stored_versions: set[str] = set()
    if has_feature_sets:
        bodies = connection.execute(
            select(audit_records.c.body).where(audit_records.c.kind == FEATURE_SET_KIND)
        ).scalars()
        stored_versions = {json.loads(body)["feature_set_version"] for body in bodies}
    fresh = []
    for entry in batch:
        if entry.decision_id is not None:
            if entry.decision_id in stored_ids:
                continue
            stored_ids.add(entry.decision_id)
        elif entry.kind == FEATURE_SET_KIND:
            version = entry.body["feature_set_version"]
            if version in stored_versions:
                continue
            stored_versions.add(version)
        fresh.append(entry)
    return fresh


_COLUMNS = tuple(column.name for column in audit_records.columns)
_SQLITE_INSERT = (
    f"INSERT INTO audit_records ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
)
_POSTGRES_COPY = f"COPY audit_records ({', '.join(_COLUMNS)}) FROM STDIN"


def _insert(connection: Connection, records: list[ChainedRecord]) -> None:
    dialect = connection.dialect
    if dialect.name == "sqlite":
        # The driver's executemany with plain tuples, because SQLAlchemy's per-row
        # parameter processing costs about as much as SQLite's insert itself.
        connection.exec_driver_sql(_SQLITE_INSERT, [_values(record) for record in records])
    elif dialect.name == "postgresql" and dialect.driver == "psycopg":
        # COPY is about 3 times faster than multi-row INSERT here (BENCHMARKS.md).
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(_POSTGRES_COPY) as copy:
            for record in records:
                copy.write_row(_values(record))
    else:
        connection.execute(insert(audit_records), [_row(record) for record in records])


def _values(record: ChainedRecord) -> tuple[object, ...]:
    return (
        record.seq,
        record.kind,
        record.recorded_at_ns,
        record.decision_id,
        record.model_id,
        record.model_version,
        record.customer_pseudonym,
        record.body_json,
        record.prev_hash,
        record.record_hash,
    )


def _row(record: ChainedRecord) -> dict[str, object]:
    return {
        "seq": record.seq,
        "kind": record.kind,
        "recorded_at_ns": record.recorded_at_ns,
        "decision_id": record.decision_id,
        "model_id": record.model_id,
        "model_version": record.model_version,
        "customer_pseudonym": record.customer_pseudonym,
        "body": record.body_json,
        "prev_hash": record.prev_hash,
        "record_hash": record.record_hash,
    }


def _record(row) -> ChainedRecord:  # type: ignore[no-untyped-def]
    return ChainedRecord(
        seq=int(row.seq),
        kind=row.kind,
        recorded_at_ns=int(row.recorded_at_ns),
        decision_id=row.decision_id,
        model_id=row.model_id,
        model_version=row.model_version,
        customer_pseudonym=row.customer_pseudonym,
        body_json=row.body,
        prev_hash=row.prev_hash,
        record_hash=row.record_hash,
    )
