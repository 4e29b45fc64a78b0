"""Concurrent online reads grouped by OnlineReadBatcher equal reads made one by one."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from twinbank.adapters.memory import InMemoryOnlineFeatureStore
from twinbank.core.features.handbook import handbook_feature_set
from twinbank.core.features.online import FeatureWrite, OnlineFeatureService, UnknownFeature
from twinbank.core.ports import EntityKey
from twinbank.entrypoints.http.online_reads import OnlineReadBatcher

FEATURE_SET = handbook_feature_set()
CUSTOMER_FEATURES = [name for name in FEATURE_SET.names if name.startswith("CUSTOMER_ID_")]
NOW_NS = 1_600_000_000 * 10**9


class FixedClock:
    def now_ns(self) -> int:
        return NOW_NS


class CountingStore(InMemoryOnlineFeatureStore):
    """The in-memory store, counting read calls."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def read(
        self, entity: str, keys: Sequence[EntityKey], names: Sequence[str]
    ) -> list[dict[str, tuple[float | None, int]]]:
        self.reads += 1
        return super().read(entity, keys, names)


def _store() -> CountingStore:
    store = CountingStore()
    store.write(
        [
            FeatureWrite(
                "customer",
                key,
                {name: float(key * 10 + column) for column, name in enumerate(CUSTOMER_FEATURES)},
                NOW_NS - key * 3_600 * 10**9,
            )
            for key in range(8)
        ]
    )
    return store


read_requests = st.lists(
    st.tuples(
        st.lists(st.integers(0, 11), min_size=1, max_size=6),
        st.lists(st.sampled_from(CUSTOMER_FEATURES), min_size=1, max_size=3, unique=True),
    ),
    min_size=1,
    max_size=12,
)


async def _read_concurrently(
    batcher: OnlineReadBatcher, requests: list[tuple[list[int], list[str]]]
) -> list[object]:
    return await asyncio.gather(
        *(batcher.read("customer", keys, names) for keys, names in requests),
        return_exceptions=True,
    )


@settings(max_examples=60, deadline=None)
@given(requests=read_requests, max_keys=st.integers(1, 8))
def test_grouped_reads_equal_single_reads(
    requests: list[tuple[list[int], list[str]]], max_keys: int
) -> None:
    store = _store()
    service = OnlineFeatureService(store, FEATURE_SET)
    expected = [
        list(service.get_online_features("customer", keys, names, NOW_NS))
        for keys, names in requests
    ]
    store.reads = 0

    batcher = OnlineReadBatcher(service, FixedClock(), max_keys=max_keys)
    results = asyncio.run(_read_concurrently(batcher, requests))

    assert results == expected
    assert store.reads <= len(requests)


def test_same_names_share_one_read() -> None:
    store = _store()
    batcher = OnlineReadBatcher(OnlineFeatureService(store, FEATURE_SET), FixedClock())
    requests = [([key], CUSTOMER_FEATURES) for key in range(6)]

    results = asyncio.run(_read_concurrently(batcher, requests))

    assert store.reads == 1
    assert [row[0][CUSTOMER_FEATURES[0]].value for row in results] == [
        float(key * 10) for key in range(6)
    ]


def test_unknown_feature_fails_only_its_group() -> None:
    store = _store()
    batcher = OnlineReadBatcher(OnlineFeatureService(store, FEATURE_SET), FixedClock())
    requests = [([1], ["NOT_A_FEATURE"]), ([2], CUSTOMER_FEATURES[:1])]

    unknown, known = asyncio.run(_read_concurrently(batcher, requests))

    assert isinstance(unknown, UnknownFeature)
    assert isinstance(known, list)
    assert known[0][CUSTOMER_FEATURES[0]].value == 20.0


def test_store_failure_reaches_every_request() -> None:
    class FailingStore(CountingStore):
        def read(
            self, entity: str, keys: Sequence[EntityKey], names: Sequence[str]
        ) -> list[dict[str, tuple[float | None, int]]]:
            raise ConnectionError("store down")

    batcher = OnlineReadBatcher(OnlineFeatureService(FailingStore(), FEATURE_SET), FixedClock())
    results = asyncio.run(_read_concurrently(batcher, [([1], CUSTOMER_FEATURES)] * 3))

    assert all(isinstance(result, ConnectionError) for result in results)
