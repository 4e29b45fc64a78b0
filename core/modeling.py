"""Model inputs: which request fields and features a model reads, in which order."""

from __future__ import annotations

import math
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


class DuplicateModelInput(ValueError):
    """A model lists the same input name more than once."""


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
    _plain_columns: list[int] = field(init=False, repr=False, compare=False)
    _columns: list[int] = field(init=False, repr=False, compare=False)
    _ratio_columns: list[int] = field(init=False, repr=False, compare=False)
    _numerators: list[int] = field(init=False, repr=False, compare=False)
    _denominators: list[int] = field(init=False, repr=False, compare=False)
    _layout: list[tuple[int, int]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        repeated = sorted({name for name in self.names if self.names.count(name) > 1})
        if repeated:
            # Each column needs its own name because XGBoost and the rules engine look columns up by name.
            raise DuplicateModelInput(
                f"model inputs {repeated} are listed more than once in {self.names}; "
                "list each input once"
            )
        known = set(REQUEST_FIELDS) | set(self.feature_names)
        operands = [_operands(name, known) for name in self.names]
        plain: dict[str, int] = {}
        for parts in operands:
            for part in parts:
                plain.setdefault(part, len(plain))
        plain_columns = [column for column, parts in enumerate(operands) if len(parts) == 1]
        ratio_columns = [column for column, parts in enumerate(operands) if len(parts) == 2]
        derived = {
            "_plain": tuple(plain),
            "_plain_columns": plain_columns,
            "_columns": [plain[self.names[column]] for column in plain_columns],
            "_ratio_columns": ratio_columns,
            "_numerators": [plain[operands[column][0]] for column in ratio_columns],
            "_denominators": [plain[operands[column][1]] for column in ratio_columns],
            # Per column: its plain input and -1, or a ratio's numerator and denominator.
            "_layout": [
                (plain[parts[0]], plain[parts[1]] if len(parts) == 2 else -1) for parts in operands
            ],
        }
        for attribute, value in derived.items():
            object.__setattr__(self, attribute, value)

    def assemble(
        self, transactions: Sequence[Transaction], features: Sequence[FeatureVector]
    ) -> FloatArray:
        """Return an ``(len(transactions), len(names))`` matrix; NaN marks a null feature."""
        feature_index = {name: index for index, name in enumerate(self.feature_names)}
        picks = [(name in feature_index, feature_index.get(name, -1), name) for name in self._plain]
        layout = self._layout
        matrix = np.empty((len(transactions), len(self.names)))
        for row, (transaction, vector) in enumerate(zip(transactions, features, strict=True)):
            values = vector.values
            plain = [
                values[index] if is_feature else transaction.field(name)
                for is_feature, index, name in picks
            ]
            matrix[row] = [
                plain[first] if second < 0 else _ratio(plain[first], plain[second])
                for first, second in layout
            ]
        return matrix

    def from_columns(self, columns: dict[str, FloatArray]) -> FloatArray:
        """Return the input matrix from whole columns (batch scoring and training)."""
        plain = np.column_stack(
            [np.asarray(columns[name], dtype=np.float64) for name in self._plain]
        )
        return self._from_plain(plain)

    def _from_plain(self, plain: FloatArray) -> FloatArray:
        if not self._ratio_columns and self._plain == self.names:
            return plain
        matrix = np.empty((len(plain), len(self.names)))
        matrix[:, self._plain_columns] = plain[:, self._columns]
        if self._ratio_columns:
            denominators = plain[:, self._denominators]
            usable = (denominators != 0.0) & ~np.isnan(denominators)
            ratios = np.full(denominators.shape, np.nan)
            # As in Python, a huge ratio is infinite and infinity over infinity is NaN.
            with np.errstate(over="ignore", invalid="ignore"):
                np.divide(plain[:, self._numerators], denominators, out=ratios, where=usable)
            matrix[:, self._ratio_columns] = ratios
        return matrix


def _operands(name: str, known: set[str]) -> tuple[str, ...]:
    """Return ``(name,)`` for a plain input, or a ratio's numerator and denominator.

    A name that is itself a request field or feature is plain, even with the separator
    in it, because credit data has such columns. Any other name must split at exactly
    one separator into two plain inputs.
    """
    if name in known:
        return (name,)
    pieces = name.split(RATIO_SEPARATOR)
    splits = [
        (RATIO_SEPARATOR.join(pieces[:cut]), RATIO_SEPARATOR.join(pieces[cut:]))
        for cut in range(1, len(pieces))
    ]
    ratios = [split for split in splits if split[0] in known and split[1] in known]
    if len(ratios) == 1:
        return ratios[0]
    if len(ratios) > 1:
        raise UnknownModelInput(
            f"model input {name!r} divides plain inputs in {len(ratios)} ways: {ratios}; "
            "rename a feature so that the ratio is unambiguous"
        )
    if len(pieces) == 1:
        raise UnknownModelInput(
            f"model input {name!r} is neither a request field {REQUEST_FIELDS} nor a "
            "feature of the model's feature set"
        )
    unknown = sorted({part for split in splits for part in split if part not in known})
    raise UnknownModelInput(
        f"invalid model input {name!r}: {unknown} are not found among the request fields "
        f"{REQUEST_FIELDS} or the features of the model's feature set; name a plain "
        f"input or a ratio 'numerator{RATIO_SEPARATOR}denominator' of two plain inputs"
    )


def _ratio(numerator: float, denominator: float) -> float:
    """Return ``numerator / denominator``, or NaN when the denominator is 0 or NaN."""
    if denominator == 0.0 or math.isnan(denominator):
        return math.nan
    return numerator / denominator


class ModelTrainer(Protocol):
    """Fits a scorer on an input matrix and binary fraud labels."""

    def train(
        self, inputs: FloatArray, labels: npt.NDArray[np.bool_], model_inputs: ModelInputs
    ) -> Scorer: ...
