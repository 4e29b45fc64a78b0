"""Many Redis commands sent in one write on one connection, each packed by hiredis.

A redis-py pipeline encodes every argument with a Python call, and a batch of the
stream worker has about 10,000 arguments (history values, event ids, label index
entries). ``hiredis.pack_command`` packs a whole command of str, bytes and int
arguments in C. Replies are read in order. An error reply is raised only after every
reply was read, so that the connection goes back to the pool in a clean state. A
connection whose replies were not all read is closed instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import hiredis
import redis

Argument = str | bytes | int
Command = Sequence[Argument]


def execute_packed(client: redis.Redis, commands: Sequence[Command]) -> list[Any]:
    """Send the commands in one write and return their replies in order.

    Raises the first error reply as ``redis.ResponseError`` once all replies are in.
    """
    if not commands:
        return []
    pool = client.connection_pool
    connection = pool.get_connection()
    try:
        return _round_trip(connection, commands)
    except BaseException:
        connection.disconnect()
        raise
    finally:
        pool.release(connection)


class PackedSession:
    """One pooled connection held for several round trips, as WATCH needs.

    Use it as a context manager. Leaving it returns the connection to the pool, after
    UNWATCH when keys are still watched, or closes it when a round trip was cut off
    before all its replies were read.
    """

    def __init__(self, client: redis.Redis) -> None:
        self._pool = client.connection_pool
        self._connection = self._pool.get_connection()
        self._in_sync = True
        self._watching = False

    def __enter__(self) -> PackedSession:
        return self

    def __exit__(self, *_: object) -> None:
        try:
            if not self._in_sync:
                self._connection.disconnect()
            elif self._watching:
                _round_trip(self._connection, [("UNWATCH",)])
        except BaseException:
            self._connection.disconnect()
            raise
        finally:
            self._pool.release(self._connection)

    def execute(self, commands: Sequence[Command]) -> list[Any]:
        """Send the commands in one write and return their replies in order.

        Raises the first error reply as ``redis.ResponseError`` once all replies are in.
        """
        self._in_sync = False
        try:
            replies = _round_trip(self._connection, commands)
        except redis.ResponseError:
            self._in_sync = True
            raise
        finally:
            for command in commands:
                name = str(command[0]).upper()
                if name == "WATCH":
                    self._watching = True
                elif name in ("EXEC", "UNWATCH", "DISCARD"):
                    self._watching = False
        self._in_sync = True
        return replies

    def transaction(self, commands: Sequence[Command]) -> list[Any]:
        """Run the commands in MULTI/EXEC and return their replies.

        Raises ``redis.WatchError`` when a watched key changed, in which case nothing
        ran, and ``redis.ResponseError`` for the first command that failed.
        """
        replies = self.execute([("MULTI",), *commands, ("EXEC",)])
        result = replies[-1]
        if result is None:
            raise redis.WatchError("a watched key changed; the transaction did not run")
        if not isinstance(result, list):
            raise redis.ResponseError(f"EXEC replied {result!r}, not an array")
        for reply in result:
            if isinstance(reply, redis.ResponseError):
                raise reply
        return result


def _round_trip(
    connection: redis.connection.ConnectionInterface, commands: Sequence[Command]
) -> list[Any]:
    """Send the commands in one write and read every reply, errors included."""
    connection.send_packed_command([b"".join(map(hiredis.pack_command, map(tuple, commands)))])
    replies: list[Any] = []
    error: redis.ResponseError | None = None
    for _ in commands:
        try:
            replies.append(connection.read_response())
        except redis.ResponseError as reply:
            replies.append(reply)
            error = error or reply
    if error is not None:
        raise error
    return replies
