"""Apply batches of stream deliveries to the feature state, exactly once in effect.

For each batch, in order, the processor skips events already applied (recorded by a
commit, or applied since the last one) and sets aside (dead-letters) events that
cannot be applied. It applies the rest to the streaming engine over the worker's
state store and starts appending the resulting feature values to the offline
history, in a thread, while the next batch is applied. Each key's latest values wait
for the commit.

A batch may end with a commit. The commit sends the latest values of every key
changed since the last commit to the online store, in a thread, and encodes the
changed histories meanwhile. Once every write is done, it records the state changes
and event ids of every batch since the last commit in one atomic step of the state
store. Only then are their deliveries acknowledged.

This order survives a crash at any point. Until a commit, the stored state and the
processed ids are unchanged and nothing since the last commit is acknowledged. So
every event since then is delivered again and applied to the same state, which gives
the same values: they overwrite (online) or are skipped by their key (history).
After the commit, the ids are recorded, so redelivered events are acknowledged
without a second effect. A store failure in process is handled the same way:
``reset`` drops the uncommitted state, and the next ``process`` applies the
uncommitted deliveries again before its own.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from twinbank.core.event_stream import Delivery, event_day_of, event_time_of
from twinbank.core.features.definitions import FeatureSet
from twinbank.core.features.online import FeatureWrite, HistoryRow
from twinbank.core.features.streaming import OutOfOrderTransaction, StreamingFeatureEngine
from twinbank.core.ports import EntityKey, FeatureHistory, FeatureStateStore, OnlineFeatureStore
from twinbank.core.transactions import FraudLabel, Transaction

from .materialize import FeatureMaterializer

log = logging.getLogger(__name__)


class WorkerState(FeatureStateStore, Protocol):
    """The worker's view of the feature state: the engine's store plus batch commits."""

    def prefetch(
        self, refs: Iterable[tuple[str, EntityKey]], transaction_ids: Iterable[int]
    ) -> None: ...

    def processed(self, event_ids_by_day: dict[int, Sequence[str]]) -> set[str]: ...

    def commit(
        self, event_ids_by_day: dict[int, Sequence[str]], applied_up_to: int | None
    ) -> None: ...

    def rollback(self) -> None: ...

    def applied_up_to(self) -> int | None: ...


@dataclass
class BatchResult:
    """The outcome of one call of ``process``.

    ``acknowledge`` lists the delivery ids to acknowledge now. ``applied`` counts the
    events committed by this call, which may include events of earlier calls.
    """

    applied: int = 0
    duplicates: int = 0
    acknowledge: list[str] = field(default_factory=list)
    dead_letters: list[tuple[Delivery, str]] = field(default_factory=list)
    applied_up_to: int | None = None


class _EventFailed(Exception):
    """An event raised while the engine applied it; the batch must be rolled back."""

    def __init__(self, index: int, error: Exception) -> None:
        super().__init__(f"event {index} of the batch failed: {error}")
        self.index = index
        self.error = error


class BatchProcessor:
    """Applies deliveries to the state through a streaming engine it owns."""

    def __init__(
        self,
        feature_set: FeatureSet,
        state: WorkerState,
        online_store: OnlineFeatureStore,
        history: FeatureHistory | None,
        apply_lock: threading.Lock | None = None,
    ) -> None:
        """``apply_lock``, when given, is held while the engine changes the state, so
        that readers in the same process (the embedded decision service) never see
        half an event."""
        self._apply_lock: contextlib.AbstractContextManager[object] = (
            apply_lock if apply_lock is not None else contextlib.nullcontext()
        )
        self._feature_set = feature_set
        self._state = state
        self._online = online_store
        self._history = history
        self._materializer = FeatureMaterializer(feature_set)
        self._join_keys = [
            (entity.name, entity.join_key)
            for entity in feature_set.entities
            if any(d.entity == entity.name for d in feature_set.definitions)
        ]
        self._engine = StreamingFeatureEngine(feature_set, state)
        self._floor: int | None = None
        self._floor_known = False
        self._store_threads = ThreadPoolExecutor(2, thread_name_prefix="store-write")
        self._writes: list[Future[None]] = []
        # Each key's latest online write since the last commit.
        self._online_writes: dict[tuple[str, EntityKey], FeatureWrite] = {}
        # Deliveries applied since the last commit, in order, and their event ids.
        self._uncommitted: list[Delivery] = []
        self._uncommitted_ids: set[str] = set()
        # Delivery ids of duplicates of uncommitted events, acknowledged at the next commit.
        self._deferred_acks: list[str] = []
        # Uncommitted deliveries that a reset dropped from the state, applied again first.
        self._replay: list[Delivery] = []
        # The index in _uncommitted where the current call's deliveries start.
        self._call_start = 0

    @property
    def applied_up_to(self) -> int | None:
        """Return the latest event time applied that this processor has seen."""
        return self._floor

    @property
    def uncommitted(self) -> int:
        """Return how many applied events wait for a commit."""
        return len(self._uncommitted) + len(self._replay)

    def reset(self) -> None:
        """Drop the uncommitted changes after a failed ``process``.

        The next ``process`` applies the uncommitted deliveries of earlier calls again
        on the committed state, before its own, which repeat the failed call's."""
        self._replay = [*self._replay, *self._uncommitted[: self._call_start]]
        self._rollback()

    def close(self) -> None:
        """Wait for the writes in flight and stop the write threads."""
        self._settle_writes()
        self._store_threads.shutdown(wait=True)

    def process(self, deliveries: Sequence[Delivery], commit: bool = True) -> BatchResult:
        """Apply a batch, and commit every batch since the last commit when ``commit``.

        Raises when a store fails, after which call ``reset`` and retry the same
        deliveries.
        """
        if not self._floor_known:
            self._floor = self._state.applied_up_to()
            self._floor_known = True
        result = BatchResult()
        self._call_start = len(self._uncommitted)
        candidates = self._candidates([*self._replay, *deliveries], result)
        try:
            self._apply_batch(candidates, result)
        except _EventFailed as failure:
            # Roll back and apply the earlier uncommitted events and those before the
            # failing one again. Then set it aside and apply the rest, so one bad
            # event cannot block the stream.
            earlier = self._uncommitted
            self._replay = []
            self._rollback()
            delivery = candidates[failure.index]
            log.error(
                "event %s (delivery %s) failed and is dead-lettered: %r",
                delivery.event_id,
                delivery.delivery_id,
                failure.error,
            )
            before = self.process([*earlier, *candidates[: failure.index]], commit=False)
            after = self.process(candidates[failure.index + 1 :], commit=commit)
            merged = _merge(result, before, after)
            merged.dead_letters.append((delivery, f"failed to apply: {failure.error!r}"))
            return merged
        result.applied_up_to = self._floor
        if commit:
            self._commit(result)
        self._replay = []
        return result

    def _rollback(self) -> None:
        self._settle_writes()
        self._state.rollback()
        self._engine = StreamingFeatureEngine(self._feature_set, self._state)
        self._floor_known = False
        self._uncommitted = []
        self._uncommitted_ids = set()
        self._online_writes = {}

    def _candidates(self, deliveries: Sequence[Delivery], result: BatchResult) -> list[Delivery]:
        """Return the deliveries to apply, and record duplicates and malformed ones.

        A duplicate of an uncommitted event is acknowledged only at the commit,
        because it may be the same stream entry as the event's own delivery.
        """
        unique: list[Delivery] = []
        seen: set[str] = set()
        uncommitted = self._uncommitted_ids
        for delivery in deliveries:
            event_id = delivery.event_id
            if event_id is None:
                result.dead_letters.append((delivery, delivery.problem or "malformed entry"))
            elif event_id in seen or event_id in uncommitted:
                result.duplicates += 1
                self._deferred_acks.append(delivery.delivery_id)
            else:
                seen.add(event_id)
                unique.append(delivery)
        done = self._state.processed(_ids_by_day(unique))
        candidates = []
        for delivery in unique:
            if delivery.event_id in done:
                result.duplicates += 1
                result.acknowledge.append(delivery.delivery_id)
            else:
                candidates.append(delivery)
        return candidates

    def _apply_batch(self, candidates: list[Delivery], result: BatchResult) -> None:
        if not candidates:
            return
        refs = [
            (entity, getattr(delivery.event, join_key))
            for delivery in candidates
            if isinstance(delivery.event, Transaction)
            for entity, join_key in self._join_keys
        ]
        labels = [
            delivery.event.transaction_id
            for delivery in candidates
            if isinstance(delivery.event, FraudLabel)
        ]
        self._state.prefetch(refs, labels)
        writes: list[FeatureWrite] = []
        rows: list[HistoryRow] = []
        applied: list[Delivery] = []
        with self._apply_lock:
            floor = self._apply(candidates, result, writes, rows, applied, self._floor)
        self._floor = floor
        self._uncommitted.extend(applied)
        self._uncommitted_ids.update(delivery.event_id for delivery in applied)  # type: ignore[misc]
        self._start_writes(writes, rows)

    def _commit(self, result: BatchResult) -> None:
        """Commit the state of every batch since the last commit, once their writes
        are done, and acknowledge their deliveries."""
        if self._online_writes:
            latest, self._online_writes = list(self._online_writes.values()), {}
            self._writes.append(self._store_threads.submit(self._online.write, latest))
        encode_changes = getattr(self._state, "encode_changes", None)
        if encode_changes is not None and self._uncommitted:
            encode_changes()  # The writes are still in flight meanwhile.
        self._finish_writes()
        if self._uncommitted:
            self._state.commit(_ids_by_day(self._uncommitted), self._floor)
        result.applied += len(self._uncommitted)
        result.acknowledge.extend(delivery.delivery_id for delivery in self._uncommitted)
        result.acknowledge.extend(self._deferred_acks)
        result.applied_up_to = self._floor
        self._uncommitted = []
        self._uncommitted_ids = set()
        self._deferred_acks = []

    def _start_writes(self, writes: list[FeatureWrite], rows: list[HistoryRow]) -> None:
        """Keep each key's latest online write for the commit, and start appending the
        batch's history rows once the previous append has finished.

        A history that must stay in this thread is written before this method returns.
        Of two writes to one key, the one with the later event time is kept, and the
        newer one at equal times, which is the value the online store would keep.
        One feature set materializes every write, so a key's writes name the same
        features.
        """
        self._finish_writes()
        latest_writes = self._online_writes
        for write in writes:
            key = (write.entity, write.key)
            previous = latest_writes.get(key)
            if previous is None or previous.event_time_ns <= write.event_time_ns:
                latest_writes[key] = write
        history = self._history
        if history is not None and rows:
            if getattr(history, "appends_from_any_thread", False):
                self._writes = [self._store_threads.submit(history.append, rows)]
            else:
                history.append(rows)

    def _finish_writes(self) -> None:
        """Wait for the writes in flight, and raise the first failure among them."""
        writes, self._writes = self._writes, []
        failure: BaseException | None = None
        for write in writes:
            try:
                write.result()
            except BaseException as error:
                failure = failure or error
        if failure is not None:
            raise failure

    def _settle_writes(self) -> None:
        """Wait for the writes in flight and ignore their failures, because the
        replayed deliveries write the same values again."""
        with contextlib.suppress(Exception):
            self._finish_writes()

    def _apply(
        self,
        candidates: list[Delivery],
        result: BatchResult,
        writes: list[FeatureWrite],
        rows: list[HistoryRow],
        applied: list[Delivery],
        floor: int | None,
    ) -> int | None:
        """Apply the candidates in order; return the latest event time applied."""
        for index, delivery in enumerate(candidates):
            event = delivery.event
            assert event is not None  # malformed deliveries were set aside
            reason = self._rejection(event, floor)
            if reason is not None:
                result.dead_letters.append((delivery, reason))
                continue
            try:
                if isinstance(event, FraudLabel):
                    self._engine.observe_label(event)
                else:
                    vector = self._engine.observe_transaction(event)
                    event_writes = self._materializer.writes_for(event, vector)
                    writes.extend(event_writes)
                    if self._history is not None:
                        rows.extend(
                            self._materializer.history_rows(delivery.event_id, event_writes)  # type: ignore[arg-type]
                        )
            except OutOfOrderTransaction as error:
                result.dead_letters.append((delivery, f"late: {error}"))
                continue
            except Exception as error:
                raise _EventFailed(index, error) from error
            moment = event_time_of(event)
            floor = moment if floor is None else max(floor, moment)
            applied.append(delivery)
        return floor

    def _rejection(self, event: Transaction | FraudLabel, floor: int | None) -> str | None:
        """Return why an event cannot be applied, or None when it can.

        The floor is committed with the state it describes, so no stored event is
        later than the floor. An event at or after the floor is therefore not earlier
        than any history's last event. Only without a floor are the histories compared.
        """
        moment = event_time_of(event)
        if floor is not None and moment < floor:
            return f"late: event time {moment} ns is before {floor} ns, already applied"
        if isinstance(event, Transaction):
            if not math.isfinite(event.amount):
                return f"invalid: amount {event.amount!r} is not a finite number"
            if floor is not None:
                return None
            for entity, join_key in self._join_keys:
                history = self._state.load_history(entity, getattr(event, join_key))
                if history is not None and history.times and history.times[-1] > moment:
                    return (
                        f"late: {entity} {getattr(event, join_key)!r} already has an event at "
                        f"{history.times[-1]} ns, after {moment} ns"
                    )
        return None


def _ids_by_day(deliveries: Iterable[Delivery]) -> dict[int, list[str]]:
    by_day: dict[int, list[str]] = {}
    for delivery in deliveries:
        event = delivery.event
        assert event is not None
        by_day.setdefault(event_day_of(event), []).append(delivery.event_id)  # type: ignore[arg-type]
    return by_day


def _merge(*results: BatchResult) -> BatchResult:
    merged = BatchResult()
    for result in results:
        merged.applied += result.applied
        merged.duplicates += result.duplicates
        merged.acknowledge.extend(result.acknowledge)
        merged.dead_letters.extend(result.dead_letters)
        if result.applied_up_to is not None:
            merged.applied_up_to = max(
                result.applied_up_to, merged.applied_up_to or result.applied_up_to
            )
    return merged
