"""Point-in-time correct retrieval of feature values for training rows.

For each entity row (a key and a timestamp ``t``) the join returns the values of the
latest history row of that key with event time ``<= t``; among equal event times the
one created last wins, and among full ties the one stored last. A value older than
its feature's ttl (``event_time < t - ttl``) is null, and a row with no qualifying
history gets nulls: the output has exactly one row per entity row, in input order.

With ``ignore_created_after`` a history row counts only from ``max(event time,
created time)`` on, so values backfilled after ``t`` cannot leak into a training row
even when their event time is earlier than ``t``.

The join is vectorized and runs no Python loop per row. History rows and entity rows
are sorted together by (key, time), and a running maximum of each history row's rank
in (event time, created time, position) order gives every entity row the latest
history row available at its time. A history already in (event time, created time)
order, as time-ordered stores return it, needs only a stable sort by key and one
binary search per entity row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from .definitions import FeatureSet

if TYPE_CHECKING:
    from ..ports import OfflineFeatureStore

Int64Array = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
KeyArray = npt.NDArray[np.generic]


class InvalidRetrieval(ValueError):
    """Entity rows or a history table that a point-in-time join cannot use."""


@dataclass(frozen=True)
class FeatureHistoryTable:
    """Feature values of one entity over time, one row per entity key and event.

    ``values`` has one column per name in ``names``; NaN is null. ``created_ns`` is
    when the row was written (for tie-breaks and backfill exclusion).
    """

    entity: str
    keys: KeyArray
    event_time_ns: Int64Array
    created_ns: Int64Array
    names: tuple[str, ...]
    values: FloatArray

    def __post_init__(self) -> None:
        rows = len(self.keys)
        lengths = {
            "keys": rows,
            "event_time_ns": len(self.event_time_ns),
            "created_ns": len(self.created_ns),
            "values": self.values.shape[0],
        }
        if len(set(lengths.values())) != 1:
            raise InvalidRetrieval(f"history of {self.entity!r}: column lengths differ: {lengths}")
        if self.values.dtype != np.float64:
            raise InvalidRetrieval(
                f"history of {self.entity!r}: values have dtype {self.values.dtype}; "
                "use float64 with NaN for null"
            )
        if self.values.ndim != 2 or self.values.shape[1] != len(self.names):
            raise InvalidRetrieval(
                f"history of {self.entity!r}: values have shape {self.values.shape}, "
                f"expected ({rows}, {len(self.names)}) for names {self.names}"
            )
        for label, column in (
            ("event_time_ns", self.event_time_ns),
            ("created_ns", self.created_ns),
        ):
            if column.dtype != np.int64:
                raise InvalidRetrieval(
                    f"history of {self.entity!r}: {label} has dtype {column.dtype}; "
                    "use int64 nanoseconds since the epoch (UTC)"
                )

    def __len__(self) -> int:
        return len(self.keys)


@dataclass(frozen=True)
class EntityRows:
    """Training rows: an entity key and a timestamp (int64 ns, UTC) per row."""

    keys: KeyArray
    timestamps_ns: Int64Array

    def __post_init__(self) -> None:
        if len(self.keys) != len(self.timestamps_ns):
            raise InvalidRetrieval(
                f"entity rows: {len(self.keys)} keys but {len(self.timestamps_ns)} timestamps"
            )
        if self.timestamps_ns.dtype != np.int64:
            raise InvalidRetrieval(
                f"entity rows: timestamps have dtype {self.timestamps_ns.dtype}; "
                "use int64 nanoseconds since the epoch (UTC)"
            )

    def __len__(self) -> int:
        return len(self.keys)


def latest_rows(
    history: FeatureHistoryTable, rows: EntityRows, *, ignore_created_after: bool = False
) -> Int64Array:
    """Return, per entity row, the index of its latest qualifying history row, or -1.

    The ttl is not applied here; see ``point_in_time_join``.
    """
    if len(rows) == 0 or len(history) == 0:
        return np.full(len(rows), -1, dtype=np.int64)
    _check_key_kinds(history.keys, rows.keys)
    history_codes, row_codes, known = _key_codes(history.keys, rows.keys, len(history) + len(rows))

    event = history.event_time_ns
    created = history.created_ns
    if not ignore_created_after:
        if _in_recency_order(event, created):
            return _latest_in_sorted_history(history, rows, history_codes, row_codes, known)
        if _fits_doubled(event, rows.timestamps_ns):
            return _latest_by_event_time(history, rows, history_codes, row_codes, known)
    available = np.maximum(event, created) if ignore_created_after else event

    # Rank of each history row in "latest" order: event time, created time, then
    # position, which lexsort keeps among full ties because it is stable.
    by_recency = np.lexsort((created, event))
    rank = np.empty(len(history), dtype=np.int64)
    rank[by_recency] = np.arange(len(history), dtype=np.int64)

    # Sort history rows and entity rows together by (key, time); at equal times a
    # history row sorts first, so a value with event time t is visible at t. Offsetting
    # each group by code * stride keeps the running maximum from crossing groups, and
    # an entity row contributes its group's floor, which means "nothing yet".
    history_count = len(history)
    stride = np.int64(history_count + 1)
    codes = np.concatenate([history_codes, row_codes])
    moments = np.concatenate([available, rows.timestamps_ns])
    is_row = np.concatenate(
        [np.zeros(history_count, dtype=np.int8), np.ones(len(rows), dtype=np.int8)]
    )
    keyed = np.concatenate([history_codes * stride + rank + 1, row_codes * stride])
    merged = np.lexsort((is_row, moments, codes))
    best = np.maximum.accumulate(keyed[merged])
    row_positions = merged >= history_count
    best_rank = np.empty(len(rows), dtype=np.int64)
    best_rank[merged[row_positions] - history_count] = (
        best[row_positions] - row_codes[merged[row_positions] - history_count] * stride - 1
    )
    found = known & (best_rank >= 0)
    return np.where(found, by_recency[np.maximum(best_rank, 0)], -1)


def _in_recency_order(event: Int64Array, created: Int64Array) -> bool:
    """Return whether rows are sorted by (event time, created time), as stores that
    append in time order keep them."""
    later = event[1:] > event[:-1]
    tied = (event[1:] == event[:-1]) & (created[1:] >= created[:-1])
    return bool(np.all(later | tied))


def _latest_in_sorted_history(
    history: FeatureHistoryTable,
    rows: EntityRows,
    history_codes: Int64Array,
    row_codes: Int64Array,
    known: npt.NDArray[np.bool_],
) -> Int64Array:
    """Return ``latest_rows`` for a history already in recency order.

    In such a history a row's position is its recency rank, and a stable sort by key
    keeps each key's positions increasing. So ``code * (n + 1) + position`` is sorted,
    and one binary search per entity row finds the last position of its key before
    the first history row later than its timestamp.
    """
    by_key = _stable_order(history_codes)
    stride = np.int64(len(history) + 1)
    sorted_codes = history_codes[by_key]
    composite = sorted_codes * stride + by_key
    # Number of history rows with an event time at or before each entity row.
    visible = _sorted_search(history.event_time_ns, rows.timestamps_ns)
    position = _sorted_search(composite, row_codes * stride + visible - 1) - 1
    clipped = np.maximum(position, 0)
    found = known & (position >= 0) & (sorted_codes[clipped] == row_codes)
    return np.where(found, by_key[clipped], -1)


def _sorted_search(haystack: Int64Array, needles: Int64Array) -> Int64Array:
    """Return ``np.searchsorted(haystack, needles, side="right")``, searching in needle
    order: numpy narrows each search with the previous result when needles increase,
    which keeps large haystacks in cache."""
    order = np.argsort(needles)
    found = np.empty(len(needles), dtype=np.int64)
    found[order] = np.searchsorted(haystack, needles[order], side="right")
    return found


def _stable_order(codes: Int64Array) -> Int64Array:
    """Return a stable argsort of non-negative codes.

    numpy sorts 16-bit integers stably with a linear-time radix sort, so codes below
    2**32 are sorted as two 16-bit digits, low digit first; larger ones fall back to
    the general stable sort.
    """
    largest = int(codes.max()) if len(codes) else 0
    if largest < 2**16:
        return np.argsort(codes.astype(np.uint16), kind="stable")
    if largest < 2**32:
        by_low = np.argsort((codes & 0xFFFF).astype(np.uint16), kind="stable")
        by_high = np.argsort((codes[by_low] >> 16).astype(np.uint16), kind="stable")
        return by_low[by_high]
    return np.argsort(codes, kind="stable")


def _fits_doubled(*times: Int64Array) -> bool:
    """Return whether ``2 * t + 1`` stays inside int64 for every time given."""
    limit = (np.iinfo(np.int64).max - 1) // 2
    return all(len(t) == 0 or (int(t.max()) <= limit and int(t.min()) >= -limit) for t in times)


def _latest_by_event_time(
    history: FeatureHistoryTable,
    rows: EntityRows,
    history_codes: Int64Array,
    row_codes: Int64Array,
    known: npt.NDArray[np.bool_],
) -> Int64Array:
    """Return ``latest_rows`` when rows become available at their event time.

    One sort by (key, 2 * time + is entity row, created time) then puts each key's
    history rows in recency order with every entity row after the history rows of its
    time, so the running maximum of merged positions needs no separate recency sort.
    """
    history_count = len(history)
    total = history_count + len(rows)
    codes = np.concatenate([history_codes, row_codes])
    doubled = np.concatenate([history.event_time_ns * 2, rows.timestamps_ns * 2 + 1])
    created = np.concatenate([history.created_ns, np.zeros(len(rows), dtype=np.int64)])
    merged = np.lexsort((created, doubled, codes))

    stride = np.int64(total + 1)
    merged_codes = codes[merged]
    is_history = merged < history_count
    keyed = merged_codes * stride + np.where(is_history, np.arange(total) + 1, 0)
    best = np.maximum.accumulate(keyed)
    row_slots = np.flatnonzero(~is_history)
    latest_position = best[row_slots] - merged_codes[row_slots] * stride - 1

    result = np.full(len(rows), -1, dtype=np.int64)
    owners = merged[row_slots] - history_count
    found = latest_position >= 0
    result[owners[found]] = merged[latest_position[found]]
    result[~known] = -1
    return result


def point_in_time_join(
    history: FeatureHistoryTable,
    rows: EntityRows,
    names: Sequence[str],
    ttl_ns: Sequence[int],
    *,
    ignore_created_after: bool = False,
) -> FloatArray:
    """Return a ``(len(rows), len(names))`` array of point-in-time values; NaN is null.

    ``ttl_ns[i]`` is the ttl of ``names[i]``; 0 means no limit. Raises
    InvalidRetrieval for a name the history does not hold.
    """
    if len(ttl_ns) != len(names):
        raise InvalidRetrieval(f"{len(names)} feature names but {len(ttl_ns)} ttls")
    position_of = {name: index for index, name in enumerate(history.names)}
    columns = []
    for name in names:
        if name not in position_of:
            raise InvalidRetrieval(
                f"feature {name!r} is not in the history of {history.entity!r}; "
                f"stored features: {', '.join(history.names)}"
            )
        columns.append(position_of[name])
    if len(history) == 0:
        return np.full((len(rows), len(names)), np.nan)

    chosen = latest_rows(history, rows, ignore_created_after=ignore_created_after)
    missing = chosen < 0
    safe = np.where(missing, 0, chosen)
    age = rows.timestamps_ns - history.event_time_ns[safe]
    limits = set(ttl_ns)
    if len(limits) == 1:
        # One ttl for every column, the usual case: expiry is a per-row mask.
        (ttl,) = limits
        if ttl:
            missing |= age > ttl
        limits = set()
    if columns == list(range(len(history.names))):
        out = np.take(history.values, safe, axis=0)
    else:
        out = history.values[np.ix_(safe, np.asarray(columns, dtype=np.int64))]
    out[missing] = np.nan
    for ttl in sorted(limits - {0}):
        expired = age > ttl
        if expired.any():
            feature_mask = np.asarray([limit == ttl for limit in ttl_ns])
            out[np.ix_(expired, feature_mask)] = np.nan
    return out


def _check_key_kinds(history_keys: KeyArray, row_keys: KeyArray) -> None:
    history_numeric = np.issubdtype(history_keys.dtype, np.integer)
    rows_numeric = np.issubdtype(row_keys.dtype, np.integer)
    if history_numeric != rows_numeric:
        sample = row_keys[0] if len(row_keys) else None
        raise InvalidRetrieval(
            f"entity rows have {row_keys.dtype} keys (first: {sample!r}) but the history "
            f"has {history_keys.dtype} keys; convert the entity keys to the history's type"
        )


def _key_codes(
    history_keys: KeyArray, row_keys: KeyArray, total: int
) -> tuple[Int64Array, Int64Array, npt.NDArray[np.bool_]]:
    """Return non-negative int64 codes of history and row keys, equal for equal keys,
    and whether each row key can occur in the history (-1 codes where not).

    Integer keys in a narrow range are their own codes (offset by the minimum), which
    skips a sort; other keys are numbered through ``np.unique``. Codes stay below
    2**62 / (total + 1), so code * (total + 1) + rank never overflows.
    """
    if np.issubdtype(history_keys.dtype, np.integer) and len(history_keys):
        low, high = int(history_keys.min()), int(history_keys.max())
        if (high - low + 1) * (total + 2) < 2**62:
            history_codes = history_keys.astype(np.int64) - low
            inside = np.greater_equal(row_keys, low) & np.less_equal(row_keys, high)
            row_codes = np.where(inside, row_keys.astype(np.int64) - low, -1)
            return history_codes, row_codes, np.asarray(inside, dtype=np.bool_)
    distinct_keys, history_codes = np.unique(history_keys, return_inverse=True)
    row_codes, known = _codes_of(distinct_keys, row_keys)
    return history_codes.astype(np.int64).reshape(-1), row_codes, known


def _codes_of(distinct_keys: KeyArray, keys: KeyArray) -> tuple[Int64Array, npt.NDArray[np.bool_]]:
    """Return each key's index in ``distinct_keys`` and whether it occurs there."""
    position = np.searchsorted(distinct_keys, keys)
    clipped = np.minimum(position, len(distinct_keys) - 1)
    known = distinct_keys[clipped] == keys
    return np.where(known, clipped, -1).astype(np.int64), np.asarray(known, dtype=np.bool_)


