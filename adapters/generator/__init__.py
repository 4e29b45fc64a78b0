"""Seeded card-transaction generator: the data source of scenarios without a data file.

It follows the published design of the fraud-detection handbook's simulator; see
``handbook_simulator`` for the rules and where they differ from the published data.
"""

from .fraud import (
    COMPROMISED_CUSTOMER,
    COMPROMISED_TERMINAL,
    LARGE_AMOUNT,
    Compromises,
    CompromiseSchedule,
)
from .handbook_simulator import (
    TRANSACTION_COLUMNS,
    HandbookSimulation,
    generate_transactions,
    simulate_handbook,
)
from .profiles import CustomerProfiles, TerminalProfiles
from .settings import GeneratorSettings

__all__ = [
    "COMPROMISED_CUSTOMER",
    "COMPROMISED_TERMINAL",
    "LARGE_AMOUNT",
    "TRANSACTION_COLUMNS",
    "CompromiseSchedule",
    "Compromises",
    "CustomerProfiles",
    "GeneratorSettings",
    "HandbookSimulation",
    "TerminalProfiles",
    "generate_transactions",
    "simulate_handbook",
]
