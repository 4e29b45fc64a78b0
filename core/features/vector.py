"""Feature values computed for one transaction."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FeatureVector:
    """Values in the order of ``names``; NaN stands for null (no qualifying data).

    ``feature_set_version`` names the definitions that produced the values, so a
    decision record can say which feature pipeline fed the model.
    """

    names: tuple[str, ...]
    values: tuple[float, ...]
    feature_set_version: str

    def __getitem__(self, name: str) -> float:
        return self.values[self.names.index(name)]

    def as_dict(self) -> dict[str, float | None]:
        """Return the values by name, with None for null."""
        return {
            name: (None if math.isnan(value) else value)
            for name, value in zip(self.names, self.values, strict=True)
        }

    @property
    def missing(self) -> tuple[str, ...]:
        """Return the names whose value is null."""
        return tuple(
            name for name, value in zip(self.names, self.values, strict=True) if math.isnan(value)
        )
