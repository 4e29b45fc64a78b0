"""Properties of the audit chain: canonical encoding is stable, and any single
modification, removal, insertion or reordering of a stored record is detected."""

from __future__ import annotations

import json
from dataclasses import fields, replace

from hypothesis import assume, given
from hypothesis import strategies as st

from tests.support.audit import decision_entries, modified, renumbered
from twinbank.core.audit import (
    AuditEntry,
    ChainedRecord,
    ChainHead,
    ProblemKind,
    canonical_json,
    chain_entries,
    verify_chain,
)
from twinbank.core.audit.canonical import canonical_string
from twinbank.core.decisions import DecisionRecord, Outcome, StageLatency
from twinbank.core.explanations import ComponentReport, DecisionExplanation
from twinbank.core.features.vector import FeatureVector
from twinbank.core.transactions import Transaction

plain_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
plain_data = st.recursive(
    plain_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=6,
)
entries = st.builds(
    AuditEntry,
    kind=st.sampled_from(["decision", "feature_set", "governance.model_promoted"]),
    recorded_at_ns=st.integers(min_value=0, max_value=2**62),
    body=st.dictionaries(st.text(max_size=6), plain_scalars, max_size=3),
    decision_id=st.none() | st.uuids().map(str),
    model_id=st.none() | st.text(max_size=10),
    model_version=st.none() | st.text(max_size=10),
    customer_pseudonym=st.none() | st.text("0123456789abcdef", min_size=32, max_size=32),
)


def verify(records: list[ChainedRecord], head: ChainHead | None = None):  # type: ignore[no-untyped-def]
    by_hash = {record.record_hash: record.seq for record in records}
    return verify_chain(records, by_hash.get, expected_head=head)


@given(plain_data)
def test_canonical_json_parses_back_to_equal_data(value):  # type: ignore[no-untyped-def]
    text = canonical_json(value)
    assert canonical_json(json.loads(text)) == text


@given(st.dictionaries(st.text(max_size=6), plain_scalars, min_size=2, max_size=6))
def test_canonical_json_ignores_key_order(value: dict):
    reversed_order = dict(reversed(list(value.items())))
    assert canonical_json(reversed_order) == canonical_json(value)


@given(st.text())
def test_canonical_string_equals_json_dumps(text: str):
    assert canonical_string(text) == json.dumps(text, ensure_ascii=False)


@given(st.lists(entries, min_size=1, max_size=8))
def test_untouched_chain_verifies(batch: list[AuditEntry]):
    records = chain_entries(batch, ChainHead())
    result = verify(records, ChainHead(records[-1].seq, records[-1].record_hash))
    assert result.ok
    assert result.records_checked == len(batch)


@given(st.lists(entries, min_size=2, max_size=8), st.data())
def test_any_single_modification_is_detected(batch: list[AuditEntry], data: st.DataObject):
    records = chain_entries(batch, ChainHead())
    index = data.draw(st.integers(0, len(records) - 1))
    records[index] = modified(records[index])
    problem = verify(records).problem
    assert problem is not None
    assert problem.kind is ProblemKind.MODIFIED
    assert problem.seq == index + 1


@given(st.lists(entries, min_size=2, max_size=8), st.data())
def test_any_single_removal_is_detected(batch: list[AuditEntry], data: st.DataObject):
    records = chain_entries(batch, ChainHead())
    head = ChainHead(records[-1].seq, records[-1].record_hash)
    index = data.draw(st.integers(0, len(records) - 1))
    del records[index]
    problem = verify(records, head).problem
    assert problem is not None
    assert problem.kind is ProblemKind.REMOVED
    assert problem.seq == index + 2 if index < len(records) else problem.seq == index + 1


@given(st.lists(entries, min_size=2, max_size=8), st.data())
def test_any_single_swap_is_detected(batch: list[AuditEntry], data: st.DataObject):
    records = chain_entries(batch, ChainHead())
    first = data.draw(st.integers(0, len(records) - 2))
    second = data.draw(st.integers(first + 1, len(records) - 1))
    records[first], records[second] = (
        replace(records[second], seq=first + 1),
        replace(records[first], seq=second + 1),
    )
    problem = verify(records).problem
    assert problem is not None
    assert problem.kind is ProblemKind.REORDERED
    assert problem.seq == first + 1


