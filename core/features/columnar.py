"""Micro-batch feature computation: a batch of transactions at once, with numpy.

The engine keeps its window state as columns (see retained_events.py) and computes a
batch's windows as batch.py computes a whole table: each window value is a difference
of prefix sums, restarting per key, between two positions found by binary search. The
prefix sums cover only the keys the batch touches, over their retained events and the
batch's own. A batch costs one pass over those events, a copy of the recent run (see
retained_events.py) and O(batch x log retained events) of binary searches. No row
rescans its window.

Semantics are those of ``StreamingFeatureEngine``. A batch's rows are in arrival
order, so equal timestamps resolve by row order, and rows may not go back in time:
the engine has no allowed lateness, and an out-of-order transaction raises
OutOfOrderTransaction naming it and changes nothing. A label counts for a row when
it was revealed at or before the row's timestamp, whichever batch delivered it. A
label delivered after rows it would have counted for cannot change those rows.

MIN, MAX, DISTINCT_COUNT and STD are computed per row over the row's window, in
O(window) each (``batch.tracked_values``); COUNT, SUM and MEAN, and so the handbook's
14 features, take the prefix-sum path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..transactions import FraudLabel, Transaction
from .batch import (
    LabelTable,
    TransactionTable,
    WindowBounds,
    fill_ratios,
    fill_row_features,
    grouped_prefix_sums,
    write_window_outputs,
)
from .definitions import FRAUD_LABEL, FeatureSet
from .plan import ComputationPlan, EntityPlan, WindowPlan, compile_plan
from .retained_events import (
    ArrivalLog,
    FloatArray,
    Int64Array,
    RetainedEvents,
    SortedRun,
    WorkingSet,
    check_label_table,
)
from .streaming import InvalidSourceValue, OutOfOrderTransaction, StreamStatistics
from .vector import FeatureVector


class ColumnarFeatureEngine:
    """Compute a feature set batch by batch over columnar window state kept in memory.

    Memory stays bounded by the events inside the widest window of each entity (a
    small multiple of them, since expired events leave when runs merge).
    """

    def __init__(self, feature_set: FeatureSet) -> None:
        self._feature_set = feature_set
        self._plan: ComputationPlan = compile_plan(feature_set)
        self._log = ArrivalLog(matches_labels=bool(self._plan.label_entities))
        self._retained = [
            RetainedEvents(plan.horizon_ns, len(_value_slots(plan))) for plan in self._plan.entities
        ]
        self._last_timestamp_ns: int | None = None
        self.statistics = StreamStatistics()

    @property
    def feature_set(self) -> FeatureSet:
        return self._feature_set

    @property
    def retained_events(self) -> int:
        """Return how many events the window state holds, over all entities."""
        return sum(len(retained) for retained in self._retained)

    def observe_batch(
        self, transactions: TransactionTable, labels: LabelTable | None = None
    ) -> FloatArray:
        """Add a batch of transactions and labels; return the transactions' features.

        Returns a ``(rows, features)`` array in the batch's row order, NaN for null.
        Raises OutOfOrderTransaction (counted in ``statistics.late_rejected``) when a
        row is older than the row before it or than an earlier batch. Raises
        InvalidSourceValue when a source value is not finite, and InvalidTable when a
        column is missing or columns differ in length. Each leaves the state unchanged.
        """
        ids = np.asarray(transactions.column("transaction_id"), dtype=np.int64)
        times = np.asarray(transactions.column("timestamp_ns"), dtype=np.int64)
        self._check_order(ids, times)
        if labels is not None:
            check_label_table(labels)
        sources = [self._source_values(plan, transactions, ids) for plan in self._plan.entities]
        keys = [
            np.asarray(transactions.column(plan.entity.join_key)) for plan in self._plan.entities
        ]
        out = np.full((len(ids), len(self._plan.names)), np.nan)

        first = self._log.append(ids, times)
        sequence = np.arange(first, first + len(ids), dtype=np.int64)
        if labels is not None:
            self.statistics.labels += len(labels.transaction_id)
            self.statistics.unmatched_labels += self._log.record_labels(labels)
        if len(ids) == 0:
            return out
        fill_row_features(self._plan, times, out)
        latest = int(times[-1])
        for plan, retained, entity_keys, values in zip(
            self._plan.entities, self._retained, keys, sources, strict=True
        ):
            order = np.argsort(entity_keys, kind="stable")
            batch = SortedRun(entity_keys[order], sequence[order], times[order], values[:, order])
            working = retained.working_set(batch)
            _write_entity(plan, self._log, working, times, order, out)
            retained.add(batch, latest)
        fill_ratios(self._plan, out)

        self._forget_unreachable_transactions()
        self._last_timestamp_ns = latest
        self.statistics.transactions += len(ids)
        return out

    def observe_transactions(
        self, transactions: Sequence[Transaction], labels: Sequence[FraudLabel] = ()
    ) -> list[FeatureVector]:
        """Observe transactions in arrival order and labels as one batch; return one
        feature vector per transaction.

        This serves callers that hold ``Transaction`` objects, such as a replay,
        without a stream worker; see ``observe_batch`` for the rules and errors.
        """
        names = {"transaction_id", "timestamp_ns"}
        for plan in self._plan.entities:
            names.add(plan.entity.join_key)
            names.update(source for source in plan.sources if source != FRAUD_LABEL)
        table = TransactionTable(
            {name: np.array([t.field(name) for t in transactions]) for name in sorted(names)}
        )
        label_table = LabelTable(
            np.array([label.transaction_id for label in labels], dtype=np.int64),
            np.array([label.revealed_at_ns for label in labels], dtype=np.int64),
            np.array([label.is_fraud for label in labels], dtype=np.bool_),
        )
        values = self.observe_batch(table, label_table)
        version = self._feature_set.version
        return [FeatureVector(self._plan.names, tuple(row.tolist()), version) for row in values]

    def _check_order(self, ids: Int64Array, times: Int64Array) -> None:
        if len(times) == 0:
            return
        previous = np.r_[
            times[0] if self._last_timestamp_ns is None else self._last_timestamp_ns, times[:-1]
        ]
        backwards = np.flatnonzero(times < previous)
        if len(backwards):
            row = int(backwards[0])
            self.statistics.late_rejected += 1
            raise OutOfOrderTransaction(
                f"transaction {int(ids[row])} (batch row {row}) at {int(times[row])} ns is "
                f"older than the transaction before it at {int(previous[row])} ns; the "
                "micro-batch engine allows no lateness, so deliver transactions in timestamp "
                f"order; the batch was not added ({self.statistics.late_rejected} rejected "
                "so far)"
            )

    def _source_values(
        self, plan: EntityPlan, transactions: TransactionTable, ids: Int64Array
    ) -> FloatArray:
        """Return the batch's values of the plan's value sources (every source slot but
        the label's), one row per slot in slot order."""
        values = np.zeros((len(_value_slots(plan)), len(ids)))
        for index, slot in enumerate(_value_slots(plan)):
            source = plan.sources[slot]
            column = np.asarray(transactions.column(source), dtype=np.float64)
            bad = np.flatnonzero(~np.isfinite(column))
            if len(bad):
                row = int(bad[0])
                raise InvalidSourceValue(
                    f"transaction {int(ids[row])} (batch row {row}): source {source!r} is "
                    f"{column[row]!r}; window aggregates need finite numbers; the batch was "
                    "not added"
                )
            values[index] = column
        return values

    def _forget_unreachable_transactions(self) -> None:
        oldest = [retained.oldest_sequence for retained in self._retained]
        retained = [sequence for sequence in oldest if sequence is not None]
        self._log.forget_before(min(retained) if retained else self._log.next_sequence)


def _write_entity(
    plan: EntityPlan,
    log: ArrivalLog,
    working: WorkingSet,
    row_times: Int64Array,
    order: Int64Array,
    out: FloatArray,
) -> None:
    """Write one entity's window values for the batch rows.

    ``row_times`` are the batch's timestamps in row order, which is time order, and
    ``order`` maps the working set's batch events, sorted by key, to rows.
    """
    locator = _Locator(log, working, row_times, order)
    slot_values = [np.empty(0)] * len(plan.sources)
    for row, slot in enumerate(_value_slots(plan)):
        slot_values[slot] = working.values[row]
    if plan.label_slot is not None:
        slot_values[plan.label_slot] = log.fraud[working.sequence - log.base].astype(np.float64)
        pending = _PendingFrauds.find(log, working, int(row_times[0]))
    prefixes = [
        _prefix_sums(plan, slot, values, working.group_bounds)
        for slot, values in enumerate(slot_values)
    ]
    groups = working.batch_groups
    for window in plan.windows:
        upper = (
            working.batch_positions + 1  # this event and those that arrived before it
            if window.delay_ns == 0
            else locator.rows_after(window.delay_ns)
        )
        lower = locator.rows_after(window.delay_ns + window.length_ns)
        sums = [
            prefix[upper + groups] - prefix[lower + groups]
            if restarts
            else prefix[upper] - prefix[lower]
            for prefix, restarts in prefixes
        ]
        if plan.label_slot is not None:
            sums[plan.label_slot] = sums[plan.label_slot] - _unrevealed_frauds(
                window, pending, locator, working
            )
        write_window_outputs(window, WindowBounds(lower, upper), slot_values, sums, order, out)


def _value_slots(plan: EntityPlan) -> list[int]:
    """Return the source slots that read a transaction field, not the fraud label."""
    return [slot for slot in range(len(plan.sources)) if slot != plan.label_slot]


def _prefix_sums(
    plan: EntityPlan, slot: int, values: FloatArray, group_bounds: Int64Array
) -> tuple[FloatArray, bool]:
    """Return the slot's prefix sums over the working set and whether they restart per
    group.

    Fraud flags are 0 or 1, so one running count over the whole set is exact and
    needs no restart. Source values get prefix sums that restart per key, as in
    batch.py.
    """
    if slot == plan.label_slot:
        return np.concatenate(([0.0], np.cumsum(values))), False
    return grouped_prefix_sums(values, group_bounds), True


class _Locator:
    """Binary searches over a working set sorted by ``(group, sequence)``.

    Each event's search key is ``group * span + (sequence - base)``: it sorts like the
    set itself and fits in int64 while groups times retained transactions stays below
    2**63.
    """

    def __init__(
        self, log: ArrivalLog, working: WorkingSet, row_times: Int64Array, order: Int64Array
    ) -> None:
        self._log = log
        self._span = len(log) + 1
        lengths = np.diff(working.group_bounds)
        groups = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
        self._keys = groups * self._span + (working.sequence - log.base)
        self._batch_groups = working.batch_groups
        self._row_times = row_times
        self._order = order
        self._rows_after: dict[int, Int64Array] = {}

    def after(self, groups: Int64Array, times: Int64Array) -> Int64Array:
        """Return, per query, the position just past the group's events at or before
        the time."""
        return self._search(groups, self._log.last_at_or_before(times))

    def rows_after(self, offset_ns: int) -> Int64Array:
        """Return, per batch event in the set's order, the position just past its
        group's events at or before its own time minus ``offset_ns``.

        Windows that share a bound share the search. The log is searched with the
        times in row order, which is sorted, and the result is then permuted.
        """
        if offset_ns not in self._rows_after:
            last = self._log.last_at_or_before(self._row_times - offset_ns)[self._order]
            self._rows_after[offset_ns] = self._search(self._batch_groups, last)
        return self._rows_after[offset_ns]

    def _search(self, groups: Int64Array, last: Int64Array) -> Int64Array:
        return np.searchsorted(self._keys, groups * self._span + last, side="right").astype(
            np.int64
        )


@dataclass(frozen=True)
class _PendingFrauds:
    """Working-set events labelled fraud with a reveal time after the batch's first
    row: only their labels can be unknown to a row of the batch."""

    positions: Int64Array
    times: Int64Array
    revealed: Int64Array

    @classmethod
    def find(cls, log: ArrivalLog, working: WorkingSet, first_row_ns: int) -> _PendingFrauds:
        log_positions = working.sequence - log.base
        revealed = log.revealed[log_positions]
        positions = np.flatnonzero(log.fraud[log_positions] & (revealed > first_row_ns))
        return cls(positions, log.times[log_positions[positions]], revealed[positions])


def _unrevealed_frauds(
    window: WindowPlan,
    pending: _PendingFrauds,
    locator: _Locator,
    working: WorkingSet,
) -> FloatArray:
    """Count, per batch row, frauds in its window whose label was revealed after it.

    A fraud at t_j is in the windows of rows at t in [t_j + delay, t_j + delay +
    length) and unknown to rows before its reveal time r_j. Each such fraud subtracts
    1 over a run of positions, applied with a difference array.
    """
    first_row = pending.times + window.delay_ns
    late = pending.revealed > first_row
    if not late.any():
        return np.zeros(len(working.batch_positions))
    groups = np.searchsorted(working.group_bounds, pending.positions[late], side="right") - 1
    stop_time = np.minimum(first_row[late] + window.length_ns, pending.revealed[late])
    correction = np.zeros(len(working.sequence) + 1)
    np.add.at(correction, locator.after(groups, first_row[late] - 1), 1.0)
    np.add.at(correction, locator.after(groups, stop_time - 1), -1.0)
    return np.cumsum(correction)[working.batch_positions]
