"""Commands packed by hiredis on one connection, against fakeredis and a real Redis."""

from __future__ import annotations

from collections.abc import Iterator

import fakeredis
import pytest
import redis

from tests.support.servers import REDIS_URL, delete_prefix, unique_name
from twinbank.adapters.redis.packed import PackedSession, execute_packed


@pytest.fixture(params=["fakeredis", pytest.param("redis", marks=pytest.mark.redis)])
def client(request: pytest.FixtureRequest) -> Iterator[tuple[redis.Redis, str]]:
    prefix = unique_name("packed")
    if request.param == "fakeredis":
        server = fakeredis.FakeServer()
        connection = fakeredis.FakeRedis(server=server)
    else:
        connection = redis.Redis.from_url(REDIS_URL)
        try:
            connection.ping()
        except redis.ConnectionError as error:
            pytest.fail(f"Redis at {REDIS_URL} is not reachable: {error}")
    yield connection, prefix
    delete_prefix(connection, prefix)
    connection.close()


def _other_client(client: redis.Redis) -> redis.Redis:
    """Return a client with its own connections to the same server."""
    if isinstance(client, fakeredis.FakeRedis):
        return fakeredis.FakeRedis(server=client.connection_pool.connection_kwargs["server"])
    return redis.Redis.from_url(REDIS_URL)


def test_replies_come_in_command_order(client) -> None:
    redis_client, prefix = client
    replies = execute_packed(
        redis_client,
        [
            ("SADD", f"{prefix}:set", "a", b"b", 3),
            ("SMISMEMBER", f"{prefix}:set", "a", "x", "3"),
            ("MSET", f"{prefix}:k1", "é", f"{prefix}:k2", b"\x00\xff"),
            ("MGET", f"{prefix}:k1", f"{prefix}:k2", f"{prefix}:none"),
        ],
    )

    assert replies[0] == 3
    assert replies[1] == [1, 0, 1]
    assert replies[3] == ["é".encode(), b"\x00\xff", None]


def test_error_reply_is_raised_after_all_replies(client) -> None:
    redis_client, prefix = client
    redis_client.set(f"{prefix}:text", "x")

    with pytest.raises(redis.ResponseError):
        execute_packed(
            redis_client,
            [("SADD", f"{prefix}:text", "a"), ("SET", f"{prefix}:after", "1")],
        )

    assert redis_client.get(f"{prefix}:after") == b"1"
    assert execute_packed(redis_client, [("GET", f"{prefix}:after")]) == [b"1"]


def test_transaction_runs_all_commands(client) -> None:
    redis_client, prefix = client
    with PackedSession(redis_client) as session:
        session.execute([("WATCH", f"{prefix}:lease")])
        replies = session.transaction([("SET", f"{prefix}:a", 1), ("INCRBY", f"{prefix}:a", 41)])

    assert replies == [b"OK", 42]
    assert redis_client.get(f"{prefix}:a") == b"42"


def test_transaction_after_watched_change_raises(client) -> None:
    redis_client, prefix = client
    other = _other_client(redis_client)
    try:
        with PackedSession(redis_client) as session:
            session.execute([("WATCH", f"{prefix}:lease")])
            other.set(f"{prefix}:lease", "someone else")
            with pytest.raises(redis.WatchError):
                session.transaction([("SET", f"{prefix}:a", 1)])
    finally:
        other.close()

    assert redis_client.get(f"{prefix}:a") is None


def _watch_then_fail(client: redis.Redis, key: str) -> None:
    with PackedSession(client) as session:
        session.execute([("WATCH", key)])
        raise RuntimeError("the lease is not ours")


def test_leaving_a_session_unwatches(client) -> None:
    redis_client, prefix = client
    with pytest.raises(RuntimeError):
        _watch_then_fail(redis_client, f"{prefix}:lease")
    redis_client.set(f"{prefix}:lease", "changed")

    # The pooled connection comes back without the watch, so this transaction runs.
    with PackedSession(redis_client) as session:
        session.transaction([("SET", f"{prefix}:a", 1)])

    assert redis_client.get(f"{prefix}:a") == b"1"


def test_failed_command_in_transaction_raises(client) -> None:
    redis_client, prefix = client
    redis_client.set(f"{prefix}:text", "x")

    with PackedSession(redis_client) as session, pytest.raises(redis.ResponseError):
        session.transaction([("SADD", f"{prefix}:text", "a"), ("SET", f"{prefix}:b", 1)])

    # Redis runs the commands after a failed one in the same MULTI/EXEC.
    assert redis_client.get(f"{prefix}:b") == b"1"
