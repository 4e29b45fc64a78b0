"""Wall-clock adapters of the Clock and Stopwatch ports."""

from __future__ import annotations

import time


class WallClock:
    """Business time from the system clock (UTC nanoseconds)."""

    def now_ns(self) -> int:
        return time.time_ns()


class PerfCounterStopwatch:
    """A monotonic, high-resolution counter for measuring durations."""

    def ticks_ns(self) -> int:
        return time.perf_counter_ns()
