"""The event order of a replay: transactions and the labels revealed after them."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator

from .ports import RecordedTransaction
from .transactions import FraudLabel, Transaction

ReplayEvent = Transaction | FraudLabel


def interleave_labels(
    recorded: Iterable[RecordedTransaction], label_delay_ns: int
) -> Iterator[ReplayEvent]:
    """Yield each transaction and, ``label_delay_ns`` after it, its label.

    Transactions keep their input order (timestamp order). A label revealed at or
    before a transaction's timestamp is yielded before that transaction, so a
    streaming engine fed this sequence counts a label from its reveal instant on.
    Transactions without a known outcome get no label.
    """
    pending: list[tuple[int, int, FraudLabel]] = []
    arrival = 0
    for record in recorded:
        transaction = record.transaction
        while pending and pending[0][0] <= transaction.timestamp_ns:
            yield heapq.heappop(pending)[2]
        yield transaction
        if record.is_fraud is not None:
            reveal = transaction.timestamp_ns + label_delay_ns
            arrival += 1
            label = FraudLabel(transaction.transaction_id, reveal, record.is_fraud)
            heapq.heappush(pending, (reveal, arrival, label))
    while pending:
        yield heapq.heappop(pending)[2]
