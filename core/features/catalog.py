"""The feature sets a deployment can compute, by name.

``handbook`` is the handbook's 14 features. ``handbook-profile`` adds a customer
spending profile. It adds windows of 1 and 6 hours to the handbook's 1, 7 and 30
days, and the amount spent in each window. Each customer then has a transaction
count, a mean amount and a total amount at five horizons (15 features). An hour
window tells a burst of payments within the hour from the same count spread over a
day.

Every process of a deployment (worker, decision service, training) must compute the
same set: the service refuses a model trained on another version.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from ..timestamps import NANOS_PER_HOUR, days
from .definitions import Aggregation, FeatureDefinition, FeatureSet, WindowAggregate
from .handbook import CUSTOMER, OWNER, WINDOW_DAYS, handbook_feature_set

FeatureSetName = Literal["handbook", "handbook-profile"]

PROFILE_WINDOW_HOURS = (1, 6)


def _window_label(length_ns: int) -> tuple[int, str]:
    """Return ``(count, unit)`` of a whole number of days or hours."""
    if length_ns % days(1) == 0:
        return length_ns // days(1), "day"
    return length_ns // NANOS_PER_HOUR, "hour"


def _customer_window(
    length_ns: int, aggregation: Aggregation, stem: str, what: str
) -> FeatureDefinition:
    count, unit = _window_label(length_ns)
    horizon = f"{count} {unit}" if count == 1 else f"{count} {unit}s"
    return FeatureDefinition(
        name=f"CUSTOMER_ID_{stem}_{count}{unit.upper()}_WINDOW",
        entity=CUSTOMER.name,
        computation=WindowAggregate("amount", aggregation, length_ns),
        description=f"Customer's {what} in the last {horizon}, this transaction included.",
        owner=OWNER,
        tags=("profile", "customer"),
    )


def handbook_profile_feature_set() -> FeatureSet:
    """Return the handbook's 14 features followed by 9 spending-profile features."""
    handbook = handbook_feature_set()
    hour_windows = [hours * NANOS_PER_HOUR for hours in PROFILE_WINDOW_HOURS]
    day_windows = [days(count) for count in WINDOW_DAYS]
    profile = []
    for length in hour_windows:
        profile.append(_customer_window(length, Aggregation.COUNT, "NB_TX", "transactions"))
        profile.append(_customer_window(length, Aggregation.MEAN, "AVG_AMOUNT", "mean amount"))
    for length in hour_windows + day_windows:
        profile.append(_customer_window(length, Aggregation.SUM, "SUM_AMOUNT", "amount spent"))
    return FeatureSet("handbook-profile", handbook.entities, handbook.definitions + tuple(profile))


_BUILDERS: dict[str, Callable[[], FeatureSet]] = {
    "handbook": handbook_feature_set,
    "handbook-profile": handbook_profile_feature_set,
}


def feature_set_named(name: str) -> FeatureSet:
    """Return the feature set called ``name``; a ValueError lists the known names."""
    try:
        build = _BUILDERS[name]
    except KeyError:
        raise ValueError(
            f"invalid feature set name {name!r}; use one of {sorted(_BUILDERS)}"
        ) from None
    return build()
