"""Streaming feature computation, one event at a time.

Each entity key keeps the recent events in time order and, per window, two pointers
into them plus running aggregates. A transaction appends one event and moves each
pointer forward past the events that entered or left the window, so an update costs
amortized O(1) per window: no event is visited more than twice per window.

Running sums are exact. Every finite double is an integer multiple of 2**-1074, so
source values are stored as Python integers in those units and added and removed
without rounding; a sum or mean is rounded once, when it is read. Float running sums
would drift over a long stream and leave residues such as -7e-18 in windows that
should be exactly empty of value.

Transactions must arrive with non-decreasing timestamps. Among transactions with
equal timestamps, arrival order decides which one sees the other in its window; the
batch engine reproduces that order from a sequence column. A label takes effect from
the moment the engine receives it, so a caller that replays labels at their reveal
time delivers each label before any transaction with an equal or later timestamp.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from ..ports import EntityKey, FeatureStateStore
from ..timestamps import hour_of_day, weekday
from ..transactions import FraudLabel, Transaction
from .definitions import Aggregation, FeatureSet, RowTransform
from .plan import AggregateOutput, ComputationPlan, EntityPlan, WindowPlan, compile_plan
from .trackers import Tracker, build_trackers
from .vector import FeatureVector

_NAN = math.nan
_PRUNE_EVERY = 4096
_EXPONENT = 1074
_UNIT = 1 << _EXPONENT  # 2**1074 units of 2**-1074 make 1.0


class InvalidSourceValue(ValueError):
    """A source value that is not a finite number."""


def _exact(value: float, source: str, transaction_id: int) -> int:
    """Return ``value`` as an integer count of 2**-1074 units."""
    try:
        numerator, denominator = float(value).as_integer_ratio()
    except (OverflowError, ValueError):
        raise InvalidSourceValue(
            f"transaction {transaction_id}: source {source!r} is {value!r}; "
            "window aggregates need finite numbers"
        ) from None
    return numerator << (_EXPONENT + 1 - denominator.bit_length())


class OutOfOrderTransaction(ValueError):
    """A transaction's timestamp is earlier than one already observed."""


class WindowState:
    """Pointers and running aggregates of one window over one entity key.

    ``left`` and ``right`` are absolute event indices: the window holds events
    ``left <= i < right``.
    """

    __slots__ = ("count", "left", "right", "sums", "trackers")

    def __init__(self, source_count: int) -> None:
        self.left = 0
        self.right = 0
        self.count = 0
        self.sums = [0] * source_count
        # Built on first use (see trackers.py), so stores need not persist them.
        self.trackers: list[Tracker] | None = None


NO_CHANGE = (1 << 63) - 1
"""``EntityHistory.first_changed`` when no event was inserted or changed in place."""


class EntityHistory:
    """The events of one entity key that some window may still need.

    ``offset`` is the absolute index of ``times[0]``; events before it were pruned.
    ``columns[slot]`` holds each event's value of the slot's source as an exact
    integer: in 2**-1074 units for a value source, 0 or 1 for the fraud label.

    ``first_changed`` is the absolute index of the first event that the engine
    inserted or changed in place since a store last reset it to NO_CHANGE. Appends
    and pruning leave it as it is. A store that encodes histories reuses the bytes
    of the events before it.
    """

    __slots__ = ("columns", "first_changed", "ids", "offset", "times", "windows")

    def __init__(self, plan: EntityPlan) -> None:
        self.times: list[int] = []
        self.ids: list[int] = []
        self.columns: list[list[int]] = [[] for _ in plan.sources]
        self.offset = 0
        self.windows = [WindowState(len(plan.sources)) for _ in plan.windows]
        self.first_changed = NO_CHANGE


class LateTransaction(OutOfOrderTransaction):
    """A transaction older than the last observed one by more than the allowed lateness."""


@dataclass
class StreamStatistics:
    """Counts of what the engine observed.

    ``late_accepted`` counts out-of-order transactions within the allowed lateness,
    ``late_rejected`` those beyond it, which raised LateTransaction and changed nothing.
    """

    transactions: int = 0
    labels: int = 0
    unmatched_labels: int = 0
    late_accepted: int = 0
    late_rejected: int = 0


