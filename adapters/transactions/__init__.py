"""Transaction sources: validated files and frames in the handbook layout."""

from .dataset import TransactionDataset
from .files import load_transactions
from .generated import generated_dataset
from .schema import COLUMNS, InvalidTransactionData

__all__ = [
    "COLUMNS",
    "InvalidTransactionData",
    "TransactionDataset",
    "generated_dataset",
    "load_transactions",
]
