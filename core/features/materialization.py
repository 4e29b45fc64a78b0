"""Batch materialization: copy the latest offline values of each key to the online store.

A run covers event times in ``(start_ns, end_ns]`` and writes, per entity key, the
values of its latest history row in that range (latest by event time, then created
time, then storage order, as point-in-time retrieval picks them). The online store
keeps the value with the later event time, so runs over overlapping or older ranges
never hide a newer value.

An incremental run starts at the entity's watermark, the ``end_ns`` of its previous
run, and records the new one when every write succeeded.

NOTE: incremental runs select by event time. A backfilled row whose event time is at
or before the watermark is not picked up, so materialize its range explicitly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .definitions import FeatureSet
from .online import FeatureWrite

if TYPE_CHECKING:
    from ..ports import MaterializationLog, OfflineFeatureStore, OnlineFeatureStore

WRITE_BATCH = 1_000
"""Writes per online store call: one round trip each on Redis."""


@dataclass(frozen=True, slots=True)
class MaterializationRun:
    """The outcome of one run for one entity: its range and the keys written."""

    entity: str
    start_ns: int | None
    end_ns: int
    keys_written: int


class BatchMaterializer:
    """Offline to online, per entity, over a range of event times."""

    def __init__(
        self,
        offline: OfflineFeatureStore,
        online: OnlineFeatureStore,
        feature_set: FeatureSet,
        log: MaterializationLog,
    ) -> None:
        self._offline = offline
        self._online = online
        self._feature_set = feature_set
        self._log = log
        self._names: dict[str, tuple[str, ...]] = {}
        for definition in feature_set.definitions:
            if definition.entity is not None:
                self._names.setdefault(definition.entity, ())
                self._names[definition.entity] += (definition.name,)

    @property
    def entities(self) -> tuple[str, ...]:
        return tuple(self._names)

    def materialize(self, start_ns: int | None, end_ns: int) -> list[MaterializationRun]:
        """Copy every entity's latest values in ``(start_ns, end_ns]``; None means no
        lower bound. The watermarks are not changed."""
        return [self._run(entity, start_ns, end_ns) for entity in self._names]

    def materialize_incremental(self, end_ns: int) -> list[MaterializationRun]:
        """Copy what arrived since each entity's watermark, then move it to ``end_ns``.

        Raises ValueError, writing nothing, when ``end_ns`` is before a watermark.
        """
        pipeline = self._feature_set.name
        starts = {entity: self._log.watermark(pipeline, entity) for entity in self._names}
        for entity, start in starts.items():
            if start is not None and end_ns < start:
                raise ValueError(
                    f"end {end_ns} ns is before the {entity!r} watermark {start} ns; "
                    "materialize an older range with materialize(start, end) instead"
                )
        runs = []
        for entity, start in starts.items():
            runs.append(self._run(entity, start, end_ns))
            self._log.record(pipeline, entity, end_ns)
        return runs

    def _run(self, entity: str, start_ns: int | None, end_ns: int) -> MaterializationRun:
        names = self._names[entity]
        history = self._offline.history(entity, names, until_ns=end_ns)
        event = history.event_time_ns
        selected = event <= end_ns
        if start_ns is not None:
            selected &= event > start_ns
        indices = np.flatnonzero(selected)
        if len(indices) == 0:
            return MaterializationRun(entity, start_ns, end_ns, 0)

        # Latest row per key: sort by (key, event, created, position), keep each last.
        keys = history.keys[indices]
        _, codes = np.unique(keys, return_inverse=True)
        codes = codes.reshape(-1)
        order = np.lexsort((indices, history.created_ns[indices], event[indices], codes))
        last = order[np.r_[codes[order][1:] != codes[order][:-1], True]]
        latest = indices[last]

        writes = []
        for row in latest.tolist():
            values = {
                name: None if math.isnan(value) else value
                for name, value in zip(names, history.values[row].tolist(), strict=True)
            }
            key = history.keys[row]
            writes.append(FeatureWrite(entity, _plain(key), values, int(event[row])))
        for begin in range(0, len(writes), WRITE_BATCH):
            self._online.write(writes[begin : begin + WRITE_BATCH])
        return MaterializationRun(entity, start_ns, end_ns, len(writes))


def _plain(key: object) -> int | str:
    """Return a numpy scalar key as the Python int or str the online store expects."""
    if isinstance(key, np.integer):
        return int(key)
    if isinstance(key, np.str_):
        return str(key)
    return key  # type: ignore[return-value]
