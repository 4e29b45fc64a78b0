"""Batch feature computation over a whole table, from the same plan as streaming.

Every window value is a difference of prefix sums between two positions of the
entity's events sorted by ``(key, timestamp, sequence)``; the positions come from
binary searches, so the cost is O(n log n) with no Python loop per row.

``sequence`` is the arrival order among equal timestamps, which decides whether one
transaction sees another in a window ending at their common timestamp. It defaults to
``transaction_id``.

Labels follow the streaming rule: a label counts for a row when it was revealed at
or before the row's timestamp. When a transaction has several labels, the first one
revealed decides, as it does in the stream.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ..timestamps import NANOS_PER_DAY, NANOS_PER_HOUR
from .definitions import Aggregation, FeatureSet, RowTransform
from .plan import AggregateOutput, ComputationPlan, EntityPlan, WindowPlan, compile_plan

Int64Array = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

REQUIRED_COLUMNS = ("transaction_id", "timestamp_ns")


class InvalidTable(ValueError):
    """A table handed to batch computation lacks a column or has mismatched lengths."""


@dataclass(frozen=True)
class TransactionTable:
    """Columns of transactions by field name (``Transaction`` field names).

    ``transaction_id`` and ``timestamp_ns`` (int64 nanoseconds, UTC) are required;
    rows may come in any order. An optional ``sequence`` column gives the arrival
    order among equal timestamps; without it, ``transaction_id`` does.
    """

    columns: Mapping[str, npt.NDArray[np.generic]]

    def __post_init__(self) -> None:
        for name in REQUIRED_COLUMNS:
            if name not in self.columns:
                raise InvalidTable(f"transaction table has no column {name!r}")
        lengths = {name: len(values) for name, values in self.columns.items()}
        if len(set(lengths.values())) > 1:
            raise InvalidTable(f"transaction table columns differ in length: {lengths}")

    def __len__(self) -> int:
        return len(self.columns["transaction_id"])

    @property
    def sequence(self) -> Int64Array:
        """Return the arrival order used to break equal timestamps."""
        name = "sequence" if "sequence" in self.columns else "transaction_id"
        return np.asarray(self.columns[name], dtype=np.int64)

    def column(self, name: str) -> npt.NDArray[np.generic]:
        try:
            return self.columns[name]
        except KeyError:
            raise InvalidTable(
                f"transaction table has no column {name!r}; columns: {sorted(self.columns)}"
            ) from None


@dataclass(frozen=True)
class LabelTable:
    """Revealed fraud labels: one row per label event."""

    transaction_id: Int64Array
    revealed_at_ns: Int64Array
    is_fraud: npt.NDArray[np.bool_]

    @classmethod
    def empty(cls) -> LabelTable:
        return cls(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.bool_))


def compute_batch(
    feature_set: FeatureSet, table: TransactionTable, labels: LabelTable | None = None
) -> FloatArray:
    """Return an ``(rows, features)`` array in the table's row order; NaN is null."""
    plan = compile_plan(feature_set)
    labels = labels if labels is not None else LabelTable.empty()
    rows = len(table)
    out = np.full((rows, len(plan.names)), np.nan)
    timestamps = np.asarray(table.column("timestamp_ns"), dtype=np.int64)

    fill_row_features(plan, timestamps, out)

    for entity_plan in plan.entities:
        _compute_entity(entity_plan, table, labels, out)

    fill_ratios(plan, out)
    return out


