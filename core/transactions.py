"""Card transactions and the fraud labels that arrive after them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Transaction:
    """One card payment as the bank sees it at authorization time.

    ``timestamp_ns`` is event time (see ``twinbank.core.timestamps``). Replays order
    transactions by ``(timestamp_ns, transaction_id)``; equal timestamps are common.
    """

    transaction_id: int
    timestamp_ns: int
    customer_id: int
    terminal_id: int
    amount: float

    def field(self, name: str) -> float | int:
        """Return a request field by name, for feature definitions and rules."""
        return getattr(self, name)  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class FraudLabel:
    """The investigated outcome of a transaction, known from ``revealed_at_ns`` on.

    Labels reach the bank days after the payment (chargebacks, customer claims), so a
    feature at time t may use a label only when ``revealed_at_ns <= t``.
    """

    transaction_id: int
    revealed_at_ns: int
    is_fraud: bool
