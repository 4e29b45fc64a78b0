"""Decision records in a relational database through SQLAlchemy Core.

SQLite is the embedded default; PostgreSQL is the production store. Records are
buffered and written in batches inside one transaction each; a decision id already
stored is skipped, so a retried batch writes nothing twice.
"""

from __future__ import annotations

import json
import math

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    func,
    insert,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from twinbank.core.decisions import DecisionRecord

from .sqlite_tuning import tune_sqlite_file

metadata = MetaData()

decisions = Table(
    "decisions",
    metadata,
    Column("decision_id", String(36), primary_key=True),
    Column("transaction_id", BigInteger, nullable=False, index=True),
    Column("customer_id", BigInteger, nullable=False),
    Column("terminal_id", BigInteger, nullable=False),
    Column("amount", Float, nullable=False),
    Column("transaction_time_ns", BigInteger, nullable=False),
    Column("decided_at_ns", BigInteger, nullable=False),
    Column("score", Float, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("reasons", JSON, nullable=False),
    Column("policy_version", String(64), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("feature_set_version", String(32), nullable=False),
    Column("feature_values", String, nullable=False),
    Column("degraded", JSON, nullable=False),
    Column("features_ns", Integer, nullable=False),
    Column("scoring_ns", Integer, nullable=False),
    Column("policy_ns", Integer, nullable=False),
)

feature_sets = Table(
    "feature_sets",
    metadata,
    Column("version", String(32), primary_key=True),
    Column("names", JSON, nullable=False),
)


def _encode_values(values: tuple[float, ...]) -> str:
    """Encode feature values as a JSON array, with null for NaN."""
    if all(type(value) is float for value in values) and all(map(math.isfinite, values)):
        # The text json.dumps writes for finite floats, without its encoder's set-up.
        return "[" + ", ".join(map(float.__repr__, values)) + "]"
    return json.dumps([None if math.isnan(value) else value for value in values])


_COLUMNS = tuple(column.name for column in decisions.columns)
_JSON_COLUMNS = tuple(
    index for index, column in enumerate(decisions.columns) if isinstance(column.type, JSON)
)
_SQLITE_INSERT = (
    f"INSERT INTO decisions ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_COLUMNS))}) ON CONFLICT DO NOTHING"
)
_JSON_TEXT_CACHE_LIMIT = 1_024

Row = tuple[object, ...]


class SqlDecisionLog:
    """The DecisionLog port on a SQLAlchemy engine.

    ``feature_values`` holds a JSON array in the order of the feature set's names,
    which are stored once per feature-set version in ``feature_sets``. Buffered rows
    are tuples in column order; SQLite receives them through the driver's
    ``executemany``, other databases through SQLAlchemy.
    """

    def __init__(self, engine: Engine, batch_size: int = 5_000) -> None:
        self._engine = tune_sqlite_file(engine)
        self._batch_size = batch_size
        self._buffer: list[Row] = []
        self._known_feature_sets: set[str] = set()
        self._json_texts: dict[tuple[str, ...], str] = {}
        metadata.create_all(engine)

    @classmethod
    def from_url(cls, url: str, batch_size: int = 5_000) -> SqlDecisionLog:
        return cls(create_engine(url), batch_size)

    def append(self, record: DecisionRecord) -> None:
        transaction = record.transaction
        latency = record.latency
        features = record.features
        if features.feature_set_version not in self._known_feature_sets:
            self._remember_feature_set(features.feature_set_version, features.names)
        # In the order of the table's columns (see ``decisions``).
        self._buffer.append(
            (
                record.decision_id,
                transaction.transaction_id,
                transaction.customer_id,
                transaction.terminal_id,
                transaction.amount,
                transaction.timestamp_ns,
                record.decided_at_ns,
                record.score,
                record.outcome.value,
                tuple(record.reasons),
                record.policy_version,
                record.model_version,
                features.feature_set_version,
                _encode_values(features.values),
                tuple(record.degraded),
                latency.features_ns,
                latency.scoring_ns,
                latency.policy_ns,
            )
        )
        if len(self._buffer) >= self._batch_size:
            self.flush()

    def flush(self) -> None:
        if not self._buffer:
            return
        with self._engine.begin() as connection:
            if connection.dialect.name == "sqlite":
                # Plain tuples through the driver: SQLAlchemy's per-row parameter
                # processing costs about as much as SQLite's insert itself.
                connection.exec_driver_sql(
                    _SQLITE_INSERT, [self._as_text(row) for row in self._buffer]
                )
            else:
                statement = self._insert_ignoring_duplicates(decisions)
                connection.execute(statement, [_as_mapping(row) for row in self._buffer])
        self._buffer = []

    def _as_text(self, row: Row) -> Row:
        """Return the row with its JSON columns encoded as SQLAlchemy's JSON type does."""
        values = list(row)
        for index in _JSON_COLUMNS:
            values[index] = self._json_text(values[index])  # type: ignore[arg-type]
        return tuple(values)

    def _json_text(self, items: tuple[str, ...]) -> str:
        # Reason codes and degraded components repeat, so their texts are kept.
        text = self._json_texts.get(items)
        if text is None:
            if len(self._json_texts) >= _JSON_TEXT_CACHE_LIMIT:
                self._json_texts.clear()
            text = self._json_texts[items] = json.dumps(list(items))
        return text

    def count(self) -> int:
        self.flush()
        with self._engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(decisions)).scalar_one())

    def close(self) -> None:
        self.flush()
        self._engine.dispose()

    def _remember_feature_set(self, version: str, names: tuple[str, ...]) -> None:
        statement = self._insert_ignoring_duplicates(feature_sets)
        with self._engine.begin() as connection:
            connection.execute(statement, [{"version": version, "names": list(names)}])
        self._known_feature_sets.add(version)

    def _insert_ignoring_duplicates(self, table: Table):  # type: ignore[no-untyped-def]
        dialect = self._engine.dialect.name
        if dialect == "sqlite":
            return sqlite.insert(table).on_conflict_do_nothing()
        if dialect == "postgresql":
            return postgresql.insert(table).on_conflict_do_nothing()
        return insert(table)


def _as_mapping(row: Row) -> dict[str, object]:
    mapping = dict(zip(_COLUMNS, row, strict=True))
    for index in _JSON_COLUMNS:
        mapping[_COLUMNS[index]] = list(row[index])  # type: ignore[call-overload]
    return mapping
