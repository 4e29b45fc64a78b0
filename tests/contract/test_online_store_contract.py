"""The OnlineFeatureStore port's contract, run against every adapter."""

from __future__ import annotations

from collections.abc import Iterator

import fakeredis
import numpy as np
import pytest
import redis

from tests.support.servers import REDIS_URL, delete_prefix, unique_name
from twinbank.adapters.memory import InMemoryOnlineFeatureStore
from twinbank.adapters.redis.online_store import RedisOnlineFeatureStore, UnreadableOnlineValue
from twinbank.core.features.online import NOT_STORED, FeatureWrite, InvalidFeatureWrite

CUSTOMER = "customer"


def _real_client() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as error:
        pytest.fail(f"Redis at {REDIS_URL} is not reachable ({error}); start it (see .ci/run)")
    return client


@pytest.fixture
def real_client() -> Iterator[tuple[redis.Redis, str]]:
    client = _real_client()
    prefix = unique_name("online")
    yield client, prefix
    delete_prefix(client, prefix)
    client.close()


@pytest.fixture(params=["memory", "fakeredis", pytest.param("redis", marks=pytest.mark.redis)])
def store(request: pytest.FixtureRequest) -> Iterator[object]:
    if request.param == "memory":
        yield InMemoryOnlineFeatureStore()
        return
    prefix = unique_name("online")
    client = fakeredis.FakeRedis() if request.param == "fakeredis" else _real_client()
    yield RedisOnlineFeatureStore(client, prefix, key_ttl_ms=60_000)
    delete_prefix(client, prefix)
    client.close()


def write(key: object, time_ns: int, **values: float | None) -> FeatureWrite:
    return FeatureWrite(CUSTOMER, key, values, time_ns)  # type: ignore[arg-type]


def test_read_returns_written_values(store) -> None:
    store.write([write(1, 100, a=1.5, b=None), write("c-2", 200, a=-2.0)])

    rows = store.read(CUSTOMER, [1, "c-2"], ["a", "b"])

    assert rows[0] == {"a": (1.5, 100), "b": (None, 100)}
    assert rows[1] == {"a": (-2.0, 200)}


def test_one_call_mixes_name_lists(store) -> None:
    store.write(
        [
            write(1, 10, a=1.0, b=2.0),
            write(2, 20, b=3.0),
            write(3, 30, b=4.0, a=5),
            write(4, 40, a=6.0, b=None),
        ]
    )

    rows = store.read(CUSTOMER, [1, 2, 3, 4], ["a", "b"])

    assert rows[0] == {"a": (1.0, 10), "b": (2.0, 10)}
    assert rows[1] == {"b": (3.0, 20)}
    assert rows[2] == {"a": (5.0, 30), "b": (4.0, 30)}
    assert rows[3] == {"a": (6.0, 40), "b": (None, 40)}


def test_read_keeps_key_order_and_missing(store) -> None:
    store.write([write(7, 5, a=7.0), write(3, 5, a=3.0)])

    rows = store.read(CUSTOMER, [3, 99, 7, 3], ["a"])

    assert list(rows) == [{"a": (3.0, 5)}, {}, {"a": (7.0, 5)}, {"a": (3.0, 5)}]


def test_read_of_unknown_names_is_empty(store) -> None:
    store.write([write(1, 5, a=1.0)])

    assert list(store.read(CUSTOMER, [1], ["zzz"])) == [{}]
    assert list(store.read(CUSTOMER, [], ["a"])) == []


def test_entities_do_not_share_keys(store) -> None:
    store.write([FeatureWrite("terminal", 1, {"a": 9.0}, 5), write(1, 5, a=1.0)])

    assert list(store.read("terminal", [1], ["a"])) == [{"a": (9.0, 5)}]
    assert list(store.read(CUSTOMER, [1], ["a"])) == [{"a": (1.0, 5)}]


def test_older_write_does_not_replace_newer(store) -> None:
    store.write([write(1, 200, a=2.0)])
    store.write([write(1, 100, a=1.0, b=1.0)])

    rows = store.read(CUSTOMER, [1], ["a", "b"])

    assert rows[0]["a"] == (2.0, 200)
    assert rows[0]["b"] == (1.0, 100)  # no newer b was stored, so the older one lands


def test_newer_and_equal_writes_replace(store) -> None:
    store.write([write(1, 100, a=1.0)])
    store.write([write(1, 200, a=2.0)])
    assert list(store.read(CUSTOMER, [1], ["a"])) == [{"a": (2.0, 200)}]

    store.write([write(1, 200, a=3.0)])
    assert list(store.read(CUSTOMER, [1], ["a"])) == [{"a": (3.0, 200)}]


def test_batch_applies_writes_in_order(store) -> None:
    store.write([write(1, 100, a=1.0), write(1, 300, a=3.0), write(1, 200, a=2.0)])

    assert list(store.read(CUSTOMER, [1], ["a"])) == [{"a": (3.0, 300)}]


def test_large_event_times_round_trip(store) -> None:
    late = 4_102_444_800_000_000_001  # 2100-01-01 plus 1 ns: beyond double precision
    store.write([write(1, late - 1, a=1.0)])
    store.write([write(1, late, a=2.0)])
    store.write([write(1, late - 1, a=9.0)])

    assert list(store.read(CUSTOMER, [1], ["a"])) == [{"a": (2.0, late)}]


