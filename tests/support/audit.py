"""Decision records and audit entries for audit-trail tests, and ways to tamper with
stored chains the way someone with database access could."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

from twinbank.core.audit import AuditEntry, ChainedRecord, DecisionEntries, Pseudonymiser
from twinbank.core.decisions import DecisionRecord, Outcome, StageLatency
from twinbank.core.features.vector import FeatureVector
from twinbank.core.transactions import Transaction

TEST_KEY = b"0123456789abcdef0123456789abcdef"
FEATURE_NAMES = ("count_1d", "avg_amount_1d", "terminal_risk_7d")


def decision_entries(key: bytes = TEST_KEY, key_id: str = "test-key") -> DecisionEntries:
    return DecisionEntries(Pseudonymiser(key, key_id))


def decision_record(
    index: int,
    *,
    customer_id: int | None = None,
    feature_set_version: str = "fs-1",
    values: tuple[float, ...] | None = None,
) -> DecisionRecord:
    timestamp = 1_522_540_800_000_000_000 + index * 1_000_000_000
    return DecisionRecord(
        decision_id=f"decision-{index:06d}",
        transaction=Transaction(
            transaction_id=index,
            timestamp_ns=timestamp,
            customer_id=customer_id if customer_id is not None else index % 7,
            terminal_id=100 + index % 11,
            amount=round(10.0 + index * 1.25, 2),
        ),
        decided_at_ns=timestamp + 5_000_000,
        score=(index % 10) / 10,
        outcome=Outcome.APPROVE if index % 10 < 3 else Outcome.STEP_UP,
        reasons=("SCORE_BELOW_STEP_UP_THRESHOLD",),
        policy_version="thresholds-v1",
        model_version="xgb-test",
        features=FeatureVector(
            FEATURE_NAMES,
            values if values is not None else (float(index % 5), 12.5 + index, 0.0),
            feature_set_version,
        ),
        latency=StageLatency(features_ns=1_000, scoring_ns=2_000, policy_ns=300),
    )


def event_entry(index: int, kind: str = "governance.test_event") -> AuditEntry:
    return AuditEntry(
        kind=kind,
        recorded_at_ns=1_700_000_000_000_000_000 + index,
        body={"index": index, "note": f"event {index}", "values": [index, index / 3]},
        model_id="card-fraud@1",
        model_version="1",
    )


def modified(record: ChainedRecord, body_json: str | None = None) -> ChainedRecord:
    """Return the record with its body changed and its stored hash left as it was."""
    new_body = body_json if body_json is not None else record.body_json.replace("}", ',"x":1}', 1)
    return replace(record, body_json=new_body)


def renumbered(records: list[ChainedRecord]) -> list[ChainedRecord]:
    """Return the records with sequence numbers 1..n in their current order."""
    return [replace(record, seq=index) for index, record in enumerate(records, start=1)]


def stored_decision_counts(database: Path) -> tuple[int, int]:
    """Return the rows of the decision table and the decisions chained in a SQLite file."""
    with sqlite3.connect(database) as connection:
        (table_rows,) = connection.execute("SELECT COUNT(*) FROM decisions").fetchone()
        (chained,) = connection.execute(
            "SELECT COUNT(*) FROM audit_records WHERE kind = 'decision'"
        ).fetchone()
    return table_rows, chained