def fill_row_features(plan: ComputationPlan, timestamps: Int64Array, out: FloatArray) -> None:
    """Write the plan's row features of rows at ``timestamps`` into ``out``."""
    for row in plan.rows:
        if row.transform is RowTransform.IS_WEEKEND:
            weekday = (timestamps // NANOS_PER_DAY + 3) % 7
            out[:, row.column] = (weekday >= 5).astype(np.float64)
        elif row.transform is RowTransform.IS_NIGHT:
            hour = (timestamps // NANOS_PER_HOUR) % 24
            out[:, row.column] = (hour <= row.night_end_hour).astype(np.float64)


def fill_ratios(plan: ComputationPlan, out: FloatArray) -> None:
    """Write the plan's ratios from columns of ``out`` already filled."""
    for ratio in plan.ratios:
        denominator = out[:, ratio.denominator]
        usable = (denominator != 0.0) & ~np.isnan(denominator)
        result = np.full(len(out), np.nan)
        np.divide(out[:, ratio.numerator], denominator, out=result, where=usable)
        out[:, ratio.column] = result


class _SortedEvents:
    """One entity's events sorted by (key, time, sequence), with a searchable composite
    key."""

    def __init__(
        self, keys: npt.NDArray[np.generic], timestamps: Int64Array, sequence: Int64Array
    ) -> None:
        _, key_codes = np.unique(keys, return_inverse=True)
        self.order = np.lexsort((sequence, timestamps, key_codes))
        self.codes = key_codes[self.order].astype(np.int64)
        self.times = timestamps[self.order]
        self._distinct_times = np.unique(self.times)
        self._span = len(self._distinct_times) + 1
        self._composite = self.codes * self._span + self._time_rank(self.times)

    def _time_rank(self, times: Int64Array) -> Int64Array:
        """Return how many distinct event times are <= each time (0 .. distinct)."""
        return np.searchsorted(self._distinct_times, times, side="right").astype(np.int64)

    def count_at_or_before(self, codes: Int64Array, times: Int64Array) -> Int64Array:
        """Return, per query, the sorted position just past events of the same key with
        time <= the query time (events of smaller keys come first)."""
        composite = codes * self._span + self._time_rank(times)
        return np.searchsorted(self._composite, composite, side="right").astype(np.int64)


def _compute_entity(
    plan: EntityPlan, table: TransactionTable, labels: LabelTable, out: FloatArray
) -> None:
    ids = np.asarray(table.column("transaction_id"), dtype=np.int64)
    timestamps = np.asarray(table.column("timestamp_ns"), dtype=np.int64)
    events = _SortedEvents(table.column(plan.entity.join_key), timestamps, table.sequence)
    group_starts = np.flatnonzero(np.r_[True, events.codes[1:] != events.codes[:-1]])
    group_bounds = np.r_[group_starts, len(events.codes)]
    sorted_values = [
        _source_values(plan, slot, source, table, labels, events)
        for slot, source in enumerate(plan.sources)
    ]
    prefixes = [grouped_prefix_sums(values, group_bounds) for values in sorted_values]
    positions = np.arange(len(events.codes), dtype=np.int64)
    sorted_ids = ids[events.order]

    for window in plan.windows:
        if window.delay_ns == 0:
            upper = positions + 1  # this event and those that arrived before it
        else:
            upper = events.count_at_or_before(events.codes, events.times - window.delay_ns)
        lower = events.count_at_or_before(
            events.codes, events.times - window.delay_ns - window.length_ns
        )
        sums = [
            _window_sum(prefix, lower, upper, group_bounds, events.codes) for prefix in prefixes
        ]
        if plan.label_slot is not None:
            sums[plan.label_slot] = sums[plan.label_slot] - _unrevealed_frauds(
                window.length_ns, window.delay_ns, events, labels, sorted_ids
            )
        write_window_outputs(
            window, WindowBounds(lower, upper), sorted_values, sums, events.order, out
        )


@dataclass(frozen=True)
class WindowBounds:
    """Per row, its window's events ``lower <= i < upper`` in sorted positions."""

    lower: Int64Array
    upper: Int64Array


def write_window_outputs(
    window: WindowPlan,
    bounds: WindowBounds,
    sorted_values: Sequence[FloatArray] | FloatArray,
    sums: Sequence[FloatArray],
    rows: Int64Array,
    out: FloatArray,
) -> None:
    """Write every output of one window for rows ``rows`` of ``out``.

    ``sorted_values[slot]`` contains each source slot's values in sorted positions, and
    ``sums[slot]`` the per-row window sums.
    """
    count = bounds.upper - bounds.lower
    for output in window.outputs:
        if output.tracker >= 0:
            values = tracked_values(output, sorted_values[output.slot], bounds.lower, bounds.upper)
        elif output.aggregation is Aggregation.COUNT:
            values = count.astype(np.float64)
        elif output.aggregation is Aggregation.SUM:
            values = np.where(count > 0, sums[output.slot], 0.0)
        else:
            empty = np.nan if output.empty_value is None else output.empty_value
            values = np.full(len(count), empty)
            np.divide(sums[output.slot], count, out=values, where=count > 0)
        out[rows, output.column] = values


def tracked_values(
    output: AggregateOutput, sorted_values: FloatArray, lower: Int64Array, upper: Int64Array
) -> FloatArray:
    """Return MIN, MAX, DISTINCT_COUNT or STD over ``sorted_values[lower:upper]`` per row.

    NOTE: this loops over rows in Python, O(window) each. It serves as the reference
    the streaming engine is checked against and as the micro-batch engine's path for
    these aggregations, not as a fast path for large tables.
    """
    empty = np.nan if output.empty_value is None else output.empty_value
    result = np.empty(len(lower))
    aggregation = output.aggregation
    for row, (start, stop) in enumerate(zip(lower.tolist(), upper.tolist(), strict=True)):
        window = sorted_values[start:stop]
        if aggregation is Aggregation.DISTINCT_COUNT:
            result[row] = len(np.unique(window))
        elif len(window) == 0:
            result[row] = empty
        elif aggregation is Aggregation.MIN:
            result[row] = window.min()
        elif aggregation is Aggregation.MAX:
            result[row] = window.max()
        else:
            result[row] = window.std()
    return result


def _source_values(
    plan: EntityPlan,
    slot: int,
    source: str,
    table: TransactionTable,
    labels: LabelTable,
    events: _SortedEvents,
) -> FloatArray:
    if slot == plan.label_slot:
        return _first_label_is_fraud(table, labels)[events.order]
    return np.asarray(table.column(source), dtype=np.float64)[events.order]


def _first_labels(table: TransactionTable, labels: LabelTable) -> tuple[FloatArray, Int64Array]:
    """Return, per table row, whether its first usable label says fraud and when it was
    revealed (int64 max when never).

    A label revealed at or before its transaction's timestamp is not usable: the
    stream delivers labels before transactions of the same instant, so such a label
    finds no transaction to attach to.
    """
    ids = np.asarray(table.column("transaction_id"), dtype=np.int64)
    times = np.asarray(table.column("timestamp_ns"), dtype=np.int64)
    is_fraud = np.zeros(len(ids))
    revealed = np.full(len(ids), np.iinfo(np.int64).max, dtype=np.int64)
    if len(labels.transaction_id) == 0 or len(ids) == 0:
        return is_fraud, revealed
    id_order = np.argsort(ids, kind="stable")
    sorted_ids = ids[id_order]
    label_row = np.minimum(np.searchsorted(sorted_ids, labels.transaction_id), len(ids) - 1)
    matched = sorted_ids[label_row] == labels.transaction_id
    row = id_order[label_row]
    usable = matched & (labels.revealed_at_ns > times[row])
    label_index = np.flatnonzero(usable)
    # First usable label per transaction: earliest reveal, then earliest in the table.
    first_order = np.lexsort(
        (label_index, labels.revealed_at_ns[label_index], labels.transaction_id[label_index])
    )
    chosen = label_index[first_order]
    chosen_ids = labels.transaction_id[chosen]
    first = chosen[np.r_[True, chosen_ids[1:] != chosen_ids[:-1]]] if len(chosen) else chosen
    is_fraud[row[first]] = labels.is_fraud[first].astype(np.float64)
    revealed[row[first]] = labels.revealed_at_ns[first]
    return is_fraud, revealed


def _first_label_is_fraud(table: TransactionTable, labels: LabelTable) -> FloatArray:
    return _first_labels(table, labels)[0]


def _unrevealed_frauds(
    length_ns: int,
    delay_ns: int,
    events: _SortedEvents,
    labels: LabelTable,
    sorted_ids: Int64Array,
) -> FloatArray:
    """Count, per row, frauds inside its window whose label was revealed after the row.

    A fraud at t_j lies in the window of rows with t in [t_j + delay, t_j + delay +
    length); its label is unknown to rows with t < revealed. Each such fraud subtracts
    1 over a contiguous run of sorted positions, applied with a difference array.
    """
    table = TransactionTable({"transaction_id": sorted_ids, "timestamp_ns": events.times})
    is_fraud, revealed = _first_labels(table, labels)
    first_row = events.times + delay_ns
    late = (is_fraud == 1.0) & (revealed > first_row)
    correction = np.zeros(len(events.times) + 1)
    if late.any():
        codes = events.codes[late]
        start_time = first_row[late]
        stop_time = np.minimum(first_row[late] + length_ns, revealed[late])
        start = events.count_at_or_before(codes, start_time - 1)
        stop = events.count_at_or_before(codes, stop_time - 1)
        np.add.at(correction, start, 1.0)
        np.add.at(correction, stop, -1.0)
    return np.cumsum(correction)[:-1]


def grouped_prefix_sums(values: FloatArray, group_bounds: Int64Array) -> FloatArray:
    """Return prefix sums that restart at each group, one extra slot per group.

    Restarting keeps the magnitudes small, so a window sum taken as a difference of
    two prefixes loses no more precision than the window's own total allows. The
    prefix of group g occupies ``[start_g + g, end_g + g]`` in the result.

    Groups of similar length are padded to the same power-of-four width and summed
    along the rows of one matrix, so the work is at most four times the values with
    a few numpy calls per width. Each row sums its group in order, as a cumsum of the
    group alone would.
    """
    starts = np.asarray(group_bounds[:-1], dtype=np.int64)
    lengths = np.diff(group_bounds).astype(np.int64)
    result = np.zeros(len(values) + len(lengths))
    if len(values) == 0:
        return result
    widths = np.left_shift(1, 2 * np.ceil(np.log2(np.maximum(lengths, 1)) / 2).astype(np.int64))
    for width in np.unique(widths).tolist():
        members = np.flatnonzero(widths == width)
        columns = np.arange(width)
        inside = columns < lengths[members, None]
        padded = np.zeros((len(members), width))
        padded[inside] = values[(starts[members, None] + columns)[inside]]
        targets = (starts[members] + members + 1)[:, None] + columns
        result[targets[inside]] = np.cumsum(padded, axis=1)[inside]
    return result


def _window_sum(
    prefix: FloatArray,
    lower: Int64Array,
    upper: Int64Array,
    group_bounds: Int64Array,
    codes: Int64Array,
) -> FloatArray:
    """Return ``sum(values[lower:upper])`` per row from grouped prefix sums."""
    group_index = np.searchsorted(group_bounds, np.arange(len(codes)), side="right") - 1
    shift = group_index  # group g's prefix is shifted by g slots
    return np.asarray(prefix[upper + shift] - prefix[lower + shift], dtype=np.float64)
