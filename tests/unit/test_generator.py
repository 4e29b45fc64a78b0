"""Unit tests of the seeded card-transaction generator."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from scipy.stats import norm

from tests.support.data import real_data_file
from twinbank.adapters.generator import (
    GeneratorSettings,
    HandbookSimulation,
    generate_transactions,
    simulate_handbook,
)

# The column layout of the handbook's transactions file, written out here so that a
# change in the generator's own column table makes this test fail.
HANDBOOK_SCHEMA = [
    ("TRANSACTION_ID", "int64"),
    ("TX_DATETIME", "datetime64[ns]"),
    ("CUSTOMER_ID", "int64"),
    ("TERMINAL_ID", "int64"),
    ("TX_AMOUNT", "float64"),
    ("TX_TIME_SECONDS", "int64"),
    ("TX_TIME_DAYS", "int64"),
    ("TX_FRAUD", "int64"),
    ("TX_FRAUD_SCENARIO", "int64"),
]

# Few terminals per customer and many compromises per terminal, so that all three
# scenarios occur often in a frame of about 35,000 transactions.
SMALL = GeneratorSettings(seed=7, customers=300, terminals=600, days=60)


@pytest.fixture(scope="module")
def simulation() -> HandbookSimulation:
    return simulate_handbook(SMALL)


@pytest.fixture(scope="module")
def frame(simulation: HandbookSimulation) -> pd.DataFrame:
    return simulation.transactions


def schema_of(frame: pd.DataFrame) -> list[tuple[str, str]]:
    return [(str(name), str(dtype)) for name, dtype in frame.dtypes.items()]


def compromised_pairs(
    start_days: np.ndarray, ids: np.ndarray, duration: int
) -> set[tuple[int, int]]:
    """Return every (id, day) pair inside a compromise window, by brute force."""
    pairs = set()
    for start, compromised_id in zip(start_days.tolist(), ids.tolist(), strict=True):
        for day in range(start, start + duration):
            pairs.add((compromised_id, day))
    return pairs


def test_same_seed_gives_identical_frames(frame: pd.DataFrame) -> None:
    again = generate_transactions(SMALL)

    pd.testing.assert_frame_equal(again, frame)


def test_different_seeds_give_different_frames(frame: pd.DataFrame) -> None:
    other = generate_transactions(SMALL.model_copy(update={"seed": 8}))

    assert not other.equals(frame)
    assert len(other) != len(frame)


def test_frame_has_documented_schema(frame: pd.DataFrame) -> None:
    assert schema_of(frame) == HANDBOOK_SCHEMA
    assert isinstance(frame.index, pd.RangeIndex)
    assert frame.index.start == 0


@pytest.mark.realdata
def test_frame_schema_equals_handbook_file() -> None:
    real = pd.read_parquet(real_data_file("handbook", "transactions.parquet"))
    generated = generate_transactions(GeneratorSettings(customers=50, terminals=100, days=5))

    assert schema_of(generated) == schema_of(real)


def test_frame_with_no_transactions_keeps_schema() -> None:
    # With such a small radius no customer has a terminal, so no payment happens.
    empty = generate_transactions(GeneratorSettings(customers=20, terminals=20, radius=1e-6))

    assert len(empty) == 0
    assert schema_of(empty) == HANDBOOK_SCHEMA


def test_rows_are_numbered_in_time_order(frame: pd.DataFrame) -> None:
    assert frame["TRANSACTION_ID"].tolist() == list(range(len(frame)))
    assert frame["TX_DATETIME"].is_monotonic_increasing
    assert frame["TX_TIME_SECONDS"].is_monotonic_increasing


def test_time_columns_agree_with_start_date() -> None:
    settings = SMALL.model_copy(update={"start_date": date(2020, 2, 27), "days": 4})
    frame = generate_transactions(settings)
    elapsed = frame["TX_DATETIME"] - pd.Timestamp("2020-02-27")

    assert frame["TX_DATETIME"].dt.tz is None
    assert (elapsed // pd.Timedelta(seconds=1) == frame["TX_TIME_SECONDS"]).all()
    assert (frame["TX_TIME_SECONDS"] // 86_400 == frame["TX_TIME_DAYS"]).all()
    assert frame["TX_TIME_DAYS"].min() == 0
    assert frame["TX_TIME_DAYS"].max() == 3
    # 2020 is a leap year, so the fourth day is 1 March.
    assert frame["TX_DATETIME"].max().date() == date(2020, 3, 1)


def test_fraud_flag_follows_scenario(frame: pd.DataFrame) -> None:
    assert set(frame["TX_FRAUD_SCENARIO"].unique()) == {0, 1, 2, 3}
    assert (frame["TX_FRAUD"] == (frame["TX_FRAUD_SCENARIO"] > 0)).all()


def test_amounts_are_non_negative_cents(frame: pd.DataFrame) -> None:
    cents = frame["TX_AMOUNT"].to_numpy() * 100

    assert (frame["TX_AMOUNT"] >= 0).all()
    assert np.allclose(cents, np.round(cents), rtol=0, atol=1e-6)


def test_amounts_above_threshold_are_fraud(frame: pd.DataFrame) -> None:
    threshold = SMALL.large_amount_threshold
    scenario = frame["TX_FRAUD_SCENARIO"]
    amount = frame["TX_AMOUNT"]

    assert (frame.loc[amount > threshold, "TX_FRAUD"] == 1).all()
    assert (amount[scenario == 1] > threshold).all()
    # Scenario 1 marks first, so nothing genuine or of scenario 2 is above it.
    assert (amount[scenario.isin([0, 2])] <= threshold).all()
    # Scenario 3 multiplies amounts that scenario 1 left alone.
    assert (amount[scenario == 3] / 5 <= threshold + 0.01).all()


def test_scenario_2_in_terminal_windows(
    simulation: HandbookSimulation, frame: pd.DataFrame
) -> None:
    schedule = simulation.compromises.terminals
    pairs = compromised_pairs(schedule.start_day, schedule.ids, 28)
    on_compromised = [
        (terminal, day) in pairs
        for terminal, day in zip(frame["TERMINAL_ID"], frame["TX_TIME_DAYS"], strict=True)
    ]
    scenario = frame["TX_FRAUD_SCENARIO"].to_numpy()
    on_compromised = np.array(on_compromised)

    assert schedule.duration_days == 28
    assert (scenario == 2).sum() > 0
    assert on_compromised[scenario == 2].all()
    # Every payment on a compromised terminal is fraud, and scenario 1 keeps its label.
    assert set(np.unique(scenario[on_compromised])) <= {1, 2}


def test_terminal_compromises_draw_two_per_day(simulation: HandbookSimulation) -> None:
    schedule = simulation.compromises.terminals
    days = pd.DataFrame({"day": schedule.start_day, "terminal": schedule.ids})

    assert days["day"].tolist() == sorted(days["day"].tolist())
    assert (days.groupby("day")["terminal"].nunique() == 2).all()
    assert days["day"].nunique() == SMALL.days


def test_scenario_3_in_customer_windows(
    simulation: HandbookSimulation, frame: pd.DataFrame
) -> None:
    schedule = simulation.compromises.customers
    pairs = compromised_pairs(schedule.start_day, schedule.ids, 14)
    fraud = frame[frame["TX_FRAUD_SCENARIO"] == 3]

    assert schedule.duration_days == 14
    assert len(fraud) > 0
    for customer, day in zip(fraud["CUSTOMER_ID"], fraud["TX_TIME_DAYS"], strict=True):
        assert (customer, day) in pairs


def test_scenario_3_multiplies_amounts_by_five(frame: pd.DataFrame) -> None:
    # Scenario 3 draws last, so without it every other draw stays the same.
    without = generate_transactions(SMALL.model_copy(update={"compromised_customers_per_day": 0}))
    inflated = frame["TX_FRAUD_SCENARIO"] == 3
    expected = np.round(without.loc[inflated, "TX_AMOUNT"].to_numpy() * 5, 2)

    assert (without["TX_FRAUD_SCENARIO"] != 3).all()
    assert np.array_equal(frame.loc[inflated, "TX_AMOUNT"].to_numpy(), expected)
    pd.testing.assert_frame_equal(frame[~inflated], without[~inflated])


def test_scenario_3_takes_a_third_of_pool() -> None:
    # One day only, so there is a single pool: the genuine payments of the 30 customers.
    settings = GeneratorSettings(
        seed=3, customers=100, terminals=200, days=1, compromised_customers_per_day=30
    )
    simulation = simulate_handbook(settings)
    frame = simulation.transactions
    compromised = np.isin(frame["CUSTOMER_ID"], simulation.compromises.customers.ids)
    pool = compromised & frame["TX_FRAUD_SCENARIO"].isin([0, 3]).to_numpy()
    inflated = (frame["TX_FRAUD_SCENARIO"] == 3).to_numpy()

    assert pool.sum() >= 30
    assert inflated.sum() == pool.sum() // 3
    assert pool[inflated].all()


def test_customers_pay_within_radius(simulation: HandbookSimulation, frame: pd.DataFrame) -> None:
    customers = frame["CUSTOMER_ID"].to_numpy()
    terminals = frame["TERMINAL_ID"].to_numpy()
    dx = simulation.customers.x[customers] - simulation.terminals.x[terminals]
    dy = simulation.customers.y[customers] - simulation.terminals.y[terminals]

    assert (np.hypot(dx, dy) <= SMALL.radius).all()


def test_customer_profiles_follow_design(simulation: HandbookSimulation) -> None:
    customers = simulation.customers

    assert ((customers.x >= 0) & (customers.x <= SMALL.grid_side)).all()
    assert ((customers.mean_amount >= 5) & (customers.mean_amount <= 100)).all()
    assert np.array_equal(customers.std_amount, customers.mean_amount / 2)
    assert (
        (customers.mean_transactions_per_day >= 0) & (customers.mean_transactions_per_day <= 4)
    ).all()


def expected_share_in_windows(per_day: int, population: int, duration: int, days: int) -> float:
    """Return the mean share of a population inside a compromise window, over all days.

    On day d, min(d + 1, duration) daily draws of ``per_day`` ids are still active.
    """
    active_draws = np.minimum(np.arange(days) + 1, duration)
    return float(np.mean(1 - (1 - per_day / population) ** active_draws))


def test_rates_match_design() -> None:
    settings = GeneratorSettings(seed=11, customers=1_000, terminals=2_000, days=90)
    frame = generate_transactions(settings)
    active_customers = frame["CUSTOMER_ID"].nunique()
    share = frame["TX_FRAUD_SCENARIO"].value_counts(normalize=True)

    # A Poisson mean drawn from uniform(0, 4) gives 2 attempts a day on average. Times
    # beyond 2.16 standard deviations of Normal(43,200 s, 20,000 s) fall outside the
    # day, which drops 3.1 % of the attempts.
    kept = norm.cdf(2.16) - norm.cdf(-2.16)
    expected_per_day = 2 * kept  # 1.938
    # Scenario 1: P(Normal(m, m / 2) > 220) averaged over m uniform on [5, 100].
    means = np.linspace(5, 100, 10_001)
    expected_large = float(np.mean(norm.sf(220, loc=means, scale=means / 2)))  # 0.057 %
    # Scenario 2: every payment on a compromised terminal.
    expected_terminal = expected_share_in_windows(2, 2_000, 28, 90)  # 2.35 %
    # Scenario 3: a third of the payments of compromised customers.
    expected_customer = expected_share_in_windows(3, 1_000, 14, 90) / 3  # 1.27 %

    assert len(frame) / active_customers / settings.days == pytest.approx(
        expected_per_day, rel=0.05
    )
    assert share[1] == pytest.approx(expected_large, rel=0.4)
    assert share[2] == pytest.approx(expected_terminal, rel=0.2)
    assert share[3] == pytest.approx(expected_customer, rel=0.2)
    expected_fraud = expected_large + expected_terminal + expected_customer  # 3.68 %
    assert frame["TX_FRAUD"].mean() == pytest.approx(expected_fraud, rel=0.15)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seed", -1),
        ("days", 0),
        ("customers", 0),
        ("terminals", -5),
        ("grid_side", 0.0),
        ("grid_side", float("inf")),
        ("radius", 0.0),
        ("radius", float("nan")),
        ("compromised_terminals_per_day", -1),
        ("terminal_compromise_days", 0),
        ("compromised_customers_per_day", -1),
        ("customer_compromise_days", 0),
        ("large_amount_threshold", -220.0),
        ("kind", "parquet"),
    ],
)
def test_invalid_setting_names_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as raised:
        GeneratorSettings(**{field: value})

    errors = raised.value.errors()
    assert len(errors) == 1
    assert errors[0]["loc"] == (field,)
    assert field in str(raised.value)


@pytest.mark.parametrize(
    ("population", "field"),
    [
        ("terminals", "compromised_terminals_per_day"),
        ("customers", "compromised_customers_per_day"),
    ],
)
def test_more_compromises_than_population_rejected(population: str, field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        GeneratorSettings(**{population: 4, field: 5})

    errors = raised.value.errors()
    assert errors[0]["loc"] == (field,)
    assert "5" in errors[0]["msg"]
    assert "at most 4" in errors[0]["msg"]


def test_period_beyond_datetime64_rejected() -> None:
    with pytest.raises(ValidationError) as raised:
        GeneratorSettings(start_date=date(2262, 4, 1), days=30)

    errors = raised.value.errors()
    assert errors[0]["loc"] == ("days",)
    assert "2262-04-01" in errors[0]["msg"]


def test_unknown_setting_rejected() -> None:
    with pytest.raises(ValidationError) as raised:
        GeneratorSettings(customer=10)

    assert raised.value.errors()[0]["loc"] == ("customer",)
