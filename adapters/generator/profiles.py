"""Customer and terminal profiles, and which terminals each customer can reach."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from .settings import GeneratorSettings

MIN_MEAN_AMOUNT = 5.0
MAX_MEAN_AMOUNT = 100.0
MAX_MEAN_TRANSACTIONS_PER_DAY = 4.0


@dataclass(frozen=True)
class CustomerProfiles:
    """Customer profiles, one array entry per CUSTOMER_ID."""

    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.float64]
    mean_amount: npt.NDArray[np.float64]
    std_amount: npt.NDArray[np.float64]
    mean_transactions_per_day: npt.NDArray[np.float64]


@dataclass(frozen=True)
class TerminalProfiles:
    """Terminal locations, one array entry per TERMINAL_ID."""

    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.float64]


@dataclass(frozen=True)
class ReachableTerminals:
    """Terminals within the radius of each customer, in compressed sparse row layout.

    The terminals of customer ``c`` are ``terminal_ids[offsets[c]:offsets[c + 1]]``,
    in increasing order.
    """

    offsets: npt.NDArray[np.int64]
    terminal_ids: npt.NDArray[np.int64]

    @property
    def counts(self) -> npt.NDArray[np.int64]:
        """Number of reachable terminals per customer."""
        return np.diff(self.offsets)


def draw_customers(rng: np.random.Generator, settings: GeneratorSettings) -> CustomerProfiles:
    """Draw customer locations, spending habits and activity, all uniform."""
    size = settings.customers
    x = rng.uniform(0.0, settings.grid_side, size)
    y = rng.uniform(0.0, settings.grid_side, size)
    mean_amount = rng.uniform(MIN_MEAN_AMOUNT, MAX_MEAN_AMOUNT, size)
    mean_transactions_per_day = rng.uniform(0.0, MAX_MEAN_TRANSACTIONS_PER_DAY, size)
    return CustomerProfiles(
        x=x,
        y=y,
        mean_amount=mean_amount,
        std_amount=mean_amount / 2.0,
        mean_transactions_per_day=mean_transactions_per_day,
    )


def draw_terminals(rng: np.random.Generator, settings: GeneratorSettings) -> TerminalProfiles:
    """Draw terminal locations uniformly on the grid."""
    size = settings.terminals
    x = rng.uniform(0.0, settings.grid_side, size)
    y = rng.uniform(0.0, settings.grid_side, size)
    return TerminalProfiles(x=x, y=y)


def find_reachable_terminals(
    customers: CustomerProfiles, terminals: TerminalProfiles, radius: float
) -> ReachableTerminals:
    """Find, for every customer, the terminals at Euclidean distance ``<= radius``.

    Two k-d trees find the close pairs without computing all customer-terminal
    distances, so the cost grows with the number of pairs found.
    """
    customer_tree = cKDTree(np.column_stack([customers.x, customers.y]))
    terminal_tree = cKDTree(np.column_stack([terminals.x, terminals.y]))
    pairs = customer_tree.sparse_distance_matrix(terminal_tree, radius, output_type="ndarray")
    order = np.lexsort((pairs["j"], pairs["i"]))
    customer_ids = pairs["i"][order].astype(np.int64)
    counts = np.bincount(customer_ids, minlength=len(customers.x)).astype(np.int64)
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return ReachableTerminals(offsets=offsets, terminal_ids=pairs["j"][order].astype(np.int64))