class StreamingFeatureEngine:
    """Compute a feature set event by event over state held in a FeatureStateStore.

    ``allowed_lateness_ns`` None (the default) rejects every out-of-order transaction.
    With a value, a transaction up to that much older than the latest one observed is
    accepted: it gets the values of its own time from the events received so far, and
    enters the windows of later transactions.
    """

    def __init__(
        self,
        feature_set: FeatureSet,
        store: FeatureStateStore,
        allowed_lateness_ns: int | None = None,
    ) -> None:
        if allowed_lateness_ns is not None and allowed_lateness_ns < 0:
            raise ValueError(
                f"allowed lateness {allowed_lateness_ns} ns is negative; use 0 or more, "
                "or None to reject every out-of-order transaction"
            )
        self._lateness_ns = allowed_lateness_ns
        self._feature_set = feature_set
        self._plan: ComputationPlan = compile_plan(feature_set)
        self._store = store
        self._version = feature_set.version
        self._names = feature_set.names
        self._width = len(feature_set.definitions)
        self._label_horizon_ns = max(
            (plan.horizon_ns for plan in self._plan.label_entities), default=0
        )
        self._last_timestamp_ns: int | None = None
        self.statistics = StreamStatistics()

    @property
    def feature_set(self) -> FeatureSet:
        return self._feature_set

    def observe_transaction(self, transaction: Transaction) -> FeatureVector:
        """Add a transaction to every window and return its feature values.

        Raises OutOfOrderTransaction, changing nothing, when the transaction is older
        than the last one observed and no lateness is allowed, and LateTransaction
        (counted in ``statistics.late_rejected``) when it is later than allowed.
        """
        timestamp = transaction.timestamp_ns
        last = self._last_timestamp_ns
        if last is not None and timestamp < last:
            self._check_lateness(transaction, last)
        else:
            self._last_timestamp_ns = timestamp
        values = [_NAN] * self._width
        self._fill_row_features(transaction, values)
        label_keys: list[EntityKey] = []
        for plan in self._plan.entities:
            key: EntityKey = getattr(transaction, plan.entity.join_key)
            self._advance(plan, key, transaction, values)
            if plan.label_slot is not None:
                label_keys.append(key)
        self._fill_ratios(values)
        if label_keys:
            self._store.remember_transaction(
                transaction.transaction_id, transaction.timestamp_ns, tuple(label_keys)
            )
        self.statistics.transactions += 1
        if self._label_horizon_ns and self.statistics.transactions % _PRUNE_EVERY == 0:
            self._store.forget_transactions_before(
                transaction.timestamp_ns - self._label_horizon_ns
            )
        return FeatureVector(self._names, tuple(values), self._version)

    def _check_lateness(self, transaction: Transaction, last: int) -> None:
        timestamp = transaction.timestamp_ns
        lateness = self._lateness_ns
        if lateness is None:
            raise OutOfOrderTransaction(
                f"transaction {transaction.transaction_id} at {timestamp} ns is older than "
                f"the last observed timestamp {last} ns; "
                "deliver transactions in timestamp order"
            )
        if last - timestamp > lateness:
            self.statistics.late_rejected += 1
            raise LateTransaction(
                f"transaction {transaction.transaction_id} at {timestamp} ns is "
                f"{last - timestamp} ns older than the last observed timestamp {last} ns, "
                f"beyond the allowed lateness of {lateness} ns; it was not added "
                f"({self.statistics.late_rejected} rejected so far)"
            )
        self.statistics.late_accepted += 1

    def preview_transaction(self, transaction: Transaction) -> FeatureVector:
        """Return the features the transaction would get, changing no state.

        A serving process uses this to decide a transaction from state that a stream
        worker owns: the worker observes the same transaction later and reaches the
        same values. Raises OutOfOrderTransaction when an entity already holds an
        event later than the transaction.
        """
        values = [_NAN] * self._width
        self._fill_row_features(transaction, values)
        for plan in self._plan.entities:
            key: EntityKey = getattr(transaction, plan.entity.join_key)
            history = self._store.load_history(plan.entity.name, key)
            if (
                history is not None
                and history.times
                and history.times[-1] > transaction.timestamp_ns
            ):
                raise OutOfOrderTransaction(
                    f"transaction {transaction.transaction_id} at {transaction.timestamp_ns} ns "
                    f"is older than the last {plan.entity.name} {key!r} event at "
                    f"{history.times[-1]} ns"
                )
            _preview_windows(plan, history, transaction, values)
        self._fill_ratios(values)
        return FeatureVector(self._names, tuple(values), self._version)

    def _fill_ratios(self, values: list[float]) -> None:
        for ratio in self._plan.ratios:
            denominator = values[ratio.denominator]
            if denominator != 0.0 and not math.isnan(denominator):
                values[ratio.column] = values[ratio.numerator] / denominator

    def observe_label(self, label: FraudLabel) -> None:
        """Record a revealed label so that later windows count it.

        A label for a transaction the engine never saw, or no longer keeps because it
        left every window, changes nothing and is counted as unmatched.
        """
        self.statistics.labels += 1
        remembered = self._store.recall_transaction(label.transaction_id)
        if remembered is None:
            self.statistics.unmatched_labels += 1
            return
        if not label.is_fraud:
            return
        timestamp_ns, keys = remembered
        for plan, key in zip(self._plan.label_entities, keys, strict=True):
            history = self._store.load_history(plan.entity.name, key)
            if history is not None:
                _mark_fraud(plan, history, label.transaction_id, timestamp_ns)
                self._store.save_history(plan.entity.name, key, history)

    def _fill_row_features(self, transaction: Transaction, values: list[float]) -> None:
        timestamp = transaction.timestamp_ns
        for row in self._plan.rows:
            if row.transform is RowTransform.IS_WEEKEND:
                values[row.column] = 1.0 if weekday(timestamp) >= 5 else 0.0
            elif row.transform is RowTransform.IS_NIGHT:
                values[row.column] = 1.0 if hour_of_day(timestamp) <= row.night_end_hour else 0.0

    def _advance(
        self, plan: EntityPlan, key: EntityKey, transaction: Transaction, values: list[float]
    ) -> None:
        store = self._store
        history = store.load_history(plan.entity.name, key)
        if history is None:
            history = EntityHistory(plan)
        timestamp = transaction.timestamp_ns
        times = history.times
        arriving = _arriving(plan, transaction)
        if times and times[-1] > timestamp:
            _insert_late(plan, history, transaction, arriving, values)
        else:
            times.append(timestamp)
            history.ids.append(transaction.transaction_id)
            for column, value in zip(history.columns, arriving, strict=True):
                column.append(value)
            _advance_windows(plan, history, timestamp, arriving, values)
            if len(times) >= 128:
                _prune(history, self._keep_after(plan, timestamp))
        store.save_history(plan.entity.name, key, history)

    def _keep_after(self, plan: EntityPlan, timestamp: int) -> int | None:
        """Return the time after which events must stay for late arrivals, or None."""
        if self._lateness_ns is None:
            return None
        return timestamp - self._lateness_ns - plan.horizon_ns


