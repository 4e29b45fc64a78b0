"""Online feature values in Redis, one hash per entity key.

``<prefix>:online:<entity>:<key>`` is a hash from feature name to a string of the
value's event time as 20 zero-padded decimal digits followed by the value (``repr``
of the float, empty for null). Fixed-width times compare correctly as strings in
Lua, where numbers are doubles and would round nanosecond times above 2**53.

A batch of writes is one EVALSHA of a Lua script, so it is atomic and costs one round
trip. Per field, the script replaces the stored value only when the stored event time
is not later than the write's, then refreshes the key's expiry. Reads are HMGETs sent
in one Lua script call.

NOTE: the script touches many keys in one call. Redis Cluster allows that only when
every key hashes to the same slot, so this adapter targets a single Redis server.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis

from twinbank.core.features.online import FeatureWrite
from twinbank.core.ports import EntityKey

_TIME_DIGITS = 20

# KEYS: one hash per write. ARGV[1]: key expiry in ms (0 for none). ARGV[2]: the
# writes as one string of newline-terminated fields: per write its field count, its
# padded event time, then name/value pairs. One string instead of one argument per
# field saves the client most of its command encoding. Returns fields written.
_WRITE_SCRIPT = """
local expiry = tonumber(ARGV[1])
local tokens = {}
local count = 0
for token in string.gmatch(ARGV[2], "([^\\n]*)\\n") do
  count = count + 1
  tokens[count] = token
end
local position = 1
local written = 0
for _, key in ipairs(KEYS) do
  local fields = tonumber(tokens[position])
  local event_time = tokens[position + 1]
  local first = position + 2
  local names = {}
  for index = 0, fields - 1 do
    names[index + 1] = tokens[first + 2 * index]
  end
  local stored = redis.call('HMGET', key, unpack(names))
  local changes = {}
  for index = 1, fields do
    local current = stored[index]
    if (not current) or string.sub(current, 1, 20) <= event_time then
      changes[#changes + 1] = names[index]
      changes[#changes + 1] = event_time .. tokens[first + 2 * index - 1]
    end
  end
  if #changes > 0 then
    redis.call('HSET', key, unpack(changes))
    written = written + #changes / 2
  end
  if expiry > 0 then
    redis.call('PEXPIRE', key, expiry)
  end
  position = first + 2 * fields
end
return written
"""


# KEYS: the hashes to read. ARGV: the field names. Returns one HMGET reply per key.
_READ_SCRIPT = """
local replies = {}
for index, key in ipairs(KEYS) do
  replies[index] = redis.call('HMGET', key, unpack(ARGV))
end
return replies
"""


def _encode(value: float | None) -> str:
    return "" if value is None else repr(float(value))


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
        self._read_script = client.register_script(_READ_SCRIPT)

    def _key(self, entity: str, key: EntityKey) -> str:
        return f"{self._prefix}:online:{entity}:{key}"

    def write(self, writes: Sequence[FeatureWrite]) -> None:
        """Store the writes atomically; a field keeps a stored value with a later time."""
        if not writes:
            return
        keys = []
        fields: list[str] = []
        for write in writes:
            keys.append(self._key(write.entity, write.key))
            fields.append(str(len(write.values)))
            fields.append(str(write.event_time_ns).zfill(_TIME_DIGITS))
            for name, value in write.values.items():
                fields.append(name)
                fields.append(_encode(value))
        fields.append("")
        self._write_script(keys=keys, args=[self._expiry_ms, "\n".join(fields)])

    def read(
        self, entity: str, keys: Sequence[EntityKey], names: Sequence[str]
    ) -> list[dict[str, tuple[float | None, int]]]:
        if not keys or not names:
            return [{} for _ in keys]
        if len(keys) == 1:
            replies = [self._client.hmget(self._key(entity, keys[0]), names)]
        else:
            # One script call costs about half of a pipeline of HMGETs in redis-py.
            replies = self._read_script(keys=[self._key(entity, key) for key in keys], args=names)
        digits = _TIME_DIGITS
        rows = []
        for reply in replies:
            row = {}
            for name, raw in zip(names, reply, strict=True):
                if raw is None:
                    continue
                encoded_value = raw[digits:]
                row[name] = (float(encoded_value) if encoded_value else None, int(raw[:digits]))
            rows.append(row)
        return rows

    def ping(self) -> bool:
        return bool(self._client.ping())
