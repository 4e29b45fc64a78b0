"""The replay order of transactions and labels: each label follows its transaction,
comes no earlier than its reveal time allows, and labels keep reveal order."""

from __future__ import annotations

import heapq

from hypothesis import given
from hypothesis import strategies as st

from twinbank.core.events import interleave_labels
from twinbank.core.ports import RecordedTransaction
from twinbank.core.transactions import FraudLabel, Transaction


def _reference(recorded: list[RecordedTransaction], delay: int) -> list[object]:
    """The order by a priority queue of (reveal time, arrival), event by event."""
    events: list[object] = []
    pending: list[tuple[int, int, FraudLabel]] = []
    for arrival, record in enumerate(recorded):
        transaction = record.transaction
        while pending and pending[0][0] <= transaction.timestamp_ns:
            events.append(heapq.heappop(pending)[2])
        events.append(transaction)
        if record.is_fraud is not None:
            reveal = transaction.timestamp_ns + delay
            label = FraudLabel(transaction.transaction_id, reveal, record.is_fraud)
            heapq.heappush(pending, (reveal, arrival, label))
    events.extend(heapq.heappop(pending)[2] for _ in range(len(pending)))
    return events


@st.composite
def recordings(draw: st.DrawFn) -> list[RecordedTransaction]:
    times = draw(st.lists(st.integers(0, 50), max_size=40))
    if draw(st.booleans()):
        times.sort()  # the usual case: a source in timestamp order
    return [
        RecordedTransaction(
            Transaction(index, timestamp, 1, 2, 10.0),
            draw(st.sampled_from([True, False, None])),
        )
        for index, timestamp in enumerate(times)
    ]


@given(recordings(), st.integers(0, 30))
def test_interleaving_equals_the_priority_queue_order(recorded, delay):
    assert list(interleave_labels(recorded, delay)) == _reference(recorded, delay)


@given(recordings(), st.integers(0, 30))
def test_label_follows_its_transaction_and_precedes_later_ones(recorded, delay):
    events = list(interleave_labels(recorded, delay))
    position = {(type(event), event.transaction_id): index for index, event in enumerate(events)}
    for record in recorded:
        if record.is_fraud is None:
            continue
        transaction = record.transaction
        label_at = position[(FraudLabel, transaction.transaction_id)]
        assert label_at > position[(Transaction, transaction.transaction_id)]
        for later in recorded:
            if later.transaction.timestamp_ns >= transaction.timestamp_ns + delay:
                seen_after = position[(Transaction, later.transaction.transaction_id)]
                if seen_after > position[(Transaction, transaction.transaction_id)]:
                    assert label_at < seen_after
