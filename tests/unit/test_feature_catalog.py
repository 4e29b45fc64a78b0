"""The named feature sets: what each contains and how a name is resolved."""

from __future__ import annotations

from typing import get_args

import pytest

from twinbank.core.features.catalog import FeatureSetName, feature_set_named
from twinbank.core.features.definitions import Aggregation, WindowAggregate
from twinbank.core.features.handbook import handbook_feature_set
from twinbank.core.timestamps import NANOS_PER_HOUR, days


def test_catalog_resolves_every_name():
    for name in get_args(FeatureSetName):
        assert feature_set_named(name).name == name


def test_catalog_rejects_unknown_name():
    with pytest.raises(ValueError, match=r"'handbook', 'handbook-profile'"):
        feature_set_named("handbook-v2")


def test_profile_extends_handbook_unchanged():
    handbook = handbook_feature_set()
    profile = feature_set_named("handbook-profile")

    assert profile.definitions[: len(handbook.definitions)] == handbook.definitions
    assert profile.entities == handbook.entities
    assert profile.version != handbook.version


def test_profile_covers_five_customer_horizons():
    """Each customer gets a count, a mean and a sum of the amount per horizon."""
    profile = feature_set_named("handbook-profile")
    customer = [d for d in profile.definitions if d.entity == "customer"]

    assert len(customer) == 15
    grid = set()
    for definition in customer:
        computation = definition.computation
        assert isinstance(computation, WindowAggregate)
        assert computation.source == "amount"
        assert computation.delay_ns == 0
        grid.add((computation.length_ns, computation.aggregation))
    horizons = {NANOS_PER_HOUR, 6 * NANOS_PER_HOUR, days(1), days(7), days(30)}
    aggregations = {Aggregation.COUNT, Aggregation.MEAN, Aggregation.SUM}
    assert grid == {(length, how) for length in horizons for how in aggregations}


def test_profile_names_follow_handbook():
    names = feature_set_named("handbook-profile").names

    assert "CUSTOMER_ID_NB_TX_1HOUR_WINDOW" in names
    assert "CUSTOMER_ID_AVG_AMOUNT_6HOUR_WINDOW" in names
    assert "CUSTOMER_ID_SUM_AMOUNT_30DAY_WINDOW" in names
