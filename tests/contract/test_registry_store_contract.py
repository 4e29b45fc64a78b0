"""The RegistryStore port's contract, run against every adapter."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from twinbank.adapters.memory import InMemoryRegistryStore
from twinbank.adapters.registry import SqlRegistryStore
from twinbank.core.features.definitions import FeatureSet
from twinbank.core.features.handbook import handbook_feature_set
from twinbank.core.features.registry import definition_version

HANDBOOK = handbook_feature_set()


def _changed_handbook() -> FeatureSet:
    """The handbook set with one description edited: a new pipeline version."""
    definitions = list(HANDBOOK.definitions)
    definitions[2] = replace(definitions[2], description="edited")
    return FeatureSet(HANDBOOK.name, HANDBOOK.entities, tuple(definitions))


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], object]]:
    """Yield a factory; for SQL each call opens a new store on the same database."""
    if request.param == "memory":
        store = InMemoryRegistryStore()
        yield lambda: store
    elif request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'registry.db'}"
        yield lambda: SqlRegistryStore(create_engine(url))
    else:
        engine = request.getfixturevalue("postgres_engine")
        yield lambda: SqlRegistryStore(engine)


def test_registered_set_reads_back_equal(open_store) -> None:
    assert open_store().register(HANDBOOK, 100) is True

    loaded = open_store().get("handbook")

    assert loaded == HANDBOOK
    assert loaded.version == HANDBOOK.version


def test_registering_twice_keeps_one_version(open_store) -> None:
    store = open_store()
    assert store.register(HANDBOOK, 100) is True
    assert open_store().register(HANDBOOK, 200) is False

    assert [entry.version for entry in open_store().versions("handbook")] == [HANDBOOK.version]
    assert open_store().versions("handbook")[0].registered_ns == 100


def test_latest_and_older_versions(open_store) -> None:
    changed = _changed_handbook()
    store = open_store()
    store.register(HANDBOOK, 100)
    store.register(changed, 200)

    reopened = open_store()
    assert reopened.get("handbook") == changed
    assert reopened.get("handbook", HANDBOOK.version) == HANDBOOK
    assert [entry.version for entry in reopened.versions("handbook")] == [
        HANDBOOK.version,
        changed.version,
    ]


def test_unknown_pipeline_or_version_is_none(open_store) -> None:
    store = open_store()
    store.register(HANDBOOK, 100)

    assert store.get("nope") is None
    assert store.get("handbook", "000000000000") is None
    assert store.versions("nope") == []


def test_pipelines_using_a_feature_version(open_store) -> None:
    changed = _changed_handbook()
    store = open_store()
    store.register(HANDBOOK, 100)
    store.register(changed, 200)

    unchanged = definition_version(HANDBOOK.definitions[0])
    edited = definition_version(changed.definitions[2])

    assert open_store().pipelines_using(unchanged) == sorted(
        [("handbook", HANDBOOK.version), ("handbook", changed.version)]
    )
    assert open_store().pipelines_using(edited) == [("handbook", changed.version)]
    assert open_store().pipelines_using("ffffffffffff") == []


def test_watermark_starts_empty_then_moves(open_store) -> None:
    store = open_store()
    assert store.watermark("handbook", "customer") is None

    store.record("handbook", "customer", 100)
    store.record("handbook", "terminal", 50)
    open_store().record("handbook", "customer", 300)

    reopened = open_store()
    assert reopened.watermark("handbook", "customer") == 300
    assert reopened.watermark("handbook", "terminal") == 50
    assert reopened.watermark("other", "customer") is None
