"""Calibration of scores into fraud probabilities, and how well probabilities are calibrated.

Pure numpy. Platt scaling fits ``sigmoid(a * x + b)`` to a score ``x`` (a log-odds);
isotonic regression fits a non-decreasing step function by pool-adjacent-violators.
Both are fitted on held-out labelled data, never on the data that trained the models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

LOGIT_LIMIT = 30.0
"""Log-odds are clipped to +-30, where the sigmoid is 1 - 1e-13 away from 0 or 1."""


class InvalidCalibrationData(ValueError):
    """Scores and labels that cannot fit a calibration; the message names the problem."""


def sigmoid(values: FloatArray) -> FloatArray:
    clipped = np.clip(values, -LOGIT_LIMIT, LOGIT_LIMIT)
    return 1.0 / (1.0 + np.exp(-clipped))


def logit(probabilities: FloatArray) -> FloatArray:
    """Return log-odds of probabilities, clipped to +-LOGIT_LIMIT so 0 and 1 stay finite."""
    bound = 1.0 / (1.0 + np.exp(LOGIT_LIMIT))
    clipped = np.clip(probabilities, bound, 1.0 - bound)
    return np.log(clipped) - np.log1p(-clipped)


class Calibration(Protocol):
    """Maps a combined log-odds score to a calibrated fraud probability."""

    @property
    def kind(self) -> str: ...

    def probabilities(self, log_odds: FloatArray) -> FloatArray: ...

    def to_dict(self) -> dict[str, object]:
        """Return the fitted parameters as JSON-ready values (see ``calibration_from_dict``)."""
        ...


@dataclass(frozen=True, slots=True)
class PlattCalibration:
    slope: float
    intercept: float
    kind: Literal["platt"] = "platt"

    def probabilities(self, log_odds: FloatArray) -> FloatArray:
        return sigmoid(self.slope * np.asarray(log_odds, dtype=np.float64) + self.intercept)

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "slope": self.slope, "intercept": self.intercept}


@dataclass(frozen=True, slots=True)
class IsotonicCalibration:
    """A non-decreasing step function through ``(thresholds[i], values[i])``.

    Between two thresholds the probability is interpolated linearly; outside them it is
    the first or last value.
    """

    thresholds: tuple[float, ...]
    values: tuple[float, ...]
    kind: Literal["isotonic"] = "isotonic"

    def probabilities(self, log_odds: FloatArray) -> FloatArray:
        return np.interp(np.asarray(log_odds, dtype=np.float64), self.thresholds, self.values)

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "thresholds": list(self.thresholds), "values": list(self.values)}


def calibration_from_dict(data: dict[str, object]) -> Calibration:
    """Rebuild a calibration written by ``to_dict``; raises InvalidCalibrationData."""
    kind = data.get("kind")
    try:
        if kind == "platt":
            return PlattCalibration(float(data["slope"]), float(data["intercept"]))  # type: ignore[arg-type]
        if kind == "isotonic":
            thresholds = tuple(float(x) for x in data["thresholds"])  # type: ignore[attr-defined]
            values = tuple(float(y) for y in data["values"])  # type: ignore[attr-defined]
            return IsotonicCalibration(thresholds, values)
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidCalibrationData(f"calibration {data!r} is incomplete: {error}") from None
    raise InvalidCalibrationData(f"calibration kind {kind!r} is unknown; use 'platt' or 'isotonic'")


def _checked(scores: npt.ArrayLike, labels: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    x = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise InvalidCalibrationData(
            f"scores {x.shape} and labels {y.shape} must be one-dimensional and of equal length"
        )
    if not np.all(np.isfinite(x)):
        raise InvalidCalibrationData("scores contain NaN or infinite values")
    if not np.all((y == 0) | (y == 1)):
        raise InvalidCalibrationData("labels must be 0 or 1")
    if y.min(initial=1) == y.max(initial=0):
        raise InvalidCalibrationData("labels hold a single class; calibration needs both")
    return x, y


def fit_platt(
    log_odds: npt.ArrayLike, labels: npt.ArrayLike, iterations: int = 50
) -> PlattCalibration:
    """Fit Platt scaling by Newton's method, with Platt's smoothed targets.

    The targets ``(positives + 1) / (positives + 2)`` and ``1 / (negatives + 2)`` keep the
    fit finite when the classes separate.
    """
    x, y = _checked(log_odds, labels)
    positives = y.sum()
    negatives = len(y) - positives
    target = np.where(y == 1, (positives + 1) / (positives + 2), 1 / (negatives + 2))
    design = np.column_stack([x, np.ones_like(x)])
    weights = np.array([1.0, 0.0])
    for _ in range(iterations):
        p = sigmoid(design @ weights)
        gradient = design.T @ (p - target)
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        weights -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    return PlattCalibration(float(weights[0]), float(weights[1]))


def fit_isotonic(log_odds: npt.ArrayLike, labels: npt.ArrayLike) -> IsotonicCalibration:
    """Fit a non-decreasing map from score to fraud rate by pool-adjacent-violators."""
    x, y = _checked(log_odds, labels)
    order = np.argsort(x, kind="stable")
    distinct, first = np.unique(x[order], return_index=True)
    sums = np.add.reduceat(y[order], first)
    counts = np.diff(np.append(first, len(x))).astype(np.float64)

    # Each block is (sum of labels, count); merge a block into its left neighbour while
    # the neighbour's mean is not lower.
    block_sum: list[float] = []
    block_count: list[float] = []
    block_end: list[int] = []
    for index in range(len(distinct)):
        block_sum.append(float(sums[index]))
        block_count.append(float(counts[index]))
        block_end.append(index)
        while len(block_sum) > 1 and (
            block_sum[-2] / block_count[-2] >= block_sum[-1] / block_count[-1]
        ):
            merged_sum, merged_count, merged_end = (
                block_sum.pop(),
                block_count.pop(),
                block_end.pop(),
            )
            block_sum[-1] += merged_sum
            block_count[-1] += merged_count
            block_end[-1] = merged_end

    thresholds: list[float] = []
    values: list[float] = []
    start = 0
    for total, count, end in zip(block_sum, block_count, block_end, strict=True):
        mean = total / count
        # Both ends of a block keep the level flat inside it under linear interpolation.
        thresholds.append(float(distinct[start]))
        values.append(mean)
        if end > start:
            thresholds.append(float(distinct[end]))
            values.append(mean)
        start = end + 1
    return IsotonicCalibration(tuple(thresholds), tuple(values))


@dataclass(frozen=True, slots=True)
class ReliabilityBin:
    """Transactions whose predicted probability lies in ``[lower, upper)``."""

    lower: float
    upper: float
    count: int
    mean_predicted: float
    observed_fraud_rate: float


def reliability_table(
    labels: npt.ArrayLike, probabilities: npt.ArrayLike, bins: int = 10
) -> tuple[ReliabilityBin, ...]:
    """Return equal-width bins over [0, 1]; the last bin includes 1. Empty bins are left out."""
    p = np.asarray(probabilities, dtype=np.float64)
    x, y = _checked(p, labels)
    if np.any((x < 0) | (x > 1)):
        raise InvalidCalibrationData("probabilities must lie in [0, 1]")
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, bins - 1)
    table = []
    for b in range(bins):
        members = index == b
        count = int(members.sum())
        if count:
            table.append(
                ReliabilityBin(
                    float(edges[b]),
                    float(edges[b + 1]),
                    count,
                    float(x[members].mean()),
                    float(y[members].mean()),
                )
            )
    return tuple(table)


def expected_calibration_error(
    labels: npt.ArrayLike, probabilities: npt.ArrayLike, bins: int = 10
) -> float:
    """Return the count-weighted mean of |observed rate - mean prediction| over the bins."""
    table = reliability_table(labels, probabilities, bins)
    total = sum(row.count for row in table)
    return (
        sum(row.count * abs(row.observed_fraud_rate - row.mean_predicted) for row in table) / total
    )
