"""Canonical encoding, chaining and pseudonyms of the audit trail."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from dataclasses import dataclass, field

import pytest

from tests.support.audit import (
    FEATURE_NAMES,
    TEST_KEY,
    decision_entries,
    decision_record,
    event_entry,
)
from twinbank.core.audit import (
    GENESIS_HASH,
    AuditEntry,
    ChainHead,
    Month,
    NotAuditable,
    NotCanonicallyEncodable,
    Pseudonymiser,
    WeakPseudonymisationKey,
    canonical_json,
    chain_entries,
    record_hash,
)
from twinbank.core.audit.canonical import canonical_string
from twinbank.entrypoints.containers import build_container
from twinbank.entrypoints.governance_settings import (
    AuditSettings,
    MissingPseudonymisationKey,
    build_pseudonymiser,
)
from twinbank.entrypoints.settings import PlatformSettings


def test_canonical_json_sorts_keys_without_whitespace():
    assert canonical_json({"b": 1, "a": [1, 2.5, None, True]}) == '{"a":[1,2.5,null,true],"b":1}'


def test_canonical_json_keeps_unicode_unescaped():
    assert canonical_json({"name": "Zoë €"}) == '{"name":"Zoë €"}'


def test_canonical_json_tells_int_from_float():
    assert canonical_json([1, 1.0]) == "[1,1.0]"


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_canonical_json_rejects_non_finite(bad: float):
    with pytest.raises(NotCanonicallyEncodable, match=r"\$\.values\[1\]"):
        canonical_json({"values": [1.0, bad]})


def test_canonical_json_rejects_non_string_keys():
    with pytest.raises(NotCanonicallyEncodable, match="key 1"):
        canonical_json({1: "one"})


def test_canonical_json_rejects_other_objects():
    with pytest.raises(NotCanonicallyEncodable, match="set"):
        canonical_json({"tags": {"a"}})


@pytest.mark.parametrize("text", ["plain-id_1.2", 'quote"inside', "back\\slash", "tab\t", "ü", ""])
def test_canonical_string_equals_json(text: str):
    assert canonical_string(text) == json.dumps(text, ensure_ascii=False)


def test_record_hash_is_sha256_of_canonical_envelope():
    body = {"z": 1, "a": "x"}
    envelope = {
        "body": body,
        "customer_pseudonym": None,
        "decision_id": "d-1",
        "format": 1,
        "kind": "decision",
        "model_id": None,
        "model_version": "v1",
        "prev_hash": GENESIS_HASH,
        "recorded_at_ns": 42,
    }
    expected = hashlib.sha256(canonical_json(envelope).encode()).hexdigest()
    digest = record_hash(
        prev_hash=GENESIS_HASH,
        kind="decision",
        recorded_at_ns=42,
        decision_id="d-1",
        model_id=None,
        model_version="v1",
        customer_pseudonym=None,
        body_json=canonical_json(body),
    )
    assert digest == expected


def test_chain_links_each_record_to_the_last():
    records = chain_entries([event_entry(index) for index in range(3)], ChainHead())
    assert [record.seq for record in records] == [1, 2, 3]
    assert records[0].prev_hash == GENESIS_HASH
    assert records[1].prev_hash == records[0].record_hash
    assert records[2].prev_hash == records[1].record_hash
    assert all(record.computed_hash() == record.record_hash for record in records)


def test_chain_continues_after_head():
    first = chain_entries([event_entry(0)], ChainHead())
    head = ChainHead(first[-1].seq, first[-1].record_hash)
    second = chain_entries([event_entry(1)], head)
    assert second[0].seq == 2
    assert second[0].prev_hash == first[0].record_hash


def test_chain_head_round_trips_through_text():
    head = ChainHead(17, "ab" * 32)
    assert ChainHead.parse(str(head)) == head


@pytest.mark.parametrize("text", ["17", "x:" + "a" * 64, "17:" + "a" * 63, "17:" + "g" * 64])
def test_chain_head_parse_rejects_bad_text(text: str):
    with pytest.raises(ValueError, match="SEQ:HASH"):
        ChainHead.parse(text)


def test_pseudonym_is_keyed_hmac_truncated():
    pseudonymiser = Pseudonymiser(TEST_KEY, "k")
    expected = hmac.new(TEST_KEY, b"customer:42", hashlib.sha256).hexdigest()[:32]
    assert pseudonymiser.pseudonym("customer", 42) == expected


def test_pseudonym_depends_on_key_and_kind():
    first = Pseudonymiser(TEST_KEY, "k")
    other_key = Pseudonymiser(TEST_KEY[::-1], "k")
    assert first.pseudonym("customer", 42) != other_key.pseudonym("customer", 42)
    assert first.pseudonym("customer", 42) != first.pseudonym("card", 42)
    assert first.pseudonym("customer", 42) == first.pseudonym("customer", 42)


def test_short_pseudonymisation_key_is_rejected():
    with pytest.raises(WeakPseudonymisationKey, match="15 bytes"):
        Pseudonymiser(b"x" * 15, "short")


def test_pseudonymiser_repr_hides_key():
    assert TEST_KEY.decode() not in repr(Pseudonymiser(TEST_KEY, "k"))


def test_decision_entry_pseudonymises_customer():
    entry, _ = decision_entries().entry(decision_record(3, customer_id=4242))
    transaction = entry.body["transaction"]
    assert "customer_id" not in transaction
    assert transaction["customer_pseudonym"] == Pseudonymiser(TEST_KEY, "x").pseudonym(
        "customer", 4242
    )
    assert entry.customer_pseudonym == transaction["customer_pseudonym"]
    assert "4242" not in entry.encoded_body()


def test_decision_entry_holds_every_field():
    entry, feature_sets = decision_entries().entry(decision_record(3))
    body = entry.body
    assert entry.kind == "decision"
    assert entry.decision_id == "decision-000003"
    assert entry.model_version == "xgb-test"
    assert entry.recorded_at_ns == body["decided_at_ns"]
    assert body["outcome"] == "STEP_UP"
    assert body["features"] == {"feature_set_version": "fs-1", "values": [3.0, 15.5, 0.0]}
    assert body["latency"] == {"features_ns": 1000, "scoring_ns": 2000, "policy_ns": 300}
    assert body["pseudonym_key_id"] == "test-key"
    assert [fs.names for fs in feature_sets] == [FEATURE_NAMES]


def test_decision_entry_body_is_canonical():
    entry, _ = decision_entries().entry(decision_record(5))
    assert entry.encoded_body() == canonical_json(entry.body)


def test_decision_entry_turns_nan_into_null():
    entry, _ = decision_entries().entry(decision_record(1, values=(math.nan, 1.0, 2.0)))
    assert entry.body["features"]["values"] == [None, 1.0, 2.0]


def test_decision_entry_rejects_infinity_naming_feature():
    with pytest.raises(NotAuditable, match=r"features\.avg_amount_1d"):
        decision_entries().entry(decision_record(1, values=(0.0, math.inf, 2.0)))


def test_decision_entry_carries_fields_added_later():
    @dataclass(frozen=True)
    class Contribution:
        feature: str
        value: float

    @dataclass(frozen=True)
    class ExtendedRecord:
        decision_id: str
        decided_at_ns: int
        model_id: str
        explanation: tuple[Contribution, ...] = field(default_factory=tuple)
        lineage: dict[str, str] = field(default_factory=dict)
        card_id: int = 0

    record = ExtendedRecord(
        "d-9",
        7,
        "card-fraud@3",
        (Contribution("amount", 0.25),),
        {"training_run": "run-1"},
        card_id=555,
    )
    entry, _ = decision_entries().entry(record)
    assert entry.body["explanation"] == [{"feature": "amount", "value": 0.25}]
    assert entry.body["lineage"] == {"training_run": "run-1"}
    assert entry.model_id == "card-fraud@3"
    assert "card_id" not in entry.body
    assert len(entry.body["card_pseudonym"]) == 32


def test_non_decision_is_not_auditable_as_decision():
    with pytest.raises(NotAuditable, match="decision_id"):
        decision_entries().entry(AuditEntry(kind="x", recorded_at_ns=1, body={}))


def test_production_profile_needs_a_pseudonymisation_key():
    with pytest.raises(MissingPseudonymisationKey, match="TWINBANK_AUDIT_PSEUDONYMISATION_KEY"):
        build_container(
            PlatformSettings(profile="production"),
            audit_settings=AuditSettings(pseudonymisation_key=None),
        )


def test_configured_key_is_used_and_never_shown():
    settings = AuditSettings(pseudonymisation_key="s" * 32, pseudonymisation_key_id="k-2024")
    pseudonymiser = build_pseudonymiser(settings, "production")
    assert pseudonymiser.key_id == "k-2024"
    assert pseudonymiser.pseudonym("customer", 1) == Pseudonymiser(b"s" * 32, "x").pseudonym(
        "customer", 1
    )
    assert "s" * 32 not in repr(settings)
    assert "s" * 32 not in str(settings.model_dump())


def test_memory_profile_falls_back_to_development_key():
    pseudonymiser = build_pseudonymiser(AuditSettings(pseudonymisation_key=""), "memory")
    assert pseudonymiser.key_id == "development"


@pytest.mark.parametrize(("text", "message"), [("2018-13", "use 01 to 12"), ("2018", "YYYY-MM")])
def test_month_parse_names_the_problem(text: str, message: str):
    with pytest.raises(ValueError, match=message):
        Month.parse(text)
