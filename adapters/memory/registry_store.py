"""The feature registry in process memory, for tests and embedded runs."""

from __future__ import annotations

import threading

from twinbank.core.features.definitions import FeatureSet
from twinbank.core.features.registry import RegisteredPipeline, definition_version


class InMemoryRegistryStore:
    """The RegistryStore and MaterializationLog ports on dictionaries."""

    def __init__(self) -> None:
        self._versions: dict[str, list[tuple[RegisteredPipeline, FeatureSet]]] = {}
        self._watermarks: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def register(self, feature_set: FeatureSet, registered_ns: int) -> bool:
        with self._lock:
            entries = self._versions.setdefault(feature_set.name, [])
            if any(entry.version == feature_set.version for entry, _ in entries):
                return False
            entries.append((RegisteredPipeline(feature_set.version, registered_ns), feature_set))
            return True

    def get(self, pipeline: str, version: str | None = None) -> FeatureSet | None:
        with self._lock:
            entries = self._versions.get(pipeline, [])
            if version is None:
                return entries[-1][1] if entries else None
            for entry, feature_set in entries:
                if entry.version == version:
                    return feature_set
            return None

    def versions(self, pipeline: str) -> list[RegisteredPipeline]:
        with self._lock:
            return [entry for entry, _ in self._versions.get(pipeline, [])]

    def pipelines_using(self, feature_version: str) -> list[tuple[str, str]]:
        with self._lock:
            found = {
                (pipeline, entry.version)
                for pipeline, entries in self._versions.items()
                for entry, feature_set in entries
                for definition in feature_set.definitions
                if definition_version(definition) == feature_version
            }
        return sorted(found)

    def watermark(self, pipeline: str, entity: str) -> int | None:
        with self._lock:
            return self._watermarks.get((pipeline, entity))

    def record(self, pipeline: str, entity: str, watermark_ns: int) -> None:
        with self._lock:
            self._watermarks[(pipeline, entity)] = watermark_ns
