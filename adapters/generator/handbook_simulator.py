"""Seeded card transactions following the fraud-detection handbook's simulator.

The design is the one published in Le Borgne et al., "Reproducible Machine Learning
for Credit Card Fraud Detection - Practical Handbook", chapter "Transaction data
simulator", reimplemented here with numpy arrays:

- Customers sit uniformly on a square grid, each with a mean amount drawn from
  uniform(5, 100), an amount standard deviation of half that mean, and a mean number
  of payments per day drawn from uniform(0, 4). Terminals sit uniformly on the same
  grid. A customer pays only at terminals within ``radius`` of its location.
- Each day, a customer makes Poisson(mean per day) payment attempts. Each attempt
  gets a time of day from Normal(43,200 s, 20,000 s), floored to a whole second, and
  is dropped when that time falls outside [0, 86,400). A kept payment gets an amount
  from Normal(mean, std), redrawn from uniform(0, 2 * mean) when negative and rounded
  to cents, and a terminal drawn uniformly among the reachable ones. A customer with
  no terminal in reach makes no payment.
- Fraud scenarios 1, 2 and 3 are then applied in that order, and a transaction keeps
  the first one that marks it. ``fraud`` states the exact rules and how they differ
  from the handbook's published data, where a later scenario overwrites an earlier
  one.

Every random draw comes from one ``numpy.random.Generator`` seeded with
``settings.seed``, so equal settings give equal frames. The stream of draws is not the
handbook's, so the same seed does not reproduce the published file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from .fraud import CompromiseSchedule, LabelledColumns, apply_fraud_scenarios
from .profiles import (
    CustomerProfiles,
    ReachableTerminals,
    TerminalProfiles,
    draw_customers,
    draw_terminals,
    find_reachable_terminals,
)
from .settings import GeneratorSettings

SECONDS_PER_DAY = 86_400
MEAN_TIME_OF_DAY_SECONDS = SECONDS_PER_DAY / 2
STD_TIME_OF_DAY_SECONDS = 20_000.0

# Columns and dtypes of the handbook's transactions file, in its order.
TRANSACTION_COLUMNS: dict[str, str] = {
    "TRANSACTION_ID": "int64",
    "TX_DATETIME": "datetime64[ns]",
    "CUSTOMER_ID": "int64",
    "TERMINAL_ID": "int64",
    "TX_AMOUNT": "float64",
    "TX_TIME_SECONDS": "int64",
    "TX_TIME_DAYS": "int64",
    "TX_FRAUD": "int64",
    "TX_FRAUD_SCENARIO": "int64",
}


@dataclass(frozen=True)
class _Payments:
    """Drawn payments, one array entry per payment, in generation order."""

    day: npt.NDArray[np.int64]
    time_of_day: npt.NDArray[np.int64]
    customer_id: npt.NDArray[np.int64]
    terminal_id: npt.NDArray[np.int64]
    amount: npt.NDArray[np.float64]


@dataclass(frozen=True)
class HandbookSimulation:
    """Generated transactions with the hidden state that produced them.

    ``customers`` and ``terminals`` are indexed by CUSTOMER_ID and TERMINAL_ID.
    ``compromises`` lists the terminals and customers that fraud scenarios 2 and 3
    compromised, by start day.
    """

    transactions: pd.DataFrame
    customers: CustomerProfiles
    terminals: TerminalProfiles
    compromises: CompromiseSchedule


def generate_transactions(settings: GeneratorSettings) -> pd.DataFrame:
    """Generate labelled transactions in the handbook's column layout.

    See ``simulate_handbook`` for the frame; this returns only the frame.
    """
    return simulate_handbook(settings).transactions


def simulate_handbook(settings: GeneratorSettings) -> HandbookSimulation:
    """Run the simulator and return the transactions with profiles and compromises.

    The transaction frame has the columns of ``TRANSACTION_COLUMNS`` with those dtypes, a
    RangeIndex, and rows sorted by TX_DATETIME. TRANSACTION_ID numbers the rows from
    0, so the rows are also sorted by (TX_DATETIME, TRANSACTION_ID). TX_DATETIME is
    naive, counted from ``settings.start_date`` at midnight, as in the handbook.
    TX_TIME_SECONDS counts seconds and TX_TIME_DAYS whole days from that midnight.
    """
    rng = np.random.default_rng(settings.seed)
    customers = draw_customers(rng, settings)
    terminals = draw_terminals(rng, settings)
    reachable = find_reachable_terminals(customers, terminals, settings.radius)
    payments = _draw_payments(rng, customers, reachable, settings.days)

    seconds = payments.day * SECONDS_PER_DAY + payments.time_of_day
    # Generation order is (day, customer, attempt), so a stable sort breaks ties in
    # time by customer id and then by attempt.
    order = np.argsort(seconds, kind="stable")
    columns = LabelledColumns(
        day=payments.day[order],
        customer_id=payments.customer_id[order],
        terminal_id=payments.terminal_id[order],
        amount=payments.amount[order],
        scenario=np.zeros(len(order), dtype=np.int64),
    )
    compromises = apply_fraud_scenarios(rng, columns, settings)
    return HandbookSimulation(
        transactions=_to_frame(columns, seconds[order], settings),
        customers=customers,
        terminals=terminals,
        compromises=compromises,
    )


def _draw_payments(
    rng: np.random.Generator,
    customers: CustomerProfiles,
    reachable: ReachableTerminals,
    days: int,
) -> _Payments:
    population = len(customers.x)
    attempts = rng.poisson(customers.mean_transactions_per_day, size=(days, population))
    # One entry per attempt, holding the flat (day, customer) cell it belongs to.
    cell = np.repeat(np.arange(days * population, dtype=np.int64), attempts.ravel())
    day = cell // population
    customer = cell % population

    time_of_day = np.floor(
        rng.normal(MEAN_TIME_OF_DAY_SECONDS, STD_TIME_OF_DAY_SECONDS, len(cell))
    ).astype(np.int64)
    terminal_counts = reachable.counts
    payable = (time_of_day >= 0) & (time_of_day < SECONDS_PER_DAY)
    payable &= terminal_counts[customer] > 0
    day, customer, time_of_day = day[payable], customer[payable], time_of_day[payable]

    mean = customers.mean_amount[customer]
    amount = rng.normal(mean, customers.std_amount[customer])
    negative = amount < 0
    amount[negative] = rng.uniform(0.0, 2.0 * mean[negative])
    amount = np.round(amount, 2)

    pick = rng.integers(0, terminal_counts[customer])
    terminal = reachable.terminal_ids[reachable.offsets[customer] + pick]
    return _Payments(
        day=day,
        time_of_day=time_of_day,
        customer_id=customer,
        terminal_id=terminal,
        amount=amount,
    )


def _to_frame(
    columns: LabelledColumns, seconds: npt.NDArray[np.int64], settings: GeneratorSettings
) -> pd.DataFrame:
    start = np.datetime64(settings.start_date, "ns")
    moments = start + seconds.astype("timedelta64[s]").astype("timedelta64[ns]")
    frame = pd.DataFrame(
        {
            "TRANSACTION_ID": np.arange(len(seconds), dtype=np.int64),
            "TX_DATETIME": moments,
            "CUSTOMER_ID": columns.customer_id,
            "TERMINAL_ID": columns.terminal_id,
            "TX_AMOUNT": columns.amount,
            "TX_TIME_SECONDS": seconds,
            "TX_TIME_DAYS": columns.day,
            "TX_FRAUD": (columns.scenario > 0).astype(np.int64),
            "TX_FRAUD_SCENARIO": columns.scenario,
        }
    )
    return frame.astype(TRANSACTION_COLUMNS)
