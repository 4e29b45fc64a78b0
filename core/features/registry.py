"""Feature definitions as documents, and discovery over a loaded feature set.

A registry document (a YAML file, or the same structure built in Python) declares one
feature pipeline:

.. code-block:: yaml

    pipeline: handbook
    entities:
      - {name: customer, join_keys: [customer_id], description: Card holder.}
    features:
      - name: CUSTOMER_ID_NB_TX_1DAY_WINDOW
        entity: customer
        dtype: float64
        description: Customer's transactions in the last day.
        owner: fraud-features
        ttl: 0            # a duration: 0 (never expires), "7d", "12h", "90s", "500ms"
        tags: [velocity]
        computation: {kind: window, source: amount, aggregation: count, window: 1d}

``computation.kind`` is ``window`` (``source``, ``aggregation``, ``window``, optional
``delay`` and ``empty_value``), ``row`` (``transform``, optional ``night_end_hour``) or
``ratio`` (``numerator``, ``denominator``). Documents parse into the same
``FeatureSet`` that Python declarations build, so both carry the same versions.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..timestamps import NANOS_PER_DAY, NANOS_PER_HOUR, NANOS_PER_MINUTE, NANOS_PER_SECOND
from .definitions import (
    Aggregation,
    Entity,
    FeatureDefinition,
    FeatureSet,
    InvalidFeatureDefinition,
    Ratio,
    RowFeature,
    RowTransform,
    WindowAggregate,
)

_UNITS = {
    "ms": 1_000_000,
    "s": NANOS_PER_SECOND,
    "m": NANOS_PER_MINUTE,
    "h": NANOS_PER_HOUR,
    "d": NANOS_PER_DAY,
}
_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d)\s*$")


def parse_duration(value: int | str) -> int:
    """Return a duration in nanoseconds from an int (nanoseconds) or "<n><unit>".

    Units are ms, s, m, h and d. Raises ValueError naming the value otherwise.
    """
    if isinstance(value, bool):
        raise ValueError(f"duration {value!r} is not a duration; write for example 7d or 12h")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"duration {value} is negative; use 0 or a positive duration")
        return value
    match = _DURATION.match(str(value))
    if match is None:
        raise ValueError(
            f"duration {value!r} is not understood; write <number><unit> with unit "
            "ms, s, m, h or d, for example 7d"
        )
    return int(match.group(1)) * _UNITS[match.group(2)]


def format_duration(nanoseconds: int) -> int | str:
    """Return the largest exact "<n><unit>" form of a duration, or 0."""
    if nanoseconds == 0:
        return 0
    for unit in ("d", "h", "m", "s", "ms"):
        size = _UNITS[unit]
        if nanoseconds % size == 0:
            return f"{nanoseconds // size}{unit}"
    return nanoseconds


Duration = Annotated[int | str, Field(description="0, nanoseconds, or <n><unit>")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WindowDocument(_Strict):
    kind: Literal["window"]
    source: str
    aggregation: Aggregation
    window: Duration
    delay: Duration = 0
    empty_value: float | None = None

    @field_validator("window", "delay")
    @classmethod
    def _duration(cls, value: int | str) -> int:
        return parse_duration(value)


class RowDocument(_Strict):
    kind: Literal["row"]
    transform: RowTransform
    night_end_hour: int = Field(6, ge=0, le=23)


class RatioDocument(_Strict):
    kind: Literal["ratio"]
    numerator: str
    denominator: str


class FeatureDocument(_Strict):
    name: str
    entity: str | None
    computation: Annotated[
        WindowDocument | RowDocument | RatioDocument, Field(discriminator="kind")
    ]
    dtype: Literal["float64", "int64"] = "float64"
    description: str = ""
    owner: str = ""
    ttl: Duration = 0
    tags: tuple[str, ...] = ()

    @field_validator("ttl")
    @classmethod
    def _duration(cls, value: int | str) -> int:
        return parse_duration(value)


class EntityDocument(_Strict):
    name: str
    join_keys: tuple[str] = Field(
        description="the key columns; one per entity, composite keys are not supported"
    )
    description: str = ""


class RegistryDocument(_Strict):
    pipeline: str
    entities: tuple[EntityDocument, ...]
    features: tuple[FeatureDocument, ...]


class InvalidRegistryDocument(InvalidFeatureDefinition):
    """A registry document that does not parse; ``problems`` pairs each field path
    with its message, so a file loader can add line numbers."""

    def __init__(self, source: str, problems: list[tuple[tuple[int | str, ...], str]]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "\n  ".join(text for _, text in problems))


_FIXES = {
    "extra_forbidden": "remove it or check its spelling",
    "missing": "add it",
    "enum": "use one of the listed values",
    "literal_error": "use one of the listed values",
    "union_tag_invalid": "set kind to window, row or ratio",
    "union_tag_not_found": "add kind: window, row or ratio",
    "too_long": "declare exactly one join key",
    "too_short": "declare exactly one join key",
}


def _without_union_tag(location: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """Drop the union member name pydantic inserts after ``computation``."""
    steps = list(location)
    for index, step in enumerate(steps[:-1]):
        if step == "computation" and steps[index + 1] in ("window", "row", "ratio"):
            del steps[index + 1]
            break
    return tuple(steps)


def _location(document: Mapping[str, Any], path: tuple[int | str, ...]) -> str:
    """Return a field path like ``features[3] (CUSTOMER_X).computation.window``."""
    parts: list[str] = []
    node: Any = document
    for step in path:
        if isinstance(step, int):
            parts[-1] += f"[{step}]"
            try:
                node = node[step]
            except (IndexError, KeyError, TypeError):
                node = None
            if isinstance(node, Mapping) and "name" in node:
                parts[-1] += f" ({node['name']})"
        else:
            parts.append(step)
            node = node.get(step) if isinstance(node, Mapping) else None
    return ".".join(parts)


def feature_set_from_document(document: Mapping[str, Any], source: str) -> FeatureSet:
    """Parse a registry document into a FeatureSet.

    Raises InvalidFeatureDefinition naming ``source`` (a file name), the field and
    the fix, for a malformed document and for one that breaks a definition rule.
    """
    try:
        parsed = RegistryDocument.model_validate(document)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            path = _without_union_tag(item["loc"])
            fix = _FIXES.get(item["type"], "")
            location = _location(document, path) or "document"
            text = f"{location}: {item['msg']}" + (f"; {fix}" if fix else "")
            problems.append((path, text))
        raise InvalidRegistryDocument(source, problems) from None
    try:
        return _build(parsed)
    except InvalidFeatureDefinition as error:
        raise InvalidFeatureDefinition(f"{source}: {error}") from None


def _build(parsed: RegistryDocument) -> FeatureSet:
    entities = tuple(
        Entity(entity.name, entity.join_keys[0], entity.description) for entity in parsed.entities
    )
    definitions = []
    for feature in parsed.features:
        computation = feature.computation
        built: WindowAggregate | RowFeature | Ratio
        if isinstance(computation, WindowDocument):
            built = WindowAggregate(
                computation.source,
                computation.aggregation,
                int(computation.window),
                int(computation.delay),
                computation.empty_value,
            )
        elif isinstance(computation, RowDocument):
            built = RowFeature(computation.transform, computation.night_end_hour)
        else:
            built = Ratio(computation.numerator, computation.denominator)
        definitions.append(
            FeatureDefinition(
                name=feature.name,
                entity=feature.entity,
                computation=built,
                dtype=feature.dtype,
                description=feature.description,
                owner=feature.owner,
                ttl_ns=int(feature.ttl),
                tags=tuple(feature.tags),
            )
        )
    return FeatureSet(parsed.pipeline, entities, tuple(definitions))


def feature_set_to_document(feature_set: FeatureSet) -> dict[str, Any]:
    """Return the registry document of a feature set; parsing it gives the set back."""
    features = []
    for definition in feature_set.definitions:
        computation = definition.computation
        if isinstance(computation, WindowAggregate):
            encoded: dict[str, Any] = {
                "kind": "window",
                "source": computation.source,
                "aggregation": computation.aggregation.value,
                "window": format_duration(computation.length_ns),
            }
            if computation.delay_ns:
                encoded["delay"] = format_duration(computation.delay_ns)
            if computation.empty_value is not None:
                encoded["empty_value"] = computation.empty_value
        elif isinstance(computation, RowFeature):
            encoded = {
                "kind": "row",
                "transform": computation.transform.value,
                "night_end_hour": computation.night_end_hour,
            }
        else:
            encoded = {
                "kind": "ratio",
                "numerator": computation.numerator,
                "denominator": computation.denominator,
            }
        features.append(
            {
                "name": definition.name,
                "entity": definition.entity,
                "dtype": definition.dtype,
                "description": definition.description,
                "owner": definition.owner,
                "ttl": format_duration(definition.ttl_ns),
                "tags": list(definition.tags),
                "computation": encoded,
            }
        )
    return {
        "pipeline": feature_set.name,
        "entities": [
            {
                "name": entity.name,
                "join_keys": [entity.join_key],
                "description": entity.description,
            }
            for entity in feature_set.entities
        ],
        "features": features,
    }


def definition_version(definition: FeatureDefinition) -> str:
    """Return a 12-hex-digit content hash of one definition.

    It changes when anything about the feature changes, its documentation included.
    """
    encoded = asdict(definition)
    encoded["computation_kind"] = type(definition.computation).__name__
    payload = json.dumps(encoded, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class RegisteredPipeline:
    """One registered pipeline version and when it was registered (ns, UTC)."""

    version: str
    registered_ns: int


class FeatureRegistry:
    """Discovery over one feature pipeline: lookups by name, entity, tag and owner."""

    def __init__(self, feature_set: FeatureSet) -> None:
        self._feature_set = feature_set
        self._by_name = {definition.name: definition for definition in feature_set.definitions}

    @property
    def feature_set(self) -> FeatureSet:
        return self._feature_set

    @property
    def pipeline_version(self) -> str:
        """Return the version of the whole pipeline, which decision records name."""
        return self._feature_set.version

    def feature(self, name: str) -> FeatureDefinition:
        """Return a definition; raises InvalidFeatureDefinition naming known features."""
        try:
            return self._by_name[name]
        except KeyError:
            raise InvalidFeatureDefinition(
                f"feature {name!r} is not registered in pipeline {self._feature_set.name!r}; "
                f"registered: {', '.join(self._by_name)}"
            ) from None

    def versions(self) -> dict[str, str]:
        """Return each feature's definition version by name."""
        return {name: definition_version(item) for name, item in self._by_name.items()}

    def by_entity(self, entity: str) -> tuple[FeatureDefinition, ...]:
        """Return the features keyed by ``entity``; raises for an undeclared entity."""
        declared = [item.name for item in self._feature_set.entities]
        if entity not in declared:
            raise InvalidFeatureDefinition(
                f"entity {entity!r} is not declared; declared entities: {', '.join(declared)}"
            )
        return tuple(item for item in self._by_name.values() if item.entity == entity)

    def by_tag(self, tag: str) -> tuple[FeatureDefinition, ...]:
        return tuple(item for item in self._by_name.values() if tag in item.tags)

    def by_owner(self, owner: str) -> tuple[FeatureDefinition, ...]:
        return tuple(item for item in self._by_name.values() if item.owner == owner)
