"""Settings of the card-transaction generator, with the handbook's values as defaults."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

# datetime64[ns] ends in April 2262, so the last generated day must come before it.
_LAST_REPRESENTABLE_DAY = pd.Timestamp.max.date()


class GeneratorSettings(BaseModel):
    """Population, period and fraud scenarios of one generated data set.

    The defaults reproduce the size of the handbook's published data set: 5,000
    customers and 10,000 terminals over the 183 days from 2018-04-01.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["handbook-simulator"] = "handbook-simulator"
    seed: int = Field(
        default=0,
        ge=0,
        description="Seed of the random generator. Equal settings give equal transactions.",
    )
    start_date: date = Field(
        default=date(2018, 4, 1), description="Calendar day of TX_TIME_DAYS = 0, at midnight."
    )
    days: int = Field(default=183, gt=0, description="Number of simulated days.")
    customers: int = Field(default=5_000, gt=0, description="Number of customers (cards).")
    terminals: int = Field(default=10_000, gt=0, description="Number of payment terminals.")
    grid_side: float = Field(
        default=100.0,
        gt=0,
        allow_inf_nan=False,
        description="Side of the square on which profiles are placed.",
    )
    radius: float = Field(
        default=5.0,
        gt=0,
        allow_inf_nan=False,
        description="Distance within which a customer uses a terminal, in grid units.",
    )
    compromised_terminals_per_day: int = Field(
        default=2,
        ge=0,
        description="Terminals compromised each day by fraud scenario 2, or 0 to disable it.",
    )
    terminal_compromise_days: int = Field(
        default=28,
        gt=0,
        description="Days a compromised terminal stays compromised, its first day included.",
    )
    compromised_customers_per_day: int = Field(
        default=3,
        ge=0,
        description="Customers compromised each day by fraud scenario 3, or 0 to disable it.",
    )
    customer_compromise_days: int = Field(
        default=14,
        gt=0,
        description="Days a compromised customer stays compromised, its first day included.",
    )
    large_amount_threshold: float = Field(
        default=220.0,
        gt=0,
        allow_inf_nan=False,
        description="Amounts strictly above this value are fraud (scenario 1).",
    )

    @field_validator("days")
    @classmethod
    def _period_fits_datetime64(cls, days: int, info: ValidationInfo) -> int:
        start = info.data.get("start_date")
        if start is not None and start + timedelta(days=days - 1) > _LAST_REPRESENTABLE_DAY:
            raise ValueError(
                f"{days} days from {start.isoformat()} end after {_LAST_REPRESENTABLE_DAY}, "
                "the last day that datetime64[ns] can hold; use fewer days or an earlier start_date"
            )
        return days

    @field_validator("compromised_terminals_per_day")
    @classmethod
    def _terminals_to_compromise_exist(cls, count: int, info: ValidationInfo) -> int:
        return _at_most_population(count, info, "terminals")

    @field_validator("compromised_customers_per_day")
    @classmethod
    def _customers_to_compromise_exist(cls, count: int, info: ValidationInfo) -> int:
        return _at_most_population(count, info, "customers")


def _at_most_population(count: int, info: ValidationInfo, population: str) -> int:
    # Compromised profiles are drawn without replacement within a day.
    size = info.data.get(population)
    if size is not None and count > size:
        raise ValueError(
            f"{count} {population} to compromise per day exceeds the {size} {population} "
            f"generated; set it to at most {size}"
        )
    return count