def _advance_windows(
    plan: EntityPlan,
    history: EntityHistory,
    timestamp: int,
    arriving: list[int],
    values: list[float],
) -> None:
    """Move every window of a key to a transaction just appended at ``timestamp``."""
    times, columns, offset = history.times, history.columns, history.offset
    label_slot = plan.label_slot
    end = offset + len(times)
    for window, state in zip(plan.windows, history.windows, strict=True):
        if window.trackers:
            _advance_tracked(window, state, history, timestamp, values, label_slot)
            continue
        sums = state.sums
        delay = window.delay_ns
        upper = timestamp - delay
        right = state.right
        if delay == 0:
            # Every stored event is at or before `timestamp`: only the new one enters.
            for slot, value in enumerate(arriving):
                sums[slot] += value
            right = end
        else:
            while right < end and times[right - offset] <= upper:
                position = right - offset
                for slot, column in enumerate(columns):
                    sums[slot] += column[position]
                right += 1
        lower = upper - window.length_ns
        left = state.left
        while left < right and times[left - offset] <= lower:
            position = left - offset
            for slot, column in enumerate(columns):
                sums[slot] -= column[position]
            left += 1
        state.right = right
        state.left = left
        count = right - left
        state.count = count
        _write_outputs(window.outputs, count, sums, label_slot, values, None)


