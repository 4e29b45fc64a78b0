"""Point-in-time correct retrieval of feature values for training rows.

For each entity row (a key and a timestamp ``t``) the join returns the values of the
latest history row of that key with event time ``<= t``; among equal event times the
one created last wins, and among full ties the one stored last. A value older than
its feature's ttl (``event_time < t - ttl``) is null, and a row with no qualifying
history gets nulls: the output has exactly one row per entity row, in input order.

With ``ignore_created_after`` a history row counts only from ``max(event time,
created time)`` on, so values backfilled after ``t`` cannot leak into a training row
even when their event time is earlier than ``t``.

The join is vectorized and runs no Python loop per row. With the history in recency
order, (event time, created time, position), a row's position is its rank, and the
result for an entity row is the last position of its key before the first history
row later than its timestamp: history positions grouped by key and entity rows
grouped by key in time order meet in one binary search. A history in another order is
put in recency order first, which time-ordered stores skip. With
``ignore_created_after`` the time a row becomes visible differs from its rank, so
history rows and entity rows are sorted together by (key, time), and a running
maximum of each history row's rank gives every entity row the latest row available
at its time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from scipy import sparse

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
            return _latest_in_sorted_history(event, rows, history_codes, row_codes, known)
        order, sorted_event = _recency_order(event, created)
        latest = _latest_in_sorted_history(
            sorted_event, rows, history_codes[order], row_codes, known
        )
        return np.where(latest >= 0, order[np.maximum(latest, 0)], -1)
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


def _recency_order(event: Int64Array, created: Int64Array) -> tuple[Int64Array, Int64Array]:
    """Return the history's positions in recency order and the event times in it.

    A stable sort by event time alone is enough unless rows with equal event times are
    out of created-time order. Only then does the second sort key pay its cost.
    """
    order = np.argsort(event, kind="stable")
    sorted_event = event[order]
    if not _in_recency_order(sorted_event, created[order]):
        order = np.lexsort((created, event))
        sorted_event = event[order]
    return order, sorted_event


def _latest_in_sorted_history(
    event: Int64Array,
    rows: EntityRows,
    history_codes: Int64Array,
    row_codes: Int64Array,
    known: npt.NDArray[np.bool_],
) -> Int64Array:
    """Return ``latest_rows`` for a history already in recency order.

    In such a history a row's position is its recency rank, so the result for an
    entity row is the last position of its key before the first history row later
    than its timestamp. History positions grouped by key (increasing within a key)
    give the sorted values ``code * (n + 1) + position``; entity rows taken in time
    order and grouped by key in the same way give sorted search values, so one
    binary search in key and time order finds the row of every entity row.
    """
    history_codes, row_codes, known = _dense_codes(history_codes, row_codes, known)
    code_count = int(history_codes.max()) + 1
    stride = np.int64(len(event) + 1)

    by_key, key_starts = _group_by_code(history_codes, code_count)
    group_floor = np.arange(code_count, dtype=np.int64) * stride
    composite = np.repeat(group_floor, np.diff(key_starts)) + by_key

    by_time = np.argsort(rows.timestamps_ns)
    # Number of history rows with an event time at or before each entity row.
    visible = np.searchsorted(event, rows.timestamps_ns[by_time], side="right")
    codes_by_time = np.where(known, row_codes, 0)[by_time]
    by_code, row_starts = _group_by_code(codes_by_time, code_count)
    row_group = np.repeat(np.arange(code_count, dtype=np.int64), np.diff(row_starts))
    slot = (
        np.searchsorted(composite, group_floor[row_group] + visible[by_code] - 1, side="right") - 1
    )
    # A slot before the key's first history row belongs to another key: nothing yet.
    found = slot >= key_starts[row_group]
    latest = np.empty(len(rows), dtype=np.int64)
    latest[by_time[by_code]] = np.where(found, by_key[slot], -1)
    latest[~known] = -1
    return latest


def _dense_codes(
    history_codes: Int64Array, row_codes: Int64Array, known: npt.NDArray[np.bool_]
) -> tuple[Int64Array, Int64Array, npt.NDArray[np.bool_]]:
    """Return codes numbered from 0 without large gaps, so that a table with one entry
    per code stays no larger than the rows themselves."""
    if int(history_codes.max()) < len(history_codes) + len(row_codes):
        return history_codes, row_codes, known
    distinct, dense = np.unique(history_codes, return_inverse=True)
    dense_rows, inside = _codes_of(distinct, row_codes)
    return dense.astype(np.int64).reshape(-1), dense_rows, known & inside


def _group_by_code(
    codes: Int64Array, code_count: int
) -> tuple[npt.NDArray[np.integer], npt.NDArray[np.integer]]:
    """Return the positions of ``codes`` grouped by code, increasing within a code (a
    stable argsort), and where each code's group starts (``code_count + 1`` entries).

    A compressed sparse row matrix with one entry per position, in the code's row and
    the position's column, is exactly this grouping once its column indices are sorted
    within rows, and scipy builds it by counting, in linear time. 32-bit indices,
    where they fit, halve the memory it moves.
    """
    count = len(codes)
    index_type = np.int32 if max(count, code_count) < 2**31 else np.int64
    entries = sparse.csr_array(
        (
            np.ones(count, dtype=np.int8),
            (codes.astype(index_type), np.arange(count, dtype=index_type)),
        ),
        shape=(code_count, count),
    )
    entries.sort_indices()
    return entries.indices, entries.indptr


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
        history_keys, row_keys, representable = _same_integer_type(history_keys, row_keys)
        low, high = int(history_keys.min()), int(history_keys.max())
        if (high - low + 1) * (total + 2) < 2**62:
            # The subtraction is exact for every history key, in int64 as in uint64. It
            # may wrap for row keys outside [low, high], which the mask drops.
            offset = history_keys.dtype.type(low)
            history_codes = np.subtract(history_keys, offset).astype(np.int64, copy=False)
            inside = np.greater_equal(row_keys, offset) & np.less_equal(
                row_keys, history_keys.dtype.type(high)
            )
            if representable is not None:
                inside &= representable
            row_codes = np.where(
                inside, np.subtract(row_keys, offset).astype(np.int64, copy=False), -1
            )
            return history_codes, row_codes, inside
        distinct_keys, codes = np.unique(history_keys, return_inverse=True)
        row_codes, known = _codes_of(distinct_keys, row_keys)
        if representable is not None:
            known &= representable
            row_codes = np.where(known, row_codes, -1)
        return codes.astype(np.int64).reshape(-1), row_codes, known
    distinct_keys, history_codes = np.unique(history_keys, return_inverse=True)
    row_codes, known = _codes_of(distinct_keys, row_keys)
    return history_codes.astype(np.int64).reshape(-1), row_codes, known


def _same_integer_type(
    history_keys: KeyArray, row_keys: KeyArray
) -> tuple[KeyArray, KeyArray, npt.NDArray[np.bool_] | None]:
    """Return both integer key columns as int64, or as uint64 when a history key is
    2**63 or more, and which row keys that type can represent (None when all can).
    Row keys it cannot represent match no history key.

    A common type keeps comparisons exact: numpy compares int64 with uint64 through
    float64, which merges keys such as 2**53 and 2**53 + 1.
    """
    int64_max = np.iinfo(np.int64).max
    representable = None
    if history_keys.dtype.kind == "u" and int(history_keys.max()) > int64_max:
        target: type[np.integer] = np.uint64
        if row_keys.dtype.kind == "i":
            representable = np.greater_equal(row_keys, 0)
    else:
        target = np.int64
        if row_keys.dtype == np.uint64:
            representable = np.less_equal(row_keys, np.uint64(int64_max))
    if representable is not None:
        row_keys = np.where(representable, row_keys, 0)
    return (
        history_keys.astype(target, copy=False),
        row_keys.astype(target, copy=False),
        representable,
    )


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
