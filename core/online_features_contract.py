"""The online feature store as the serving entrypoints use it.

NOTE: these types are a working copy of the interface agreed with the feature
platform, which owns the online store: ``ValueStatus``, ``OnlineValue``,
``FeatureWrite``, the ``OnlineFeatureStore`` port and ``get_online_features``. When the
platform's own versions land (the port in ``core/ports.py``, the service under
``core/features``), imports of this module switch to them and this module goes.
``FeatureHistory`` (the offline history the stream worker appends to) is not part of
that agreement; it moves beside the platform's offline store then.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from .features.definitions import FeatureSet
from .ports import EntityKey


class ValueStatus(StrEnum):
    PRESENT = "present"
    NOT_FOUND = "not_found"
    OUTSIDE_MAX_AGE = "outside_max_age"


@dataclass(frozen=True, slots=True)
class OnlineValue:
    """A served feature value; ``value`` is None unless the status is PRESENT."""

    value: float | None
    status: ValueStatus
    event_time_ns: int | None


@dataclass(frozen=True, slots=True)
class FeatureWrite:
    """Feature values of one entity key as of ``event_time_ns``; None stands for null."""

    entity: str
    key: EntityKey
    values: Mapping[str, float | None]
    event_time_ns: int


class OnlineFeatureStore(Protocol):
    """Latest feature values per entity key, for low-latency reads."""

    def write(self, writes: Sequence[FeatureWrite]) -> None: ...

    def read(
        self, entity: str, keys: Sequence[EntityKey], names: Sequence[str]
    ) -> list[dict[str, tuple[float | None, int]]]:
        """Return, per key in order, ``name -> (value, event_time_ns)`` of the stored names."""
        ...

    def ping(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One entity key's feature values computed by one event, for the offline history."""

    event_id: str
    write: FeatureWrite
    feature_set_version: str


class FeatureHistory(Protocol):
    """Append-only history of computed feature values (the offline side).

    Appending a row whose ``(entity, key, event_id)`` is already stored changes
    nothing, so a replayed batch adds no duplicate.
    """

    def append(self, rows: Sequence[HistoryRow]) -> None: ...


class UnknownFeature(KeyError):
    """A requested feature name that the feature set does not define for the entity."""

    def __init__(self, entity: str, name: str, known: Sequence[str]) -> None:
        super().__init__(name)
        self.entity = entity
        self.name = name
        self.known = tuple(known)

    def __str__(self) -> str:
        return (
            f"feature {self.name!r} is not served for entity {self.entity!r}; "
            f"served features: {', '.join(self.known)}"
        )


class UnknownEntity(KeyError):
    """A requested entity that no served feature is keyed by."""

    def __init__(self, entity: str, known: Sequence[str]) -> None:
        super().__init__(entity)
        self.entity = entity
        self.known = tuple(known)

    def __str__(self) -> str:
        return f"entity {self.entity!r} has no served features; entities: {', '.join(self.known)}"


class OnlineFeatureService:
    """Reads served values and applies each feature's ttl."""

    def __init__(self, store: OnlineFeatureStore, feature_set: FeatureSet) -> None:
        self._store = store
        self._ttl_ns = {d.name: d.ttl_ns for d in feature_set.definitions}
        self._served: dict[str, tuple[str, ...]] = {}
        for definition in feature_set.definitions:
            if definition.entity is not None:
                self._served.setdefault(definition.entity, ())
                self._served[definition.entity] += (definition.name,)

    def served_features(self, entity: str) -> tuple[str, ...]:
        """Return the names materialized for an entity; raises UnknownEntity."""
        if entity not in self._served:
            raise UnknownEntity(entity, sorted(self._served))
        return self._served[entity]

    @property
    def entities(self) -> tuple[str, ...]:
        return tuple(self._served)

    def get_online_features(
        self, entity: str, keys: Sequence[EntityKey], feature_names: Sequence[str], now_ns: int
    ) -> list[dict[str, OnlineValue]]:
        """Return, per key, each requested feature's value and status as of ``now_ns``.

        Raises UnknownEntity or UnknownFeature before reading anything.
        """
        served = self.served_features(entity)
        for name in feature_names:
            if name not in served:
                raise UnknownFeature(entity, name, served)
        stored = self._store.read(entity, keys, feature_names)
        results = []
        for found in stored:
            row = {}
            for name in feature_names:
                if name not in found:
                    row[name] = OnlineValue(None, ValueStatus.NOT_FOUND, None)
                    continue
                value, event_time_ns = found[name]
                ttl = self._ttl_ns[name]
                if ttl and now_ns - event_time_ns > ttl:
                    row[name] = OnlineValue(None, ValueStatus.OUTSIDE_MAX_AGE, event_time_ns)
                else:
                    row[name] = OnlineValue(value, ValueStatus.PRESENT, event_time_ns)
            results.append(row)
        return results
