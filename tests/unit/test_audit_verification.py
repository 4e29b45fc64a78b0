"""Verification names the first record that was modified, removed, inserted or reordered."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.support.audit import event_entry, modified, renumbered
from twinbank.core.audit import (
    AuditEntry,
    ChainedRecord,
    ChainHead,
    ProblemKind,
    chain_entries,
    verify_chain,
)


def stored_chain(length: int = 8) -> list[ChainedRecord]:
    return chain_entries([event_entry(index) for index in range(length)], ChainHead())


def verify(records: list[ChainedRecord], **options):  # type: ignore[no-untyped-def]
    by_hash = {record.record_hash: record.seq for record in records}
    return verify_chain(sorted(records, key=lambda r: r.seq), by_hash.get, **options)


def head_of(records: list[ChainedRecord]) -> ChainHead:
    return ChainHead(records[-1].seq, records[-1].record_hash)


def test_intact_chain_verifies():
    records = stored_chain()
    result = verify(records, expected_head=head_of(records))
    assert result.ok
    assert result.records_checked == 8
    assert result.head == head_of(records)


def test_empty_chain_verifies():
    result = verify_chain([])
    assert result.ok
    assert result.head == ChainHead()


def test_modified_body_is_named():
    records = stored_chain()
    records[4] = modified(records[4])
    result = verify(records)
    assert result.problem is not None
    assert result.problem.kind is ProblemKind.MODIFIED
    assert result.problem.seq == 5
    assert result.records_checked == 4


@pytest.mark.parametrize(
    "change",
    [
        {"kind": "governance.other"},
        {"recorded_at_ns": 1},
        {"model_id": "other@1"},
        {"model_version": "2"},
        {"customer_pseudonym": "f" * 32},
        {"decision_id": "d-x"},
        {"prev_hash": "1" * 64},
    ],
)
def test_every_stored_column_is_covered_by_the_hash(change: dict):
    records = stored_chain()
    records[2] = replace(records[2], **change)
    problem = verify(records).problem
    assert problem is not None
    assert problem.kind is ProblemKind.MODIFIED
    assert problem.seq == 3


def test_last_record_modified_is_named():
    records = stored_chain()
    records[-1] = modified(records[-1])
    problem = verify(records).problem
    assert problem is not None
    assert (problem.kind, problem.seq) == (ProblemKind.MODIFIED, 8)


def test_whitespace_change_in_body_is_detected():
    records = stored_chain()
    records[1] = modified(records[1], records[1].body_json.replace(",", ", ", 1))
    problem = verify(records).problem
    assert problem is not None
    assert (problem.kind, problem.seq) == (ProblemKind.MODIFIED, 2)


def test_removed_record_is_named():
    records = stored_chain()
    del records[3]
    problem = verify(records).problem
    assert problem is not None
    assert (problem.kind, problem.seq) == (ProblemKind.REMOVED, 5)
    assert "records 4 to 4" in problem.message


def test_removed_first_record_is_named():
    records = stored_chain()[1:]
    problem = verify(records).problem
    assert problem is not None
    assert (problem.kind, problem.seq) == (ProblemKind.REMOVED, 2)


def test_removed_last_record_needs_anchored_head():
    records = stored_chain()
    head = head_of(records)
    assert verify(records[:-1]).ok
    problem = verify(records[:-1], expected_head=head).problem
    assert problem is not None
    assert (problem.kind, problem.seq) == (ProblemKind.REMOVED, 8)


def test_removal_with_renumbering_is_detected():
    records = stored_chain()
    del records[3]
    problem = verify(renumbered(records)).problem
    assert problem is not None
    assert problem.seq == 3  # the record before the gap no longer links forward
    assert "removed" in problem.message


def test_adjacent_swap_is_reordered():
    records = stored_chain()
    records[2], records[3] = replace(records[3], seq=3), replace(records[2], seq=4)
    problem = verify(records).problem
    assert problem is not None
    assert (problem.kind, problem.seq) == (ProblemKind.REORDERED, 3)


def test_distant_swap_is_reordered():
    records = stored_chain()
    records[1], records[6] = replace(records[6], seq=2), replace(records[1], seq=7)
    problem = verify(records).problem
    assert problem is not None
    assert (problem.kind, problem.seq) == (ProblemKind.REORDERED, 2)


def test_forged_record_with_valid_hash_is_inserted():
    records = stored_chain()
    forged = chain_entries(
        [AuditEntry(kind="governance.forged", recorded_at_ns=5, body={"forged": True})],
        ChainHead(records[3].seq, records[3].record_hash),
    )[0]
    tampered = renumbered([*records[:4], forged, *records[4:]])
    problem = verify(tampered).problem
    assert problem is not None
    assert (problem.kind, problem.seq) == (ProblemKind.INSERTED, 5)


def test_forged_record_with_wrong_hash_is_inserted():
    records = stored_chain()
    forged = replace(records[0], body_json='{"forged":true}', prev_hash="2" * 64)
    tampered = renumbered([*records[:4], forged, *records[4:]])
    problem = verify(tampered).problem
    assert problem is not None
    assert (problem.kind, problem.seq) == (ProblemKind.INSERTED, 5)


def test_duplicated_record_is_inserted():
    records = stored_chain()
    tampered = renumbered([*records[:5], records[1], *records[5:]])
    problem = verify(tampered).problem
    assert problem is not None
    assert (problem.kind, problem.seq) == (ProblemKind.INSERTED, 6)


def test_record_inserted_before_first_is_named():
    records = stored_chain()
    forged = chain_entries([event_entry(99)], ChainHead())[0]
    tampered = [replace(forged, seq=0), *records]
    problem = verify(tampered).problem
    assert problem is not None
    assert (problem.kind, problem.seq) == (ProblemKind.INSERTED, 0)


def test_rehashed_modification_names_the_changed_record():
    records = stored_chain()
    changed = records[3]
    body = changed.body_json.replace("event 3", "event 3 (edited)")
    rehashed = chain_entries(
        [
            AuditEntry(
                changed.kind,
                changed.recorded_at_ns,
                {},
                model_id=changed.model_id,
                model_version=changed.model_version,
                body_json=body,
            )
        ],
        ChainHead(records[2].seq, records[2].record_hash),
    )[0]
    records[3] = rehashed
    problem = verify(records).problem
    assert problem is not None
    assert (problem.kind, problem.seq) == (ProblemKind.MODIFIED, 4)


def test_rewritten_tail_differs_from_anchored_head():
    records = stored_chain()
    head = head_of(records)
    entries = [event_entry(index) for index in range(8)]
    entries[5] = event_entry(500)
    rewritten = chain_entries(entries, ChainHead())
    problem = verify(rewritten, expected_head=head).problem
    assert problem is not None
    assert (problem.kind, problem.seq) == (ProblemKind.MODIFIED, 8)


def test_verification_from_an_anchor():
    records = stored_chain()
    anchor = ChainHead(records[3].seq, records[3].record_hash)
    assert verify_chain(records[4:], anchor=anchor).ok
    assert not verify_chain(records[5:], anchor=anchor).ok


def test_without_locator_a_swap_is_still_detected():
    records = stored_chain()
    records[2], records[3] = replace(records[3], seq=3), replace(records[2], seq=4)
    result = verify_chain(records)
    assert not result.ok
