"""The serving cluster of one region: a load balancer's FIFO queue in front of replicas
that each serve one request at a time (an M/G/c queue whose c changes).

The cluster is a discrete-event model that schedules no event per request. It keeps
each replica's next free instant in a heap and the waiting requests in a FIFO queue,
and it dispatches a waiting request only up to the instant it has been advanced to.
Requests arrive in time order through ``admit``. A control event at instant t
(scaling, a crash, an outage) first calls ``advance(t)``, and then the cluster holds
exactly the replicas busy at t and the requests still waiting at t. First come, first served
with the earliest free replica is the same rule as SimPy's FIFO ``Store`` of idle
replicas, and ``reference.SimpyServingCluster`` implements it that way; a test checks
that both give every request the same start. Among replicas free at the same instant,
the one whose free instant was set first (its request started earlier, or it was added
earlier) goes first, the order in which the ``Store`` gets them back. Which replica
serves a request decides what a crash cuts short and what a scale-down drains.

Events at one instant t, which constant service times and replayed timestamps make
common, happen in this order:

1. requests due to finish at t finish, and their replicas take waiting requests;
2. arrivals and control actions at t, in the order the caller makes them;
3. deadlines at t pass. A request's deadline is the instant ``arrival + queue_timeout``,
   so a replica that frees exactly then still serves it.
"""

from __future__ import annotations

from collections import deque
from enum import IntEnum
from heapq import heapify, heappop, heappush, heapreplace
from itertools import count
from typing import Any


class Drop(IntEnum):
    """The reason the cluster did not serve an admitted request."""

    QUEUE_FULL = 1
    QUEUE_TIMEOUT = 2


