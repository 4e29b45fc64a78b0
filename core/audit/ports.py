"""Ports of the audit trail: the chained store and the archive of closed periods."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

from .archive_manifest import ArchiveManifest
from .chain import AuditEntry, ChainedRecord, ChainHead


class AuditTrail(Protocol):
    """An append-only store of chained audit records.

    ``append_entries`` chains the entries after the current head and stores them
    atomically: all of them or none. Records come back in sequence order.
    """

    def append_entries(self, entries: Sequence[AuditEntry]) -> ChainHead: ...

    def head(self) -> ChainHead:
        """Return the last stored record's sequence number and hash."""
        ...

    def records(self, first_seq: int = 1, last_seq: int | None = None) -> Iterator[ChainedRecord]:
        """Return the stored records with ``first_seq <= seq <= last_seq``, in order."""
        ...

    def seq_of(self, record_hash: str) -> int | None:
        """Return the sequence number of the record stored with this hash, or None."""
        ...

    def recorded_times(self, first_seq: int = 1) -> Iterator[tuple[int, int]]:
        """Return ``(seq, recorded_at_ns)`` of the records from ``first_seq`` on, in order."""
        ...

    def decision(self, decision_id: str) -> ChainedRecord | None:
        """Return the record of a decision, or None when it was never recorded."""
        ...

    def feature_set_names(self, version: str) -> tuple[str, ...] | None:
        """Return the names recorded for a feature-set version, or None."""
        ...


class AuditArchive(Protocol):
    """Where closed periods of the audit trail are exported, with their manifests."""

    def manifests(self) -> list[ArchiveManifest]:
        """Return every stored manifest, ordered by first sequence number."""
        ...

    def write_segment(self, name: str, records: Iterable[ChainedRecord]) -> tuple[str, str]:
        """Store the records under ``name``; return the file name and its SHA-256 digest."""
        ...

    def write_manifest(self, manifest: ArchiveManifest) -> None: ...

    def read_segment(self, manifest: ArchiveManifest) -> Iterator[ChainedRecord]: ...

    def segment_digest(self, manifest: ArchiveManifest) -> str | None:
        """Return the SHA-256 digest of the segment's file as stored now, or None if missing."""
        ...
