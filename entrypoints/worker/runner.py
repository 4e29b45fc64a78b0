"""The stream worker's loop: recover, read, order, apply, acknowledge, until stopped."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from twinbank.adapters.memory import RollbackUnsupported
from twinbank.adapters.redis import LeaseLost
from twinbank.core.event_stream import Delivery, EventSubscription
from twinbank.core.timestamps import NANOS_PER_DAY, NANOS_PER_SECOND

from .ordering import EventTimeBuffer
from .processor import BatchProcessor, BatchResult

log = logging.getLogger(__name__)


class WorkerSettings(BaseModel):
    """Read and retry settings of the stream worker."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    batch_size: int = Field(1000, ge=1, le=100_000, description="Entries read per call.")
    block_ms: int = Field(
        500, ge=1, le=60_000, description="How long one read waits for new entries."
    )
    linger_ms: int = Field(
        20,
        ge=0,
        le=1_000,
        description=(
            "After a read returns fewer than batch_size entries, wait this long and read "
            "again, so that one batch's store writes carry the events of a trickle; "
            "0 applies every read as it comes."
        ),
    )
    commit_interval_ms: int = Field(
        2_000,
        ge=0,
        le=10_000,
        description=(
            "While the worker drains a backlog (reads come back full), it commits the "
            "state and acknowledges the entries of several batches at once, at most this "
            "long after the last commit; a read that is not full always ends with a "
            "commit. 0 commits after every batch."
        ),
    )
    claim_idle_ms: int = Field(
        60_000,
        ge=1,
        description="Entries another consumer left unacknowledged this long are taken over.",
    )
    claim_every_s: float = Field(30.0, gt=0, description="How often to look for such entries.")
    allowed_lateness_ms: int = Field(
        500,
        ge=0,
        description="Event-time disorder tolerated between publishers before an event is late.",
    )
    retry_initial_s: float = Field(0.2, gt=0, description="First wait after a store failure.")
    retry_max_s: float = Field(10.0, gt=0, description="Maximum wait between retries.")
    processed_retention_days: int = Field(
        40,
        ge=1,
        description=(
            "Days of event time for which applied event ids are kept to detect duplicates; "
            "at least the longest feature window plus its delay."
        ),
    )
    stats_every_s: float = Field(10.0, gt=0, description="How often progress is logged.")


class LeaseHolder(Protocol):
    def acquire_lease(self) -> bool: ...

    def release_lease(self) -> None: ...

    def trim_processed(self, before_day: int) -> int: ...


@dataclass
class WorkerReport:
    """Counts over one run of the worker."""

    applied: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    batches: int = 0
    retries: int = 0
    recovered: int = 0
    claimed: int = 0

    def add(self, result: BatchResult) -> None:
        self.applied += result.applied
        self.duplicates += result.duplicates
        self.dead_letters += len(result.dead_letters)
        self.batches += 1


class _ReadAhead:
    """Reads of the stream, the next one started while the current batch is applied,
    so that the stream's round trip and the decoding overlap the stores' writes.

    Entries read ahead are pending for this consumer like any received entry: when
    the worker stops before applying them, it finds them again when it restarts.
    """

    def __init__(
        self, subscription: EventSubscription, count: int, block_ms: int, linger_ms: int
    ) -> None:
        self._subscription = subscription
        self._count = count
        self._block_ms = block_ms
        self._linger_s = linger_ms / 1000
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="stream-read")
        self._started: Future[list[Delivery]] | None = None

    def start(self) -> None:
        """Start the next read in the background, unless one is in flight."""
        if self._started is None:
            self._started = self._thread.submit(self._read)

    def receive(self) -> list[Delivery]:
        """Return the entries of the read started last, or read now when none was."""
        started, self._started = self._started, None
        if started is None:
            return self._read()
        return started.result()

    def _read(self) -> list[Delivery]:
        """Read up to ``count`` entries.

        After a short read, wait ``linger_ms`` and add what arrived meanwhile with a
        read that does not block."""
        deliveries = self._subscription.receive(self._count, self._block_ms)
        if not deliveries or len(deliveries) >= self._count or self._linger_s <= 0:
            return deliveries
        time.sleep(self._linger_s)
        try:
            more = self._subscription.receive(self._count - len(deliveries), 0)
        except Exception as error:  # The entries already read must still be applied.
            log.warning(
                "topping up a read of %d entries (from %s) failed: %r; applying those entries",
                len(deliveries),
                deliveries[0].delivery_id,
                error,
            )
            return deliveries
        return deliveries + more

    def close(self) -> int:
        """Wait for a read in flight; return how many entries it left pending."""
        started, self._started = self._started, None
        self._thread.shutdown(wait=True)
        if started is None:
            return 0
        try:
            return len(started.result())
        except Exception as error:
            log.warning("the last read of the stream failed while stopping: %r", error)
            return 0


