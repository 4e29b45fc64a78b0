"""Evaluation of fraud scores: metrics and the handbook's train/test protocol.

Pure functions over numpy arrays; labels are 0/1 with 1 = fraud, and higher scores mean
more suspicious.
"""

from .inputs import InvalidEvaluationInput
from .metrics import CardPrecision, auc_roc, average_precision, card_precision_at_k
from .protocol import HandbookProtocol, ProtocolSplit, prequential_test_folds, validation_folds

__all__ = [
    "CardPrecision",
    "HandbookProtocol",
    "InvalidEvaluationInput",
    "ProtocolSplit",
    "auc_roc",
    "average_precision",
    "card_precision_at_k",
    "prequential_test_folds",
    "validation_folds",
]
