"""The 14 features of the fraud-detection handbook, declared once.

Customer windows of 1, 7 and 30 days end at and include the current transaction.
Terminal windows are delayed by 7 days, ``(t - 7 d - N d, t - 7 d]``, because fraud
labels arrive a week after the payment; a terminal window with no transaction has a
risk of 0.

Source: Le Borgne et al., "Reproducible Machine Learning for Credit Card Fraud
Detection - Practical Handbook", chapter on baseline feature transformation.
"""

from __future__ import annotations

from ..timestamps import days
from .definitions import (
    FRAUD_LABEL,
    Aggregation,
    Entity,
    FeatureDefinition,
    FeatureSet,
    RowFeature,
    RowTransform,
    WindowAggregate,
)

CUSTOMER = Entity("customer", "customer_id", "Card holder; one card per customer.")
TERMINAL = Entity("terminal", "terminal_id", "Point-of-sale terminal that took the payment.")

WINDOW_DAYS = (1, 7, 30)
LABEL_DELAY_DAYS = 7
OWNER = "fraud-features"


def _customer_features(window_days: int) -> list[FeatureDefinition]:
    length = days(window_days)
    return [
        FeatureDefinition(
            name=f"CUSTOMER_ID_NB_TX_{window_days}DAY_WINDOW",
            entity=CUSTOMER.name,
            computation=WindowAggregate("amount", Aggregation.COUNT, length),
            description=f"Customer's transactions in the last {window_days} days, this one included.",
            owner=OWNER,
            tags=("handbook", "customer", "velocity"),
        ),
        FeatureDefinition(
            name=f"CUSTOMER_ID_AVG_AMOUNT_{window_days}DAY_WINDOW",
            entity=CUSTOMER.name,
            computation=WindowAggregate("amount", Aggregation.MEAN, length),
            description=f"Customer's mean amount over the last {window_days} days, this one included.",
            owner=OWNER,
            tags=("handbook", "customer", "spending"),
        ),
    ]


def _terminal_features(window_days: int) -> list[FeatureDefinition]:
    length = days(window_days)
    delay = days(LABEL_DELAY_DAYS)
    return [
        FeatureDefinition(
            name=f"TERMINAL_ID_NB_TX_{window_days}DAY_WINDOW",
            entity=TERMINAL.name,
            computation=WindowAggregate("amount", Aggregation.COUNT, length, delay),
            description=(
                f"Terminal's transactions in the {window_days} days before the last "
                f"{LABEL_DELAY_DAYS} days."
            ),
            owner=OWNER,
            tags=("handbook", "terminal", "velocity"),
        ),
        FeatureDefinition(
            name=f"TERMINAL_ID_RISK_{window_days}DAY_WINDOW",
            entity=TERMINAL.name,
            computation=WindowAggregate(
                FRAUD_LABEL, Aggregation.MEAN, length, delay, empty_value=0.0
            ),
            description=(
                f"Known fraud rate of the terminal's transactions in the {window_days} days "
                f"before the last {LABEL_DELAY_DAYS} days; 0 when there were none."
            ),
            owner=OWNER,
            tags=("handbook", "terminal", "risk"),
        ),
    ]


def handbook_feature_set() -> FeatureSet:
    """Return the handbook's 14 features in the column order of its published file."""
    definitions = [
        FeatureDefinition(
            name="TX_DURING_WEEKEND",
            entity=None,
            computation=RowFeature(RowTransform.IS_WEEKEND),
            dtype="int64",
            description="1 when the transaction falls on a Saturday or Sunday (UTC).",
            owner=OWNER,
            tags=("handbook", "calendar"),
        ),
        FeatureDefinition(
            name="TX_DURING_NIGHT",
            entity=None,
            computation=RowFeature(RowTransform.IS_NIGHT, night_end_hour=6),
            dtype="int64",
            description="1 when the transaction falls between 00:00 and 06:59 (UTC).",
            owner=OWNER,
            tags=("handbook", "calendar"),
        ),
    ]
    for window_days in WINDOW_DAYS:
        definitions += _customer_features(window_days)
    for window_days in WINDOW_DAYS:
        definitions += _terminal_features(window_days)
    return FeatureSet("handbook", (CUSTOMER, TERMINAL), tuple(definitions))
