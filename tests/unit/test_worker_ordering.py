"""The stream worker's event-time buffer."""

from __future__ import annotations

from twinbank.core.event_stream import Delivery
from twinbank.core.transactions import FraudLabel, Transaction
from twinbank.entrypoints.worker import EventTimeBuffer

MS = 1_000_000


def delivery(index: int, event: Transaction | FraudLabel | None) -> Delivery:
    return Delivery(f"{index}-0", event, problem=None if event else "bad entry")


def transaction(index: int, moment_ms: int) -> Transaction:
    return Transaction(index, moment_ms * MS, 1, 2, 10.0)


def test_holds_events_until_later_ones_arrive():
    buffer = EventTimeBuffer(allowed_lateness_ns=100 * MS)
    buffer.add([delivery(1, transaction(1, 1_000)), delivery(2, transaction(2, 1_050))])

    assert buffer.release() == []

    buffer.add([delivery(3, transaction(3, 1_120))])
    released = buffer.release()

    assert [d.delivery_id for d in released] == ["1-0"]
    assert len(buffer) == 2


def test_releases_in_event_time_order_with_labels_first():
    buffer = EventTimeBuffer(allowed_lateness_ns=0)
    buffer.add(
        [
            delivery(1, transaction(1, 2_000)),
            delivery(2, transaction(2, 1_000)),
            delivery(3, FraudLabel(9, 2_000 * MS, True)),
            delivery(4, transaction(4, 2_000)),
        ]
    )

    released = buffer.release()

    assert [d.delivery_id for d in released] == ["2-0", "3-0", "1-0", "4-0"]


def test_flush_releases_everything():
    buffer = EventTimeBuffer(allowed_lateness_ns=10_000 * MS)
    buffer.add([delivery(1, transaction(1, 5)), delivery(2, transaction(2, 3))])

    assert [d.delivery_id for d in buffer.release(flush=True)] == ["2-0", "1-0"]
    assert len(buffer) == 0


def test_malformed_entries_are_released_at_once():
    buffer = EventTimeBuffer(allowed_lateness_ns=10_000 * MS)
    buffer.add([delivery(1, transaction(1, 5)), delivery(2, None)])

    assert [d.delivery_id for d in buffer.release()] == ["2-0"]


def test_redelivered_entry_is_held_once():
    buffer = EventTimeBuffer(allowed_lateness_ns=0)
    buffer.add([delivery(1, transaction(1, 5))])
    buffer.add([delivery(1, transaction(1, 5))])

    assert [d.delivery_id for d in buffer.release(flush=True)] == ["1-0"]
