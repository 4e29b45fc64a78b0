"""The weighted combiner: one log-odds score from the components' log-odds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .calibration import InvalidCalibrationData, sigmoid

FloatArray = npt.NDArray[np.float64]


class InvalidCombiner(ValueError):
    """Weights that cannot combine the components; the message names the bad value."""


@dataclass(frozen=True, slots=True)
class WeightedCombiner:
    """``intercept + sum(weight_i * log_odds_i)`` over the components that returned a score.

    When components are left out of a decision, the weights of the others are scaled up
    so that they keep the total weight: a missing component neither adds nor drags down
    evidence, it only stops counting.
    """

    names: tuple[str, ...]
    weights: tuple[float, ...]
    intercept: float = 0.0

    def __post_init__(self) -> None:
        if len(self.names) != len(self.weights) or not self.names:
            raise InvalidCombiner(
                f"combiner needs one weight per component; names {self.names}, "
                f"weights {self.weights}"
            )
        if any(not np.isfinite(w) or w < 0 for w in self.weights) or sum(self.weights) <= 0:
            raise InvalidCombiner(
                f"combiner weights {self.weights} must be finite, non-negative and not all 0"
            )

    @property
    def total_weight(self) -> float:
        return float(sum(self.weights))

    def effective_weights(self, present: Sequence[bool]) -> tuple[float, ...]:
        """Return the weights used when only the ``present`` components returned a score."""
        kept = sum(w for w, here in zip(self.weights, present, strict=True) if here)
        if kept <= 0:
            raise InvalidCombiner(
                f"no weighted component returned a score (present: {list(present)}); cannot combine"
            )
        scale = self.total_weight / kept
        return tuple(
            w * scale if here else 0.0 for w, here in zip(self.weights, present, strict=True)
        )

    def combine(self, log_odds: FloatArray, present: Sequence[bool] | None = None) -> FloatArray:
        """Combine an ``(n, components)`` log-odds matrix; absent columns are ignored."""
        weights = self.weights if present is None else self.effective_weights(present)
        columns = np.asarray(log_odds, dtype=np.float64)
        used = np.array(weights) != 0
        combined = self.intercept + columns[:, used] @ np.array(weights)[used]
        return np.asarray(combined, dtype=np.float64)

    def combine_row(self, log_odds: Sequence[float], weights: Sequence[float]) -> float:
        return self.intercept + sum(w * x for w, x in zip(weights, log_odds, strict=True) if w)


def fit_combiner(
    names: Sequence[str], log_odds: FloatArray, labels: npt.ArrayLike, l2: float = 1e-3
) -> WeightedCombiner:
    """Fit the weights by L2-regularized logistic regression (Newton's method).

    Negative weights are set to 0 and the fit repeated without them, so a component can
    only add evidence in the direction it was trained for.
    """
    x = np.asarray(log_odds, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(names) or x.shape[0] != y.shape[0]:
        raise InvalidCalibrationData(
            f"log-odds {x.shape} must have one column per component {tuple(names)} and "
            f"one row per label ({y.shape[0]})"
        )
    active = np.ones(len(names), dtype=np.bool_)
    while True:
        coefficients = _logistic_regression(x[:, active], y, l2)
        weights = np.zeros(len(names))
        weights[active] = coefficients[:-1]
        if np.all(weights[active] >= 0) or active.sum() == 1:
            break
        active &= weights > 0
    return WeightedCombiner(
        tuple(names), tuple(float(max(w, 0.0)) for w in weights), float(coefficients[-1])
    )


def _logistic_regression(x: FloatArray, y: FloatArray, l2: float) -> FloatArray:
    design = np.column_stack([x, np.ones(len(x))])
    penalty = l2 * np.eye(design.shape[1])
    penalty[-1, -1] = 0.0
    coefficients = np.zeros(design.shape[1])
    for _ in range(100):
        p = sigmoid(design @ coefficients)
        gradient = design.T @ (p - y) + penalty @ coefficients
        hessian = (
            design.T @ (design * (p * (1 - p))[:, None]) + penalty + 1e-9 * np.eye(len(penalty))
        )
        step = np.linalg.solve(hessian, gradient)
        coefficients -= step
        if np.max(np.abs(step)) < 1e-9:
            break
    return coefficients
