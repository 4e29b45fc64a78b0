"""Window aggregates that running sums cannot give: min, max, distinct count, std.

Each tracker follows one source column of one window. Events enter at the window's
right edge and leave at its left edge in the same order, so every update is amortized
O(1). Extremes keep a monotonic deque, where an event is appended once and popped at
most once. Distinct counts keep a counter per value, and the standard deviation keeps
the exact integer sum of squares beside the window's running sum.

Values are exact integers in 2**-1074 units, as in the streaming engine, so equal
doubles compare equal and sums of squares are exact. Trackers are derived state: a
store that does not persist them (the Redis codec) gets them rebuilt from the
window's events on first use.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

from .definitions import Aggregation

_UNIT = 1 << 1074


class Extremes:
    """Minimum or maximum of the window: a deque of (index, value), monotonic in value."""

    __slots__ = ("entries", "largest")

    def __init__(self, largest: bool) -> None:
        self.largest = largest
        self.entries: deque[tuple[int, int]] = deque()

    def add(self, index: int, value: int) -> None:
        entries = self.entries
        if self.largest:
            while entries and entries[-1][1] <= value:
                entries.pop()
        else:
            while entries and entries[-1][1] >= value:
                entries.pop()
        entries.append((index, value))

    def remove(self, index: int, value: int) -> None:
        entries = self.entries
        if entries and entries[0][0] == index:
            entries.popleft()

    def result(self, count: int, total: int) -> float | None:
        return self.entries[0][1] / _UNIT if self.entries else None


class DistinctValues:
    """Number of distinct values in the window."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}

    def add(self, index: int, value: int) -> None:
        self.counts[value] = self.counts.get(value, 0) + 1

    def remove(self, index: int, value: int) -> None:
        remaining = self.counts[value] - 1
        if remaining:
            self.counts[value] = remaining
        else:
            del self.counts[value]

    def result(self, count: int, total: int) -> float | None:
        return float(len(self.counts))


class Squares:
    """Population standard deviation (ddof 0) from the exact sum of squares."""

    __slots__ = ("total",)

    def __init__(self) -> None:
        self.total = 0

    def add(self, index: int, value: int) -> None:
        self.total += value * value

    def remove(self, index: int, value: int) -> None:
        self.total -= value * value

    def result(self, count: int, total: int) -> float | None:
        if not count:
            return None
        # count * sum(x^2) - sum(x)^2 is an exact non-negative integer; one division
        # rounds it, so a window of equal values gets exactly 0.
        spread = count * self.total - total * total
        return math.sqrt(spread / (count * count * _UNIT * _UNIT))


Tracker = Extremes | DistinctValues | Squares

TRACKED = frozenset({Aggregation.MIN, Aggregation.MAX, Aggregation.DISTINCT_COUNT, Aggregation.STD})


def new_tracker(aggregation: Aggregation) -> Tracker:
    if aggregation is Aggregation.MIN:
        return Extremes(largest=False)
    if aggregation is Aggregation.MAX:
        return Extremes(largest=True)
    if aggregation is Aggregation.DISTINCT_COUNT:
        return DistinctValues()
    if aggregation is Aggregation.STD:
        return Squares()
    raise ValueError(f"aggregation {aggregation.value!r} needs no tracker")


def build_trackers(
    specs: Sequence[tuple[Aggregation, int]],
    columns: Sequence[Sequence[int]],
    offset: int,
    left: int,
    right: int,
) -> list[Tracker]:
    """Return trackers holding the events ``left <= i < right`` (absolute indices)."""
    trackers = []
    for aggregation, slot in specs:
        tracker = new_tracker(aggregation)
        column = columns[slot]
        for index in range(left, right):
            tracker.add(index, column[index - offset])
        trackers.append(tracker)
    return trackers
