"""The feature registry in a relational database through SQLAlchemy Core.

``registry_pipelines`` holds one row per registered pipeline version with its full
registry document (JSON), and ``registry_features`` one row per feature of each
version with the feature's own version, entity and owner, so that "which pipeline
versions used this feature version" is one indexed query. Registering a version that
is already stored changes nothing.
"""

from __future__ import annotations

import json

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    func,
    select,
)
from sqlalchemy.exc import IntegrityError

from twinbank.core.features.definitions import FeatureSet
from twinbank.core.features.registry import (
    RegisteredPipeline,
    definition_version,
    feature_set_from_document,
    feature_set_to_document,
)

metadata = MetaData()

registry_pipelines = Table(
    "registry_pipelines",
    metadata,
    Column("pipeline", String(128), primary_key=True),
    Column("version", String(32), primary_key=True),
    Column("sequence", Integer, nullable=False),
    Column("registered_ns", BigInteger, nullable=False),
    Column("document", Text, nullable=False),
)

registry_features = Table(
    "registry_features",
    metadata,
    Column("pipeline", String(128), primary_key=True),
    Column("pipeline_version", String(32), primary_key=True),
    Column("feature", String(128), primary_key=True),
    Column("feature_version", String(32), nullable=False, index=True),
    Column("entity", String(64)),
    Column("owner", String(128), nullable=False),
)

materialization_watermarks = Table(
    "materialization_watermarks",
    metadata,
    Column("pipeline", String(128), primary_key=True),
    Column("entity", String(64), primary_key=True),
    Column("watermark_ns", BigInteger, nullable=False),
)


class SqlRegistryStore:
    """The RegistryStore and MaterializationLog ports on a SQLAlchemy engine (SQLite or
    PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        metadata.create_all(engine)

    @classmethod
    def from_url(cls, url: str) -> SqlRegistryStore:
        return cls(create_engine(url))

    def register(self, feature_set: FeatureSet, registered_ns: int) -> bool:
        """Record a pipeline version; return False when it was already recorded."""
        version = feature_set.version
        document = json.dumps(feature_set_to_document(feature_set), sort_keys=True)
        try:
            with self._engine.begin() as connection:
                existing = connection.execute(
                    select(registry_pipelines.c.version).where(
                        registry_pipelines.c.pipeline == feature_set.name,
                        registry_pipelines.c.version == version,
                    )
                ).first()
                if existing is not None:
                    return False
                count = connection.execute(
                    select(func.count()).where(registry_pipelines.c.pipeline == feature_set.name)
                ).scalar_one()
                connection.execute(
                    registry_pipelines.insert().values(
                        pipeline=feature_set.name,
                        version=version,
                        sequence=count,
                        registered_ns=registered_ns,
                        document=document,
                    )
                )
                connection.execute(
                    registry_features.insert(),
                    [
                        {
                            "pipeline": feature_set.name,
                            "pipeline_version": version,
                            "feature": definition.name,
                            "feature_version": definition_version(definition),
                            "entity": definition.entity,
                            "owner": definition.owner,
                        }
                        for definition in feature_set.definitions
                    ],
                )
        except IntegrityError:
            # Another writer registered the same version (or the same sequence) first.
            return False
        return True

    def get(self, pipeline: str, version: str | None = None) -> FeatureSet | None:
        """Return a registered version, the latest when ``version`` is None, or None."""
        statement = select(registry_pipelines.c.document).where(
            registry_pipelines.c.pipeline == pipeline
        )
        if version is None:
            statement = statement.order_by(registry_pipelines.c.sequence.desc()).limit(1)
        else:
            statement = statement.where(registry_pipelines.c.version == version)
        with self._engine.connect() as connection:
            document = connection.execute(statement).scalar_one_or_none()
        if document is None:
            return None
        return feature_set_from_document(json.loads(document), f"registry {pipeline}")

    def versions(self, pipeline: str) -> list[RegisteredPipeline]:
        """Return a pipeline's registered versions, oldest first."""
        statement = (
            select(registry_pipelines.c.version, registry_pipelines.c.registered_ns)
            .where(registry_pipelines.c.pipeline == pipeline)
            .order_by(registry_pipelines.c.sequence)
        )
        with self._engine.connect() as connection:
            return [RegisteredPipeline(v, t) for v, t in connection.execute(statement)]

    def pipelines_using(self, feature_version: str) -> list[tuple[str, str]]:
        """Return ``(pipeline, pipeline version)`` pairs containing a feature version."""
        statement = (
            select(registry_features.c.pipeline, registry_features.c.pipeline_version)
            .where(registry_features.c.feature_version == feature_version)
            .order_by(registry_features.c.pipeline, registry_features.c.pipeline_version)
        )
        with self._engine.connect() as connection:
            return [(pipeline, version) for pipeline, version in connection.execute(statement)]

    def watermark(self, pipeline: str, entity: str) -> int | None:
        statement = select(materialization_watermarks.c.watermark_ns).where(
            materialization_watermarks.c.pipeline == pipeline,
            materialization_watermarks.c.entity == entity,
        )
        with self._engine.connect() as connection:
            return connection.execute(statement).scalar_one_or_none()

    def record(self, pipeline: str, entity: str, watermark_ns: int) -> None:
        where = (
            materialization_watermarks.c.pipeline == pipeline,
            materialization_watermarks.c.entity == entity,
        )
        with self._engine.begin() as connection:
            updated = connection.execute(
                materialization_watermarks.update().where(*where).values(watermark_ns=watermark_ns)
            ).rowcount
            if not updated:
                connection.execute(
                    materialization_watermarks.insert().values(
                        pipeline=pipeline, entity=entity, watermark_ns=watermark_ns
                    )
                )

    def dispose(self) -> None:
        self._engine.dispose()
