"""The offline feature history in a relational database through SQLAlchemy Core.

One row per entity key and event: the feature values that event produced, as a JSON
object with null for a null value. The primary key ``(entity, entity_key, event_id)``
makes appends idempotent: a replayed batch inserts nothing twice.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from twinbank.core.features.online import HistoryRow

metadata = MetaData()

feature_history = Table(
    "feature_history",
    metadata,
    Column("entity", String(64), primary_key=True),
    Column("entity_key", String(128), primary_key=True),
    Column("event_id", String(96), primary_key=True),
    Column("event_time_ns", BigInteger, nullable=False, index=True),
    Column("feature_set_version", String(32), nullable=False),
    Column("feature_values", Text, nullable=False),
)


def _encode(values: dict[str, float | None]) -> str:
    return json.dumps(
        {
            name: None if value is None or math.isnan(value) else value
            for name, value in values.items()
        },
        separators=(",", ":"),
    )


class SqlFeatureHistory:
    """The FeatureHistory port on a SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        metadata.create_all(engine)
        dialect = engine.dialect.name
        if dialect == "postgresql":
            self._insert = postgresql.insert(feature_history).on_conflict_do_nothing()
        elif dialect == "sqlite":
            self._insert = sqlite.insert(feature_history).on_conflict_do_nothing()
        else:
            raise ValueError(
                f"database dialect {dialect!r} is not supported for the feature history; "
                "use SQLite or PostgreSQL"
            )

    @classmethod
    def from_url(cls, url: str) -> SqlFeatureHistory:
        return cls(create_engine(url))

    def append(self, rows: Sequence[HistoryRow]) -> None:
        if not rows:
            return
        parameters = [
            {
                "entity": row.write.entity,
                "entity_key": str(row.write.key),
                "event_id": row.event_id,
                "event_time_ns": row.write.event_time_ns,
                "feature_set_version": row.feature_set_version,
                "feature_values": _encode(dict(row.write.values)),
            }
            for row in rows
        ]
        with self._engine.begin() as connection:
            connection.execute(self._insert, parameters)

    def rows(self, entity: str) -> list[tuple[str, str, int, dict[str, float | None]]]:
        """Return ``(entity_key, event_id, event_time_ns, values)`` of an entity, in time order."""
        statement = (
            select(
                feature_history.c.entity_key,
                feature_history.c.event_id,
                feature_history.c.event_time_ns,
                feature_history.c.feature_values,
            )
            .where(feature_history.c.entity == entity)
            .order_by(feature_history.c.event_time_ns, feature_history.c.event_id)
        )
        with self._engine.connect() as connection:
            return [
                (key, event_id, time_ns, json.loads(values))
                for key, event_id, time_ns, values in connection.execute(statement)
            ]

    def dispose(self) -> None:
        self._engine.dispose()
