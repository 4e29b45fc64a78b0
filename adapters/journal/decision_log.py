"""The DecisionLog port on the local journal: the decision service's audit buffer."""

from __future__ import annotations

from twinbank.core.decisions import DecisionRecord

from .records import encode_record
from .segments import DurableJournal


class JournalDecisionLog:
    """Appends each record to the journal; ``flush`` syncs it to disk.

    Forwarders take the records from there to the audit database and the event
    stream, so that the decision path never waits for either.
    """

    def __init__(self, journal: DurableJournal) -> None:
        self._journal = journal
        self._appended = 0

    def append(self, record: DecisionRecord) -> None:
        self._journal.append(encode_record(record))
        self._appended += 1

    def flush(self) -> None:
        self._journal.sync()

    def count(self) -> int:
        """Return how many records this process appended."""
        return self._appended
