"""The audit trail contract, run against every adapter: in memory, SQLite, PostgreSQL."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.audit import decision_record, event_entry
from tests.support.governance_backends import (
    BACKENDS,
    Tamperer,
    backend_url,
    close,
    governance_container,
)
from tests.support.postgres import postgres_schema_url  # noqa: F401  (fixture)
from twinbank.core.audit import (
    DECISION_KIND,
    FEATURE_SET_KIND,
    GENESIS_HASH,
    ChainHead,
    ProblemKind,
    verify_trail,
)
from twinbank.entrypoints.containers import ApplicationContainer


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def setup(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[ApplicationContainer, Tamperer]]:
    url = backend_url(backend, tmp_path, request)
    container = governance_container(backend, url, batch_size=4)
    yield container, Tamperer(container, url)
    close(container, backend)


def test_empty_trail(setup):
    container, _ = setup
    trail = container.audit.trail()
    assert trail.head() == ChainHead()
    assert list(trail.records()) == []
    assert trail.count() == 0
    assert verify_trail(trail).ok


def test_appended_entries_are_chained_in_order(setup):
    container, _ = setup
    trail = container.audit.trail()
    head = trail.append_entries([event_entry(0), event_entry(1)])
    head = trail.append_entries([event_entry(2)])
    records = list(trail.records())
    assert [record.seq for record in records] == [1, 2, 3]
    assert records[0].prev_hash == GENESIS_HASH
    assert [json.loads(record.body_json)["index"] for record in records] == [0, 1, 2]
    assert head == ChainHead(3, records[2].record_hash) == trail.head()
    assert [record.seq for record in trail.records(2, 2)] == [2]
    assert trail.seq_of(records[1].record_hash) == 2
    assert trail.seq_of("f" * 64) is None
    assert list(trail.recorded_times(2)) == [
        (2, records[1].recorded_at_ns),
        (3, records[2].recorded_at_ns),
    ]
    assert verify_trail(trail, expected_head=head).ok


def test_decisions_are_buffered_then_chained(setup):
    container, _ = setup
    trail = container.audit.trail()
    for index in range(10):
        trail.append(decision_record(index))
    trail.flush()
    assert trail.count() == 10
    kinds = [record.kind for record in trail.records()]
    assert kinds == [FEATURE_SET_KIND] + [DECISION_KIND] * 10
    assert trail.feature_set_names("fs-1") == ("count_1d", "avg_amount_1d", "terminal_risk_7d")
    assert trail.feature_set_names("fs-unknown") is None
    assert verify_trail(trail).ok


def test_repeated_decision_is_stored_once(setup):
    container, _ = setup
    trail = container.audit.trail()
    trail.append(decision_record(1))
    trail.flush()
    trail.append(decision_record(1))
    trail.append(decision_record(2))
    trail.append(decision_record(2))
    trail.flush()
    assert trail.count() == 2
    assert verify_trail(trail).ok


def test_new_feature_set_version_is_recorded_once(setup):
    container, _ = setup
    trail = container.audit.trail()
    for index in range(3):
        trail.append(decision_record(index, feature_set_version="fs-1"))
        trail.append(decision_record(100 + index, feature_set_version="fs-2"))
    trail.flush()
    feature_sets = [record for record in trail.records() if record.kind == FEATURE_SET_KIND]
    assert [json.loads(record.body_json)["feature_set_version"] for record in feature_sets] == [
        "fs-1",
        "fs-2",
    ]


def test_events_follow_buffered_decisions(setup):
    container, _ = setup
    trail = container.audit.trail()
    trail.append(decision_record(1))
    trail.append_entries([event_entry(7)])
    kinds = [record.kind for record in trail.records()]
    assert kinds == [FEATURE_SET_KIND, DECISION_KIND, "governance.test_event"]


def test_decision_record_is_found_and_pseudonymised(setup):
    container, _ = setup
    trail = container.audit.trail()
    trail.append(decision_record(3, customer_id=987654))
    record = trail.decision("decision-000003")
    assert record is not None
    assert record.kind == DECISION_KIND
    assert record.model_version == "xgb-test"
    assert "987654" not in record.body_json
    assert (
        record.customer_pseudonym
        == json.loads(record.body_json)["transaction"]["customer_pseudonym"]
    )
    assert trail.decision("decision-unknown") is None


def test_verify_catches_modified_record(setup):
    container, tamper = setup
    trail = container.audit.trail()
    trail.append_entries([event_entry(index) for index in range(6)])
    tamper.modify_body(4)
    problem = verify_trail(trail).problem
    assert problem is not None
    assert (problem.kind, problem.seq) == (ProblemKind.MODIFIED, 4)


def test_verify_catches_removed_record(setup):
    container, tamper = setup
    trail = container.audit.trail()
    trail.append_entries([event_entry(index) for index in range(6)])
    tamper.delete(3)
    problem = verify_trail(trail).problem
    assert problem is not None
    assert (problem.kind, problem.seq) == (ProblemKind.REMOVED, 4)


def test_verify_catches_swapped_records(setup):
    container, tamper = setup
    trail = container.audit.trail()
    trail.append_entries([event_entry(index) for index in range(6)])
    tamper.swap(2, 5)
    problem = verify_trail(trail).problem
    assert problem is not None
    assert (problem.kind, problem.seq) == (ProblemKind.REORDERED, 2)


def test_verify_catches_removed_tail_against_anchor(setup):
    container, tamper = setup
    trail = container.audit.trail()
    head = trail.append_entries([event_entry(index) for index in range(4)])
    tamper.delete(4)
    problem = verify_trail(trail, expected_head=head).problem
    assert problem is not None
    assert (problem.kind, problem.seq) == (ProblemKind.REMOVED, 4)


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_concurrent_writers_keep_one_chain(backend: str, tmp_path: Path, request):
    url = backend_url(backend, tmp_path, request)
    writers = [governance_container(backend, url, batch_size=25) for _ in range(2)]
    trails = [writer.audit.trail() for writer in writers]
    errors: list[BaseException] = []

    def write(trail, offset: int) -> None:  # type: ignore[no-untyped-def]
        try:
            for index in range(300):
                trail.append(decision_record(offset + index))
                if index % 50 == 0:
                    trail.append_entries([event_entry(offset + index)])
            trail.flush()
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [
        threading.Thread(target=write, args=(trail, offset))
        for trail, offset in zip(trails, (0, 10_000), strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    trail = trails[0]
    assert trail.count() == 600
    records = list(trail.records())
    assert [record.seq for record in records] == list(range(1, len(records) + 1))
    assert sum(record.kind == FEATURE_SET_KIND for record in records) == 1
    assert verify_trail(trail).ok
    for writer in writers:
        close(writer, backend)
