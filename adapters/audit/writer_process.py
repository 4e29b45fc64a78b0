"""A decision log that writes in a child process.

Recording a decision (its table row, its audit entry, the chain hash and the inserts)
costs a replay more than deciding it. ``DecisionLogProcess`` moves that work to a
child process, on another core: the replay's thread only flattens each record into a
tuple of plain values and sends batches of them through a bounded queue.

The child builds its own log with a factory that must be picklable (the child is
spawned, not forked, so no database connection crosses a fork). Records reach the
child's log in append order. ``flush`` returns once the child's log has made every
record sent before it durable, and ``count`` counts after the child has appended them.
A failure in the child is raised by the next call as ``DecisionLogFailed``, and again
by every later call.
"""

from __future__ import annotations

import gc
import multiprocessing
import queue
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, NoReturn

from twinbank.core.decisions import DecisionRecord, Outcome, StageLatency
from twinbank.core.features.vector import FeatureVector
from twinbank.core.ports import DecisionLog
from twinbank.core.transactions import Transaction

_BATCH = "batch"
_FLUSH = "flush"
_COUNT = "count"
_CLOSE = "close"
_POLL_SECONDS = 0.5
_COLLECTOR_THRESHOLDS = (100_000, 50, 100)


class DecisionLogFailed(RuntimeError):
    """The child process could not write decisions, or stopped."""


FlatRecord = tuple[Any, ...]


def flatten(record: DecisionRecord) -> FlatRecord | DecisionRecord:
    """Return the record as a tuple of plain values, which pickles about ten times
    faster than the dataclasses. A record with an explanation is returned as it is."""
    if record.explanation is not None or type(record.transaction) is not Transaction:
        return record
    transaction = record.transaction
    features = record.features
    latency = record.latency
    return (
        record.decision_id,
        transaction.transaction_id,
        transaction.timestamp_ns,
        transaction.customer_id,
        transaction.terminal_id,
        transaction.amount,
        record.decided_at_ns,
        record.score,
        record.outcome.value,
        record.reasons,
        record.policy_version,
        record.model_version,
        features.names,
        features.values,
        features.feature_set_version,
        latency.features_ns,
        latency.scoring_ns,
        latency.policy_ns,
        record.degraded,
    )


def restore(flat: FlatRecord | DecisionRecord) -> DecisionRecord:
    """Return the record that ``flatten`` made ``flat`` from."""
    if isinstance(flat, DecisionRecord):
        return flat
    (
        decision_id,
        transaction_id,
        timestamp_ns,
        customer_id,
        terminal_id,
        amount,
        decided_at_ns,
        score,
        outcome,
        reasons,
        policy_version,
        model_version,
        names,
        values,
        feature_set_version,
        features_ns,
        scoring_ns,
        policy_ns,
        degraded,
    ) = flat
    return DecisionRecord(
        decision_id=decision_id,
        transaction=Transaction(transaction_id, timestamp_ns, customer_id, terminal_id, amount),
        decided_at_ns=decided_at_ns,
        score=score,
        outcome=Outcome(outcome),
        reasons=reasons,
        policy_version=policy_version,
        model_version=model_version,
        features=FeatureVector(names, values, feature_set_version),
        latency=StageLatency(features_ns, scoring_ns, policy_ns),
        degraded=degraded,
    )


