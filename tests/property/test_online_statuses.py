"""Online reads give every value the status of its event time and ttl.

``OnlineFeatureService`` computes statuses for a whole read at once. These tests
compare it with a value-by-value reference on arbitrary stored values, ttls and read
times, on the in-memory store and on the Redis store (fakeredis).
"""

from __future__ import annotations

import fakeredis
from hypothesis import given, settings
from hypothesis import strategies as st

from twinbank.adapters.memory import InMemoryOnlineFeatureStore
from twinbank.adapters.redis.online_store import RedisOnlineFeatureStore
from twinbank.core.features.definitions import (
    Aggregation,
    Entity,
    FeatureDefinition,
    FeatureSet,
    WindowAggregate,
)
from twinbank.core.features.online import (
    FeatureWrite,
    OnlineFeatureService,
    OnlineValue,
    ValueStatus,
)

TTLS = {"NO_TTL": 0, "SHORT": 5, "LONG": 20}
FEATURES = FeatureSet(
    "statuses",
    (Entity("customer", "customer_id"),),
    tuple(
        FeatureDefinition(
            name, "customer", WindowAggregate("amount", Aggregation.SUM, 10), ttl_ns=ttl
        )
        for name, ttl in TTLS.items()
    ),
)

writes = st.lists(
    st.tuples(
        st.integers(0, 6),
        st.integers(0, 40),
        st.dictionaries(
            st.sampled_from(list(TTLS)),
            st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
            min_size=1,
        ),
    ),
    max_size=30,
)


def _expected(
    written: dict[tuple[int, str], tuple[float | None, int]], key: int, name: str, now: int
) -> OnlineValue:
    entry = written.get((key, name))
    if entry is None:
        return OnlineValue(None, ValueStatus.NOT_FOUND, None)
    value, moment = entry
    ttl = TTLS[name]
    if ttl and now - moment > ttl:
        return OnlineValue(None, ValueStatus.OUTSIDE_MAX_AGE, moment)
    return OnlineValue(value, ValueStatus.PRESENT, moment)


@settings(max_examples=120, deadline=None)
@given(
    batch=writes,
    keys=st.lists(st.integers(0, 8), max_size=12),
    names=st.lists(st.sampled_from(list(TTLS)), min_size=1, max_size=3, unique=True),
    now=st.integers(0, 60),
    on_redis=st.booleans(),
)
def test_statuses_match_reference(
    batch: list, keys: list[int], names: list[str], now: int, on_redis: bool
) -> None:
    store = (
        RedisOnlineFeatureStore(fakeredis.FakeRedis(), "statuses")
        if on_redis
        else InMemoryOnlineFeatureStore()
    )
    written: dict[tuple[int, str], tuple[float | None, int]] = {}
    for key, moment, values in batch:
        store.write([FeatureWrite("customer", key, values, moment)])
        for name, value in values.items():
            if (key, name) not in written or written[(key, name)][1] <= moment:
                written[(key, name)] = (value, moment)

    served = OnlineFeatureService(store, FEATURES).get_online_features("customer", keys, names, now)

    assert len(served) == len(keys)
    for key, row in zip(keys, served, strict=True):
        assert list(row) == names
        for name in names:
            expected = _expected(written, key, name, now)
            assert row[name] == expected, (key, name)
            assert type(row[name]) is OnlineValue
