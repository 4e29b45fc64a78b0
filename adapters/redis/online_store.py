"""Online feature values in Redis hashes, one hash per entity key.

NOTE: the feature platform owns the Redis online store; this adapter implements the
agreed port so that the worker and the decision service run on real Redis until that
store lands, and is replaced by it then.

Each field of ``<prefix>:online:<entity>:<key>`` is a feature name; its value is
``<value>|<event_time_ns>``, with an empty value for null. Floats are written with
``repr``, which round-trips exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

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
        pipeline = self._client.pipeline(transaction=False)
        for write in writes:
            suffix = f"|{write.event_time_ns}"
            pipeline.hset(
                self._key(write.entity, write.key),
                mapping={
                    name: ("" if value is None else repr(float(value))) + suffix
                    for name, value in write.values.items()
                },
            )
        pipeline.execute()

    def read(
        self, entity: str, keys: Sequence[EntityKey], names: Sequence[str]
    ) -> list[dict[str, tuple[float | None, int]]]:
        if not keys or not names:
            return [{} for _ in keys]
        if len(keys) == 1:
            replies = [self._client.hmget(self._key(entity, keys[0]), names)]
        else:
            pipeline = self._client.pipeline(transaction=False)
            for key in keys:
                pipeline.hmget(self._key(entity, key), names)
            replies = pipeline.execute()
        rows = []
        for reply in replies:
            row: dict[str, tuple[float | None, int]] = {}
            for name, raw in zip(names, reply, strict=True):
                if raw is None:
                    continue
                value, _, event_time = raw.partition(b"|")
                row[name] = (float(value) if value else None, int(event_time))
            rows.append(row)
        return rows

    def ping(self) -> bool:
        return bool(self._client.ping())
