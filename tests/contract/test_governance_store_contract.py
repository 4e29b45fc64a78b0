"""The governance store contract, run against every adapter: in memory, SQLite,
PostgreSQL. Records and their audit entries are committed together or not at all."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.audit import event_entry
from tests.support.governance import ALICE, START_NS, registration
from tests.support.governance_backends import BACKENDS, backend_url, close, governance_container
from tests.support.postgres import postgres_schema_url  # noqa: F401  (fixture)
from twinbank.core.audit import verify_trail
from twinbank.core.governance import (
    ConcurrentModification,
    InventoryQuery,
    ModelAlreadyRegistered,
    ModelStatus,
    RiskTier,
    lifecycle,
)
from twinbank.entrypoints.containers import ApplicationContainer


@pytest.fixture(params=BACKENDS)
def container(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ApplicationContainer]:
    backend = str(request.param)
    container = governance_container(backend, backend_url(backend, tmp_path, request))
    yield container
    close(container, backend)


def registered(name: str = "card-fraud", version: str = "1", tier: int = 1, owner: str = "o"):  # type: ignore[no-untyped-def]
    return lifecycle.register(registration(name, version, tier, owner=owner), ALICE, START_NS)


def test_committed_record_is_read_back(container: ApplicationContainer):
    store = container.governance.store()
    change = registered()
    store.commit([change.record], [event.audit_entry() for event in change.events])
    assert store.get("card-fraud@1") == change.record
    assert store.get("card-fraud@9") is None
    trail = container.audit.trail()
    assert [record.kind for record in trail.records()] == ["governance.model_registered"]


def test_find_filters_and_orders(container: ApplicationContainer):
    store = container.governance.store()
    for name, version, tier, owner in [
        ("scorecard", "2", 3, "credit"),
        ("card-fraud", "1", 1, "fraud"),
        ("scorecard", "1", 2, "credit"),
    ]:
        store.commit([registered(name, version, tier, owner).record], [])
    ids = [record.model_id for record in store.find(InventoryQuery())]
    assert ids == ["card-fraud@1", "scorecard@1", "scorecard@2"]
    assert [r.model_id for r in store.find(InventoryQuery(name="scorecard"))] == [
        "scorecard@1",
        "scorecard@2",
    ]
    assert [r.model_id for r in store.find(InventoryQuery(risk_tier=RiskTier.LOW))] == [
        "scorecard@2"
    ]
    assert [r.model_id for r in store.find(InventoryQuery(owner="fraud"))] == ["card-fraud@1"]
    development = store.find(InventoryQuery(status=ModelStatus.DEVELOPMENT))
    assert len(development) == 3
    assert store.find(InventoryQuery(status=ModelStatus.PRODUCTION)) == []


def test_updated_record_replaces_previous_revision(container: ApplicationContainer):
    store = container.governance.store()
    change = registered()
    store.commit([change.record], [])
    submitted = lifecycle.submit(change.record, ALICE, START_NS + 1)
    store.commit([submitted.record], [event.audit_entry() for event in submitted.events])
    stored = store.get("card-fraud@1")
    assert stored is not None
    assert stored.status is ModelStatus.VALIDATION
    assert stored.revision == 2
    assert store.find(InventoryQuery(status=ModelStatus.VALIDATION)) == [stored]


def test_duplicate_registration_stores_nothing(container: ApplicationContainer):
    store = container.governance.store()
    store.commit([registered().record], [])
    trail = container.audit.trail()
    head = trail.head()
    with pytest.raises(ModelAlreadyRegistered):
        store.commit([registered().record], [event_entry(1)])
    assert trail.head() == head


def test_stale_revision_is_refused_and_nothing_stored(container: ApplicationContainer):
    store = container.governance.store()
    change = registered()
    store.commit([change.record], [])
    first = lifecycle.submit(change.record, ALICE, START_NS + 1)
    store.commit([first.record], [])
    trail = container.audit.trail()
    head = trail.head()
    stale = lifecycle.retire(change.record, ALICE, START_NS + 2, "abandoned")
    with pytest.raises(ConcurrentModification):
        store.commit([stale.record], [event.audit_entry() for event in stale.events])
    assert trail.head() == head
    assert store.get("card-fraud@1").status is ModelStatus.VALIDATION  # type: ignore[union-attr]


def test_one_failing_record_stores_none_of_a_commit(container: ApplicationContainer):
    store = container.governance.store()
    change = registered()
    store.commit([change.record], [])
    other = registered("other")
    stale = lifecycle.retire(change.record, ALICE, START_NS + 2, "abandoned")
    stale = stale.record.model_copy(update={"revision": 5})
    with pytest.raises(ConcurrentModification):
        store.commit([other.record, stale], [event_entry(1)])
    assert store.get("other@1") is None
    assert verify_trail(container.audit.trail()).records_checked == 0