@dataclass(frozen=True)
class TrainingRows:
    """Rows to fetch features for: a timestamp per row and the key of each entity.

    ``keys`` maps an entity's join key (such as ``customer_id``) to one key per row.
    """

    timestamps_ns: Int64Array
    keys: Mapping[str, KeyArray]

    def __post_init__(self) -> None:
        if self.timestamps_ns.dtype != np.int64:
            raise InvalidRetrieval(
                f"training rows: timestamps have dtype {self.timestamps_ns.dtype}; "
                "use int64 nanoseconds since the epoch (UTC)"
            )
        for join_key, column in self.keys.items():
            if len(column) != len(self.timestamps_ns):
                raise InvalidRetrieval(
                    f"training rows: {join_key!r} has {len(column)} keys for "
                    f"{len(self.timestamps_ns)} timestamps"
                )

    def __len__(self) -> int:
        return len(self.timestamps_ns)


class HistoricalFeatureService:
    """Point-in-time feature retrieval over an offline store, for training sets."""

    def __init__(self, store: OfflineFeatureStore, feature_set: FeatureSet) -> None:
        self._store = store
        self._feature_set = feature_set

    def get_historical_features(
        self,
        rows: TrainingRows,
        features: Sequence[str],
        *,
        ignore_created_after: bool = False,
    ) -> FloatArray:
        """Return a ``(len(rows), len(features))`` array in the order given; NaN is null.

        Raises InvalidRetrieval, before any history is read, for a name the feature
        set lacks, a feature without an entity, or rows that lack an entity's join key.
        """
        by_entity: dict[str, list[int]] = {}
        known = self._feature_set.names
        for column, name in enumerate(features):
            if name not in known:
                raise InvalidRetrieval(
                    f"feature {name!r} is not in feature set {self._feature_set.name!r}; "
                    f"features: {', '.join(known)}"
                )
            entity = self._feature_set.definition(name).entity
            if entity is None:
                raise InvalidRetrieval(
                    f"feature {name!r} has no entity, so it has no history; compute it "
                    "from the training rows themselves"
                )
            by_entity.setdefault(entity, []).append(column)
        for entity in by_entity:
            join_key = self._feature_set.entity(entity).join_key
            if join_key not in rows.keys:
                raise InvalidRetrieval(
                    f"training rows have no {join_key!r} column, which the features of "
                    f"entity {entity!r} need; columns: {sorted(rows.keys)}"
                )

        out = np.empty((len(rows), len(features)))
        for entity, columns in by_entity.items():
            names = [features[column] for column in columns]
            ttls = [self._feature_set.definition(name).ttl_ns for name in names]
            history = self._store.history(entity, names)
            join_key = self._feature_set.entity(entity).join_key
            entity_rows = EntityRows(np.asarray(rows.keys[join_key]), rows.timestamps_ns)
            values = point_in_time_join(
                history, entity_rows, names, ttls, ignore_created_after=ignore_created_after
            )
            if columns == list(range(len(features))):
                out = values
            else:
                out[:, columns] = values
        return out
