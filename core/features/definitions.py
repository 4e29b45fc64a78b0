"""Feature definitions: one declaration drives streaming and batch computation.

A definition names a feature, the entity it is keyed by and how it is computed. Three
computations exist:

* ``WindowAggregate``: an aggregation of a source over the entity's transactions in
  the window ``(t - delay - length, t - delay]``. With ``delay == 0`` the window ends
  at and includes the current transaction and those before it in
  ``(timestamp, transaction_id)`` order.
* ``RowFeature``: a value computed from the current transaction alone.
* ``Ratio``: one feature of the same set divided by another.

The source ``fraud_label`` is the delayed fraud label: 1 for a transaction whose label
says fraud and was revealed at or before the evaluation time, else 0. Its mean over a
window is the window's known fraud rate.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum

from ..timestamps import NANOS_PER_SECOND

FRAUD_LABEL = "fraud_label"
"""Source name of the delayed fraud label (see the module docstring)."""


class InvalidFeatureDefinition(ValueError):
    """A feature definition or feature set breaks a rule; the message names the fix."""


class Aggregation(StrEnum):
    COUNT = "count"
    SUM = "sum"
    MEAN = "mean"
    MIN = "min"
    MAX = "max"
    DISTINCT_COUNT = "distinct_count"
    STD = "std"
    """Population standard deviation (ddof 0)."""


class RowTransform(StrEnum):
    IS_WEEKEND = "is_weekend"
    IS_NIGHT = "is_night"


@dataclass(frozen=True, slots=True)
class Entity:
    """A thing features are keyed by, such as a customer or a terminal."""

    name: str
    join_key: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class WindowAggregate:
    """Aggregation of ``source`` over ``(t - delay_ns - length_ns, t - delay_ns]``.

    ``empty_value`` is the value when the window holds no transaction; None means null.
    COUNT, SUM and DISTINCT_COUNT of an empty window are always 0.
    """

    source: str
    aggregation: Aggregation
    length_ns: int
    delay_ns: int = 0
    empty_value: float | None = None

    @property
    def horizon_ns(self) -> int:
        """Return how far back from t the window reaches."""
        return self.length_ns + self.delay_ns


@dataclass(frozen=True, slots=True)
class RowFeature:
    """A value of the current transaction alone.

    IS_NIGHT is 1 when the UTC hour is at most ``night_end_hour``.
    """

    transform: RowTransform
    night_end_hour: int = 6


@dataclass(frozen=True, slots=True)
class Ratio:
    """``numerator / denominator`` of two features of the same set; null when the
    denominator is 0 or null."""

    numerator: str
    denominator: str


Computation = WindowAggregate | RowFeature | Ratio


@dataclass(frozen=True, slots=True)
class FeatureDefinition:
    """One feature: its name, entity, type, documentation and computation.

    ``ttl_ns`` is how long a served value stays valid after its event time; 0 means
    it never expires.
    """

    name: str
    entity: str | None
    computation: Computation
    dtype: str = "float64"
    description: str = ""
    owner: str = ""
    ttl_ns: int = 0
    tags: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        _check_definition(self)


def _check_definition(definition: FeatureDefinition) -> None:
    name = definition.name
    if not name or not name.replace("_", "").isalnum():
        raise InvalidFeatureDefinition(
            f"feature name {name!r} is invalid; use letters, digits and underscores"
        )
    computation = definition.computation
    if isinstance(computation, WindowAggregate):
        if definition.entity is None:
            raise InvalidFeatureDefinition(
                f"feature {name!r}: a window aggregate needs an entity to key the window by"
            )
        if computation.length_ns <= 0:
            raise InvalidFeatureDefinition(
                f"feature {name!r}: window length {computation.length_ns} ns must be positive"
            )
        if computation.delay_ns < 0:
            raise InvalidFeatureDefinition(
                f"feature {name!r}: delay {computation.delay_ns} ns must be zero or positive"
            )
        if computation.source == FRAUD_LABEL and computation.delay_ns == 0:
            raise InvalidFeatureDefinition(
                f"feature {name!r}: a window over {FRAUD_LABEL!r} needs a positive delay, "
                "because a label is never known when its own transaction is decided"
            )
    if definition.ttl_ns < 0:
        raise InvalidFeatureDefinition(
            f"feature {name!r}: ttl {definition.ttl_ns} ns must be zero (no expiry) or positive"
        )


@dataclass(frozen=True, slots=True)
class FeatureSet:
    """An ordered, versioned group of feature definitions over known entities.

    The version is a content hash of the definitions, so any change to a window, a
    source or a name yields a new version that decision records can name.
    """

    name: str
    entities: tuple[Entity, ...]
    definitions: tuple[FeatureDefinition, ...]

    def __post_init__(self) -> None:
        entity_names = {entity.name for entity in self.entities}
        seen: set[str] = set()
        for definition in self.definitions:
            if definition.name in seen:
                raise InvalidFeatureDefinition(
                    f"feature set {self.name!r}: feature {definition.name!r} is defined twice"
                )
            seen.add(definition.name)
            if definition.entity is not None and definition.entity not in entity_names:
                raise InvalidFeatureDefinition(
                    f"feature {definition.name!r}: entity {definition.entity!r} is not declared; "
                    f"declared entities: {sorted(entity_names)}"
                )
        for definition in self.definitions:
            computation = definition.computation
            if isinstance(computation, Ratio):
                for part in (computation.numerator, computation.denominator):
                    if part not in seen:
                        raise InvalidFeatureDefinition(
                            f"feature {definition.name!r}: ratio refers to unknown feature {part!r}"
                        )
                    if isinstance(self.definition(part).computation, Ratio):
                        raise InvalidFeatureDefinition(
                            f"feature {definition.name!r}: ratio of ratio {part!r} is not "
                            "supported; refer to window or row features"
                        )

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(definition.name for definition in self.definitions)

    @property
    def version(self) -> str:
        """Return a 12-hex-digit content hash of the entities and definitions."""
        payload = {
            "entities": [asdict(entity) for entity in self.entities],
            "definitions": [_canonical(definition) for definition in self.definitions],
        }
        encoded = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(encoded).hexdigest()[:12]

    def definition(self, name: str) -> FeatureDefinition:
        for definition in self.definitions:
            if definition.name == name:
                return definition
        raise KeyError(f"feature {name!r} is not in feature set {self.name!r}")

    def entity(self, name: str) -> Entity:
        for entity in self.entities:
            if entity.name == name:
                return entity
        raise KeyError(f"entity {name!r} is not in feature set {self.name!r}")


def _canonical(definition: FeatureDefinition) -> dict[str, object]:
    encoded = asdict(definition)
    encoded["computation_kind"] = type(definition.computation).__name__
    return encoded


def seconds(count: float) -> int:
    """Return a duration of ``count`` seconds in nanoseconds."""
    return round(count * NANOS_PER_SECOND)
