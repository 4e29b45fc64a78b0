"""Online feature values in Redis hashes, one hash per entity key.

NOTE: the feature platform owns the Redis online store. This adapter implements the
agreed port so that the worker and the decision service run on real Redis until that
store lands, and that store replaces it then.

``<prefix>:online:<entity>:<key>`` holds one MessagePack value per entity key: a map
from feature name to ``[value, event_time_ns]`` (value nil for null). One key per
entity key lets a batch of writes go out as a single MSET, which is what makes the
stream worker's write rate; a write replaces the key's stored values, and the stream
worker always writes every feature of the entity.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgpack
import redis

from twinbank.core.online_features_contract import FeatureWrite
from twinbank.core.ports import EntityKey


class RedisOnlineFeatureStore:
    """The OnlineFeatureStore port on Redis hashes."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix

    def _key(self, entity: str, key: EntityKey) -> str:
        return f"{self._prefix}:online:{entity}:{key}"

    def write(self, writes: Sequence[FeatureWrite]) -> None:
        if not writes:
            return
        encoded = {}
        for write in writes:
            moment = write.event_time_ns
            encoded[self._key(write.entity, write.key)] = msgpack.packb(
                {name: (value, moment) for name, value in write.values.items()}
            )
        self._client.mset(encoded)

    def read(
        self, entity: str, keys: Sequence[EntityKey], names: Sequence[str]
    ) -> list[dict[str, tuple[float | None, int]]]:
        if not keys:
            return []
        rows = []
        for raw in self._client.mget([self._key(entity, key) for key in keys]):
            if raw is None:
                rows.append({})
                continue
            stored = msgpack.unpackb(raw)
            rows.append(
                {name: (stored[name][0], stored[name][1]) for name in names if name in stored}
            )
        return rows

    def ping(self) -> bool:
        return bool(self._client.ping())
