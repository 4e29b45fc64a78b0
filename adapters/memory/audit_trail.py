"""The audit trail kept in process memory, for tests and embedded runs."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence

from twinbank.core.audit import (
    DECISION_KIND,
    FEATURE_SET_KIND,
    AuditEntry,
    ChainedRecord,
    ChainHead,
    DecisionEntries,
    chain_entries,
    feature_set_entry,
    head_after,
)
from twinbank.core.decisions import DecisionRecord


class InMemoryAuditTrail:
    """The AuditTrail and DecisionLog ports on a list; decisions are chained on append.

    ``stored`` is the list itself, so that tests can tamper with stored records the way
    someone with database access could. Reads scan it, so they see any tampering.
    ``decision_entries`` is called on the first decision appended.
    """

    def __init__(self, decision_entries: Callable[[], DecisionEntries]) -> None:
        self._entries_factory = decision_entries
        self._entries: DecisionEntries | None = None
        self.stored: list[ChainedRecord] = []
        self._decision_ids: set[str] = set()
        self._feature_sets: set[str] = set()
        self._lock = threading.RLock()

    # DecisionLog

    def append(self, record: DecisionRecord) -> None:
        if self._entries is None:
            self._entries = self._entries_factory()
        entry, feature_sets = self._entries.entry(record)
        with self._lock:
            entries = [
                feature_set_entry(feature_set, entry.recorded_at_ns)
                for feature_set in feature_sets
                if feature_set.version not in self._feature_sets
            ]
            self.append_entries([*entries, entry])

    def flush(self) -> None:
        """Nothing to do: entries are stored as soon as they are appended."""

    def count(self) -> int:
        return sum(1 for record in self.stored if record.kind == DECISION_KIND)

    # AuditTrail

    def append_entries(
        self,
        entries: Sequence[AuditEntry],
        before_chaining: Callable[[], None] | None = None,
    ) -> ChainHead:
        """Chain and store entries; ``before_chaining`` runs first and may raise to store nothing.

        An entry whose decision id is already stored is skipped.
        """
        with self._lock:
            if before_chaining is not None:
                before_chaining()
            fresh = []
            for entry in entries:
                if entry.decision_id is not None:
                    if entry.decision_id in self._decision_ids:
                        continue
                    self._decision_ids.add(entry.decision_id)
                if entry.kind == FEATURE_SET_KIND:
                    self._feature_sets.add(str(entry.body["feature_set_version"]))
                fresh.append(entry)
            head = self.head()
            records = chain_entries(fresh, head)
            self.stored.extend(records)
            return head_after(records, head)

    def head(self) -> ChainHead:
        if not self.stored:
            return ChainHead()
        last = self.stored[-1]
        return ChainHead(last.seq, last.record_hash)

    def records(self, first_seq: int = 1, last_seq: int | None = None) -> Iterator[ChainedRecord]:
        for record in sorted(self.stored, key=lambda stored: stored.seq):
            if record.seq >= first_seq and (last_seq is None or record.seq <= last_seq):
                yield record

    def seq_of(self, record_hash: str) -> int | None:
        for record in self.stored:
            if record.record_hash == record_hash:
                return record.seq
        return None

    def recorded_times(self, first_seq: int = 1) -> Iterator[tuple[int, int]]:
        for record in self.records(first_seq):
            yield record.seq, record.recorded_at_ns

    def decision(self, decision_id: str) -> ChainedRecord | None:
        for record in self.stored:
            if record.decision_id == decision_id:
                return record
        return None

    def feature_set_names(self, version: str) -> tuple[str, ...] | None:
        for record in self.stored:
            if record.kind == FEATURE_SET_KIND:
                body = json.loads(record.body_json)
                if body["feature_set_version"] == version:
                    return tuple(body["names"])
        return None
