"""The regional serving cluster built from SimPy primitives, one process per request.

Replicas are tokens in a FIFO ``simpy.Store`` of idle replicas. A request process
takes the first idle replica (waiting in line when there is none, up to the queue
timeout), keeps it for its service time and returns it. This is the textbook SimPy
model of a multi-server queue. It is the reference that ``cluster.ServingCluster``
must reproduce request by request, and the baseline of the twin's benchmark; the twin
itself uses ``ServingCluster`` because scheduling several SimPy events per request
costs more than the whole request path of the fast model (BENCHMARKS.md).

SimPy runs the events of one instant by priority, then in the order they were
scheduled. The cluster's own events (a service ending, a replica handed to a waiting
request) have the default priority ``NORMAL``; actions scheduled with ``at`` run after
them (``CALLER``), and queue deadlines last (``DEADLINE``). That gives the same order
at one instant as ``ServingCluster``. A caller that acts from a plain SimPy process
(as the benchmark does) runs at ``NORMAL`` priority, so where its action shares an
instant with a service completion, the one scheduled first runs first.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import simpy
from simpy.events import NORMAL, EventPriority

from .cluster import Drop

CALLER = EventPriority(NORMAL + 1)
DEADLINE = EventPriority(NORMAL + 2)


class _Instant(simpy.Event):
    """An event that succeeds at ``env.now + delay`` with the given priority, which
    ``simpy.Timeout`` does not take."""

    def __init__(self, env: simpy.Environment, delay: float, priority: EventPriority) -> None:
        super().__init__(env)
        self._ok = True
        self._value = None
        env.schedule(self, priority, delay)


class SimpyServingCluster:
    """Same contract as ``ServingCluster``, driven by a SimPy environment.

    ``submit`` and the control methods act at ``env.now``. Call them through ``at`` to
    act after the service completions of that instant, as ``ServingCluster`` does.
    """

    def __init__(
        self, env: simpy.Environment, replicas: int, queue_timeout: float, max_queue: int
    ) -> None:
        self._env = env
        self._idle = simpy.Store(env)
        self._idle.items.extend(range(replicas))
        self._members: set[int] = set(range(replicas))
        self._draining: set[int] = set()
        self._serving: dict[int, tuple[simpy.Process, Any]] = {}
        self._next_replica = replicas
        self._queue_timeout = queue_timeout
        self._max_queue = max_queue
        self._waiting = 0
        self.started_at: list[float] = []
        self.started_records: list[Any] = []
        self.dropped: list[tuple[Any, Drop]] = []
        self.crashed: list[Any] = []

    @property
    def replicas(self) -> int:
        return len(self._members) - len(self._draining)

    def replica_ids(self) -> list[int]:
        return sorted(self._members - self._draining)

    def at(self, time: float, action: Callable[[], None]) -> None:
        """Run ``action`` at the instant ``time``, after the cluster's own events of that
        instant and before its queue deadlines.

        Actions scheduled for the same instant run in the order of the calls. SimPy adds
        a delay to ``env.now``, so the instant is exact when called at instant 0 and may
        be off by a rounding error later. Raises ValueError for a ``time`` before
        ``env.now``.
        """
        now = self._env.now
        if time < now:
            raise ValueError(f"cannot act at {time!r}, before the current instant {now!r}")
        event = _Instant(self._env, time - now, CALLER)
        event.callbacks.append(lambda _: action())

    def submit(self, service: float, record: Any) -> simpy.Process:
        return self._env.process(self._request(service, record))

    def add_replica(self) -> int:
        replica = self._next_replica
        self._next_replica += 1
        self._members.add(replica)
        self._idle.put(replica)
        return replica

    def remove_replica(self) -> int | None:
        candidates = self.replica_ids()
        if not candidates:
            return None
        replica = candidates[-1]
        if replica in self._idle.items:
            self._idle.items.remove(replica)
            self._members.discard(replica)
        else:
            self._draining.add(replica)
        return replica

    def crash(self, replica: int) -> None:
        if replica not in self._members:
            raise ValueError(f"replica {replica} is not part of this cluster")
        self._members.discard(replica)
        self._draining.discard(replica)
        if replica in self._idle.items:
            self._idle.items.remove(replica)
        serving = self._serving.pop(replica, None)
        if serving is not None:
            serving[0].interrupt("replica crashed")

    def _request(self, service: float, record: Any) -> Generator[simpy.Event, Any, None]:
        env = self._env
        if not self._idle.items and self._waiting >= self._max_queue:
            self.dropped.append((record, Drop.QUEUE_FULL))
            return
        request = self._idle.get()
        if not request.triggered:
            self._waiting += 1
            yield request | _Instant(env, self._queue_timeout, DEADLINE)
            self._waiting -= 1
            # Check the get, not the condition's value: a get that has succeeded has taken
            # a replica, which cancel() no longer returns, so a request handed a replica
            # at its deadline instant starts rather than losing that replica.
            if not request.triggered:
                request.cancel()
                self.dropped.append((record, Drop.QUEUE_TIMEOUT))
                return
        replica = yield request
        self.started_at.append(env.now)
        self.started_records.append(record)
        self._serving[replica] = (env.active_process, record)  # type: ignore[assignment]
        try:
            yield env.timeout(service)
        except simpy.Interrupt:
            self.crashed.append(record)
            return
        del self._serving[replica]
        if replica in self._draining:
            self._draining.discard(replica)
            self._members.discard(replica)
        else:
            self._idle.put(replica)