@given(st.lists(entries, min_size=2, max_size=8), entries, st.data())
def test_any_single_insertion_is_detected(
    batch: list[AuditEntry], extra: AuditEntry, data: st.DataObject
):
    records = chain_entries(batch, ChainHead())
    index = data.draw(st.integers(0, len(records) - 1))
    anchor = ChainHead() if index == 0 else ChainHead(index, records[index - 1].record_hash)
    forged = chain_entries([extra], anchor)[0]
    # An exact copy of the record it precedes is the same record; either may be named.
    assume(forged.record_hash != records[index].record_hash)
    tampered = renumbered([*records[:index], forged, *records[index:]])
    problem = verify(tampered).problem
    assert problem is not None
    assert problem.kind is ProblemKind.INSERTED
    assert problem.seq == index + 1


class WalkedDecisionRecord(DecisionRecord):
    """A DecisionRecord subclass: ``DecisionEntries`` converts it by the generic walk."""

    __slots__ = ()


finite_or_nan = st.floats(allow_infinity=False)
finite = st.floats(allow_nan=False, allow_infinity=False)
explanations = st.builds(
    DecisionExplanation,
    top_positive=st.lists(st.tuples(st.text(max_size=6), finite), max_size=2).map(tuple),
    top_negative=st.lists(st.tuples(st.text(max_size=6), finite), max_size=2).map(tuple),
    reason_codes=st.lists(st.text(max_size=6), max_size=2).map(tuple),
    combined_log_odds=finite,
    calibrated_probability=st.floats(min_value=0, max_value=1),
    floor=st.none() | st.floats(min_value=0, max_value=1),
    components=st.lists(
        st.builds(
            ComponentReport,
            name=st.text(max_size=6),
            version=st.text(max_size=6),
            log_odds=st.none() | finite,
            weight=st.none() | finite,
            explanation_method=st.sampled_from(["tree_shap", "offline"]),
            elapsed_ns=st.integers(min_value=0, max_value=2**40),
            left_out=st.none() | st.text(max_size=6),
        ),
        max_size=2,
    ).map(tuple),
    explained_offline=st.lists(st.text(max_size=6), max_size=2).map(tuple),
    stage_ns=st.lists(
        st.tuples(st.text(max_size=6), st.integers(min_value=0, max_value=2**40)), max_size=2
    ).map(tuple),
)
decision_records = st.builds(
    DecisionRecord,
    decision_id=st.uuids().map(str),
    transaction=st.builds(
        Transaction,
        transaction_id=st.integers(min_value=0, max_value=2**62),
        timestamp_ns=st.integers(min_value=0, max_value=2**62),
        customer_id=st.integers(min_value=0, max_value=2**40),
        terminal_id=st.integers(min_value=0, max_value=2**40),
        amount=st.floats(min_value=0, max_value=1e9),
    ),
    decided_at_ns=st.integers(min_value=0, max_value=2**62),
    score=finite_or_nan,
    outcome=st.sampled_from(Outcome),
    reasons=st.lists(st.text(max_size=12), max_size=3).map(tuple),
    policy_version=st.text(max_size=10),
    model_version=st.text(max_size=10),
    features=st.lists(finite_or_nan, min_size=1, max_size=4).map(
        lambda values: FeatureVector(
            tuple(f"f{index}" for index in range(len(values))), tuple(values), "fs-1"
        )
    ),
    latency=st.builds(
        StageLatency,
        features_ns=st.integers(min_value=0, max_value=2**40),
        scoring_ns=st.integers(min_value=0, max_value=2**40),
        policy_ns=st.integers(min_value=0, max_value=2**40),
    ),
    degraded=st.lists(st.sampled_from(["feature_state", "model"]), max_size=2).map(tuple),
    explanation=st.none() | explanations,
)


@given(decision_records)
def test_decision_body_equals_the_generic_walk(record: DecisionRecord):
    entries = decision_entries()
    walked = WalkedDecisionRecord(
        **{field.name: getattr(record, field.name) for field in fields(DecisionRecord)}
    )
    fast_entry, fast_sets = entries.entry(record)
    walked_entry, walked_sets = entries.entry(walked)
    assert fast_entry.body_json == walked_entry.body_json
    assert fast_entry.body_json == canonical_json(fast_entry.body)
    assert fast_entry == walked_entry
    assert fast_sets == walked_sets
