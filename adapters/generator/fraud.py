"""The three fraud scenarios of the handbook simulator, applied in order 1, 2, 3.

A transaction keeps the first scenario that marks it. Scenario 2 marks only
transactions that scenario 1 left genuine. Scenario 3 takes, for each day's group of
compromised customers, a third (rounded down) of their transactions in the window
that are still genuine when that day is processed. Scenario 1 therefore looks at the
amount as drawn, before any scenario-3 multiplication, and no amount is multiplied
twice. The handbook's published file instead lets a later scenario overwrite an
earlier one: it has scenario-2 rows above 220 and scenario-3 amounts above 5 x 220.

Random draws happen in this order: the terminal compromises, the customer
compromises, then the scenario-3 picks day by day. With no customer compromised per
day, no draw of scenario 3 happens, so the other columns do not change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .settings import GeneratorSettings

LARGE_AMOUNT = 1
COMPROMISED_TERMINAL = 2
COMPROMISED_CUSTOMER = 3

# A compromised card is used for fraud on one payment in three, at five times the
# amount the customer would have paid.
COMPROMISED_CUSTOMER_SHARE_DIVISOR = 3
COMPROMISED_CUSTOMER_AMOUNT_FACTOR = 5.0


@dataclass(frozen=True)
class Compromises:
    """Terminals or customers compromised from ``start_day`` for ``duration_days`` days.

    ``start_day`` is in TX_TIME_DAYS units and sorted. ``ids`` contains the TERMINAL_ID
    or CUSTOMER_ID compromised on that day. An id drawn again while still compromised has
    two overlapping entries.
    """

    start_day: npt.NDArray[np.int64]
    ids: npt.NDArray[np.int64]
    duration_days: int

    def covers(
        self, day: npt.NDArray[np.int64], ids: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.bool_]:
        """Return, per (day, id) pair, whether the id is compromised on that day."""
        if len(self.ids) == 0:
            return np.zeros(len(day), dtype=bool)
        # Each compromised (id, day) pair becomes one integer key. Because span exceeds
        # every covered day, keys of different ids never collide.
        span = int(self.start_day.max()) + self.duration_days
        covered_days = self.start_day[:, np.newaxis] + np.arange(self.duration_days)
        covered_keys = self.ids[:, np.newaxis] * span + covered_days
        day = np.asarray(day, dtype=np.int64)
        keys = np.asarray(ids, dtype=np.int64) * span + day
        return (day >= 0) & (day < span) & np.isin(keys, covered_keys)


@dataclass
class LabelledColumns:
    """Transaction columns in time order, whose amount and scenario the scenarios edit."""

    day: npt.NDArray[np.int64]
    customer_id: npt.NDArray[np.int64]
    terminal_id: npt.NDArray[np.int64]
    amount: npt.NDArray[np.float64]
    scenario: npt.NDArray[np.int64]


@dataclass(frozen=True)
class CompromiseSchedule:
    """Terminals and customers compromised by scenarios 2 and 3, to measure detection delay."""

    terminals: Compromises
    customers: Compromises


def apply_fraud_scenarios(
    rng: np.random.Generator, columns: LabelledColumns, settings: GeneratorSettings
) -> CompromiseSchedule:
    """Mark fraud in ``columns.scenario`` (0 stays genuine) and inflate scenario-3 amounts."""
    terminals = draw_compromises(
        rng,
        settings.terminals,
        settings.compromised_terminals_per_day,
        settings.days,
        settings.terminal_compromise_days,
    )
    customers = draw_compromises(
        rng,
        settings.customers,
        settings.compromised_customers_per_day,
        settings.days,
        settings.customer_compromise_days,
    )
    mark_large_amounts(columns, settings.large_amount_threshold)
    mark_compromised_terminals(columns, terminals)
    mark_compromised_customers(rng, columns, customers, settings.customers)
    return CompromiseSchedule(terminals=terminals, customers=customers)


def draw_compromises(
    rng: np.random.Generator, population: int, per_day: int, days: int, duration_days: int
) -> Compromises:
    """Draw ``per_day`` distinct ids each day; different days may draw the same id."""
    if per_day == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Compromises(start_day=empty, ids=empty, duration_days=duration_days)
    ids = np.concatenate([rng.choice(population, size=per_day, replace=False) for _ in range(days)])
    start_day = np.repeat(np.arange(days, dtype=np.int64), per_day)
    return Compromises(start_day=start_day, ids=ids.astype(np.int64), duration_days=duration_days)


def mark_large_amounts(columns: LabelledColumns, threshold: float) -> None:
    """Scenario 1: every genuine transaction with an amount above the threshold."""
    columns.scenario[(columns.scenario == 0) & (columns.amount > threshold)] = LARGE_AMOUNT


def mark_compromised_terminals(columns: LabelledColumns, compromises: Compromises) -> None:
    """Scenario 2: every genuine transaction on a terminal while it is compromised."""
    covered = compromises.covers(columns.day, columns.terminal_id)
    columns.scenario[(columns.scenario == 0) & covered] = COMPROMISED_TERMINAL


def mark_compromised_customers(
    rng: np.random.Generator, columns: LabelledColumns, compromises: Compromises, population: int
) -> None:
    """Scenario 3: a third of the compromised customers' payments, at five times the amount.

    The customers compromised on the same day share one pool: their transactions in
    the window that are still genuine. A third of the pool (rounded down) is drawn at
    random, gets five times its amount (rounded to cents) and becomes fraud. Days are
    processed in order, so a transaction already taken by an earlier, overlapping
    window is not drawn again and is never multiplied twice.
    """
    if len(compromises.ids) == 0:
        return
    # Positions of each customer's transactions, in time order, for per-customer slicing.
    by_customer = np.argsort(columns.customer_id, kind="stable")
    bounds = np.searchsorted(columns.customer_id[by_customer], np.arange(population + 1))
    start_days, first_of_day = np.unique(compromises.start_day, return_index=True)
    day_groups = np.split(compromises.ids, first_of_day[1:])
    for start_day, customers in zip(start_days, day_groups, strict=True):
        stop_day = start_day + compromises.duration_days
        candidates = []
        for customer in np.sort(customers):
            positions = by_customer[bounds[customer] : bounds[customer + 1]]
            days = columns.day[positions]
            first = np.searchsorted(days, start_day)
            stop = np.searchsorted(days, stop_day)
            candidates.append(positions[first:stop])
        pool = np.sort(np.concatenate(candidates))
        pool = pool[columns.scenario[pool] == 0]
        count = len(pool) // COMPROMISED_CUSTOMER_SHARE_DIVISOR
        if count == 0:
            continue
        chosen = rng.choice(pool, size=count, replace=False)
        inflated = columns.amount[chosen] * COMPROMISED_CUSTOMER_AMOUNT_FACTOR
        columns.amount[chosen] = np.round(inflated, 2)
        columns.scenario[chosen] = COMPROMISED_CUSTOMER
