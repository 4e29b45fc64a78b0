"""Histories the Redis state store encodes by reusing earlier bytes equal a full
encoding, whatever the engine did to them between commits: appends, late inserts,
fraud marks and pruning."""

from __future__ import annotations

import contextlib

import fakeredis
from hypothesis import given, settings
from hypothesis import strategies as st

from twinbank.adapters.redis import RedisFeatureStateStore, decode_history, encode_history
from twinbank.core.features.handbook import handbook_feature_set
from twinbank.core.features.plan import compile_plan
from twinbank.core.features.streaming import OutOfOrderTransaction, StreamingFeatureEngine
from twinbank.core.timestamps import NANOS_PER_DAY, NANOS_PER_HOUR
from twinbank.core.transactions import FraudLabel, Transaction

FEATURES = handbook_feature_set()
PLANS = {plan.entity.name: plan for plan in compile_plan(FEATURES).entities}

# One step, as a tuple. Its fields: hours since the previous transaction (0 for an
# equal time), hours the transaction is shifted back (0 for none), customer, terminal,
# amount in cents, and the label of an earlier transaction that follows it (or None).
_STEP = st.tuples(
    st.sampled_from([0, 1, 1, 2, 3, 24]),
    st.sampled_from([0, 0, 1, 3]),
    st.integers(0, 2),
    st.integers(0, 3),
    st.integers(1, 50_000),
    st.sampled_from([None, None, True, False]),
)


@settings(max_examples=40, deadline=None)
@given(
    steps=st.lists(_STEP, min_size=20, max_size=500),
    commit_every=st.integers(1, 40),
    lateness_hours=st.sampled_from([None, 12, 12]),
)
def test_reused_encoding_equals_full_encoding(
    steps: list[tuple[int, int, int, int, int, bool | None]],
    commit_every: int,
    lateness_hours: int | None,
) -> None:
    client = fakeredis.FakeRedis()
    store = RedisFeatureStateStore(client, FEATURES, "encoding")
    assert store.acquire_lease()
    lateness = None if lateness_hours is None else lateness_hours * NANOS_PER_HOUR
    engine = StreamingFeatureEngine(FEATURES, store, allowed_lateness_ns=lateness)
    moment = 10 * NANOS_PER_DAY
    touched: set[tuple[str, int]] = set()
    for index, (hours, late, customer, terminal, cents, label) in enumerate(steps):
        moment += hours * NANOS_PER_HOUR
        transaction = Transaction(
            index, moment - late * NANOS_PER_HOUR, customer, terminal, cents / 100
        )
        with contextlib.suppress(OutOfOrderTransaction):  # beyond the allowed lateness
            engine.observe_transaction(transaction)
        touched.update({("customer", customer), ("terminal", terminal)})
        if label is not None:
            engine.observe_label(FraudLabel(index // 2, moment, label))
        if index % commit_every == commit_every - 1 or index == len(steps) - 1:
            if index % 2:
                store.encode_changes()
            store.commit({}, None)
            _assert_stored_equals_full_encoding(client, store, touched)


def _assert_stored_equals_full_encoding(
    client: fakeredis.FakeRedis, store: RedisFeatureStateStore, refs: set[tuple[str, int]]
) -> None:
    for entity, key in sorted(refs):
        history = store.load_history(entity, key)
        stored = client.get(store.keys.history(entity, key))
        if history is None:
            assert stored is None
            continue
        assert stored == encode_history(history), (entity, key)
        decoded = decode_history(stored, PLANS[entity])
        assert decoded.times == history.times
        assert decoded.columns == history.columns
