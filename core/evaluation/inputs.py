"""Checks on the arrays that evaluation functions receive.

Each check raises InvalidEvaluationInput naming the argument and the bad value. The
checks that convert return the array in the dtype the caller computes with.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]
Int64Array = npt.NDArray[np.int64]


class InvalidEvaluationInput(ValueError):
    """An array handed to an evaluation function has the wrong shape, length or values."""


def one_dimensional(name: str, values: npt.ArrayLike) -> npt.NDArray[np.generic]:
    array = np.asarray(values)
    if array.ndim != 1:
        raise InvalidEvaluationInput(
            f"{name} must be a 1-D array, got shape {array.shape}; flatten it or pass one column"
        )
    return array


def require_equal_lengths(arrays: Mapping[str, npt.NDArray[np.generic]]) -> None:
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise InvalidEvaluationInput(
            f"arrays differ in length: {lengths}; pass one value per transaction in each"
        )


def require_rows(name: str, array: npt.NDArray[np.generic]) -> None:
    if len(array) == 0:
        raise InvalidEvaluationInput(f"{name} is empty; evaluation needs at least one row")


def binary_labels(name: str, values: npt.ArrayLike) -> BoolArray:
    """Return labels as booleans, from a bool array or numbers that are all 0 or 1."""
    array = one_dimensional(name, values)
    if array.dtype == np.bool_:
        return array.astype(np.bool_, copy=False)
    if not np.issubdtype(array.dtype, np.number):
        raise InvalidEvaluationInput(
            f"{name} must be 0/1 numbers or booleans, got dtype {array.dtype}"
        )
    not_binary = (array != 0) & (array != 1)
    if not_binary.any():
        bad = array[not_binary][:5].tolist()
        raise InvalidEvaluationInput(
            f"{name} must contain only 0 and 1, found {bad}; map the classes to 0 and 1"
        )
    labels: BoolArray = array == 1
    return labels


def finite_scores(name: str, values: npt.ArrayLike) -> FloatArray:
    """Return scores as float64. NaN and infinite scores raise because they have no rank."""
    array = one_dimensional(name, values)
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise InvalidEvaluationInput(f"{name} must be numbers, got dtype {array.dtype}")
    scores = array.astype(np.float64, copy=False)
    not_finite = ~np.isfinite(scores)
    if not_finite.any():
        position = int(np.flatnonzero(not_finite)[0])
        raise InvalidEvaluationInput(
            f"{name} contains {int(not_finite.sum())} NaN or infinite values, the first "
            f"{scores[position]} at position {position}; fix the model output or drop those rows"
        )
    return scores


def integer_days(name: str, values: npt.ArrayLike) -> Int64Array:
    """Return day numbers (``TX_TIME_DAYS``-style) as int64. Non-integer dtypes raise."""
    array = one_dimensional(name, values)
    if not np.issubdtype(array.dtype, np.integer):
        raise InvalidEvaluationInput(
            f"{name} must be integer day numbers, got dtype {array.dtype}; "
            "pass the TX_TIME_DAYS column or floor the times to whole days"
        )
    return array.astype(np.int64, copy=False)


def both_classes(name: str, labels: BoolArray, purpose: str) -> None:
    positives = int(labels.sum())
    if positives == 0 or positives == len(labels):
        present = "1" if positives else "0"
        raise InvalidEvaluationInput(
            f"{name} contains only class {present} ({len(labels)} rows); "
            f"{purpose} needs both classes"
        )


def card_identifiers(name: str, values: npt.ArrayLike) -> npt.NDArray[np.generic]:
    """Return card ids as given. They must be integers or strings so that they sort."""
    array = one_dimensional(name, values)
    if array.dtype.kind not in "iuUS":
        raise InvalidEvaluationInput(
            f"{name} must be integer or string card ids, got dtype {array.dtype}"
        )
    return array


def positive_count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise InvalidEvaluationInput(f"{name} must be a positive integer, got {value!r}")
    return int(value)
