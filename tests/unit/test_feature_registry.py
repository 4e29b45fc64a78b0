"""Registry documents: the handbook file, round trips, discovery and error messages."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from twinbank.adapters.registry import HANDBOOK_REGISTRY, load_registry
from twinbank.core.features.definitions import InvalidFeatureDefinition
from twinbank.core.features.handbook import handbook_feature_set
from twinbank.core.features.registry import (
    FeatureRegistry,
    feature_set_from_document,
    feature_set_to_document,
    format_duration,
    parse_duration,
)

HANDBOOK = handbook_feature_set()


def test_handbook_file_equals_python_declaration() -> None:
    loaded = load_registry(HANDBOOK_REGISTRY)

    assert loaded == HANDBOOK
    assert loaded.version == HANDBOOK.version
    assert len(loaded.definitions) == 14


def test_python_source_loads() -> None:
    loaded = load_registry("twinbank.core.features.handbook:handbook_feature_set")

    assert loaded == HANDBOOK


def test_document_round_trips() -> None:
    document = feature_set_to_document(HANDBOOK)

    assert feature_set_from_document(document, "memory") == HANDBOOK


@given(st.integers(min_value=0, max_value=10**18))
def test_duration_round_trips(nanoseconds: int) -> None:
    assert parse_duration(format_duration(nanoseconds)) == nanoseconds


@pytest.mark.parametrize("text", ["7 days", "-1d", "1.5h", "d", ""])
def test_bad_duration_names_value(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_discovery_by_entity_tag_owner() -> None:
    registry = FeatureRegistry(HANDBOOK)

    assert len(registry.by_entity("terminal")) == 6
    assert {item.name for item in registry.by_tag("risk")} == {
        "TERMINAL_ID_RISK_1DAY_WINDOW",
        "TERMINAL_ID_RISK_7DAY_WINDOW",
        "TERMINAL_ID_RISK_30DAY_WINDOW",
    }
    assert len(registry.by_owner("fraud-features")) == 14
    assert registry.by_owner("nobody") == ()
    assert registry.pipeline_version == HANDBOOK.version
    assert len(set(registry.versions().values())) == 14
    with pytest.raises(InvalidFeatureDefinition, match="'merchant' is not declared"):
        registry.by_entity("merchant")
    with pytest.raises(InvalidFeatureDefinition, match="'NOPE' is not registered"):
        registry.feature("NOPE")


def _write(tmp_path: Path, document: dict) -> Path:
    path = tmp_path / "features.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def _broken(mutate) -> dict:
    document = feature_set_to_document(HANDBOOK)
    mutate(document)
    return document


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d["features"][3]["computation"].update(window="7 days"),
            r"features\[3\] \(CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW\)\.computation\.window: .*"
            r"duration '7 days'",
        ),
        (
            lambda d: d["features"][2]["computation"].update(aggregation="median"),
            r"features\[2\].*aggregation: .*'count'.*use one of the listed values",
        ),
        (
            lambda d: d["features"][0].update(owners="x"),
            r"features\[0\] \(TX_DURING_WEEKEND\)\.owners: .*remove it or check its spelling",
        ),
        (
            lambda d: d["entities"][0].update(join_keys=["a", "b"]),
            r"entities\[0\] \(customer\)\.join_keys: .*declare exactly one join key",
        ),
        (
            lambda d: d["features"][2].update(entity="merchant"),
            r"entity 'merchant' is not declared",
        ),
        (
            lambda d: d["features"][9]["computation"].pop("delay"),
            r"needs a positive delay",
        ),
    ],
)
def test_invalid_file_names_file_line_field(tmp_path: Path, mutate, expected: str) -> None:
    path = _write(tmp_path, _broken(mutate))

    with pytest.raises(InvalidFeatureDefinition, match=expected) as caught:
        load_registry(path)

    assert str(path) in str(caught.value)


def test_invalid_field_reports_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, _broken(lambda d: d["features"][1].update(ttl="soon")))
    line = next(
        number
        for number, text in enumerate(path.read_text().splitlines(), start=1)
        if "ttl: soon" in text
    )

    with pytest.raises(InvalidFeatureDefinition, match=rf"line {line}: features\[1\]"):
        load_registry(path)


def test_unknown_source_kind_is_rejected() -> None:
    with pytest.raises(InvalidFeatureDefinition, match=r"neither a \.yaml"):
        load_registry("features.json")
