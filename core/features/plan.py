"""Compile a feature set into the plan both engines execute.

Streaming and batch computation read the same plan, so they cannot disagree on which
windows exist, which sources each window aggregates or where each value goes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .definitions import (
    FRAUD_LABEL,
    Aggregation,
    Entity,
    FeatureSet,
    InvalidFeatureDefinition,
    Ratio,
    RowFeature,
    RowTransform,
    WindowAggregate,
)
from .trackers import TRACKED

_LABEL_AGGREGATIONS = frozenset({Aggregation.COUNT, Aggregation.SUM, Aggregation.MEAN})


@dataclass(frozen=True, slots=True)
class AggregateOutput:
    """Write ``aggregation`` of source slot ``slot`` to output column ``column``.

    A COUNT reads no source and has slot -1. ``tracker`` indexes the window's
    trackers for MIN, MAX, DISTINCT_COUNT and STD, and is -1 for the others.
    """

    column: int
    aggregation: Aggregation
    slot: int
    empty_value: float | None
    tracker: int = -1


@dataclass(frozen=True, slots=True)
class WindowPlan:
    """One window ``(t - delay_ns - length_ns, t - delay_ns]`` and what it feeds."""

    length_ns: int
    delay_ns: int
    outputs: tuple[AggregateOutput, ...]
    trackers: tuple[tuple[Aggregation, int], ...] = ()
    """(aggregation, source slot) of each tracker the window keeps (see trackers.py)."""


@dataclass(frozen=True, slots=True)
class EntityPlan:
    """The windows kept per key of one entity, and the sources they read.

    ``sources`` gives the source name of each slot; ``label_slot`` is the slot of the
    delayed fraud label, or None when no window of this entity reads it.
    """

    entity: Entity
    sources: tuple[str, ...]
    label_slot: int | None
    windows: tuple[WindowPlan, ...]

    @property
    def horizon_ns(self) -> int:
        """Return how far back the widest window of this entity reaches."""
        return max(window.length_ns + window.delay_ns for window in self.windows)


@dataclass(frozen=True, slots=True)
class RowOutput:
    column: int
    transform: RowTransform
    night_end_hour: int


@dataclass(frozen=True, slots=True)
class RatioOutput:
    column: int
    numerator: int
    denominator: int


@dataclass(frozen=True, slots=True)
class ComputationPlan:
    names: tuple[str, ...]
    entities: tuple[EntityPlan, ...]
    rows: tuple[RowOutput, ...]
    ratios: tuple[RatioOutput, ...]

    @property
    def label_entities(self) -> tuple[EntityPlan, ...]:
        return tuple(plan for plan in self.entities if plan.label_slot is not None)


def compile_plan(feature_set: FeatureSet) -> ComputationPlan:
    """Group a feature set's definitions by entity and window.

    Raises InvalidFeatureDefinition for a combination no engine computes, such as
    the minimum of a fraud label.
    """
    column_of = {name: index for index, name in enumerate(feature_set.names)}
    rows: list[RowOutput] = []
    ratios: list[RatioOutput] = []
    windows_by_entity: dict[str, dict[tuple[int, int], list[AggregateOutput]]] = {}
    sources_by_entity: dict[str, list[str]] = {}

    for column, definition in enumerate(feature_set.definitions):
        computation = definition.computation
        if isinstance(computation, RowFeature):
            rows.append(RowOutput(column, computation.transform, computation.night_end_hour))
        elif isinstance(computation, Ratio):
            ratios.append(
                RatioOutput(
                    column, column_of[computation.numerator], column_of[computation.denominator]
                )
            )
        elif isinstance(computation, WindowAggregate):
            if computation.source == FRAUD_LABEL and (
                computation.aggregation not in _LABEL_AGGREGATIONS
            ):
                raise InvalidFeatureDefinition(
                    f"feature {definition.name!r}: aggregation {computation.aggregation.value!r} "
                    f"of {FRAUD_LABEL!r} is not supported; use count, sum or mean"
                )
            entity = definition.entity
            assert entity is not None  # checked by FeatureDefinition
            sources = sources_by_entity.setdefault(entity, [])
            slot = -1  # a count reads no source value
            if computation.aggregation is not Aggregation.COUNT:
                if computation.source not in sources:
                    sources.append(computation.source)
                slot = sources.index(computation.source)
            window_key = (computation.length_ns, computation.delay_ns)
            windows = windows_by_entity.setdefault(entity, {})
            windows.setdefault(window_key, []).append(
                AggregateOutput(column, computation.aggregation, slot, computation.empty_value)
            )

    entity_plans = []
    for entity_name, windows in windows_by_entity.items():
        entity_sources = tuple(sources_by_entity[entity_name])
        entity_plans.append(
            EntityPlan(
                entity=feature_set.entity(entity_name),
                sources=entity_sources,
                label_slot=(
                    entity_sources.index(FRAUD_LABEL) if FRAUD_LABEL in entity_sources else None
                ),
                windows=tuple(
                    _window_plan(length, delay, outputs)
                    for (length, delay), outputs in windows.items()
                ),
            )
        )
    return ComputationPlan(feature_set.names, tuple(entity_plans), tuple(rows), tuple(ratios))


def _window_plan(length_ns: int, delay_ns: int, outputs: list[AggregateOutput]) -> WindowPlan:
    """Give each output that needs a tracker its index; outputs share equal trackers."""
    trackers: list[tuple[Aggregation, int]] = []
    planned = []
    for output in outputs:
        if output.aggregation in TRACKED:
            spec = (output.aggregation, output.slot)
            if spec not in trackers:
                trackers.append(spec)
            planned.append(replace(output, tracker=trackers.index(spec)))
        else:
            planned.append(output)
    return WindowPlan(length_ns, delay_ns, tuple(planned), tuple(trackers))
