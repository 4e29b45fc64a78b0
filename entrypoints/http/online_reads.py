"""Online feature reads of concurrent requests, grouped into shared store reads.

Requests for the same entity and the same feature names that arrive while the event
loop is busy share one call to ``OnlineFeatureService``: one store round trip for the
union of their keys, read as of one clock reading. Each request gets the rows of its
own keys, in its order, with repeats, as a read of its own would return them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from twinbank.core.features.online import InvalidFeatureWrite, OnlineFeatureService, OnlineValue
from twinbank.core.ports import Clock, EntityKey

Rows = list[dict[str, OnlineValue]]


@dataclass(frozen=True, slots=True)
class _PendingRead:
    keys: tuple[EntityKey, ...]
    result: asyncio.Future[Rows]


class OnlineReadBatcher:
    """Reads online features for concurrent requests in shared store reads.

    ``max_keys`` bounds the keys of one shared read; a larger group is split.
    """

    def __init__(self, service: OnlineFeatureService, clock: Clock, max_keys: int = 500) -> None:
        self._service = service
        self._clock = clock
        self._max_keys = max_keys
        self._queue: dict[tuple[str, tuple[str, ...]], list[_PendingRead]] = {}
        self._scheduled = False

    async def read(self, entity: str, keys: Sequence[EntityKey], features: Sequence[str]) -> Rows:
        """Return the request's rows, as ``OnlineFeatureService.get_online_features``
        does, and raise what it raises."""
        loop = asyncio.get_running_loop()
        pending = _PendingRead(tuple(keys), loop.create_future())
        self._queue.setdefault((entity, tuple(features)), []).append(pending)
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await pending.result

    def _flush(self) -> None:
        self._scheduled = False
        queue, self._queue = self._queue, {}
        for (entity, features), reads in queue.items():
            group: list[_PendingRead] = []
            size = 0
            for pending in reads:
                if group and size + len(pending.keys) > self._max_keys:
                    self._read_group(entity, features, group)
                    group, size = [], 0
                group.append(pending)
                size += len(pending.keys)
            self._read_group(entity, features, group)

    def _read_group(
        self, entity: str, features: tuple[str, ...], group: list[_PendingRead]
    ) -> None:
        keys = list(dict.fromkeys(key for pending in group for key in pending.keys))
        try:
            rows = self._service.get_online_features(entity, keys, features, self._clock.now_ns())
        except Exception as error:
            if isinstance(error, InvalidFeatureWrite) and len(group) > 1:
                # A key of one request is invalid: read each request alone, so that
                # only that request fails.
                for pending in group:
                    self._read_group(entity, features, [pending])
                return
            # The entity, the names and the store are the same for every request.
            for pending in group:
                if not pending.result.done():
                    pending.result.set_exception(error)
            return
        by_key = dict(zip(keys, rows, strict=True))
        for pending in group:
            if not pending.result.done():
                pending.result.set_result([by_key[key] for key in pending.keys])


__all__ = ["OnlineReadBatcher"]