class ServingCluster:
    """Replicas of one region behind its load balancer.

    ``record`` is any object that identifies a request to the caller. Started requests
    come back in two parallel lists, ``started_at`` (start instants) and
    ``started_records``; dropped ones in ``dropped`` as ``(record, Drop)``. A crash
    or an outage returns the records whose service it cut short; they were already
    reported as started.
    """

    def __init__(self, replicas: int, queue_timeout: float, max_queue: int, now: float = 0.0):
        # Entries are (free instant, sequence number, replica). The sequence number grows
        # each time a replica gets a free instant, and it orders replicas free together.
        self._sequence = count()
        self._free: list[tuple[float, int, int]] = [
            (now, next(self._sequence), replica) for replica in range(replicas)
        ]
        self._serving: dict[int, tuple[float, Any]] = {}
        self._queue: deque[tuple[float, float, Any]] = deque()
        self._draining: set[int] = set()
        self._next_replica = replicas
        self._queue_timeout = queue_timeout
        self._max_queue = max_queue
        self.started_at: list[float] = []
        self.started_records: list[Any] = []
        self.dropped: list[tuple[Any, Drop]] = []
        self.busy_seconds = 0.0

    # -- requests ---------------------------------------------------------------------

    def admit(self, arrival: float, service: float, record: Any) -> None:
        """Admit a request; arrivals must come in non-decreasing time order."""
        queue = self._queue
        if queue:
            self._dispatch(arrival)
            if queue:
                self._enqueue(arrival, service, record)
                return
        free = self._free
        if free and free[0][0] <= arrival:
            replica = free[0][2]
            if self._draining and replica in self._draining:
                self._retire_idle_draining(arrival)
                self.admit(arrival, service, record)
                return
            completion = arrival + service
            heapreplace(free, (completion, next(self._sequence), replica))
            self._serving[replica] = (completion, record)
            self.started_at.append(arrival)
            self.started_records.append(record)
            self.busy_seconds += service
            return
        self._enqueue(arrival, service, record)

    def advance(self, until: float) -> None:
        """Start every waiting request whose replica frees up at or before ``until``, and
        drop those whose queue timeout has passed by then."""
        if self._queue:
            self._dispatch(until)
            # What still waits starts after ``until``, so a deadline before it is missed.
            self._purge_expired(until)
        elif self._draining:
            self._retire_idle_draining(until)

    def take_started(self) -> tuple[list[float], list[Any]]:
        """Return and forget the start instants and records of started requests."""
        started = (self.started_at, self.started_records)
        self.started_at, self.started_records = [], []
        return started

    def take_dropped(self) -> list[tuple[Any, Drop]]:
        dropped, self.dropped = self.dropped, []
        return dropped

    # -- replicas ---------------------------------------------------------------------

    @property
    def replicas(self) -> int:
        """Return the replicas that take new requests (draining ones excluded)."""
        return len(self._free) - len(self._draining)

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def replica_ids(self) -> list[int]:
        """Return the ids of replicas that take new requests, in ascending order."""
        return sorted(replica for _, _, replica in self._free if replica not in self._draining)

    def add_replica(self, now: float) -> int:
        """Add a ready replica at ``now`` (after ``advance(now)``) and return its id."""
        replica = self._next_replica
        self._next_replica += 1
        heappush(self._free, (now, next(self._sequence), replica))
        self._dispatch(now)
        return replica

    def remove_replica(self, now: float) -> int | None:
        """Scale down by the newest replica: at once when idle, else after its request.

        Returns its id, or None when no replica takes new requests.
        """
        candidates = self.replica_ids()
        if not candidates:
            return None
        replica = candidates[-1]
        self._draining.add(replica)
        self._retire_idle_draining(now)
        return replica

    def crash(self, now: float, replica: int) -> Any | None:
        """Remove a replica at once; return the record of the request it was serving."""
        position = next(
            (index for index, entry in enumerate(self._free) if entry[2] == replica), None
        )
        if position is None:
            raise ValueError(f"replica {replica} is not part of this cluster")
        free_at = self._free[position][0]
        self._free[position] = self._free[-1]
        self._free.pop()
        heapify(self._free)
        self._draining.discard(replica)
        completion, record = self._serving.pop(replica, (free_at, None))
        self._dispatch(now)
        return record if completion > now else None

    def fail_all(self, now: float) -> tuple[list[Any], list[Any]]:
        """Cut every request short (the region went down), after ``advance(now)``.

        Returns the records in service and the records waiting. Replicas stay and are
        idle from ``now``.
        """
        self._purge_expired(now)
        in_service = [record for completion, record in self._serving.values() if completion > now]
        waiting = [record for _, _, record in self._queue]
        self._queue.clear()
        self._serving.clear()
        kept = [replica for _, _, replica in self._free if replica not in self._draining]
        self._draining.clear()
        self._free = [(now, next(self._sequence), replica) for replica in sorted(kept)]
        return in_service, waiting

    # -- internals --------------------------------------------------------------------

    def _enqueue(self, arrival: float, service: float, record: Any) -> None:
        queue = self._queue
        if len(queue) >= self._max_queue:
            self._purge_expired(arrival)
            if len(queue) >= self._max_queue:
                self.dropped.append((record, Drop.QUEUE_FULL))
                return
        queue.append((arrival, service, record))

    def _dispatch(self, until: float) -> None:
        free = self._free
        queue = self._queue
        serving = self._serving
        started_at = self.started_at
        started_records = self.started_records
        draining = self._draining
        timeout = self._queue_timeout
        sequence = self._sequence
        while queue and free and free[0][0] <= until:
            free_at, _, replica = free[0]
            if draining and replica in draining:
                heappop(free)
                draining.discard(replica)
                serving.pop(replica, None)
                continue
            arrival, service, record = queue.popleft()
            start = free_at if free_at > arrival else arrival
            if start > arrival + timeout:
                self.dropped.append((record, Drop.QUEUE_TIMEOUT))
                continue
            completion = start + service
            heapreplace(free, (completion, next(sequence), replica))
            serving[replica] = (completion, record)
            started_at.append(start)
            started_records.append(record)
            self.busy_seconds += service
        if draining:
            self._retire_idle_draining(until)

    def _retire_idle_draining(self, now: float) -> None:
        """Drop draining replicas whose last request has finished by ``now``."""
        retired = [
            replica
            for free_at, _, replica in self._free
            if replica in self._draining and free_at <= now
        ]
        if not retired:
            return
        for replica in retired:
            self._draining.discard(replica)
            self._serving.pop(replica, None)
        self._free = [entry for entry in self._free if entry[2] not in retired]
        heapify(self._free)

    def _purge_expired(self, now: float) -> None:
        queue = self._queue
        timeout = self._queue_timeout
        while queue and now > queue[0][0] + timeout:
            self.dropped.append((queue.popleft()[2], Drop.QUEUE_TIMEOUT))
