"""The explanation a decision record carries: how its score came about."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ComponentReport:
    """One ensemble component's part in a decision.

    ``log_odds`` and ``weight`` are None and ``left_out`` gives the reason when the component
    did not contribute (it raised, or exceeded its time budget).
    """

    name: str
    version: str
    log_odds: float | None
    weight: float | None
    explanation_method: str
    elapsed_ns: int
    left_out: str | None = None


@dataclass(frozen=True, slots=True)
class DecisionExplanation:
    """Why a decision scored as it did.

    Contributions are in the combined score's units: log-odds before calibration, each
    component's contributions multiplied by its combiner weight. Components explained
    offline are listed in ``explained_offline`` and contribute none here.
    """

    top_positive: tuple[tuple[str, float], ...]
    top_negative: tuple[tuple[str, float], ...]
    reason_codes: tuple[str, ...]
    combined_log_odds: float
    calibrated_probability: float
    floor: float | None
    components: tuple[ComponentReport, ...]
    explained_offline: tuple[str, ...]
    stage_ns: tuple[tuple[str, int], ...]
    null_inputs: tuple[str, ...] = ()
    units: str = "log-odds"
