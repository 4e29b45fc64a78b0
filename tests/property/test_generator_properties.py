"""Invariants of the card-transaction generator over random small settings."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from twinbank.adapters.generator import GeneratorSettings, HandbookSimulation, simulate_handbook

COLUMNS = [
    "TRANSACTION_ID",
    "TX_DATETIME",
    "CUSTOMER_ID",
    "TERMINAL_ID",
    "TX_AMOUNT",
    "TX_TIME_SECONDS",
    "TX_TIME_DAYS",
    "TX_FRAUD",
    "TX_FRAUD_SCENARIO",
]


@st.composite
def generator_settings(draw: st.DrawFn) -> GeneratorSettings:
    customers = draw(st.integers(1, 40))
    terminals = draw(st.integers(1, 40))
    return GeneratorSettings(
        seed=draw(st.integers(0, 2**32)),
        start_date=date(2018, 1, 1) + timedelta(days=draw(st.integers(0, 3_000))),
        days=draw(st.integers(1, 20)),
        customers=customers,
        terminals=terminals,
        grid_side=draw(st.floats(1.0, 200.0)),
        radius=draw(st.floats(0.5, 80.0)),
        compromised_terminals_per_day=draw(st.integers(0, terminals)),
        terminal_compromise_days=draw(st.integers(1, 30)),
        compromised_customers_per_day=draw(st.integers(0, customers)),
        customer_compromise_days=draw(st.integers(1, 30)),
        large_amount_threshold=draw(st.floats(1.0, 300.0)),
    )


def in_windows(
    day: np.ndarray,
    ids: np.ndarray,
    start_day: np.ndarray,
    compromised_ids: np.ndarray,
    duration: int,
) -> np.ndarray:
    """Return, per (day, id), whether some compromise of that id covers the day."""
    same_id = ids[:, np.newaxis] == compromised_ids[np.newaxis, :]
    started = day[:, np.newaxis] >= start_day[np.newaxis, :]
    not_ended = day[:, np.newaxis] < start_day[np.newaxis, :] + duration
    return (same_id & started & not_ended).any(axis=1)


@settings(max_examples=60, deadline=None)
@given(generator_settings())
def test_frame_layout_holds(config: GeneratorSettings) -> None:
    frame = simulate_handbook(config).transactions
    seconds = frame["TX_TIME_SECONDS"].to_numpy()
    origin = pd.Timestamp(config.start_date)

    assert frame.columns.tolist() == COLUMNS
    assert np.array_equal(frame["TRANSACTION_ID"].to_numpy(), np.arange(len(frame)))
    assert (np.diff(seconds) >= 0).all()
    assert ((seconds >= 0) & (seconds < config.days * 86_400)).all()
    assert np.array_equal(frame["TX_TIME_DAYS"].to_numpy(), seconds // 86_400)
    assert (frame["TX_DATETIME"] == origin + pd.to_timedelta(seconds, unit="s")).all()
    assert (frame["CUSTOMER_ID"].between(0, config.customers - 1)).all()
    assert (frame["TERMINAL_ID"].between(0, config.terminals - 1)).all()
    assert (frame["TX_FRAUD"] == (frame["TX_FRAUD_SCENARIO"] > 0)).all()


@settings(max_examples=60, deadline=None)
@given(generator_settings())
def test_same_settings_same_frame(config: GeneratorSettings) -> None:
    first = simulate_handbook(config).transactions
    second = simulate_handbook(config).transactions

    pd.testing.assert_frame_equal(first, second)


@settings(max_examples=60, deadline=None)
@given(generator_settings())
def test_fraud_scenarios_hold(config: GeneratorSettings) -> None:
    simulation: HandbookSimulation = simulate_handbook(config)
    frame = simulation.transactions
    scenario = frame["TX_FRAUD_SCENARIO"].to_numpy()
    amount = frame["TX_AMOUNT"].to_numpy()
    day = frame["TX_TIME_DAYS"].to_numpy()
    threshold = config.large_amount_threshold
    terminals = simulation.compromises.terminals
    customers = simulation.compromises.customers
    on_terminal = in_windows(
        day,
        frame["TERMINAL_ID"].to_numpy(),
        terminals.start_day,
        terminals.ids,
        config.terminal_compromise_days,
    )
    of_customer = in_windows(
        day,
        frame["CUSTOMER_ID"].to_numpy(),
        customers.start_day,
        customers.ids,
        config.customer_compromise_days,
    )

    assert (amount >= 0).all()
    assert (amount[scenario == 1] > threshold).all()
    assert (amount[(scenario == 0) | (scenario == 2)] <= threshold).all()
    assert (scenario[amount > threshold] > 0).all()
    assert on_terminal[scenario == 2].all()
    assert (scenario[on_terminal] > 0).all()
    assert not (on_terminal & (scenario == 3)).any()
    assert of_customer[scenario == 3].all()
    assert len(terminals.ids) == config.days * config.compromised_terminals_per_day
    assert len(customers.ids) == config.days * config.compromised_customers_per_day


@settings(max_examples=60, deadline=None)
@given(generator_settings())
def test_payments_stay_within_radius(config: GeneratorSettings) -> None:
    simulation = simulate_handbook(config)
    frame = simulation.transactions
    customers = frame["CUSTOMER_ID"].to_numpy()
    terminals = frame["TERMINAL_ID"].to_numpy()
    distance = np.hypot(
        simulation.customers.x[customers] - simulation.terminals.x[terminals],
        simulation.customers.y[customers] - simulation.terminals.y[terminals],
    )

    assert (distance <= config.radius).all()
