"""Point-in-time retrieval equals a row-by-row reference and never looks ahead."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twinbank.core.features.historical import (
    EntityRows,
    FeatureHistoryTable,
    InvalidRetrieval,
    latest_rows,
    point_in_time_join,
)

NAMES = ("f_short", "f_long", "f_forever")
TTLS = (5, 20, 0)
ttl_choices = st.sampled_from([TTLS, (7, 7, 7), (0, 0, 0)])

times = st.integers(min_value=0, max_value=40)
history_rows = st.lists(
    st.tuples(
        st.integers(0, 4),  # key
        times,  # event time
        st.integers(0, 15),  # created delay after the event time
        st.lists(st.one_of(st.none(), st.floats(-1e6, 1e6)), min_size=3, max_size=3),
    ),
    max_size=40,
)
entity_rows = st.lists(st.tuples(st.integers(0, 6), times), max_size=30)


def _history(rows: list) -> FeatureHistoryTable:
    values = np.array(
        [[np.nan if v is None else v for v in row[3]] for row in rows], dtype=np.float64
    ).reshape(len(rows), len(NAMES))
    return FeatureHistoryTable(
        entity="customer",
        keys=np.array([row[0] for row in rows], dtype=np.int64),
        event_time_ns=np.array([row[1] for row in rows], dtype=np.int64),
        created_ns=np.array([row[1] + row[2] for row in rows], dtype=np.int64),
        names=NAMES,
        values=values,
    )


def _reference(
    history: list, rows: list, ignore_created_after: bool, ttls: tuple[int, ...]
) -> list[list[float]]:
    """Scan every history row for every entity row: the definition, written plainly."""
    out = []
    for key, timestamp in rows:
        best = None
        for position, (h_key, event, delay, values) in enumerate(history):
            created = event + delay
            if h_key != key or event > timestamp:
                continue
            if ignore_created_after and created > timestamp:
                continue
            candidate = (event, created, position)
            if best is None or candidate > best[0]:
                best = (candidate, values)
        result = []
        for index, ttl in enumerate(ttls):
            if best is None or (ttl and best[0][0] < timestamp - ttl):
                result.append(math.nan)
            else:
                value = best[1][index]
                result.append(math.nan if value is None else value)
        out.append(result)
    return out


@settings(max_examples=300, deadline=None)
@given(
    history=history_rows,
    rows=entity_rows,
    ignore_created_after=st.booleans(),
    ttls=ttl_choices,
    presorted=st.booleans(),
    key_scale=st.sampled_from([1, 70_000, 10**17]),
)
def test_join_equals_reference(
    history: list,
    rows: list,
    ignore_created_after: bool,
    ttls: tuple[int, ...],
    presorted: bool,
    key_scale: int,
) -> None:
    if presorted:  # in (event, created) order, as a time-ordered store returns it
        history = sorted(history, key=lambda row: (row[1], row[1] + row[2]))
    # Keys 70,000 apart are their own codes, with gaps wider than the rows that the
    # grouping of a sorted history closes first. Keys 10**17 apart are too sparse to be
    # their own codes, so they go through np.unique.
    history = [(key * key_scale, *rest) for key, *rest in history]
    rows = [(key * key_scale, timestamp) for key, timestamp in rows]
    table = _history(history)
    query = EntityRows(
        np.array([row[0] for row in rows], dtype=np.int64),
        np.array([row[1] for row in rows], dtype=np.int64),
    )

    result = point_in_time_join(
        table, query, NAMES, ttls, ignore_created_after=ignore_created_after
    )

    expected = np.array(_reference(history, rows, ignore_created_after, ttls)).reshape(
        len(rows), len(NAMES)
    )
    assert result.shape == (len(rows), len(NAMES))
    np.testing.assert_array_equal(result, expected)


@settings(max_examples=200, deadline=None)
@given(history=history_rows, rows=entity_rows, ignore_created_after=st.booleans())
def test_join_never_looks_ahead(history: list, rows: list, ignore_created_after: bool) -> None:
    table = _history(history)
    query = EntityRows(
        np.array([row[0] for row in rows], dtype=np.int64),
        np.array([row[1] for row in rows], dtype=np.int64),
    )

    chosen = latest_rows(table, query, ignore_created_after=ignore_created_after)

    found = chosen >= 0
    assert np.all(table.event_time_ns[chosen[found]] <= query.timestamps_ns[found])
    assert np.all(table.keys[chosen[found]] == query.keys[found])
    if ignore_created_after:
        assert np.all(table.created_ns[chosen[found]] <= query.timestamps_ns[found])


INT64 = np.iinfo(np.int64)
extreme_keys = st.sampled_from(
    [
        *(0, 1, -1, 2**31 - 1, -(2**31), 2**53, 2**53 + 1, 2**62, -(2**62)),
        *(INT64.max, INT64.min, 2**63, 2**64 - 1),
    ]
)
extreme_times = st.one_of(
    st.integers(-3, 3), st.sampled_from([INT64.min, INT64.min + 1, INT64.max - 1, INT64.max])
)


def _latest_reference(history: list, rows: list, ignore_created_after: bool) -> list[int]:
    out = []
    for key, timestamp in rows:
        best = None
        for position, (h_key, event, created) in enumerate(history):
            if h_key != key or event > timestamp:
                continue
            if ignore_created_after and created > timestamp:
                continue
            if best is None or (event, created, position) > best:
                best = (event, created, position)
        out.append(-1 if best is None else best[2])
    return out


def _integer_keys(keys: list[int], dtype: type[np.integer]) -> tuple[list[int], np.ndarray]:
    """Return the keys that ``dtype`` can represent (int64 drops keys of 2**63 and over,
    uint64 drops negative ones, int32 keeps keys within +-2**31) and their column."""
    representable = [key for key in keys if np.iinfo(dtype).min <= key <= np.iinfo(dtype).max]
    return representable, np.array(representable, dtype=dtype)


@settings(max_examples=300, deadline=None)
@given(
    history=st.lists(st.tuples(extreme_keys, extreme_times, extreme_times), max_size=25),
    rows=st.lists(st.tuples(extreme_keys, extreme_times), max_size=20),
    history_dtype=st.sampled_from([np.int64, np.uint64, np.int32]),
    row_dtype=st.sampled_from([np.int64, np.uint64, np.int32]),
    ignore_created_after=st.booleans(),
)
def test_extreme_integer_keys_match_reference(
    history: list,
    rows: list,
    history_dtype: type[np.integer],
    row_dtype: type[np.integer],
    ignore_created_after: bool,
) -> None:
    # int64 and uint64 keys both occur (hashed ids); numpy compares the two through
    # float64, which merges keys such as 2**53 and 2**53 + 1.
    history_keys, history_column = _integer_keys([row[0] for row in history], history_dtype)
    history = [row for row in history if row[0] in set(history_keys)]
    row_keys, row_column = _integer_keys([row[0] for row in rows], row_dtype)
    rows = [row for row in rows if row[0] in set(row_keys)]
    table = FeatureHistoryTable(
        "customer",
        history_column,
        np.array([row[1] for row in history], dtype=np.int64),
        np.array([row[2] for row in history], dtype=np.int64),
        ("x",),
        np.zeros((len(history), 1)),
    )
    query = EntityRows(row_column, np.array([row[1] for row in rows], dtype=np.int64))

    chosen = latest_rows(table, query, ignore_created_after=ignore_created_after)

    assert chosen.tolist() == _latest_reference(history, rows, ignore_created_after)


def _feature_x_table(entity: str, keys: np.ndarray, times_ns: list[int]) -> FeatureHistoryTable:
    """Return a history of one feature ``x`` valued 1, 2, 3, ... in row order, each row
    created at its event time."""
    times = np.array(times_ns, dtype=np.int64)
    values = np.arange(1.0, len(times) + 1.0).reshape(-1, 1)
    return FeatureHistoryTable(entity, keys, times, times.copy(), ("x",), values)


def test_uint64_keys_above_int64_are_matched() -> None:
    keys = np.array([2**63 + 5, 2**63 + 5, 3], dtype=np.uint64)
    table = _feature_x_table("card", keys, [10, 20, 10])
    rows = EntityRows(
        np.array([2**63 + 5, 3, 2**63 + 6], dtype=np.uint64), np.array([15, 15, 15], dtype=np.int64)
    )

    assert latest_rows(table, rows).tolist() == [0, 2, -1]


def test_string_keys_and_input_order() -> None:
    table = FeatureHistoryTable(
        "terminal",
        np.array(["b", "a", "b"], dtype=object),
        np.array([10, 10, 20], dtype=np.int64),
        np.array([10, 10, 20], dtype=np.int64),
        ("x",),
        np.array([[1.0], [2.0], [3.0]]),
    )
    rows = EntityRows(
        np.array(["b", "zz", "a", "b", "b"], dtype=object),
        np.array([25, 25, 10, 15, 5], dtype=np.int64),
    )

    result = point_in_time_join(table, rows, ["x"], [0])

    np.testing.assert_array_equal(result[:, 0], [3.0, np.nan, 2.0, 1.0, np.nan])


def test_equal_event_times_take_latest_created() -> None:
    table = FeatureHistoryTable(
        "customer",
        np.array([1, 1, 1], dtype=np.int64),
        np.array([10, 10, 10], dtype=np.int64),
        np.array([12, 30, 11], dtype=np.int64),
        ("x",),
        np.array([[1.0], [2.0], [3.0]]),
    )
    rows = EntityRows(np.array([1, 1], dtype=np.int64), np.array([20, 40], dtype=np.int64))

    assert point_in_time_join(table, rows, ["x"], [0])[:, 0].tolist() == [2.0, 2.0]
    backfill_safe = point_in_time_join(table, rows, ["x"], [0], ignore_created_after=True)
    assert backfill_safe[:, 0].tolist() == [1.0, 2.0]


def test_key_type_mismatch_names_the_value() -> None:
    table = FeatureHistoryTable(
        "customer",
        np.array([1], dtype=np.int64),
        np.array([1], dtype=np.int64),
        np.array([1], dtype=np.int64),
        ("x",),
        np.array([[1.0]]),
    )
    rows = EntityRows(np.array(["1"], dtype=object), np.array([5], dtype=np.int64))

    with pytest.raises(InvalidRetrieval, match="first: '1'"):
        point_in_time_join(table, rows, ["x"], [0])


def test_unknown_feature_is_rejected() -> None:
    table = FeatureHistoryTable(
        "customer",
        np.array([1], dtype=np.int64),
        np.array([1], dtype=np.int64),
        np.array([1], dtype=np.int64),
        ("x",),
        np.array([[1.0]]),
    )
    rows = EntityRows(np.array([1], dtype=np.int64), np.array([5], dtype=np.int64))

    with pytest.raises(InvalidRetrieval, match="'nope'"):
        point_in_time_join(table, rows, ["nope"], [0])


@pytest.mark.parametrize("ignore_created_after", [False, True])
def test_sparse_keys_allocate_no_range(ignore_created_after: bool) -> None:
    # A table with one entry per code from 0 to 2**57 would need 2**57 entries, which
    # no machine has; numpy would raise MemoryError or ValueError.
    keys = np.array([2**57, 0, 2**57], dtype=np.int64)
    table = _feature_x_table("customer", keys, [1, 2, 3])
    rows = EntityRows(np.array([0, 2**57, 5], dtype=np.int64), np.array([5, 2, 5], dtype=np.int64))

    chosen = latest_rows(table, rows, ignore_created_after=ignore_created_after)

    assert chosen.tolist() == [1, 0, -1]
