"""The SimPy environment as the core's Clock."""

from __future__ import annotations

import simpy

from twinbank.core.timestamps import NANOS_PER_SECOND


class SimulatedClock:
    """Business time of a twin run: ``epoch_ns`` plus ``env.now`` seconds."""

    def __init__(self, env: simpy.Environment, epoch_ns: int) -> None:
        self._env = env
        self._epoch_ns = epoch_ns

    @property
    def epoch_ns(self) -> int:
        return self._epoch_ns

    def now_ns(self) -> int:
        return self._epoch_ns + round(self._env.now * NANOS_PER_SECOND)

    def seconds_until(self, timestamp_ns: int) -> float:
        """Return the simulated seconds from now until ``timestamp_ns`` (0 if past)."""
        return max(0.0, (timestamp_ns - self._epoch_ns) / NANOS_PER_SECOND - self._env.now)
