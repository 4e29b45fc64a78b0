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
from typing import TYPE_CHECKING, NamedTuple, TypeVar, overload

import numpy as np
import numpy.typing as npt

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

    A named tuple rather than a frozen dataclass because a caller that walks a 100-key
    read of 15 names builds 1,500 of them, and a tuple is several times cheaper to
    create.
    """

    value: float | None
    status: ValueStatus
    event_time_ns: int | None


NOT_STORED = -1
"""The event time that ``StoredValues`` gives a value no write has stored."""

Row = TypeVar("Row")


class _RowsByKey(Sequence[dict[str, Row]]):
    """Matrices with a row per key read and a column per name, seen as one dict per key.

    A read keeps its values in numpy arrays. Indexing builds the ``name -> value``
    dictionary of one key on demand.
    """

    __slots__ = ("names",)

    names: tuple[str, ...]

    def __len__(self) -> int:
        raise NotImplementedError

    def _row(self, row: int) -> dict[str, Row]:
        raise NotImplementedError

    @overload
    def __getitem__(self, index: int) -> dict[str, Row]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Row]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Row] | list[dict[str, Row]]:
        if isinstance(index, slice):
            return [self._row(row) for row in range(len(self))[index]]
        return self._row(range(len(self))[index])


class StoredValues(_RowsByKey[tuple[float | None, int]]):
    """Stored values and event times of some keys and names, as two aligned matrices.

    Row ``i`` is the ``i``-th key read and column ``j`` the ``j``-th name.
    ``event_times_ns`` is NOT_STORED where nothing was written. ``values`` is NaN
    there and where the stored value is null: writes take finite numbers only, so NaN
    is never a stored value. As a sequence, item ``i`` is key ``i``'s
    ``name -> (value, event_time_ns)`` of the stored names, None for a null value.
    """

    __slots__ = ("event_times_ns", "values")

    def __init__(
        self,
        names: Sequence[str],
        values: npt.NDArray[np.float64],
        event_times_ns: npt.NDArray[np.int64],
    ) -> None:
        if values.shape != event_times_ns.shape or values.shape[1:] != (len(names),):
            raise ValueError(
                f"stored values {values.shape} and event times {event_times_ns.shape} "
                f"must both have one column per name ({len(names)})"
            )
        self.names = tuple(names)
        self.values = values
        self.event_times_ns = event_times_ns

    @classmethod
    def empty(cls, key_count: int, names: Sequence[str]) -> StoredValues:
        shape = (key_count, len(names))
        return cls(names, np.full(shape, np.nan), np.full(shape, NOT_STORED, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.values)

    def _row(self, row: int) -> dict[str, tuple[float | None, int]]:
        stored = {}
        for name, value, moment in zip(
            self.names, self.values[row].tolist(), self.event_times_ns[row].tolist(), strict=True
        ):
            if moment != NOT_STORED:
                stored[name] = (None if math.isnan(value) else value, moment)
        return stored


_STATUS_BY_CODE = (ValueStatus.NOT_FOUND, ValueStatus.OUTSIDE_MAX_AGE, ValueStatus.PRESENT)


class OnlineFeatures(_RowsByKey[OnlineValue]):
    """The result of ``get_online_features``: a value and a status per key and name.

    ``values`` is the value where the status is PRESENT and the value is not null, and
    NaN elsewhere. ``statuses`` is the ValueStatus of each entry. ``event_times_ns`` is
    the stored event time, NOT_STORED where the status is NOT_FOUND. As a sequence, item
    ``i`` is key ``i``'s ``name -> OnlineValue`` for every requested name.
    """

    __slots__ = ("event_times_ns", "statuses", "values")

    def __init__(self, stored: StoredValues, ttl_ns: npt.NDArray[np.int64], now_ns: int) -> None:
        times = stored.event_times_ns
        found = times != NOT_STORED
        expired = found & (ttl_ns > 0) & (now_ns - times > ttl_ns)
        present = found & ~expired
        codes = found.astype(np.int8) + present  # 0 not found, 1 outside max age, 2 present
        self.names = stored.names
        self.values = np.where(present, stored.values, np.nan)
        self.statuses = np.array(_STATUS_BY_CODE, dtype=object)[codes]
        self.event_times_ns = times

    def __len__(self) -> int:
        return len(self.values)

    def _row(self, row: int) -> dict[str, OnlineValue]:
        served = {}
        for name, value, status, moment in zip(
            self.names,
            self.values[row].tolist(),
            self.statuses[row].tolist(),
            self.event_times_ns[row].tolist(),
            strict=True,
        ):
            served[name] = OnlineValue(
                None if math.isnan(value) else value,
                status,
                None if moment == NOT_STORED else moment,
            )
        return served


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
        # A stream worker builds one write per entity and event, so the usual case (an
        # int key, an int time, finite float values) is checked by type identity alone.
        # Anything else goes through the full checks, which raise with the reason.
        moment = self.event_time_ns
        if type(self.key) is not int or type(moment) is not int or moment < 0:
            self._check_key_and_time()
        for value in self.values.values():
            if value is not None and not (type(value) is float and value - value == 0.0):
                self._check_values()
                return

    def _where(self) -> str:
        return f"write for {self.entity} {self.key!r}"

    def _check_key_and_time(self) -> None:
        check_entity_key(self.key, self._where())
        if isinstance(self.event_time_ns, bool) or not isinstance(self.event_time_ns, int):
            raise InvalidFeatureWrite(
                f"{self._where()}: event time {self.event_time_ns!r} must be int nanoseconds "
                "since the epoch (UTC)"
            )
        if self.event_time_ns < 0:
            raise InvalidFeatureWrite(
                f"{self._where()}: event time {self.event_time_ns} ns is before 1970; "
                "online stores keep event times from the epoch on"
            )

    def _check_values(self) -> None:
        for name, value in self.values.items():
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
            ):
                raise InvalidFeatureWrite(
                    f"{self._where()}: feature {name!r} has value {value!r}; use a finite "
                    "number or None for null"
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
    ) -> OnlineFeatures:
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
        return OnlineFeatures(stored, self._ttl_array(feature_names), now_ns)

    def _ttl_array(self, names: Sequence[str]) -> npt.NDArray[np.int64]:
        return np.array([self._ttl_ns[name] for name in names], dtype=np.int64)
