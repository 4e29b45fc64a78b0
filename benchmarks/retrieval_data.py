"""Synthetic feature history and entity rows for the point-in-time retrieval benchmarks.

numpy only, so that the twinbank benchmark and the Feast benchmark (which runs in
an environment without twinbank) draw the same numbers from the same seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

DAY = 86_400 * 10**9
HOUR = 3_600 * 10**9
SPAN = 60 * DAY
TTL = 7 * DAY

SHAPES = {
    "S": {"history_rows": 200_000, "keys": 5_000, "entity_rows": 17_000, "columns": 1_000},
    "L": {"history_rows": 5_000_000, "keys": 100_000, "entity_rows": 1_000_000, "columns": 100},
}


@dataclass(frozen=True)
class RetrievalData:
    """History columns (keys, event and created times in ns, values) and entity rows."""

    history_keys: npt.NDArray[np.int64]
    event_ns: npt.NDArray[np.int64]
    created_ns: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    row_keys: npt.NDArray[np.int64]
    row_times_ns: npt.NDArray[np.int64]


def scaled_shape(name: str, scale: float) -> dict[str, int]:
    """Return the shape's sizes with its row and key counts multiplied by ``scale``."""
    shape = dict(SHAPES[name])
    for field in ("history_rows", "keys", "entity_rows"):
        shape[field] = max(1, round(shape[field] * scale))
    return shape


def draw(history_rows: int, keys: int, entity_rows: int, columns: int, seed: int) -> RetrievalData:
    """Draw event times over 60 days, created times up to an hour later, standard-normal
    values, and entity rows over the same keys and days."""
    generator = np.random.default_rng(seed)
    history_keys = generator.integers(0, keys, history_rows)
    event = generator.integers(0, SPAN, history_rows)
    created = event + generator.integers(0, HOUR, history_rows)
    values = generator.standard_normal((history_rows, columns))
    row_keys = generator.integers(0, keys, entity_rows)
    row_times = generator.integers(0, SPAN, entity_rows)
    return RetrievalData(history_keys, event, created, values, row_keys, row_times)
