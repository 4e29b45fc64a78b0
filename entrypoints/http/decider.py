"""The decision path of the HTTP service: features from stored state, batched scoring.

1. ``ServingFeatures`` reads the window state of the transactions' entity keys in one
   round trip and previews each transaction's features over it: the values the stream
   worker computes when it later applies the same transaction. When the state store
   fails or exceeds its budget, the window features are null and the decision is
   flagged degraded. After a failure the service skips the store for a short while,
   so that an outage costs one timeout, not one per request.
2. ``DecisionBatcher`` collects concurrent requests (every request that arrived
   while the previous batch ran), reads their state in one round trip, scores them in
   one model call, appends the records to the journal and, with ``sync``, waits for
   them to be on disk before answering.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

from opentelemetry import trace

from twinbank.adapters.journal.records import decode_record, encode_record
from twinbank.core.decisioning import Assessment, DecisionService
from twinbank.core.decisions import DecisionRecord
from twinbank.core.ensemble import EnsembleDecisionService
from twinbank.core.features.definitions import FeatureSet, Ratio
from twinbank.core.features.streaming import (
    EntityHistory,
    OutOfOrderTransaction,
    StreamingFeatureEngine,
)
from twinbank.core.features.vector import FeatureVector
from twinbank.core.ports import EntityKey, FeatureStateStore, Stopwatch
from twinbank.core.transactions import Transaction

from .metrics import ServiceMetrics

log = logging.getLogger(__name__)

EntityRef = tuple[str, EntityKey]
DECISION_STAGES = ("feature_lookup", "features", "scoring", "policy", "journal")
FEATURE_STATE = "feature_state"
FEATURE_ORDER = "feature_state_order"
# Weight of the newest sync in the batcher's moving average of sync times.
SYNC_AVERAGE_WEIGHT = 0.2
# After this many thread syncs in a row, one batch syncs inline and its time replaces the
# average, because a thread's own timing includes its wait for the GIL and reads too high.
INLINE_PROBE_AFTER = 20


class StateReader(Protocol):
    """Source of window state for the decision service, which never writes it."""

    def histories(self, refs: Sequence[EntityRef]) -> dict[EntityRef, EntityHistory]: ...

    def ping(self) -> bool: ...


class MemoryStateReader:
    """Reads the in-memory state of a worker running in the same process.

    Histories are copied under ``lock``, which the embedded worker takes while it
    applies a batch, so a preview never sees a half-applied event.
    """

    def __init__(self, store: FeatureStateStore, lock: threading.Lock) -> None:
        self._store = store
        self._lock = lock

    def histories(self, refs: Sequence[EntityRef]) -> dict[EntityRef, EntityHistory]:
        found = {}
        with self._lock:
            for entity, key in refs:
                history = self._store.load_history(entity, key)
                if history is not None:
                    found[(entity, key)] = copy.deepcopy(history)
        return found

    def ping(self) -> bool:
        return True


class _RequestState:
    """A read-only FeatureStateStore over the histories of the request being decided."""

    def __init__(self) -> None:
        self._current: ContextVar[dict[EntityRef, EntityHistory]] = ContextVar("histories")

    @contextmanager
    def using(self, histories: dict[EntityRef, EntityHistory]) -> Iterator[None]:
        token = self._current.set(histories)
        try:
            yield
        finally:
            self._current.reset(token)

    def load_history(self, entity: str, key: EntityKey) -> EntityHistory | None:
        return self._current.get().get((entity, key))

    def save_history(self, entity: str, key: EntityKey, history: EntityHistory) -> None:
        raise RuntimeError("the decision service previews features and never saves state")

    def remember_transaction(
        self, transaction_id: int, timestamp_ns: int, keys: tuple[EntityKey, ...]
    ) -> None:
        raise RuntimeError("the decision service previews features and never saves state")

    def recall_transaction(self, transaction_id: int) -> tuple[int, tuple[EntityKey, ...]] | None:
        raise RuntimeError("the decision service previews features and never saves state")

    def forget_transactions_before(self, timestamp_ns: int) -> int:
        raise RuntimeError("the decision service previews features and never saves state")


@dataclass(frozen=True, slots=True)
class FeatureLookup:
    vector: FeatureVector
    degraded: tuple[str, ...]
    lookup_ns: int
    compute_ns: int


class ServingFeatures:
    """Features of a transaction as of its arrival, from the stored window state."""

    def __init__(
        self,
        feature_set: FeatureSet,
        reader: StateReader,
        stopwatch: Stopwatch,
        metrics: ServiceMetrics,
        retry_after_s: float,
    ) -> None:
        self._reader = reader
        self._stopwatch = stopwatch
        self._metrics = metrics
        self._retry_after_s = retry_after_s
        self._state = _RequestState()
        self._engine = StreamingFeatureEngine(feature_set, self._state)
        stateful = {d.entity for d in feature_set.definitions if d.entity is not None}
        self._refs = [
            (entity.name, entity.join_key)
            for entity in feature_set.entities
            if entity.name in stateful
        ]
        self._stateful_columns = [
            column
            for column, definition in enumerate(feature_set.definitions)
            if definition.entity is not None or isinstance(definition.computation, Ratio)
        ]
        self._skip_until = 0.0
        self._failures = 0

    @property
    def engine(self) -> StreamingFeatureEngine:
        """Return the engine that previews features; a DecisionService uses it too."""
        return self._engine

    @property
    def state_available(self) -> bool:
        """Whether the last read succeeded (or the pause after a failure is over)."""
        return time.monotonic() >= self._skip_until

    def lookup(self, transactions: Sequence[Transaction]) -> list[FeatureLookup]:
        """Return the features of each transaction, reading the state of all their
        entity keys in one round trip (the read's time is each lookup's ``lookup_ns``)."""
        stopwatch = self._stopwatch
        started = stopwatch.ticks_ns()
        refs = list(
            dict.fromkeys(
                (entity, getattr(transaction, join_key))
                for transaction in transactions
                for entity, join_key in self._refs
            )
        )
        histories = self._read(refs)
        fetched = stopwatch.ticks_ns()
        lookups = []
        for transaction in transactions:
            previewed = stopwatch.ticks_ns()
            vector, degraded = self._preview(transaction, histories)
            lookups.append(
                FeatureLookup(vector, degraded, fetched - started, stopwatch.ticks_ns() - previewed)
            )
        return lookups

    def _preview(
        self, transaction: Transaction, histories: dict[EntityRef, EntityHistory] | None
    ) -> tuple[FeatureVector, tuple[str, ...]]:
        degraded: tuple[str, ...] = () if histories is not None else (FEATURE_STATE,)
        try:
            with self._state.using(histories or {}):
                vector = self._engine.preview_transaction(transaction)
        except OutOfOrderTransaction:
            # An entity already has a later event: the client's timestamp is behind
            # the stream. Decide on request fields rather than on windows that
            # cannot describe this moment.
            degraded = (FEATURE_ORDER,)
            with self._state.using({}):
                vector = self._engine.preview_transaction(transaction)
        if degraded:
            vector = self._without_state(vector)
        return vector, degraded

    def _read(self, refs: list[EntityRef]) -> dict[EntityRef, EntityHistory] | None:
        if time.monotonic() < self._skip_until:
            return None
        try:
            histories = self._reader.histories(refs)
        except Exception as error:  # a store outage must not fail the decision
            self._failures += 1
            self._skip_until = time.monotonic() + self._retry_after_s
            self._metrics.store_errors.labels("feature_state", "read").inc()
            if self._failures == 1 or self._failures % 100 == 0:
                log.warning(
                    "feature state read failed (%s: %s; %d failures so far); deciding "
                    "without window features for %.1f s",
                    type(error).__name__,
                    error,
                    self._failures,
                    self._retry_after_s,
                )
            return None
        if self._failures:
            log.info("feature state readable again after %d failures", self._failures)
            self._failures = 0
        return histories

    def _without_state(self, vector: FeatureVector) -> FeatureVector:
        values = list(vector.values)
        for column in self._stateful_columns:
            values[column] = math.nan
        return FeatureVector(vector.names, tuple(values), vector.feature_set_version)


class TransactionConflict(ValueError):
    """A transaction id already decided with different content."""


@dataclass(frozen=True, slots=True)
class Batched:
    """The batcher's result for one request."""

    record: DecisionRecord
    lookup: FeatureLookup
    journal_ns: int


