"""The offline feature history on SQLite and PostgreSQL: appends are idempotent per
(entity, key, event) and keep keys, ids and values exactly."""

from __future__ import annotations

import uuid
from types import MappingProxyType

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from twinbank.adapters.sql.feature_history import SqlFeatureHistory
from twinbank.core.features.online import FeatureWrite, HistoryRow


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> Engine:
    if request.param == "sqlite":
        return create_engine("sqlite://")
    return request.getfixturevalue("postgres_engine")


def _row(
    event_id: str, key: int | str, time_ns: int, values: dict[str, float | None]
) -> HistoryRow:
    return HistoryRow(event_id, FeatureWrite("customer", key, values, time_ns), "v1")


def test_history_replayed_batch_adds_nothing(engine: Engine) -> None:
    history = SqlFeatureHistory(engine)
    rows = [
        _row("t:1", 7, 10, {"AMOUNT_1D": 12.5, "COUNT_1D": None}),
        _row("t:2", 7, 20, {"AMOUNT_1D": 30.0, "COUNT_1D": 2.0}),
    ]
    history.append(rows)
    history.append([*rows, _row("t:3", 8, 30, {"AMOUNT_1D": 1e-300, "COUNT_1D": 1.0})])
    assert history.rows("customer") == [
        ("7", "t:1", 10, {"AMOUNT_1D": 12.5, "COUNT_1D": None}),
        ("7", "t:2", 20, {"AMOUNT_1D": 30.0, "COUNT_1D": 2.0}),
        ("8", "t:3", 30, {"AMOUNT_1D": 1e-300, "COUNT_1D": 1.0}),
    ]


def test_history_stores_numpy_and_mapping_values(engine: Engine) -> None:
    history = SqlFeatureHistory(engine)
    values = MappingProxyType({"AMOUNT_1D": np.float64(0.1), "COUNT_1D": 3, "RATE": 1e-05})

    history.append([_row("t:1", 7, 10, values)])  # type: ignore[arg-type]

    assert history.rows("customer") == [
        ("7", "t:1", 10, {"AMOUNT_1D": 0.1, "COUNT_1D": 3, "RATE": 1e-05})
    ]


def test_history_keeps_first_values_of_replayed_row(engine: Engine) -> None:
    history = SqlFeatureHistory(engine)
    history.append([_row("t:1", 7, 10, {"AMOUNT_1D": 1.0})])

    history.append([_row("t:2", 7, 20, {"AMOUNT_1D": 2.0}), _row("t:1", 7, 10, {"AMOUNT_1D": 9.0})])
    history.append([_row("t:3", 8, 30, {"AMOUNT_1D": 3.0})])

    assert history.rows("customer") == [
        ("7", "t:1", 10, {"AMOUNT_1D": 1.0}),
        ("7", "t:2", 20, {"AMOUNT_1D": 2.0}),
        ("8", "t:3", 30, {"AMOUNT_1D": 3.0}),
    ]


_TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\x00"),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    key=_TEXT,
    event_id=_TEXT,
    value=st.floats(allow_nan=False, allow_infinity=False) | st.none(),
)
def test_keys_ids_and_values_come_back_exactly(
    engine: Engine, key: str, event_id: str, value: float | None
) -> None:
    """Tabs, newlines and backslashes in keys and ids survive the bulk load."""
    # Examples share the database, and a repeated (key, event) keeps its first row.
    event_id = f"{uuid.uuid4().hex}{event_id}"
    history = SqlFeatureHistory(engine)
    history.append([_row(event_id, key, 5, {"AMOUNT_1D": value, "MEAN_1D": 0.5})])
    stored = {(k, e): (t, v) for k, e, t, v in history.rows("customer")}
    assert stored[(key, event_id)] == (5, {"AMOUNT_1D": value, "MEAN_1D": 0.5})
