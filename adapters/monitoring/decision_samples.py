"""Scores and feature values of the decisions in a time window, read from an audit trail
(the chain that every scenario run and live service writes)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from twinbank.adapters.sql import SqlAuditTrail


@dataclass(frozen=True)
class DecisionSample:
    """The decisions of ``[start_ns, end_ns)``: scores, and feature values by name."""

    start_ns: int
    end_ns: int
    scores: npt.NDArray[np.float64]
    features: dict[str, npt.NDArray[np.float64]]

    @property
    def rows(self) -> int:
        return len(self.scores)


def decision_sample(trail: SqlAuditTrail, start_ns: int, end_ns: int) -> DecisionSample:
    """Read the window's decisions; a null feature value becomes NaN. Feature sets other
    than the first one found are read by name, and a feature missing from a decision's
    set is NaN for that decision."""
    scores: list[float] = []
    columns: dict[str, list[float]] = {}
    names_by_version: dict[str, tuple[str, ...]] = {}
    for row, record in enumerate(trail.decisions_between(start_ns, end_ns)):
        body = json.loads(record.body_json)
        scores.append(float(body["score"]))
        features = body.get("features") or {}
        version = features.get("feature_set_version")
        if version is not None and version not in names_by_version:
            names_by_version[version] = trail.feature_set_names(version) or ()
        names = names_by_version.get(version, ())
        for name, value in zip(names, features.get("values", []), strict=False):
            column = columns.setdefault(name, [np.nan] * row)
            column.append(np.nan if value is None else float(value))
        for column in columns.values():
            if len(column) < row + 1:
                column.append(np.nan)
    return DecisionSample(
        start_ns=start_ns,
        end_ns=end_ns,
        scores=np.array(scores, dtype=np.float64),
        features={name: np.array(values, dtype=np.float64) for name, values in columns.items()},
    )
