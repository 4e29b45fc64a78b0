"""Where tests find the real data sets: the folder named by TWINBANK_DATA_DIR.

Without the variable, a test that needs real data is skipped with the reason. With the
variable set, a missing file fails the test, because the configured data is incomplete.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA_DIR_VARIABLE = "TWINBANK_DATA_DIR"


def real_data_file(*parts: str) -> Path:
    """Return the path of a real data file under TWINBANK_DATA_DIR, such as
    ``real_data_file("handbook", "transactions.parquet")``."""
    root = os.environ.get(DATA_DIR_VARIABLE)
    if not root:
        pytest.skip(f"{DATA_DIR_VARIABLE} is not set; the real data is not available")
    path = Path(root).joinpath(*parts)
    if not path.is_file():
        pytest.fail(f"{DATA_DIR_VARIABLE} is set but {path} does not exist")
    return path