def test_float_values_round_trip_exactly(store) -> None:
    values = {"a": 0.1, "b": 1e-300, "c": 123456789.123456789, "d": -0.0}
    store.write([FeatureWrite(CUSTOMER, 1, values, 1)])

    row = store.read(CUSTOMER, [1], list(values))[0]

    assert {name: stored for name, (stored, _) in row.items()} == values


def test_ping(store) -> None:
    assert store.ping() is True


class _Ratio(float):
    """A float subclass, which a write accepts as a number when it is finite."""


@pytest.mark.parametrize(
    ("key", "time_ns", "value"),
    [
        (True, 1, 1.0),
        (1.5, 1, 1.0),
        ("", 1, 1.0),
        (1, -1, 1.0),
        (1, 1.0, 1.0),
        (1, True, 1.0),
        (1, 1, float("nan")),
        (1, 1, float("inf")),
        (1, 1, float("-inf")),
        (1, 1, True),
        (1, 1, "1.0"),
        ("k", 1, float("nan")),
        (1, 1, _Ratio("inf")),
    ],
)
def test_invalid_write_is_rejected(key: object, time_ns: object, value: float) -> None:
    with pytest.raises(InvalidFeatureWrite, match="write for customer"):
        FeatureWrite(CUSTOMER, key, {"b": 0.5, "a": value}, time_ns)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("key", "time_ns", "value"),
    [
        (1, 0, 1.0),
        ("k", 1, -0.0),
        (1, 1, None),
        (1, 1, 3),
        (1, 1, _Ratio("0.25")),
        (1, 1, 1.7976931348623157e308),
    ],
)
def test_valid_write_is_accepted(key: object, time_ns: int, value: float | None) -> None:
    write = FeatureWrite(CUSTOMER, key, {"a": value}, time_ns)  # type: ignore[arg-type]

    assert write.values == {"a": value}


@pytest.mark.redis
def test_redis_write_refreshes_key_expiry(real_client: tuple[redis.Redis, str]) -> None:
    real_redis, redis_prefix = real_client
    store = RedisOnlineFeatureStore(real_redis, redis_prefix, key_ttl_ms=60_000)
    store.write([write(1, 100, a=1.0)])
    key = f"{redis_prefix}:online:{CUSTOMER}:i1"
    real_redis.pexpire(key, 10)

    store.write([write(1, 50, a=0.5)])  # older: the value stays, the expiry is refreshed

    assert real_redis.pttl(key) > 10_000
    assert list(store.read(CUSTOMER, [1], ["a"])) == [{"a": (1.0, 100)}]


@pytest.mark.redis
def test_redis_store_without_expiry_keeps_keys(real_client: tuple[redis.Redis, str]) -> None:
    real_redis, redis_prefix = real_client
    store = RedisOnlineFeatureStore(real_redis, redis_prefix)
    store.write([write(1, 100, a=1.0)])

    assert real_redis.pttl(f"{redis_prefix}:online:{CUSTOMER}:i1") == -1


def test_read_of_many_keys_aligns_values_and_times(store) -> None:
    store.write([write(1, 100, a=1.5, b=None), write(2, 200, b=-2.0)])

    stored = store.read(CUSTOMER, [2, 3, 1], ["a", "b"])

    assert stored.names == ("a", "b")
    assert stored.event_times_ns.tolist() == [
        [NOT_STORED, 200],
        [NOT_STORED, NOT_STORED],
        [100, 100],
    ]
    assert np.isnan(stored.values[:, 0][:2]).all()
    assert stored.values[2, 0] == 1.5
    assert np.isnan(stored.values[2, 1])  # a stored null
    assert list(stored) == [{"b": (-2.0, 200)}, {}, {"a": (1.5, 100), "b": (None, 100)}]


@pytest.mark.redis
def test_redis_refuses_a_value_in_another_format(real_client: tuple[redis.Redis, str]) -> None:
    real_redis, redis_prefix = real_client
    store = RedisOnlineFeatureStore(real_redis, redis_prefix)
    store.write([write(1, 100, a=1.0), write(2, 100, a=2.0)])
    real_redis.hset(f"{redis_prefix}:online:{CUSTOMER}:i2", "a", "00000000000000000100" + "2.0")

    with pytest.raises(UnreadableOnlineValue, match="materialize the features again"):
        store.read(CUSTOMER, [1, 2], ["a"])


def test_int_and_str_keys_are_distinct(store) -> None:
    store.write([write(5, 100, a=1.0), write("5", 100, a=2.0)])

    assert list(store.read(CUSTOMER, [5, "5"], ["a"])) == [{"a": (1.0, 100)}, {"a": (2.0, 100)}]


@pytest.mark.redis
def test_redis_read_error_leaves_store_usable(real_client: tuple[redis.Redis, str]) -> None:
    real_redis, redis_prefix = real_client
    store = RedisOnlineFeatureStore(real_redis, redis_prefix)
    store.write([write(1, 100, a=1.0), write(3, 100, a=3.0)])
    real_redis.set(f"{redis_prefix}:online:{CUSTOMER}:i2", "not a hash")

    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        store.read(CUSTOMER, [1, 2, 3], ["a"])

    assert list(store.read(CUSTOMER, [3, 1], ["a"])) == [{"a": (3.0, 100)}, {"a": (1.0, 100)}]
