"""Tables of the audit trail and how engines that write them are prepared."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Index,
    MetaData,
    String,
    Table,
    Text,
    event,
)

from .sqlite_tuning import tune_sqlite_file

audit_metadata = MetaData()

audit_records = Table(
    "audit_records",
    audit_metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(64), nullable=False),
    Column("recorded_at_ns", BigInteger, nullable=False),
    Column("decision_id", String(64), nullable=True),
    Column("model_id", String(200), nullable=True),
    Column("model_version", String(200), nullable=True),
    Column("customer_pseudonym", String(64), nullable=True),
    # The canonical JSON text exactly as hashed; a JSON column type would normalise it.
    Column("body", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("record_hash", String(64), nullable=False),
)
Index("ix_audit_records_kind", audit_records.c.kind)
# Unique, so that a decision is chained once even when two writers race; NULLs (every
# record that is not a decision) do not collide in SQLite or PostgreSQL.
Index("ux_audit_records_decision_id", audit_records.c.decision_id, unique=True)
Index("ix_audit_records_model_id", audit_records.c.model_id)
Index("ix_audit_records_customer_pseudonym", audit_records.c.customer_pseudonym)

WRITE_OPTION = "twinbank_audit_write"
"""Execution option that marks a transaction that appends to the chain."""


def prepare_engine(engine: Engine) -> Engine:
    """Make SQLite transactions that append to the chain take the write lock at BEGIN.

    A deferred SQLite transaction that reads the chain head and then writes can fail
    with "database is locked" when another writer got there first; BEGIN IMMEDIATE
    makes the second writer wait instead. PostgreSQL engines are returned unchanged:
    writers there take a table lock inside the transaction.
    """
    if engine.dialect.name != "sqlite":
        return engine
    tune_sqlite_file(engine)
    if event.contains(engine, "begin", _begin):
        return engine
    event.listen(engine, "connect", _manual_transactions)
    event.listen(engine, "begin", _begin)
    return engine


def _manual_transactions(dbapi_connection, _record):  # type: ignore[no-untyped-def]
    # pysqlite would otherwise issue its own deferred BEGIN before the first write.
    dbapi_connection.isolation_level = None


def _begin(connection):  # type: ignore[no-untyped-def]
    immediate = connection.get_execution_options().get(WRITE_OPTION)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
