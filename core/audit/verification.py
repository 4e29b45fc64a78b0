"""Verification of a stored chain: find the first record that breaks it and say how.

The walk goes through the records in sequence order with one record of lookahead.
Each record must hash to its stored ``record_hash`` and link, by ``prev_hash``, to the
record before it. At the first failure the walk classifies what happened:

- modified: a record's content no longer matches its hash, or its hash was recomputed
  so that its successor's link no longer finds it;
- removed: the successor of a missing record links to a hash that is stored nowhere
  and the sequence numbers have a gap (or an anchored head is missing);
- inserted: a record sits between two records that link to each other directly;
- reordered: a record links to a record that is stored after it.

Limits: records appended after the last one with valid hashes, and records removed
from the end, cannot be told from honest ones by the chain alone. Pass the head that was
anchored elsewhere (``expected_head``, see ``twinbank audit head``) to catch the second.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from .chain import ChainedRecord, ChainHead

HashLocator = Callable[[str], int | None]
"""Return the sequence number of the stored record with a given ``record_hash``, or None."""


class ProblemKind(StrEnum):
    MODIFIED = "modified"
    REMOVED = "removed"
    INSERTED = "inserted"
    REORDERED = "reordered"


@dataclass(frozen=True, slots=True)
class ChainProblem:
    """The first break in a chain: what happened and the sequence number of the record named."""

    kind: ProblemKind
    seq: int
    message: str


@dataclass(frozen=True, slots=True)
class ChainVerification:
    """Result of a walk: how many records verified before the first problem, if any.

    ``head`` is the last record that verified (the anchor when none did).
    """

    records_checked: int
    head: ChainHead
    problem: ChainProblem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify_chain(
    records: Iterable[ChainedRecord],
    locate: HashLocator | None = None,
    anchor: ChainHead | None = None,
    expected_head: ChainHead | None = None,
) -> ChainVerification:
    """Walk ``records`` in sequence order and return the first problem found.

    ``anchor`` is the record the first one links to (the genesis of an empty chain by
    default; the last archived record when verifying a later part). ``locate`` finds a
    stored record by hash and is only called after a break, to tell a reordering from a
    removal; without it, reordered records are reported as removed or inserted.
    ``expected_head`` is a head recorded earlier: the chain must still contain it.
    """
    walker = ChainWalker(anchor, locate, expected_head)
    for record in records:
        if walker.feed(record) is not None:
            break
    return walker.finish()


class ChainWalker:
    """The walk of ``verify_chain`` one record at a time, for callers that stream records.

    ``feed`` checks the record fed before this one (it needs its successor to classify a
    break) and returns the first problem once found; ``finish`` checks the last record.
    """

    def __init__(
        self,
        anchor: ChainHead | None = None,
        locate: HashLocator | None = None,
        expected_head: ChainHead | None = None,
    ) -> None:
        self._walk = _Walk(anchor or ChainHead(), locate or _locate_nothing, expected_head)
        self._pending: ChainedRecord | None = None
        self._problem: ChainProblem | None = None

    @property
    def problem(self) -> ChainProblem | None:
        return self._problem

    def feed(self, record: ChainedRecord) -> ChainProblem | None:
        if self._problem is None and self._pending is not None:
            self._problem = self._walk.step(self._pending, record)
        self._pending = record
        return self._problem

    def finish(self) -> ChainVerification:
        if self._problem is None and self._pending is not None:
            self._problem = self._walk.step(self._pending, None)
        self._pending = None
        if self._problem is None:
            self._problem = self._walk.finish()
        return ChainVerification(self._walk.checked, self._walk.head, self._problem)


def _locate_nothing(_record_hash: str) -> int | None:
    return None


class _Walk:
    def __init__(
        self, anchor: ChainHead, locate: HashLocator, expected_head: ChainHead | None
    ) -> None:
        self.head = anchor
        self.checked = 0
        self._locate = locate
        self._expected_head = expected_head
        self._previous: ChainedRecord | None = None

    def step(self, current: ChainedRecord, following: ChainedRecord | None) -> ChainProblem | None:
        expected_prev = self.head.record_hash
        if current.computed_hash() != current.record_hash:
            return self._content_mismatch(current, following, expected_prev)
        if current.prev_hash != expected_prev:
            return self._broken_link(current, following, expected_prev)
        anchored = self._expected_head
        if anchored and current.seq == anchored.seq and current.record_hash != anchored.record_hash:
            return ChainProblem(
                ProblemKind.MODIFIED,
                current.seq,
                f"record {current.seq} verifies within the chain but its hash "
                f"{current.record_hash} differs from the anchored head {anchored}: the chain "
                "was rewritten from this record or earlier",
            )
        self.head = ChainHead(current.seq, current.record_hash)
        self._previous = current
        self.checked += 1
        return None

    def finish(self) -> ChainProblem | None:
        anchored = self._expected_head
        if anchored and self.head.seq < anchored.seq:
            return ChainProblem(
                ProblemKind.REMOVED,
                self.head.seq + 1,
                f"the chain ends at record {self.head.seq} but the anchored head is {anchored}: "
                f"records {self.head.seq + 1} to {anchored.seq} were removed",
            )
        return None

    def _content_mismatch(
        self, current: ChainedRecord, following: ChainedRecord | None, expected_prev: str
    ) -> ChainProblem:
        if (
            following is not None
            and following.prev_hash != current.record_hash
            and following.prev_hash == expected_prev
        ):
            return ChainProblem(
                ProblemKind.INSERTED,
                current.seq,
                f"record {current.seq} does not match its hash and record {following.seq} "
                "links past it to the record before: it was inserted",
            )
        return ChainProblem(
            ProblemKind.MODIFIED,
            current.seq,
            f"record {current.seq} ({current.kind}) was modified: its content hashes to "
            f"{current.computed_hash()}, not to the stored {current.record_hash}",
        )

    def _broken_link(
        self, current: ChainedRecord, following: ChainedRecord | None, expected_prev: str
    ) -> ChainProblem:
        previous = self._previous
        located = self._locate(current.prev_hash)
        if located is not None and located > current.seq:
            return ChainProblem(
                ProblemKind.REORDERED,
                current.seq,
                f"record {current.seq} follows record {located} in the chain but is stored "
                "before it: records were reordered",
            )
        if following is not None and following.prev_hash == expected_prev:
            return ChainProblem(
                ProblemKind.INSERTED,
                current.seq,
                f"record {current.seq} does not link to record {self.head.seq}, and record "
                f"{following.seq} links past it: it was inserted",
            )
        if previous is not None and current.prev_hash == previous.prev_hash:
            return ChainProblem(
                ProblemKind.INSERTED,
                previous.seq,
                f"records {current.seq} and {previous.seq} both link to the record before "
                f"{previous.seq}: record {previous.seq} was inserted",
            )
        if located is not None:
            return ChainProblem(
                ProblemKind.REORDERED,
                current.seq,
                f"record {current.seq} links to record {located}, not to the record stored "
                f"before it ({self.head.seq}): records were reordered",
            )
        if current.seq != self.head.seq + 1:
            return ChainProblem(
                ProblemKind.REMOVED,
                current.seq,
                f"record {current.seq} links to a hash stored nowhere and records "
                f"{self.head.seq + 1} to {current.seq - 1} are missing: they were removed",
            )
        if previous is None:
            return ChainProblem(
                ProblemKind.REMOVED,
                current.seq,
                f"record {current.seq} is the first stored record but links to "
                f"{current.prev_hash}, not to {expected_prev}: the records before it were "
                "removed (and the rest renumbered)",
            )
        return ChainProblem(
            ProblemKind.MODIFIED,
            previous.seq,
            f"record {current.seq} links to {current.prev_hash}, which is stored nowhere: "
            f"record {previous.seq} was modified and re-hashed, or records after it were "
            "removed and the rest renumbered",
        )
