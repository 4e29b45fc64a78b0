"""Inventory records in a relational database, committed with their audit entries.

The record's fields that queries filter on have their own columns; the whole record is
stored as JSON beside them. Writes go through the audit trail's transaction, so a
state change and its audit events are stored together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)

from twinbank.core.audit import AuditEntry
from twinbank.core.governance import (
    ConcurrentModification,
    InventoryQuery,
    ModelAlreadyRegistered,
    ModelRecord,
)

from .audit_trail import SqlAuditTrail

governance_metadata = MetaData()

governance_models = Table(
    "governance_models",
    governance_metadata,
    Column("model_id", String(201), primary_key=True),
    Column("name", String(100), nullable=False, index=True),
    Column("version", String(100), nullable=False),
    Column("risk_tier", Integer, nullable=False, index=True),
    Column("owner", String(200), nullable=False, index=True),
    Column("status", String(32), nullable=False, index=True),
    Column("next_validation_ns", BigInteger, nullable=True),
    Column("revision", Integer, nullable=False),
    Column("record", Text, nullable=False),
)


class SqlGovernanceStore:
    """The GovernanceStore port on the audit trail's database."""

    def __init__(self, audit_trail: SqlAuditTrail) -> None:
        self._audit = audit_trail
        self._engine = audit_trail.engine
        governance_metadata.create_all(self._engine)

    def get(self, model_id: str) -> ModelRecord | None:
        statement = select(governance_models.c.record).where(
            governance_models.c.model_id == model_id
        )
        with self._engine.connect() as connection:
            text = connection.execute(statement).scalar_one_or_none()
        return None if text is None else ModelRecord.model_validate_json(text)

    def find(self, query: InventoryQuery) -> list[ModelRecord]:
        columns = governance_models.c
        statement = select(columns.record).order_by(columns.model_id)
        if query.name is not None:
            statement = statement.where(columns.name == query.name)
        if query.risk_tier is not None:
            statement = statement.where(columns.risk_tier == int(query.risk_tier))
        if query.status is not None:
            statement = statement.where(columns.status == query.status.value)
        if query.owner is not None:
            statement = statement.where(columns.owner == query.owner)
        with self._engine.connect() as connection:
            texts = connection.execute(statement).scalars().all()
        return [ModelRecord.model_validate_json(text) for text in texts]

    def commit(self, records: Sequence[ModelRecord], entries: Sequence[AuditEntry]) -> None:
        self._audit.append_entries(
            entries, before_chaining=lambda connection: _write(connection, records)
        )


def _write(connection: Connection, records: Sequence[ModelRecord]) -> None:
    for record in records:
        values = {
            "name": record.name,
            "version": record.version,
            "risk_tier": int(record.risk_tier),
            "owner": record.owner,
            "status": record.status.value,
            "next_validation_ns": record.next_validation_ns,
            "revision": record.revision,
            "record": record.model_dump_json(),
        }
        columns = governance_models.c
        if record.revision == 1:
            exists = connection.execute(
                select(columns.model_id).where(columns.model_id == record.model_id)
            ).first()
            if exists is not None:
                raise ModelAlreadyRegistered(record.model_id)
            connection.execute(insert(governance_models).values(model_id=record.model_id, **values))
            continue
        result = connection.execute(
            update(governance_models)
            .where(columns.model_id == record.model_id)
            .where(columns.revision == record.revision - 1)
            .values(**values)
        )
        if result.rowcount != 1:
            raise ConcurrentModification(record.model_id, record.revision - 1)