class DecisionLogProcess:
    """The DecisionLog port, written by a log that ``build`` makes in a child process.

    Records are sent ``batch_size`` at a time. At most ``max_pending_batches`` wait in
    the queue, so a child slower than the replay slows the replay down instead of
    letting the queue grow without bound.
    """

    def __init__(
        self,
        build: Callable[[], DecisionLog],
        batch_size: int = 1_000,
        max_pending_batches: int = 32,
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self._requests = context.Queue(maxsize=max_pending_batches)
        self._replies, child_replies = context.Pipe(duplex=False)
        self._child = context.Process(
            target=_write_decisions,
            args=(build, self._requests, child_replies),
            name="twinbank-decision-writer",
            daemon=True,
        )
        self._child.start()
        child_replies.close()
        self._batch_size = batch_size
        self._pending: list[FlatRecord | DecisionRecord] = []
        self._failure: str | None = None
        self._closed = False

    @property
    def child_pid(self) -> int | None:
        return self._child.pid

    @property
    def child_exit_code(self) -> int | None:
        """The child's exit code once it has ended, else None."""
        return self._child.exitcode

    def append(self, record: DecisionRecord) -> None:
        if self._closed or self._failure is not None:
            self._check_open()
        self._pending.append(flatten(record))
        if len(self._pending) >= self._batch_size:
            self._send_pending()

    def flush(self) -> None:
        """Return once the child's log has made every appended record durable."""
        self._ask(_FLUSH)

    def count(self) -> int:
        return self._ask(_COUNT)

    def close(self) -> None:
        """Write what is pending, close the child's log and wait for the child to end.

        After a failure, which the calls before have raised, it only stops the child."""
        if self._closed:
            return
        try:
            if self._failure is None and self._child.is_alive():
                self._ask(_CLOSE)
        finally:
            self._closed = True
            self._child.join(timeout=30)
            if self._child.is_alive():
                self._child.kill()
            self._requests.close()
            self._replies.close()

    def _ask(self, kind: str) -> int:
        self._check_open()
        self._send_pending()
        self._put((kind, None))
        while not self._replies.poll(_POLL_SECONDS):
            if not self._child.is_alive() and not self._replies.poll():
                self._check_child()
        return int(self._receive())

    def _send_pending(self) -> None:
        self._check_open()
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        self._put((_BATCH, batch))

    def _put(self, request: tuple[str, object]) -> None:
        while True:
            self._check_child()
            try:
                self._requests.put(request, timeout=_POLL_SECONDS)
                return
            except queue.Full:
                continue

    def _check_open(self) -> None:
        if self._closed:
            raise DecisionLogFailed("the decision log is closed")
        if self._failure is not None:
            self._raise_failure()

    def _check_child(self) -> None:
        """Raise when the child reported a failure or stopped. Call it only while no
        reply to a request is pending, because it reads the reply pipe."""
        if self._replies.poll():
            self._receive()
        if not self._child.is_alive():
            self._stopped()

    def _receive(self) -> Any:
        """Return the child's next reply, or raise the failure that it reports."""
        try:
            failed, value = self._replies.recv()
        except EOFError:  # the child ended without replying: killed, or out of memory
            self._child.join(timeout=5)
            self._stopped()
        if failed:
            self._failure = value
            self._raise_failure()
        return value

    def _stopped(self) -> NoReturn:
        self._failure = self._failure or (
            f"the decision writer process stopped with exit code {self._child.exitcode}"
        )
        self._raise_failure()

    def _raise_failure(self) -> NoReturn:
        raise DecisionLogFailed(f"decisions were not written: {self._failure}")


def _write_decisions(build: Callable[[], DecisionLog], requests: Any, replies: Connection) -> None:
    """Run the child: append batches and reply to flush, count and close requests.
    At the first failure, report it and stop, so that later batches are not written."""
    # A pending write batch contains tens of thousands of audit bodies (nested dicts),
    # and the default thresholds (700, 10, 10) made the collector walk them again and
    # again. With the collector off here, a full replay took 118 s instead of 137 s.
    gc.set_threshold(*_COLLECTOR_THRESHOLDS)
    try:
        log = build()
        while True:
            kind, batch = requests.get()
            if kind == _BATCH:
                for flat in batch:
                    log.append(restore(flat))
                continue
            if kind == _COUNT:
                replies.send((False, log.count()))
                continue
            log.flush()
            if kind == _CLOSE:
                count = log.count()
                close = getattr(log, "close", None)
                if close is not None:
                    close()
                replies.send((False, count))
                return
            replies.send((False, 0))
    except BaseException as error:  # reported to the parent, which raises it
        text = "".join(traceback.format_exception_only(type(error), error)).strip()
        replies.send((True, text))
