"""Online feature values in Redis, one hash per entity key.

``<prefix>:online:<entity>:i<key>`` (an int key) or ``...:s<key>`` (a str key) is a
hash from feature name to 32 lowercase hexadecimal digits: the value's event time as
a big-endian int64, then the value's IEEE-754 double, big-endian. A null value is stored as a quiet NaN, which no write
can carry as a value. Fixed-width hexadecimal times compare correctly as strings in
Lua, where numbers are doubles and would round nanosecond times above 2**53. A read
of many fields decodes them all with one ``bytes.fromhex`` and one numpy view, which
is several times faster than parsing decimal text field by field.

A batch of writes is one EVALSHA of a Lua script, so it is atomic and costs one round
trip. Per field, the script replaces the stored value only when the stored event time
is not later than the write's, then refreshes the key's expiry. A read sends one
HMGET per key in a single write to the server and reads the replies in order.

NOTE: the script touches many keys in one call. Redis Cluster allows that only when
every key hashes to the same slot, so this adapter targets a single Redis server.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from itertools import chain

import numpy as np
import numpy.typing as npt
import redis

from twinbank.core.features.online import NOT_STORED, FeatureWrite, StoredValues
from twinbank.core.ports import EntityKey

_FIELD_DIGITS = 32
_DOUBLE = struct.Struct(">d")
_TIME = struct.Struct(">q")
# The stand-in for a field that is not stored: NOT_STORED as the time, NaN as the value.
_ABSENT = (_TIME.pack(NOT_STORED) + _DOUBLE.pack(math.nan)).hex().encode()

# KEYS: one hash per write. ARGV[1]: key expiry in ms (0 for none). ARGV[2]: the
# writes as one string of newline-terminated tokens, three per write: the index of
# its list of feature names, its event time (16 hex digits) and its values (16 hex
# digits each, in the order of the names, with no separator). ARGV[3] on: the lists
# of feature names, each name newline-terminated. Writes of one entity share a list,
# so names are sent once per call, and one string instead of one argument per field
# saves the client most of its command encoding. Returns the number of fields written.
_WRITE_SCRIPT = """
local expiry = tonumber(ARGV[1])
local name_lists = {}
for list = 3, #ARGV do
  local names = {}
  for name in string.gmatch(ARGV[list], "([^\\n]*)\\n") do
    names[#names + 1] = name
  end
  name_lists[list - 2] = names
end
local tokens = {}
local count = 0
for token in string.gmatch(ARGV[2], "([^\\n]*)\\n") do
  count = count + 1
  tokens[count] = token
end
local position = 1
local written = 0
for _, key in ipairs(KEYS) do
  local names = name_lists[tonumber(tokens[position])]
  local event_time = tokens[position + 1]
  local values = tokens[position + 2]
  local stored = redis.call('HMGET', key, unpack(names))
  local changes = {}
  for index = 1, #names do
    local current = stored[index]
    if (not current) or string.sub(current, 1, 16) <= event_time then
      changes[#changes + 1] = names[index]
      changes[#changes + 1] = event_time .. string.sub(values, 16 * index - 15, 16 * index)
    end
  end
  if #changes > 0 then
    redis.call('HSET', key, unpack(changes))
    written = written + #changes / 2
  end
  if expiry > 0 then
    redis.call('PEXPIRE', key, expiry)
  end
  position = position + 3
end
return written
"""


class UnreadableOnlineValue(ValueError):
    """A stored field that is not in this adapter's format (written by another version)."""


def _decode(
    fields: list[bytes], entity: str
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Return the values (NaN for null or not stored) and event times of stored fields."""
    blob = b"".join(fields)
    if len(blob) != _FIELD_DIGITS * len(fields):
        bad = next(field for field in fields if len(field) != _FIELD_DIGITS)
        raise UnreadableOnlineValue(
            f"online value {bad[:40]!r} of entity {entity!r} is not 32 hexadecimal digits; "
            "it was written by an older twinbank: materialize the features again"
        )
    try:
        words = np.frombuffer(bytes.fromhex(blob.decode("ascii")), dtype=">i8")
    except (UnicodeDecodeError, ValueError):
        raise UnreadableOnlineValue(
            f"online values of entity {entity!r} are not hexadecimal; "
            "they were written by an older twinbank: materialize the features again"
        ) from None
    pairs = words.reshape(-1, 2)
    times = pairs[:, 0].astype(np.int64)
    values = pairs[:, 1].view(">f8").astype(np.float64)
    return values, times


class RedisOnlineFeatureStore:
    """The OnlineFeatureStore port on Redis hashes.

    ``key_ttl_ms`` is the expiry each write sets on the hashes it touches; None keeps
    them forever. Choose it at least as long as the longest feature ttl, or values
    disappear (read as not found) before they would be outside max age.
    """

    def __init__(self, client: redis.Redis, prefix: str, key_ttl_ms: int | None = None) -> None:
        if key_ttl_ms is not None and key_ttl_ms <= 0:
            raise ValueError(f"key_ttl_ms {key_ttl_ms} must be positive, or None for no expiry")
        self._client = client
        self._prefix = prefix
        self._expiry_ms = key_ttl_ms or 0
        self._write_script = client.register_script(_WRITE_SCRIPT)

    def _key(self, entity: str, key: EntityKey) -> str:
        # The type tag keeps the int key 5 and the str key "5" apart, as in memory.
        tag = "i" if isinstance(key, int) else "s"
        return f"{self._prefix}:online:{entity}:{tag}{key}"

    def write(self, writes: Sequence[FeatureWrite]) -> None:
        """Store the writes atomically; a field keeps a stored value with a later time."""
        if not writes:
            return
        keys = []
        name_lists: dict[tuple[str, ...], int] = {}
        list_of_write = []
        sizes = []
        times = []
        values: list[float | None] = []
        for write in writes:
            keys.append(self._key(write.entity, write.key))
            names = tuple(write.values)
            index = name_lists.get(names)
            if index is None:
                index = name_lists[names] = len(name_lists) + 1
            list_of_write.append(index)
            sizes.append(len(names))
            times.append(write.event_time_ns)
            values.extend(write.values.values())
        # numpy turns None into the quiet NaN (7ff8000000000000) that stands for null.
        value_digits = np.array(values, dtype=">f8").tobytes().hex()
        time_digits = np.array(times, dtype=">i8").tobytes().hex()
        tokens = []
        start = 0
        for position, (index, size) in enumerate(zip(list_of_write, sizes, strict=True)):
            end = start + 16 * size
            tokens.append(
                f"{index}\n{time_digits[16 * position : 16 * position + 16]}\n"
                f"{value_digits[start:end]}\n"
            )
            start = end
        self._write_script(
            keys=keys,
            args=[
                self._expiry_ms,
                "".join(tokens),
                *("".join(name + "\n" for name in names) for names in name_lists),
            ],
        )

    def read(self, entity: str, keys: Sequence[EntityKey], names: Sequence[str]) -> StoredValues:
        if not keys or not names:
            return StoredValues.empty(len(keys), names)
        replies = self._hmget_each([self._key(entity, key).encode() for key in keys], names)
        fields = [_ABSENT if field is None else field for field in chain.from_iterable(replies)]
        values, times = _decode(fields, entity)
        shape = (len(keys), len(names))
        return StoredValues(names, values.reshape(shape), times.reshape(shape))

    def _hmget_each(self, keys: list[bytes], names: Sequence[str]) -> list[list[bytes | None]]:
        """Send one HMGET per key in a single write and read the replies in order.

        A redis-py pipeline does the same but spends several times longer in Python
        per command, and a Lua script costs Redis about three times the HMGETs
        themselves (1.55 ms against 0.47 ms for 100 keys of 15 fields, from
        ``INFO commandstats``). A connection whose replies were not all read is
        closed rather than returned to the pool.
        """
        tail = b"".join(b"$%d\r\n%s\r\n" % (len(name), name) for name in map(str.encode, names))
        head = b"*%d\r\n$5\r\nHMGET\r\n" % (len(names) + 2)
        command = b"".join(head + b"$%d\r\n%s\r\n" % (len(key), key) + tail for key in keys)
        pool = self._client.connection_pool
        connection = pool.get_connection()
        try:
            connection.send_packed_command([command])
            replies = [connection.read_response() for _ in keys]
        except BaseException:
            connection.disconnect()
            raise
        finally:
            pool.release(connection)
        return replies

    def ping(self) -> bool:
        return bool(self._client.ping())