def _advance_tracked(
    window: WindowPlan,
    state: WindowState,
    history: EntityHistory,
    timestamp: int,
    values: list[float],
    label_slot: int | None,
) -> None:
    """Move one window that keeps trackers, feeding each event that enters or leaves."""
    times, columns, offset = history.times, history.columns, history.offset
    end = offset + len(times)
    trackers = state.trackers
    if trackers is None:
        trackers = build_trackers(window.trackers, columns, offset, state.left, state.right)
        state.trackers = trackers
    slots = [slot for _, slot in window.trackers]
    sums = state.sums
    upper = timestamp - window.delay_ns
    right = state.right
    while right < end and times[right - offset] <= upper:
        position = right - offset
        for slot, column in enumerate(columns):
            sums[slot] += column[position]
        for tracker, slot in zip(trackers, slots, strict=True):
            tracker.add(right, columns[slot][position])
        right += 1
    lower = upper - window.length_ns
    left = state.left
    while left < right and times[left - offset] <= lower:
        position = left - offset
        for slot, column in enumerate(columns):
            sums[slot] -= column[position]
        for tracker, slot in zip(trackers, slots, strict=True):
            tracker.remove(left, columns[slot][position])
        left += 1
    state.right = right
    state.left = left
    state.count = right - left
    _write_outputs(window.outputs, state.count, sums, label_slot, values, trackers)


def _arriving(plan: EntityPlan, transaction: Transaction) -> list[int]:
    """Return the transaction's exact value per source slot; a label starts at 0."""
    return [
        0
        if slot == plan.label_slot
        else _exact(getattr(transaction, source), source, transaction.transaction_id)
        for slot, source in enumerate(plan.sources)
    ]


def _insert_late(
    plan: EntityPlan,
    history: EntityHistory,
    transaction: Transaction,
    arriving: list[int],
    values: list[float],
) -> None:
    """Insert a transaction older than the key's latest event and write its values.

    The event goes after every stored event with a time at or before its own, since
    it arrived after them. Each window's pointers shift or take the event in, as the
    window's current bounds (from the key's latest event) say. Its own values are
    summed over its own windows: O(window) per late event, not amortized O(1).
    """
    times, columns, offset = history.times, history.columns, history.offset
    timestamp = transaction.timestamp_ns
    latest = times[-1]
    position = bisect_right(times, timestamp)
    times.insert(position, timestamp)
    history.ids.insert(position, transaction.transaction_id)
    for column, value in zip(columns, arriving, strict=True):
        column.insert(position, value)
    index = offset + position
    history.first_changed = min(history.first_changed, index)

    for window, state in zip(plan.windows, history.windows, strict=True):
        upper = latest - window.delay_ns
        if timestamp <= upper - window.length_ns:  # before the current window
            state.left += 1
            state.right += 1
        elif timestamp <= upper:  # inside it
            state.right += 1
            for slot, value in enumerate(arriving):
                state.sums[slot] += value
        state.count = state.right - state.left
        if index <= state.right:
            state.trackers = None  # indices moved; rebuilt on next use

    for window in plan.windows:
        upper = timestamp - window.delay_ns
        start = bisect_right(times, upper - window.length_ns)
        stop = position + 1 if window.delay_ns == 0 else bisect_right(times, upper)
        stop = max(stop, start)
        sums = [sum(column[start:stop]) for column in columns]
        trackers = None
        if window.trackers:
            trackers = build_trackers(
                window.trackers, columns, offset, offset + start, offset + stop
            )
        _write_outputs(window.outputs, stop - start, sums, plan.label_slot, values, trackers)


