"""Model inputs: which request fields and features a model reads, in which order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from .features.vector import FeatureVector
from .ports import Scorer
from .transactions import Transaction

FloatArray = npt.NDArray[np.float64]

REQUEST_FIELDS = ("amount",)
"""Transaction fields a model may read directly, beside features."""

RATIO_SEPARATOR = "/"
"""An input named ``a/b`` is the ratio of the plain inputs ``a`` and ``b``."""


class UnknownModelInput(ValueError):
    """A model asks for an input that is neither a request field nor a feature."""


@dataclass(frozen=True, slots=True)
class _RatioInput:
    column: int
    numerator: int
    denominator: int


@dataclass(frozen=True, slots=True)
class ModelInputs:
    """The ordered input columns of a model.

    Each name is a plain input, a request field (see REQUEST_FIELDS) or a feature of
    the feature set the model was trained on, or a ratio ``a/b`` of two plain inputs.
    A ratio is null (NaN) when its denominator is 0 or null, as a ratio feature is;
    it lets a model compare, say, an amount with the customer's usual spending without
    a feature of its own.
    """

    names: tuple[str, ...]
    feature_names: tuple[str, ...]
    _plain: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _plain_columns: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _columns: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _ratios: tuple[_RatioInput, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        known = set(REQUEST_FIELDS) | set(self.feature_names)
        plain: dict[str, int] = {}
        columns = []
        ratios = []
        for column, name in enumerate(self.names):
            parts = name.split(RATIO_SEPARATOR)
            if len(parts) > 2:
                raise UnknownModelInput(
                    f"model input {name!r} divides more than two inputs; a ratio input is "
                    f"'numerator{RATIO_SEPARATOR}denominator'"
                )
            for part in parts:
                if part not in known:
                    raise UnknownModelInput(
                        f"model input {name!r}: {part!r} is neither a request field "
                        f"{REQUEST_FIELDS} nor a feature of the model's feature set"
                    )
                plain.setdefault(part, len(plain))
            if len(parts) == 1:
                columns.append(column)
            else:
                ratios.append(_RatioInput(column, plain[parts[0]], plain[parts[1]]))
        object.__setattr__(self, "_plain", tuple(plain))
        object.__setattr__(self, "_columns", tuple(plain[self.names[c]] for c in columns))
        object.__setattr__(self, "_ratios", tuple(ratios))
        object.__setattr__(self, "_plain_columns", tuple(columns))

    def assemble(
        self, transactions: Sequence[Transaction], features: Sequence[FeatureVector]
    ) -> FloatArray:
        """Return an ``(len(transactions), len(names))`` matrix; NaN marks a null feature."""
        feature_index = {name: index for index, name in enumerate(self.feature_names)}
        picks = [(name in feature_index, feature_index.get(name, -1), name) for name in self._plain]
        plain = np.empty((len(transactions), len(self._plain)))
        for row, (transaction, vector) in enumerate(zip(transactions, features, strict=True)):
            values = vector.values
            plain[row] = [
                values[index] if is_feature else transaction.field(name)
                for is_feature, index, name in picks
            ]
        return self._from_plain(plain)

    def from_columns(self, columns: dict[str, FloatArray]) -> FloatArray:
        """Return the input matrix from whole columns (batch scoring and training)."""
        plain = np.column_stack(
            [np.asarray(columns[name], dtype=np.float64) for name in self._plain]
        )
        return self._from_plain(plain)

    def _from_plain(self, plain: FloatArray) -> FloatArray:
        if not self._ratios and self._plain == self.names:
            return plain
        matrix = np.empty((len(plain), len(self.names)))
        matrix[:, self._plain_columns] = plain[:, self._columns]
        for ratio in self._ratios:
            denominator = plain[:, ratio.denominator]
            usable = (denominator != 0.0) & ~np.isnan(denominator)
            result = np.full(len(plain), np.nan)
            with np.errstate(over="ignore"):  # a huge ratio is infinite, as in Python
                np.divide(plain[:, ratio.numerator], denominator, out=result, where=usable)
            matrix[:, ratio.column] = result
        return matrix


class ModelTrainer(Protocol):
    """Fits a scorer on an input matrix and binary fraud labels."""

    def train(
        self, inputs: FloatArray, labels: npt.NDArray[np.bool_], model_inputs: ModelInputs
    ) -> Scorer: ...
