"""The event-stream port's contract, run against every adapter."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import fakeredis
import pytest
import redis

from tests.support.servers import REDIS_URL, delete_prefix, unique_name
from twinbank.adapters.memory import InMemoryEventStream
from twinbank.adapters.redis import RedisEventStream
from twinbank.adapters.redis.event_stream import encode_event
from twinbank.core.event_stream import EventSubscription, event_id_of
from twinbank.core.transactions import FraudLabel, Transaction

EVENTS = [
    Transaction(1, 1_000, customer_id=7, terminal_id=70, amount=12.5),
    FraudLabel(1, 2_000, is_fraud=True),
    Transaction(2, 3_000, customer_id=8, terminal_id=70, amount=0.1 + 0.2),
    Transaction(3, 3_000, customer_id=7, terminal_id=71, amount=1e-300),
]


@dataclass
class StreamUnderTest:
    publisher: InMemoryEventStream | RedisEventStream
    subscribe: Callable[[str, str], EventSubscription]
    raw_redis: redis.Redis | None


@pytest.fixture(params=["memory", "fakeredis", pytest.param("redis", marks=pytest.mark.redis)])
def stream(request: pytest.FixtureRequest) -> Iterator[StreamUnderTest]:
    if request.param == "memory":
        memory = InMemoryEventStream()
        yield StreamUnderTest(memory, memory.subscription, None)
        return
    if request.param == "fakeredis":
        client = fakeredis.FakeRedis()
    else:
        client = redis.Redis.from_url(REDIS_URL)
        try:
            client.ping()
        except redis.ConnectionError as error:
            pytest.fail(f"Redis at {REDIS_URL} is not reachable: {error}")
    name = unique_name("stream")
    publisher = RedisEventStream(client, name)
    yield StreamUnderTest(publisher, publisher.subscription, client)
    delete_prefix(client, name)
    client.close()


def test_receive_returns_events_in_publish_order(stream: StreamUnderTest):
    stream.publisher.publish(EVENTS)
    subscription = stream.subscribe("group", "consumer-a")

    deliveries = subscription.receive(10, 100)

    assert [delivery.event for delivery in deliveries] == EVENTS
    assert all(delivery.attempts == 1 for delivery in deliveries)
    assert deliveries[2].event.amount == 0.1 + 0.2  # floats survive exactly


def test_receive_waits_and_returns_nothing_when_idle(stream: StreamUnderTest):
    subscription = stream.subscribe("group", "consumer-a")
    started = time.monotonic()

    assert subscription.receive(10, 50) == []
    assert time.monotonic() - started >= 0.04


def test_group_members_share_entries(stream: StreamUnderTest):
    stream.publisher.publish(EVENTS)
    first = stream.subscribe("group", "consumer-a").receive(2, 100)
    second = stream.subscribe("group", "consumer-b").receive(10, 100)

    assert [d.event for d in first + second] == EVENTS


def test_separate_groups_each_see_everything(stream: StreamUnderTest):
    stream.publisher.publish(EVENTS)

    assert len(stream.subscribe("one", "c").receive(10, 100)) == len(EVENTS)
    assert len(stream.subscribe("two", "c").receive(10, 100)) == len(EVENTS)


def test_unacknowledged_entries_come_back_after_restart(stream: StreamUnderTest):
    stream.publisher.publish(EVENTS)
    before = stream.subscribe("group", "consumer-a")
    received = before.receive(10, 100)
    before.acknowledge([received[0].delivery_id, received[2].delivery_id])

    restarted = stream.subscribe("group", "consumer-a")
    pending = restarted.pending(10)

    assert [d.event for d in pending] == [EVENTS[1], EVENTS[3]]
    assert all(d.attempts == 2 for d in pending)
    assert restarted.receive(10, 50) == []


def test_acknowledged_entries_never_return(stream: StreamUnderTest):
    stream.publisher.publish(EVENTS)
    subscription = stream.subscribe("group", "consumer-a")
    subscription.acknowledge([d.delivery_id for d in subscription.receive(10, 100)])

    assert subscription.pending(10) == []
    assert stream.subscribe("group", "consumer-b").claim_stale(0, 10) == []
    assert subscription.lag() == 0


def test_stale_entries_are_claimed_by_another_consumer(stream: StreamUnderTest):
    stream.publisher.publish(EVENTS)
    crashed = stream.subscribe("group", "consumer-a")
    crashed.receive(10, 100)
    survivor = stream.subscribe("group", "consumer-b")

    assert survivor.claim_stale(60_000, 10) == []
    time.sleep(0.02)
    claimed = survivor.claim_stale(10, 10)

    assert [d.event for d in claimed] == EVENTS
    assert all(d.attempts == 2 for d in claimed)
    assert crashed.pending(10) == []
    assert [d.event for d in survivor.pending(10)] == EVENTS


def test_dead_letter_acknowledges_the_entry(stream: StreamUnderTest):
    stream.publisher.publish(EVENTS[:2])
    subscription = stream.subscribe("group", "consumer-a")
    first, second = subscription.receive(10, 100)

    subscription.dead_letter(first, "late: test")

    assert [d.event for d in subscription.pending(10)] == [second.event]
    if stream.raw_redis is not None:
        entries = stream.raw_redis.xrange(f"{stream.publisher.stream}:dead-letters")
        assert len(entries) == 1
        assert entries[0][1][b"reason"] == b"late: test"
        assert entries[0][1][b"transaction_id"] == b"1"


def test_lag_counts_pending_and_undelivered(stream: StreamUnderTest):
    stream.publisher.publish(EVENTS)
    subscription = stream.subscribe("group", "consumer-a")
    assert subscription.lag() == 4

    received = subscription.receive(1, 100)
    assert subscription.lag() == 4

    subscription.acknowledge([received[0].delivery_id])
    assert subscription.lag() == 3


def test_event_ids_identify_transactions_and_labels():
    assert event_id_of(EVENTS[0]) == "transaction:1"
    assert event_id_of(EVENTS[1]) == "label:1:2000:1"
    assert event_id_of(FraudLabel(1, 2_000, is_fraud=False)) == "label:1:2000:0"
    assert event_id_of(Transaction(1, 5, 0, 0, 1.0)) == "transaction:1"


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"kind": "payment"}, "expected 'transaction' or 'label'"),
        ({"kind": "transaction", "transaction_id": "1"}, "has no field"),
        (
            {
                "kind": "transaction",
                "transaction_id": "x",
                "timestamp_ns": "1",
                "customer_id": "1",
                "terminal_id": "1",
                "amount": "1",
            },
            "not a number",
        ),
        (
            {"kind": "label", "transaction_id": "1", "revealed_at_ns": "1", "is_fraud": "yes"},
            "expected 0 or 1",
        ),
    ],
)
def test_malformed_redis_entry_is_delivered_with_problem(fields: dict[str, str], problem: str):
    client = fakeredis.FakeRedis()
    publisher = RedisEventStream(client, "stream")
    client.xadd("stream", fields)
    subscription = publisher.subscription("group", "consumer")

    (delivery,) = subscription.receive(10, 100)

    assert delivery.event is None
    assert problem in (delivery.problem or "")


def test_redis_entry_decodes_in_any_field_order():
    client = fakeredis.FakeRedis()
    publisher = RedisEventStream(client, "stream")
    transaction = Transaction(7, 1_500, 3, 4, 12.5)
    written = encode_event(transaction)
    client.xadd("stream", written)
    client.xadd("stream", dict(reversed(list(written.items()))))
    client.xadd("stream", {**written, "kind": "label"})
    subscription = publisher.subscription("group", "consumer")

    in_order, reversed_order, wrong_kind = subscription.receive(10, 100)

    assert in_order.event == transaction
    assert reversed_order.event == transaction
    assert wrong_kind.event is None
    assert "has no field" in (wrong_kind.problem or "")