@dataclass(frozen=True, slots=True)
class Decided:
    """A decision and the serving-side timings that are not part of its record."""

    record: DecisionRecord
    lookup_ns: int
    journal_ns: int


_Pending = tuple[list[DecisionRecord], list[FeatureLookup], list["asyncio.Future[Batched]"], int]
"""A decided batch waiting for its sync: records, lookups, futures, decision tick."""


class DecisionBatcher:
    """Decides concurrent requests together: one state read, one model call, one sync."""

    def __init__(
        self,
        features: ServingFeatures,
        service: DecisionService | EnsembleDecisionService,
        sync: Callable[[], None] | None,
        max_batch: int,
        metrics: ServiceMetrics,
        stopwatch: Stopwatch,
        inline_sync_below_s: float = 0.0,
    ) -> None:
        self._features = features
        self._service = service
        self._sync = sync
        self._max_batch = max_batch
        self._metrics = metrics
        self._stopwatch = stopwatch
        self._inline_sync_below_s = inline_sync_below_s
        # Moving average of recent syncs. It starts at 0, so with a positive threshold
        # the first batch syncs inline and measures the disk.
        self._sync_seconds = 0.0
        self._thread_syncs_in_a_row = 0
        self._sync_timers = {
            path: metrics.journal_sync_seconds.labels(path) for path in ("inline", "thread")
        }
        self._queue: list[tuple[Transaction, asyncio.Future[Batched]]] = []
        self._scheduled = False
        self._syncing: set[asyncio.Task[None]] = set()
        self._after_thread_sync: list[_Pending] = []

    @property
    def sync_seconds(self) -> float:
        """Return the moving average of the journal's recent sync times, in seconds."""
        return self._sync_seconds

    async def decide(self, transaction: Transaction) -> Batched:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Batched] = loop.create_future()
        self._queue.append((transaction, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
        if self._queue:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        if not batch:
            return
        futures = [future for _, future in batch]
        try:
            lookups = self._features.lookup([transaction for transaction, _ in batch])
            records = self._service.decide_assessed(
                [
                    Assessment(
                        transaction,
                        lookup.vector,
                        lookup.lookup_ns + lookup.compute_ns,
                        lookup.degraded,
                    )
                    for (transaction, _), lookup in zip(batch, lookups, strict=True)
                ]
            )
        except Exception as error:
            for future in futures:
                if not future.done():
                    future.set_exception(error)
            return
        decided = self._stopwatch.ticks_ns()
        self._metrics.batch_size.observe(len(batch))
        if self._sync is None:
            self._resolve(records, lookups, futures, decided, None)
            return
        if self._use_inline_sync() or self._after_thread_sync:
            self._thread_syncs_in_a_row = 0
            if self._syncing:
                # An inline sync now would wait on the loop for the journal's sync lock,
                # which the thread's sync holds. The batch syncs when the running thread
                # syncs end, and no new one starts meanwhile, so that comes soon.
                self._after_thread_sync.append((records, lookups, futures, decided))
                return
            # A sync shorter than the GIL's switch interval (5 ms) costs less here than
            # in a thread. The thread must take the GIL back from this busy loop before
            # the batch is resolved, and may wait a whole switch interval for it.
            error = self._sync_error("inline", restart_average=self._average_over_threshold())
            self._resolve(records, lookups, futures, decided, error)
            return
        self._thread_syncs_in_a_row += 1
        task = asyncio.get_running_loop().create_task(
            self._sync_then_resolve(records, lookups, futures, decided)
        )
        self._syncing.add(task)  # a reference, so the task is not collected mid-flight
        task.add_done_callback(self._syncing.discard)

    def _use_inline_sync(self) -> bool:
        if self._inline_sync_below_s <= 0:
            return False
        return (
            not self._average_over_threshold() or self._thread_syncs_in_a_row >= INLINE_PROBE_AFTER
        )

    def _average_over_threshold(self) -> bool:
        """Return whether recent syncs averaged over the threshold (an inline sync probes)."""
        return self._sync_seconds >= self._inline_sync_below_s

    async def _sync_then_resolve(
        self,
        records: list[DecisionRecord],
        lookups: list[FeatureLookup],
        futures: list[asyncio.Future[Batched]],
        decided: int,
    ) -> None:
        loop = asyncio.get_running_loop()
        try:
            error = await loop.run_in_executor(None, self._sync_error, "thread")
            self._resolve(records, lookups, futures, decided, error)
        finally:
            # Removed here, not only by the done callback: a batch flushed between this
            # task's end and the callback would otherwise wait for a task that ended.
            self._syncing.discard(asyncio.current_task())  # type: ignore[arg-type]
        if self._after_thread_sync and not self._syncing:
            waiting, self._after_thread_sync = self._after_thread_sync, []
            error = self._sync_error("inline", restart_average=self._average_over_threshold())
            for batch in waiting:
                self._resolve(*batch, error)

    def _sync_error(self, path: str, restart_average: bool = False) -> Exception | None:
        """Sync the journal, time it under ``path``, and return the error it raised.

        With ``restart_average``, this sync's time replaces the moving average.
        """
        assert self._sync is not None
        started = time.perf_counter()
        try:
            self._sync()
        except Exception as error:
            return error
        finally:
            # A failed sync counts too, so a disk that fails slowly leaves the loop.
            elapsed = time.perf_counter() - started
            if restart_average:
                self._sync_seconds = elapsed
            else:
                self._sync_seconds += (elapsed - self._sync_seconds) * SYNC_AVERAGE_WEIGHT
            self._sync_timers[path].observe(elapsed)
        return None

    def _resolve(
        self,
        records: list[DecisionRecord],
        lookups: list[FeatureLookup],
        futures: list[asyncio.Future[Batched]],
        decided: int,
        sync_error: Exception | None,
    ) -> None:
        if sync_error is not None:
            log.error(
                "journal sync failed for %d decisions (transactions %s): %r",
                len(records),
                ", ".join(str(record.transaction.transaction_id) for record in records[:5]),
                sync_error,
            )
            for future in futures:
                if not future.done():
                    future.set_exception(sync_error)
            return
        journal_ns = self._stopwatch.ticks_ns() - decided
        for record, lookup, future in zip(records, lookups, futures, strict=True):
            if not future.done():
                future.set_result(Batched(record, lookup, journal_ns))


class DecisionPipeline:
    """Decisions per request: retries served from a cache, then batched lookup and scoring."""

    def __init__(
        self,
        features: ServingFeatures,
        batcher: DecisionBatcher,
        metrics: ServiceMetrics,
        tracer: trace.Tracer,
        stopwatch: Stopwatch,
        cache_size: int,
    ) -> None:
        self._features = features
        self._batcher = batcher
        self._metrics = metrics
        self._tracer = tracer
        self._stopwatch = stopwatch
        self._cache_size = cache_size
        # Recent decisions are kept as journal payloads in tuples of plain values, which
        # the garbage collector stops tracking. Kept as record objects, a full cache
        # made each full collection pause every request for 100 ms or more.
        self._recent: OrderedDict[int, tuple[bytes, int, int]] = OrderedDict()
        self._inflight: dict[int, asyncio.Future[Decided]] = {}
        self._stage_timers = [metrics.stage_seconds.labels(stage) for stage in DECISION_STAGES]

    @property
    def features(self) -> ServingFeatures:
        return self._features

    async def decide(self, transaction: Transaction) -> Decided:
        """Decide a transaction; a retry of a decided one gets the same response.

        Raises TransactionConflict when the id was decided with different content.
        """
        transaction_id = transaction.transaction_id
        earlier = self._remembered(transaction_id)
        if earlier is None and transaction_id in self._inflight:
            earlier = await asyncio.shield(self._inflight[transaction_id])
        if earlier is not None:
            if earlier.record.transaction != transaction:
                raise TransactionConflict(
                    f"transaction {transaction_id} was already decided with different "
                    "content; send a new transaction id"
                )
            return earlier
        future: asyncio.Future[Decided] = asyncio.get_running_loop().create_future()
        self._inflight[transaction_id] = future
        try:
            decided = await self._decide_new(transaction)
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved here, so an unawaited failure is not logged
            raise
        finally:
            del self._inflight[transaction_id]
        future.set_result(decided)
        if self._cache_size:
            self._recent[transaction_id] = (
                encode_record(decided.record),
                decided.lookup_ns,
                decided.journal_ns,
            )
            if len(self._recent) > self._cache_size:
                self._recent.popitem(last=False)
        return decided

    def _remembered(self, transaction_id: int) -> Decided | None:
        remembered = self._recent.get(transaction_id)
        if remembered is None:
            return None
        payload, lookup_ns, journal_ns = remembered
        return Decided(decode_record(payload), lookup_ns, journal_ns)

    async def _decide_new(self, transaction: Transaction) -> Decided:
        wall_started = time.time_ns()
        batched = await self._batcher.decide(transaction)
        record, lookup = batched.record, batched.lookup
        self._observe(record, lookup, batched.journal_ns, wall_started)
        return Decided(record, lookup.lookup_ns, batched.journal_ns)

    def _observe(
        self, record: DecisionRecord, lookup: FeatureLookup, journal_ns: int, wall_started: int
    ) -> None:
        metrics = self._metrics
        latency = record.latency
        stages = (
            ("feature_lookup", lookup.lookup_ns),
            ("features", lookup.compute_ns),
            ("scoring", latency.scoring_ns),
            ("policy", latency.policy_ns),
            ("journal", journal_ns),
        )
        for timer, (_, nanoseconds) in zip(self._stage_timers, stages, strict=True):
            timer.observe(nanoseconds / 1e9)
        metrics.decisions.labels(record.outcome.value).inc()
        for component in record.degraded:
            metrics.degraded.labels(component).inc()
        if isinstance(self._tracer, trace.NoOpTracer):
            return
        # Stage spans are laid end to end from the measured durations; scoring and
        # policy run inside one core call, which reports each stage's duration.
        span = self._tracer.start_span(
            "decision",
            start_time=wall_started,
            attributes={
                "twinbank.transaction_id": record.transaction.transaction_id,
                "twinbank.decision_id": record.decision_id,
                "twinbank.outcome": record.outcome.value,
                "twinbank.score": record.score,
                "twinbank.model_version": record.model_version,
                "twinbank.degraded": list(record.degraded),
            },
        )
        context = trace.set_span_in_context(span)
        moment = wall_started
        for stage, nanoseconds in stages:
            child = self._tracer.start_span(stage, context=context, start_time=moment)
            moment += nanoseconds
            child.end(end_time=moment)
        span.end(end_time=max(moment, time.time_ns()))


__all__ = [
    "FEATURE_ORDER",
    "FEATURE_STATE",
    "Decided",
    "DecisionBatcher",
    "DecisionPipeline",
    "FeatureLookup",
    "MemoryStateReader",
    "ServingFeatures",
    "StateReader",
    "TransactionConflict",
]
