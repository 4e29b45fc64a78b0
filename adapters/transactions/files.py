"""Read transaction files (Parquet or CSV) in the handbook layout."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .dataset import TransactionDataset
from .schema import InvalidTransactionData

SUFFIXES = (".parquet", ".csv")


def load_transactions(path: Path, sequence_column: str | None = None) -> TransactionDataset:
    """Read and validate a transaction file.

    Raises InvalidTransactionData when the file is missing, unreadable or breaks the
    layout; the message names the file and, where one is at fault, the column.
    """
    source = str(path)
    if not path.is_file():
        raise InvalidTransactionData(
            source, "-", "file not found", "an existing .parquet or .csv file"
        )
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            frame = pd.read_parquet(path)
        elif suffix == ".csv":
            frame = pd.read_csv(path, parse_dates=["TX_DATETIME"])
        else:
            raise InvalidTransactionData(
                source, "-", f"unsupported file type {suffix!r}", " or ".join(SUFFIXES)
            )
    except (OSError, ValueError) as error:
        if isinstance(error, InvalidTransactionData):
            raise
        raise InvalidTransactionData(
            source, "-", f"unreadable ({error})", "a valid file"
        ) from error
    return TransactionDataset.from_frame(frame, source, sequence_column)
