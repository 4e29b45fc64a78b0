"""Forward journal records to a sink, in order, until each one is accepted.

A forwarder is a thread that reads a batch after its cursor, hands it to a sink and
moves the cursor only when the sink returned. After a batch smaller than the largest
it may send, it lingers a few milliseconds so that records appended meanwhile travel
together: each batch costs a file read, a cursor write and the sink's own round trip
(a database commit), which one-record batches would pay once per decision. When the sink fails (its server is
down), the batch stays in the journal and the forwarder retries with exponential
backoff; the journal on disk is the buffer, so nothing is lost and nothing waits in
memory. Sinks must be idempotent, because a batch may be delivered again after a
crash or a failure in the middle of a batch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Protocol

from twinbank.core.event_stream import EventPublisher
from twinbank.core.ports import DecisionLog

from .records import decode_record, decode_transaction
from .segments import Position

log = logging.getLogger(__name__)


class CursorJournal(Protocol):
    """A journal read through named cursors: ``DurableJournal`` in the writing process,
    ``JournalFollower`` in another."""

    def read(self, cursor: str, max_records: int) -> tuple[list[bytes], Position]: ...

    def commit(self, cursor: str, position: Position, records: int) -> None: ...

    def backlog(self, cursor: str) -> int: ...

    def wait_for_records(self, cursor: str, timeout: float) -> bool: ...


@dataclass(frozen=True)
class ForwarderStatus:
    """A forwarder's health: whether its last attempt succeeded, and its backlog."""

    name: str
    healthy: bool
    backlog: int
    forwarded: int
    failures: int
    last_error: str | None


class JournalForwarder:
    """One thread forwarding one cursor of the journal to one sink."""

    def __init__(
        self,
        journal: CursorJournal,
        cursor: str,
        sink: Callable[[Sequence[bytes]], None],
        batch_size: int = 2_000,
        retry_initial_s: float = 0.1,
        retry_max_s: float = 5.0,
        idle_wait_s: float = 0.05,
        linger_s: float = 0.01,
        stalled_after_s: float = 10.0,
    ) -> None:
        self._journal = journal
        self._cursor = cursor
        self._sink = sink
        self._batch_size = batch_size
        self._retry_initial = retry_initial_s
        self._retry_max = retry_max_s
        self._idle_wait = idle_wait_s
        self._linger = linger_s
        self._stalled_after = stalled_after_s
        self._sink_started: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._healthy = True
        self._failures = 0
        self._forwarded = 0
        self._last_error: str | None = None

    @property
    def name(self) -> str:
        return self._cursor

    def status(self) -> ForwarderStatus:
        """Return the forwarder's health. A sink call that has run for more than
        ``stalled_after_s`` (a server that accepts connections but never responds)
        counts as a failure until it returns."""
        healthy, last_error = self._healthy, self._last_error
        started = self._sink_started
        if started is not None:
            running = time.monotonic() - started
            if running > self._stalled_after:
                healthy = False
                last_error = f"the sink has not answered for {running:.0f} s"
        return ForwarderStatus(
            self._cursor,
            healthy,
            self._journal.backlog(self._cursor),
            self._forwarded,
            self._failures,
            last_error,
        )

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"journal-{self._cursor}", daemon=True
        )
        self._thread.start()
        log.info(
            "forwarder %s started with %s records to forward", self._cursor, self._safe_backlog()
        )

    def stop(self, drain_timeout_s: float = 5.0) -> None:
        """Forward what the sink accepts within ``drain_timeout_s``, then stop."""
        deadline = time.monotonic() + drain_timeout_s
        while self._healthy and self._safe_backlog() and time.monotonic() < deadline:
            time.sleep(0.01)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=drain_timeout_s + 1)
        log.info(
            "forwarder %s stopped: %d forwarded, %s left in the journal",
            self._cursor,
            self._forwarded,
            self._safe_backlog(),
        )

    def _safe_backlog(self) -> int | str:
        """Return the backlog for a log line, or "an unknown number of" when the journal
        cannot be read (a corrupt segment)."""
        try:
            return self._journal.backlog(self._cursor)
        except Exception:  # the failure itself is logged by the caller's path
            return "an unknown number of"

    def forward_once(self) -> int:
        """Forward one batch; return its size. Raises what the sink raises."""
        records, position = self._journal.read(self._cursor, self._batch_size)
        if not records:
            return 0
        self._sink_started = time.monotonic()
        try:
            self._sink(records)
        finally:
            self._sink_started = None
        self._journal.commit(self._cursor, position, len(records))
        self._forwarded += len(records)
        return len(records)

    def _run(self) -> None:
        delay = self._retry_initial
        while not self._stop.is_set():
            try:
                forwarded = self.forward_once()
                if forwarded == 0:
                    self._journal.wait_for_records(self._cursor, self._idle_wait)
                    continue
            except Exception as error:
                self._failures += 1
                self._last_error = f"{type(error).__name__}: {error}"
                if self._healthy or self._failures % 50 == 0:
                    log.warning(
                        "forwarder %s failed (%s); %s records wait in the journal; "
                        "retrying every %.1f s at most",
                        self._cursor,
                        self._last_error,
                        self._safe_backlog(),
                        self._retry_max,
                    )
                self._healthy = False
                self._stop.wait(delay)
                delay = min(self._retry_max, delay * 2)
                continue
            if not self._healthy:
                log.info("forwarder %s recovered after %d failures", self._cursor, self._failures)
            self._healthy = True
            delay = self._retry_initial
            # Lingering comes after the health update, so that stop() and status() see a
            # forwarder that has just recovered as healthy while it waits.
            if forwarded < self._batch_size and self._linger > 0:
                self._stop.wait(self._linger)


class DecisionLogSink:
    """Writes journaled decision records to a DecisionLog built on demand.

    After a failure the log is dropped and rebuilt for the next attempt, so a
    connection broken by a database outage is never reused. The log must skip a
    decision id it already holds (``SqlDecisionLog`` does), because a batch can be
    written again.
    """

    def __init__(self, build_log: Callable[[], DecisionLog]) -> None:
        self._build_log = build_log
        self._log: DecisionLog | None = None

    def __call__(self, payloads: Sequence[bytes]) -> None:
        records = [decode_record(payload) for payload in payloads]
        try:
            if self._log is None:
                self._log = self._build_log()
            for record in records:
                self._log.append(record)
            self._log.flush()
        except Exception:
            self._discard()
            raise

    def _discard(self) -> None:
        stale, self._log = self._log, None
        if stale is not None:
            close = getattr(stale, "close", None)
            if close is not None:
                with suppress(Exception):
                    close()


class TransactionEventSink:
    """Publishes the transaction of each journaled decision to the event stream."""

    def __init__(self, publisher: EventPublisher) -> None:
        self._publisher = publisher

    def __call__(self, payloads: Sequence[bytes]) -> None:
        # Only the transaction is published, so only it is decoded and validated.
        self._publisher.publish([decode_transaction(payload) for payload in payloads])
