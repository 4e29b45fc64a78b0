"""Online feature values in process memory, for tests and embedded runs."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from twinbank.core.features.online import FeatureWrite, StoredValues
from twinbank.core.ports import EntityKey


class InMemoryOnlineFeatureStore:
    """The OnlineFeatureStore port on a dictionary; counts writes for tests.

    Keys never expire here: there is no clock to expire them by, and a process-local
    store lives no longer than its process.
    """

    def __init__(self) -> None:
        self._values: dict[tuple[str, EntityKey], dict[str, tuple[float | None, int]]] = {}
        self._lock = threading.Lock()
        self.writes = 0

    def write(self, writes: Sequence[FeatureWrite]) -> None:
        """Store the writes; a field keeps a stored value with a later event time."""
        with self._lock:
            for write in writes:
                stored = self._values.setdefault((write.entity, write.key), {})
                moment = write.event_time_ns
                for name, value in write.values.items():
                    current = stored.get(name)
                    if current is None or current[1] <= moment:
                        stored[name] = (None if value is None else float(value), moment)
            self.writes += len(writes)

    def read(self, entity: str, keys: Sequence[EntityKey], names: Sequence[str]) -> StoredValues:
        result = StoredValues.empty(len(keys), names)
        with self._lock:
            for row, key in enumerate(keys):
                stored = self._values.get((entity, key), {})
                for column, name in enumerate(names):
                    entry = stored.get(name)
                    if entry is not None:
                        value, moment = entry
                        if value is not None:
                            result.values[row, column] = value
                        result.event_times_ns[row, column] = moment
        return result

    def ping(self) -> bool:
        return True