class StreamWorker:
    """Feeds the consumer group's entries through a BatchProcessor."""

    def __init__(
        self,
        subscription: EventSubscription,
        processor: BatchProcessor,
        lease: LeaseHolder,
        settings: WorkerSettings,
    ) -> None:
        self._subscription = subscription
        self._processor = processor
        self._lease = lease
        self._settings = settings
        self._buffer = EventTimeBuffer(settings.allowed_lateness_ms * 1_000_000)
        self._last_commit = time.monotonic()
        # True once the lease is lost or the state cannot roll back, so no commit may follow.
        self._cannot_commit = False
        self.report = WorkerReport()

    def run(self, stop: threading.Event) -> WorkerReport:
        """Process entries until ``stop`` is set; return what was done.

        Entries received but not yet applied when it stops stay pending in the group
        and are delivered again to this consumer when it restarts.
        """
        settings = self._settings
        consumer = self._subscription.consumer
        log.info("worker %s starting", consumer)
        if not self._wait_for_lease(stop):
            log.info("worker %s stopped before it got the write lease", consumer)
            return self.report
        self._recover(stop)
        next_claim = time.monotonic()
        next_stats = time.monotonic() + settings.stats_every_s
        stats_applied = 0
        reader = _ReadAhead(
            self._subscription, settings.batch_size, settings.block_ms, settings.linger_ms
        )
        while not stop.is_set():
            deliveries: list[Delivery] = []
            try:
                if time.monotonic() >= next_claim:
                    claimed = self._subscription.claim_stale(
                        settings.claim_idle_ms, settings.batch_size
                    )
                    if claimed:
                        log.info("worker %s claimed %d stale entries", consumer, len(claimed))
                        self.report.claimed += len(claimed)
                    deliveries.extend(claimed)
                    next_claim = time.monotonic() + settings.claim_every_s
                received = reader.receive()
                deliveries.extend(received)
                if not deliveries and not self._lease.acquire_lease():
                    log.error("worker %s lost the write lease while idle; stopping", consumer)
                    break
            except Exception as error:  # a store is down; wait and read again
                self._pause_after(error, "reading the stream", stop)
                continue
            self._buffer.add(deliveries)
            ready = self._buffer.release(flush=not deliveries)
            if received:
                reader.start()
            commit = self._commit_due(backlog=len(received) >= settings.batch_size)
            if (ready or (commit and self._processor.uncommitted)) and not self._process(
                ready, stop, commit
            ):
                break
            if time.monotonic() >= next_stats:
                self._log_progress(stats_applied)
                stats_applied = self.report.applied
                next_stats = time.monotonic() + settings.stats_every_s
        pending = len(self._buffer) + reader.close()
        if self._processor.uncommitted and not self._cannot_commit:
            self._process([], stop, commit=True)
        self._processor.close()
        self._lease.release_lease()
        log.info(
            "worker %s stopped: %d applied, %d duplicates, %d dead-lettered, %d batches, "
            "%d retries, %d read entries left pending",
            consumer,
            self.report.applied,
            self.report.duplicates,
            self.report.dead_letters,
            self.report.batches,
            self.report.retries,
            pending,
        )
        return self.report

    def _wait_for_lease(self, stop: threading.Event) -> bool:
        waited = False
        while not stop.is_set():
            try:
                if self._lease.acquire_lease():
                    return True
                if not waited:
                    log.warning(
                        "worker %s is waiting: another worker has the write lease",
                        self._subscription.consumer,
                    )
                    waited = True
                stop.wait(1.0)
            except Exception as error:
                self._pause_after(error, "taking the write lease", stop)
        return False

    def _recover(self, stop: threading.Event) -> None:
        """Finish what this consumer received before a restart, oldest first."""
        while not stop.is_set():
            try:
                pending = self._subscription.pending(self._settings.batch_size)
            except Exception as error:
                self._pause_after(error, "reading pending entries", stop)
                continue
            before = len(self._buffer)
            self._buffer.add(pending)
            fresh = len(self._buffer) - before
            if fresh:
                self.report.recovered += fresh
                log.info(
                    "worker %s recovered %d pending entries from %s on",
                    self._subscription.consumer,
                    fresh,
                    pending[0].delivery_id,
                )
            ready = self._buffer.release(flush=True)
            if ready and not self._process(ready, stop):
                return
            if not fresh:
                return

    def _commit_due(self, backlog: bool) -> bool:
        """Return whether the next batch ends with a commit. It does when the stream
        has no backlog, and otherwise once ``commit_interval_ms`` has passed."""
        interval_s = self._settings.commit_interval_ms / 1000
        return not backlog or time.monotonic() - self._last_commit >= interval_s

    def _process(
        self, deliveries: Sequence[Delivery], stop: threading.Event, commit: bool = True
    ) -> bool:
        """Apply the deliveries, retrying store failures until it works or ``stop``.

        Returns False when the worker must stop (stopped while retrying, or lost its lease).
        """
        while True:
            try:
                result = self._processor.process(deliveries, commit)
                if commit:
                    self._last_commit = time.monotonic()
                for delivery, reason in result.dead_letters:
                    log.warning(
                        "dead-lettered entry %s (event %s): %s",
                        delivery.delivery_id,
                        delivery.event_id,
                        reason,
                    )
                    self._subscription.dead_letter(delivery, reason)
                self._subscription.acknowledge(result.acknowledge)
                self.report.add(result)
                self._trim(result)
                return True
            except (LeaseLost, RollbackUnsupported) as error:
                log.error("worker %s stops: %s", self._subscription.consumer, error)
                self._cannot_commit = True
                return False
            except Exception as error:
                log.warning(
                    "batch of %d entries (%s to %s) failed",
                    len(deliveries),
                    deliveries[0].delivery_id,
                    deliveries[-1].delivery_id,
                )
                try:
                    self._processor.reset()
                except Exception as reset_error:
                    log.error("worker %s stops: %s", self._subscription.consumer, reset_error)
                    return False
                if not self._pause_after(error, "applying a batch", stop):
                    return False

    def _pause_after(self, error: Exception, doing: str, stop: threading.Event) -> bool:
        """Log a failure and wait with exponential backoff; False when stopped meanwhile."""
        self.report.retries += 1
        attempt = min(self.report.retries, 32)
        delay = min(self._settings.retry_max_s, self._settings.retry_initial_s * 2 ** (attempt - 1))
        log.warning(
            "worker %s: %s failed (%s: %s); retrying in %.1f s",
            self._subscription.consumer,
            doing,
            type(error).__name__,
            error,
            delay,
        )
        return not stop.wait(delay)

    def _trim(self, result: BatchResult) -> None:
        if result.applied_up_to is None or self.report.batches % 1000:
            return
        day = result.applied_up_to // NANOS_PER_DAY - self._settings.processed_retention_days
        removed = self._lease.trim_processed(day)
        if removed:
            log.info("trimmed processed-id sets of %d days before day %d", removed, day)

    def _log_progress(self, applied_before: int) -> None:
        try:
            lag = self._subscription.lag()
        except Exception as error:
            lag = -1
            log.warning("reading the group's lag failed: %r", error)
        floor = self._processor.applied_up_to
        log.info(
            "worker %s: %d events applied (%d since last report), %d duplicates, "
            "%d dead-lettered, lag %d, applied up to %s s",
            self._subscription.consumer,
            self.report.applied,
            self.report.applied - applied_before,
            self.report.duplicates,
            self.report.dead_letters,
            lag,
            None if floor is None else floor // NANOS_PER_SECOND,
        )
