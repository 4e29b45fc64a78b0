"""Columnar state of the micro-batch engine: the arrival log and sorted runs.

Every transaction gets an arrival number (``sequence``) when its batch is observed.
Transactions arrive in timestamp order, so arrival numbers order events by
``(timestamp, arrival)``, and "time <= x" becomes "sequence <= the last arrival
number at or before x", found by one binary search of the log's times.

``ArrivalLog`` keeps, in arrival order, each retained transaction's time, id and
first usable label. ``RetainedEvents`` keeps one entity's events as two runs, each
sorted by ``(key, sequence)``: a main run and a recent one. A batch merges into the
recent run, and the recent run into the main one when it reaches a quarter of the
main run's size. A merge is linear, so a batch copies the recent run (at most a
quarter of the retained events) and, amortized, O(batch) of the main run. No batch
re-sorts the retained events, and a lookup searches two runs. Merges drop events that
no future window reaches.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

from .batch import InvalidTable, LabelTable

Int64Array = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
KeyArray = npt.NDArray[np.generic]

NEVER = np.iinfo(np.int64).max
"""Reveal time of a transaction without a usable label."""


class ArrivalLog:
    """Times, ids and first usable labels of retained transactions, in arrival order.

    ``base`` is the arrival number of the oldest retained transaction. Arrays grow by
    doubling and drop their front by moving a start index, so appending a batch costs
    O(batch) amortized.
    """

    def __init__(self, matches_labels: bool) -> None:
        self.base = 0
        self._start = 0
        self._stop = 0
        self._times = np.empty(1024, dtype=np.int64)
        self._ids = np.empty(1024, dtype=np.int64)
        self._revealed = np.full(1024, NEVER, dtype=np.int64)
        self._fraud = np.zeros(1024, dtype=np.bool_)
        self._matches_labels = matches_labels
        self._sequence_of: dict[int, int] = {}

    def __len__(self) -> int:
        return self._stop - self._start

    @property
    def next_sequence(self) -> int:
        return self.base + len(self)

    @property
    def times(self) -> Int64Array:
        """Timestamps of the retained transactions, non-decreasing."""
        return self._times[self._start : self._stop]

    @property
    def revealed(self) -> Int64Array:
        """Reveal time of each transaction's first usable label, NEVER without one."""
        return self._revealed[self._start : self._stop]

    @property
    def fraud(self) -> npt.NDArray[np.bool_]:
        """Whether each transaction's first usable label is a fraud label."""
        return self._fraud[self._start : self._stop]

    def append(self, ids: Int64Array, times: Int64Array) -> int:
        """Append transactions in arrival order and return the first one's arrival number."""
        first = self.next_sequence
        self._reserve(len(ids))
        stop = self._stop + len(ids)
        self._times[self._stop : stop] = times
        self._ids[self._stop : stop] = ids
        self._revealed[self._stop : stop] = NEVER
        self._fraud[self._stop : stop] = False
        self._stop = stop
        if self._matches_labels:
            self._sequence_of.update(zip(ids.tolist(), range(first, first + len(ids)), strict=True))
        return first

    def _reserve(self, extra: int) -> None:
        size = len(self)
        if self._stop + extra <= len(self._times):
            return
        capacity = len(self._times)
        while size + extra > capacity // 2:
            capacity *= 2
        for name in ("_times", "_ids", "_revealed", "_fraud"):
            old = getattr(self, name)
            new = np.empty(capacity, dtype=old.dtype)
            new[:size] = old[self._start : self._stop]
            setattr(self, name, new)
        self._start, self._stop = 0, size

    def record_labels(self, labels: LabelTable) -> int:
        """Attach each transaction's first usable label; return how many labels matched
        nothing.

        Labels apply in order of reveal time, then of their row in the table. A label
        for a transaction not retained, for one already labelled, or revealed at or
        before its transaction's timestamp matches nothing, as in the event stream,
        where such a label finds no transaction waiting for it.
        """
        count = len(labels.transaction_id)
        order = np.lexsort((np.arange(count), labels.revealed_at_ns))
        unmatched = 0
        for index in order.tolist():
            sequence = self._sequence_of.get(int(labels.transaction_id[index]))
            position = -1 if sequence is None else self._start + sequence - self.base
            revealed = int(labels.revealed_at_ns[index])
            if (
                position < 0
                or self._revealed[position] != NEVER
                or revealed <= self._times[position]
            ):
                unmatched += 1
                continue
            self._revealed[position] = revealed
            self._fraud[position] = bool(labels.is_fraud[index])
        return unmatched

    def forget_before(self, sequence: int) -> None:
        """Drop the transactions that arrived before ``sequence``."""
        dropped = min(max(sequence - self.base, 0), len(self))
        if self._matches_labels:
            for transaction_id in self._ids[self._start : self._start + dropped].tolist():
                self._sequence_of.pop(transaction_id, None)
        self._start += dropped
        self.base += dropped

    def last_at_or_before(self, times: Int64Array) -> Int64Array:
        """Return, per time, the arrival number of the last transaction at or before it
        relative to ``base`` (-1 when none)."""
        return np.searchsorted(self.times, times, side="right").astype(np.int64) - 1


