"""Model inputs: which request fields and features a model reads, in which order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from .features.vector import FeatureVector
from .ports import Scorer
from .transactions import Transaction

FloatArray = npt.NDArray[np.float64]

REQUEST_FIELDS = ("amount",)
"""Transaction fields a model may read directly, beside features."""


class UnknownModelInput(ValueError):
    """A model asks for an input that is neither a request field nor a feature."""


@dataclass(frozen=True, slots=True)
class ModelInputs:
    """The ordered input columns of a model.

    Each name is a request field (see REQUEST_FIELDS) or a feature of the feature set
    the model was trained on.
    """

    names: tuple[str, ...]
    feature_names: tuple[str, ...]

    def __post_init__(self) -> None:
        known = set(REQUEST_FIELDS) | set(self.feature_names)
        for name in self.names:
            if name not in known:
                raise UnknownModelInput(
                    f"model input {name!r} is neither a request field {REQUEST_FIELDS} "
                    "nor a feature of the model's feature set"
                )

    def assemble(
        self, transactions: Sequence[Transaction], features: Sequence[FeatureVector]
    ) -> FloatArray:
        """Return an ``(len(transactions), len(names))`` matrix; NaN marks a null feature."""
        feature_index = {name: index for index, name in enumerate(self.feature_names)}
        picks = [(name in feature_index, feature_index.get(name, -1), name) for name in self.names]
        matrix = np.empty((len(transactions), len(self.names)))
        for row, (transaction, vector) in enumerate(zip(transactions, features, strict=True)):
            values = vector.values
            matrix[row] = [
                values[index] if is_feature else transaction.field(name)
                for is_feature, index, name in picks
            ]
        return matrix

    def from_columns(self, columns: dict[str, FloatArray]) -> FloatArray:
        """Return the input matrix from whole columns (batch scoring and training)."""
        return np.column_stack([np.asarray(columns[name], dtype=np.float64) for name in self.names])


class ModelTrainer(Protocol):
    """Fits a scorer on an input matrix and binary fraud labels."""

    def train(
        self, inputs: FloatArray, labels: npt.NDArray[np.bool_], model_inputs: ModelInputs
    ) -> Scorer: ...
