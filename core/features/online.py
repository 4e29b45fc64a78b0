"""Online feature values: what a store write carries and what a read returns.

``OnlineFeatureService.get_online_features`` reads the latest stored value of each
requested feature through the ``OnlineFeatureStore`` port (``core/ports.py``) and
gives each value a status: present, not found, or outside max age when the value is
older than the feature's ttl at read time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, NamedTuple

from .definitions import FeatureSet

if TYPE_CHECKING:
    from ..ports import EntityKey, OnlineFeatureStore


class ValueStatus(StrEnum):
    PRESENT = "present"
    NOT_FOUND = "not_found"
    OUTSIDE_MAX_AGE = "outside_max_age"


class InvalidFeatureWrite(ValueError):
    """A feature write with a key, time or value that no store accepts."""


def check_entity_key(key: object, where: str) -> None:
    """Raise InvalidFeatureWrite unless ``key`` is an int or a non-empty str.

    ``bool`` is rejected although it is an int subclass, because ``True`` as a
    customer id is almost always a bug upstream.
    """
    if isinstance(key, bool) or not isinstance(key, int | str):
        raise InvalidFeatureWrite(
            f"{where}: entity key {key!r} has type {type(key).__name__}; use int or str"
        )
    if isinstance(key, str) and not key:
        raise InvalidFeatureWrite(f"{where}: entity key is an empty string; use a real key")


class OnlineValue(NamedTuple):
    """A served feature value; ``value`` is None unless the status is PRESENT.

    A named tuple rather than a frozen dataclass because a 100-key read builds
    1,500 of them, and a tuple is several times cheaper to create.
    """

    value: float | None
    status: ValueStatus
    event_time_ns: int | None


@dataclass(frozen=True, slots=True)
class FeatureWrite:
    """Feature values of one entity key as of ``event_time_ns``; None stands for null.

    Raises InvalidFeatureWrite for a key that is not int or str, a negative or
    non-integer event time, or a value that is not a finite number or None.
    """

    entity: str
    key: EntityKey
    values: Mapping[str, float | None]
    event_time_ns: int

    def __post_init__(self) -> None:
        where = f"write for {self.entity} {self.key!r}"
        check_entity_key(self.key, where)
        if isinstance(self.event_time_ns, bool) or not isinstance(self.event_time_ns, int):
            raise InvalidFeatureWrite(
                f"{where}: event time {self.event_time_ns!r} must be int nanoseconds since "
                "the epoch (UTC)"
            )
        if self.event_time_ns < 0:
            raise InvalidFeatureWrite(
                f"{where}: event time {self.event_time_ns} ns is before 1970; "
                "online stores keep event times from the epoch on"
            )
        for name, value in self.values.items():
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
            ):
                raise InvalidFeatureWrite(
                    f"{where}: feature {name!r} has value {value!r}; use a finite number "
                    "or None for null"
                )


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One entity key's feature values computed by one event, for the offline history."""

    event_id: str
    write: FeatureWrite
    feature_set_version: str


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

        A value is outside max age when ``now_ns - event_time_ns`` exceeds the
        feature's ttl (a ttl of 0 never expires). Raises UnknownEntity,
        UnknownFeature or InvalidFeatureWrite (for a bad key) before reading anything.
        """
        served = self.served_features(entity)
        for name in feature_names:
            if name not in served:
                raise UnknownFeature(entity, name, served)
        for key in keys:
            check_entity_key(key, f"online read of {entity}")
        stored = self._store.read(entity, keys, feature_names)
        ttl_of = self._ttl_ns
        not_found = OnlineValue(None, ValueStatus.NOT_FOUND, None)
        results = []
        for found in stored:
            row = {}
            for name in feature_names:
                entry = found.get(name)
                if entry is None:
                    row[name] = not_found
                    continue
                value, event_time_ns = entry
                ttl = ttl_of[name]
                if ttl and now_ns - event_time_ns > ttl:
                    row[name] = OnlineValue(None, ValueStatus.OUTSIDE_MAX_AGE, event_time_ns)
                else:
                    row[name] = OnlineValue(value, ValueStatus.PRESENT, event_time_ns)
            results.append(row)
        return results