def _preview_windows(
    plan: EntityPlan,
    history: EntityHistory | None,
    transaction: Transaction,
    values: list[float],
) -> None:
    """Write the window values of one entity as if the transaction were appended."""
    label_slot = plan.label_slot
    arriving = [
        0
        if slot == label_slot
        else _exact(getattr(transaction, source), source, transaction.transaction_id)
        for slot, source in enumerate(plan.sources)
    ]
    timestamp = transaction.timestamp_ns
    if history is None:
        times: list[int] = []
        columns: list[list[int]] = [[] for _ in plan.sources]
        offset = 0
        states = [WindowState(len(plan.sources)) for _ in plan.windows]
    else:
        times, columns, offset, states = (
            history.times,
            history.columns,
            history.offset,
            history.windows,
        )
    end = offset + len(times)
    for window, state in zip(plan.windows, states, strict=True):
        sums = list(state.sums)
        upper = timestamp - window.delay_ns
        lower = upper - window.length_ns
        right = state.right
        while right < end and times[right - offset] <= upper:
            for slot, column in enumerate(columns):
                sums[slot] += column[right - offset]
            right += 1
        left = state.left
        while left < right and times[left - offset] <= lower:
            for slot, column in enumerate(columns):
                sums[slot] -= column[left - offset]
            left += 1
        count = right - left
        if window.delay_ns == 0:
            count += 1
            for slot, value in enumerate(arriving):
                sums[slot] += value
        trackers = None
        if window.trackers:
            # NOTE: a preview rebuilds the trackers from the window's events, O(window),
            # because copying the stored ones would cost as much and change nothing.
            trackers = build_trackers(window.trackers, columns, offset, left, right)
            if window.delay_ns == 0:
                for tracker, (_, slot) in zip(trackers, window.trackers, strict=True):
                    tracker.add(end, arriving[slot])
        _write_outputs(window.outputs, count, sums, label_slot, values, trackers)


def _write_outputs(
    outputs: tuple[AggregateOutput, ...],
    count: int,
    sums: list[int],
    label_slot: int | None,
    values: list[float],
    trackers: list[Tracker] | None,
) -> None:
    for output in outputs:
        aggregation = output.aggregation
        if aggregation is Aggregation.COUNT:
            values[output.column] = float(count)
            continue
        if output.tracker >= 0:
            assert trackers is not None  # the plan gives tracked outputs a tracker index
            result = trackers[output.tracker].result(count, sums[output.slot])
            if result is None:
                empty = output.empty_value
                result = _NAN if empty is None else empty
            values[output.column] = result
            continue
        unit = 1 if output.slot == label_slot else _UNIT
        if aggregation is Aggregation.SUM:
            values[output.column] = sums[output.slot] / unit
        elif count:
            values[output.column] = sums[output.slot] / (count * unit)
        else:
            empty = output.empty_value
            values[output.column] = _NAN if empty is None else empty


def _prune(history: EntityHistory, keep_after_ns: int | None) -> None:
    """Drop events that every window has passed, once they are half the history.

    Events after ``keep_after_ns`` stay, because a late transaction's own windows
    may still reach them.
    """
    oldest_needed = min(state.left for state in history.windows)
    if keep_after_ns is not None:
        oldest_needed = min(
            oldest_needed, history.offset + bisect_right(history.times, keep_after_ns)
        )
    removable = oldest_needed - history.offset
    if removable >= 64 and removable * 2 >= len(history.times):
        del history.times[:removable]
        del history.ids[:removable]
        for column in history.columns:
            del column[:removable]
        history.offset = oldest_needed


def _mark_fraud(
    plan: EntityPlan, history: EntityHistory, transaction_id: int, timestamp_ns: int
) -> None:
    times = history.times
    position = bisect_left(times, timestamp_ns)
    while position < len(times) and times[position] == timestamp_ns:
        if history.ids[position] == transaction_id:
            break
        position += 1
    else:
        return  # pruned: the transaction has left every window
    slot = plan.label_slot
    assert slot is not None
    column = history.columns[slot]
    if column[position] == 1:
        return  # the same label delivered twice
    column[position] = 1
    absolute = history.offset + position
    history.first_changed = min(history.first_changed, absolute)
    for state in history.windows:
        if state.left <= absolute < state.right:
            state.sums[slot] += 1