@dataclass(frozen=True)
class SortedRun:
    """Events of one entity sorted by ``(key, sequence)``; ``values`` has one row per
    value source (every source slot but the fraud label's), in slot order."""

    keys: KeyArray
    sequence: Int64Array
    times: Int64Array
    values: FloatArray

    def __len__(self) -> int:
        return len(self.sequence)

    @cached_property
    def latest_time(self) -> int:
        return int(self.times.max()) if len(self.times) else -NEVER

    @cached_property
    def oldest_sequence(self) -> int:
        return int(self.sequence.min()) if len(self.sequence) else NEVER

    @cached_property
    def _key_starts(self) -> tuple[KeyArray, Int64Array]:
        """Return the run's distinct keys and where each one's events start, plus the
        run's length as a last start."""
        starts = np.flatnonzero(np.concatenate(([True], self.keys[1:] != self.keys[:-1])))
        return self.keys[starts], np.append(starts, len(self.keys)).astype(np.int64)

    def key_ranges(self, keys: KeyArray) -> tuple[Int64Array, Int64Array]:
        """Return where each of the sorted distinct ``keys`` starts in the run and how
        many events it has there (0 when absent)."""
        distinct, starts = self._key_starts
        index = np.searchsorted(distinct, keys)
        found = np.zeros(len(keys), dtype=np.bool_)
        inside = index < len(distinct)
        found[inside] = distinct[index[inside]] == keys[inside]
        low = starts[index]
        counts = np.where(found, starts[np.minimum(index + 1, len(distinct))] - low, 0)
        return low, counts.astype(np.int64)

    def select(self, positions: npt.NDArray[np.generic]) -> SortedRun:
        return SortedRun(
            self.keys[positions],
            self.sequence[positions],
            self.times[positions],
            self.values[:, positions],
        )


def check_label_table(labels: LabelTable) -> None:
    """Raise InvalidTable when the label columns differ in length."""
    lengths = {
        "transaction_id": len(labels.transaction_id),
        "revealed_at_ns": len(labels.revealed_at_ns),
        "is_fraud": len(labels.is_fraud),
    }
    if len(set(lengths.values())) > 1:
        raise InvalidTable(f"label table columns differ in length: {lengths}")


def merge_runs(older: SortedRun, newer: SortedRun, keep_after_ns: int | None) -> SortedRun:
    """Merge two runs where every event of ``newer`` arrived after those of ``older``.

    Within a key the newer events go last, so each one's place is found by one binary
    search of the older keys. Events at or before ``keep_after_ns`` are dropped
    unless it is None.
    """
    if keep_after_ns is not None:
        older = older.select(older.times > keep_after_ns)
        newer = newer.select(newer.times > keep_after_ns)
    if not len(older):
        return newer
    size = len(older) + len(newer)
    newer_positions = np.searchsorted(older.keys, newer.keys, side="right") + np.arange(len(newer))
    is_newer = np.zeros(size, dtype=np.bool_)
    is_newer[newer_positions] = True
    older_positions = np.flatnonzero(~is_newer)
    keys = np.empty(size, dtype=np.result_type(older.keys, newer.keys))
    sequence = np.empty(size, dtype=np.int64)
    times = np.empty(size, dtype=np.int64)
    values = np.empty((len(older.values), size))
    for target, old_part, new_part in (
        (keys, older.keys, newer.keys),
        (sequence, older.sequence, newer.sequence),
        (times, older.times, newer.times),
    ):
        target[older_positions] = old_part
        target[newer_positions] = new_part
    values[:, older_positions] = older.values
    values[:, newer_positions] = newer.values
    return SortedRun(keys, sequence, times, values)


