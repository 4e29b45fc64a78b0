"""Turn a transaction's feature vector into per-entity online writes and history rows."""

from __future__ import annotations

import math

from twinbank.core.features.definitions import FeatureSet
from twinbank.core.features.online import FeatureWrite, HistoryRow
from twinbank.core.features.vector import FeatureVector
from twinbank.core.transactions import Transaction


class FeatureMaterializer:
    """Splits a feature vector by entity: each entity key gets the values of the
    features keyed by that entity, as of the transaction's time.

    Features without an entity (calendar flags of the transaction itself) describe no
    entity and are not materialized.
    """

    def __init__(self, feature_set: FeatureSet) -> None:
        self._version = feature_set.version
        columns: dict[str, list[tuple[int, str]]] = {}
        for column, definition in enumerate(feature_set.definitions):
            if definition.entity is not None:
                columns.setdefault(definition.entity, []).append((column, definition.name))
        self._entities = [
            (entity, feature_set.entity(entity).join_key, tuple(picks))
            for entity, picks in columns.items()
        ]

    @property
    def feature_set_version(self) -> str:
        return self._version

    def writes_for(self, transaction: Transaction, vector: FeatureVector) -> list[FeatureWrite]:
        values = vector.values
        writes = []
        for entity, join_key, picks in self._entities:
            writes.append(
                FeatureWrite(
                    entity=entity,
                    key=getattr(transaction, join_key),
                    values={
                        name: None if math.isnan(values[column]) else values[column]
                        for column, name in picks
                    },
                    event_time_ns=transaction.timestamp_ns,
                )
            )
        return writes

    def history_rows(self, event_id: str, writes: list[FeatureWrite]) -> list[HistoryRow]:
        return [HistoryRow(event_id, write, self._version) for write in writes]
