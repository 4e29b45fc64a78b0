"""The event order of a replay: transactions and the labels revealed after them."""

from __future__ import annotations

from bisect import insort_right
from collections import deque
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
    # Labels in reveal order, ties in arrival order. With a constant delay and
    # transactions in timestamp order, each label goes to the end. The label of a
    # transaction out of order is inserted in place.
    pending: deque[FraudLabel] = deque()
    for record in recorded:
        transaction = record.transaction
        timestamp = transaction.timestamp_ns
        while pending and pending[0].revealed_at_ns <= timestamp:
            yield pending.popleft()
        yield transaction
        if record.is_fraud is not None:
            label = FraudLabel(
                transaction.transaction_id, timestamp + label_delay_ns, record.is_fraud
            )
            if pending and label.revealed_at_ns < pending[-1].revealed_at_ns:
                insort_right(pending, label, key=_reveal_time)
            else:
                pending.append(label)
    yield from pending


def _reveal_time(label: FraudLabel) -> int:
    return label.revealed_at_ns