@dataclass(frozen=True)
class WorkingSet:
    """The retained and new events of the keys in one batch, sorted by
    ``(key, sequence)``.

    Group g contains the events of the batch's g-th smallest key, from
    ``group_bounds[g]`` to ``group_bounds[g + 1]``. ``batch_positions`` gives each
    batch event's position in the set, in the batch's sorted order, and
    ``batch_groups`` its group. ``values`` has one row per value source, as in
    ``SortedRun``.
    """

    group_bounds: Int64Array
    sequence: Int64Array
    values: FloatArray
    batch_positions: Int64Array
    batch_groups: Int64Array


class RetainedEvents:
    """One entity's events that a future window may still reach, as sorted runs."""

    def __init__(self, horizon_ns: int, value_count: int) -> None:
        self.horizon_ns = horizon_ns
        self._main = _empty_run(value_count)
        self._recent = _empty_run(value_count)

    def __len__(self) -> int:
        return len(self._main) + len(self._recent)

    @property
    def runs(self) -> list[SortedRun]:
        """Return the non-empty runs, oldest first."""
        return [run for run in (self._main, self._recent) if len(run)]

    @property
    def oldest_sequence(self) -> int | None:
        """Return the smallest arrival number retained, or None when empty."""
        smallest = min((run.oldest_sequence for run in self.runs), default=NEVER)
        return None if smallest == NEVER else smallest

    def working_set(self, batch: SortedRun) -> WorkingSet:
        """Gather, per key of the sorted ``batch``, its retained events then its new
        ones."""
        starts = np.flatnonzero(np.concatenate(([True], batch.keys[1:] != batch.keys[:-1])))
        keys = batch.keys[starts]
        batch_counts = np.diff(np.append(starts, len(batch))).astype(np.int64)
        slices = []
        for run in self.runs:
            low, counts = run.key_ranges(keys)
            slices.append((run, low, counts))
        lengths = batch_counts + sum((counts for _, _, counts in slices), np.zeros_like(starts))
        group_bounds = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
        size = int(group_bounds[-1])
        sequence = np.empty(size, dtype=np.int64)
        values = np.empty((len(batch.values), size))
        filled = group_bounds[:-1].copy()
        for run, low, counts in slices:
            source = concatenated_ranges(low, counts)
            target = concatenated_ranges(filled, counts)
            sequence[target] = run.sequence[source]
            values[:, target] = run.values[:, source]
            filled += counts
        batch_positions = concatenated_ranges(filled, batch_counts)
        sequence[batch_positions] = batch.sequence
        values[:, batch_positions] = batch.values
        batch_groups = np.repeat(np.arange(len(keys), dtype=np.int64), batch_counts)
        return WorkingSet(group_bounds, sequence, values, batch_positions, batch_groups)

    def add(self, batch: SortedRun, latest_ns: int) -> None:
        """Merge a batch's run into the recent run, and that into the main run once it
        is a quarter of its size. The main merge drops events at or before
        ``latest_ns`` minus the horizon, which no later window reaches."""
        self._recent = merge_runs(self._recent, batch, None)
        if 4 * len(self._recent) >= len(self._main):
            keep_after = latest_ns - self.horizon_ns
            self._main = merge_runs(self._main, self._recent, keep_after)
            self._recent = _empty_run(len(batch.values))


def _empty_run(value_count: int) -> SortedRun:
    empty = np.empty(0, dtype=np.int64)
    return SortedRun(empty, empty, empty, np.empty((value_count, 0)))


def concatenated_ranges(starts: Int64Array, lengths: Int64Array) -> Int64Array:
    """Return ``range(starts[i], starts[i] + lengths[i])`` for every i, concatenated."""
    total = int(lengths.sum())
    ends = np.cumsum(lengths)
    return np.repeat(starts - (ends - lengths), lengths) + np.arange(total, dtype=np.int64)
