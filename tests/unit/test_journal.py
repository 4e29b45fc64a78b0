"""The local journal: framing, cursors, segments, torn records, forwarding."""

from __future__ import annotations

import math
import os
import threading
import time
from pathlib import Path

import msgpack
import pytest
from pydantic import ValidationError

from twinbank.adapters.journal import (
    DecisionLogSink,
    DurableJournal,
    InvalidJournal,
    JournalDecisionLog,
    JournalForwarder,
    decode_record,
    decode_transaction,
    encode_record,
    segments,
)
from twinbank.adapters.memory import InMemoryDecisionLog
from twinbank.core.decisions import DecisionRecord, Outcome, StageLatency
from twinbank.core.features.vector import FeatureVector
from twinbank.core.transactions import Transaction


def record(index: int) -> DecisionRecord:
    return DecisionRecord(
        decision_id=f"decision-{index}",
        transaction=Transaction(index, 1_000 + index, 7, 9, 12.5 + index),
        decided_at_ns=2_000 + index,
        score=0.25,
        outcome=Outcome.STEP_UP,
        reasons=("SCORE_IN_STEP_UP_BAND",),
        policy_version="thresholds-v1",
        model_version="xgb-abc",
        features=FeatureVector(("a", "b"), (1.5, math.nan), "v1"),
        latency=StageLatency(10, 20, 30),
        degraded=("feature_state",),
    )


def test_record_codec_round_trips():
    original = record(3)
    decoded = decode_record(encode_record(original))

    assert decoded.decision_id == original.decision_id
    assert decoded.transaction == original.transaction
    assert decoded.outcome is Outcome.STEP_UP
    assert decoded.features.values[0] == 1.5
    assert math.isnan(decoded.features.values[1])
    assert decoded.latency == original.latency
    assert decoded.degraded == ("feature_state",)


def test_transaction_decodes_without_record():
    original = record(4)

    assert decode_transaction(encode_record(original)) == original.transaction
    with pytest.raises(ValidationError):
        decode_transaction(msgpack.packb({"decision_id": "d-1"}))
    with pytest.raises(ValidationError):
        decode_transaction(msgpack.packb([1, 2]))


def test_records_are_read_in_order_across_segments(tmp_path: Path):
    journal = DurableJournal(tmp_path, ("audit",), segment_bytes=200)
    payloads = [f"record-{index}".encode() * 5 for index in range(40)]
    for payload in payloads:
        journal.append(payload)

    read, position = journal.read("audit", 1_000)

    assert read == payloads
    assert len(list(tmp_path.glob("segment-*.log"))) > 3
    journal.commit("audit", position, len(read))
    assert journal.backlog("audit") == 0
    assert len(list(tmp_path.glob("segment-*.log"))) == 1


def test_cursors_survive_reopening(tmp_path: Path):
    journal = DurableJournal(tmp_path, ("audit", "events"))
    for index in range(10):
        journal.append(b"%d" % index)
    read, position = journal.read("audit", 4)
    journal.commit("audit", position, len(read))
    journal.close()

    reopened = DurableJournal(tmp_path, ("audit", "events"))

    assert reopened.backlog("audit") == 6
    assert reopened.backlog("events") == 10
    assert reopened.read("audit", 100)[0] == [b"%d" % index for index in range(4, 10)]


def test_torn_record_is_cut_on_reopen(tmp_path: Path):
    journal = DurableJournal(tmp_path, ("audit",))
    journal.append(b"whole")
    journal.close()
    segment = next(tmp_path.glob("segment-*.log"))
    with segment.open("ab") as file:
        file.write(b"\x10\x00\x00\x00\x00\x00")  # a header promising 16 bytes, no payload

    reopened = DurableJournal(tmp_path, ("audit",))
    reopened.append(b"after")

    assert reopened.read("audit", 10)[0] == [b"whole", b"after"]


def test_corrupt_cursor_restarts_from_the_oldest_segment(tmp_path: Path):
    journal = DurableJournal(tmp_path, ("audit",))
    journal.append(b"one")
    journal.close()
    (tmp_path / "cursor-audit.json").write_text("{not json")

    assert DurableJournal(tmp_path, ("audit",)).read("audit", 10)[0] == [b"one"]


def test_invalid_cursor_name_is_rejected(tmp_path: Path):
    with pytest.raises(InvalidJournal, match="cursor name 'Audit Log'"):
        DurableJournal(tmp_path, ("Audit Log",))


def test_journal_log_syncs_on_flush(tmp_path: Path):
    journal = DurableJournal(tmp_path, ("audit",))
    log = JournalDecisionLog(journal)
    log.append(record(1))
    log.flush()

    assert log.count() == 1
    assert decode_record(journal.read("audit", 10)[0][0]).decision_id == "decision-1"


class FlakyLog:
    """A decision log in front of ``target`` whose database is down while ``down`` is set."""

    down = False

    def __init__(self, target: InMemoryDecisionLog) -> None:
        self._target = target
        self._buffer: list[DecisionRecord] = []

    def append(self, record: DecisionRecord) -> None:
        self._buffer.append(record)

    def flush(self) -> None:
        if FlakyLog.down:
            raise ConnectionError("audit database is unreachable")
        for buffered in self._buffer:
            self._target.append(buffered)
        self._buffer = []

    def count(self) -> int:
        return self._target.count()


def test_forwarder_retries_until_the_sink_accepts(tmp_path: Path):
    journal = DurableJournal(tmp_path, ("audit",))
    target = InMemoryDecisionLog()
    builds = []

    def build() -> FlakyLog:
        builds.append(1)
        return FlakyLog(target)

    FlakyLog.down = True
    forwarder = JournalForwarder(
        journal, "audit", DecisionLogSink(build), batch_size=7, retry_initial_s=0.01
    )
    forwarder.start()
    log = JournalDecisionLog(journal)
    for index in range(50):
        log.append(record(index))
    time.sleep(0.2)
    assert not forwarder.status().healthy
    assert forwarder.status().backlog == 50

    FlakyLog.down = False
    deadline = time.monotonic() + 10
    while forwarder.status().backlog and time.monotonic() < deadline:
        time.sleep(0.01)
    forwarder.stop()

    assert forwarder.status().healthy
    assert target.count() == 50
    assert len(builds) > 1  # the log was rebuilt after failing


def test_forwarder_linger_batches_records(tmp_path: Path):
    journal = DurableJournal(tmp_path, ("audit",))
    batches: list[int] = []
    forwarder = JournalForwarder(
        journal, "audit", lambda payloads: batches.append(len(payloads)), linger_s=2.0
    )
    log = JournalDecisionLog(journal)
    forwarder.start()
    log.append(record(0))
    deadline = time.monotonic() + 10
    while not batches and time.monotonic() < deadline:
        time.sleep(0.001)
    # The forwarder now lingers; these arrive within its wait and form one batch.
    for index in range(1, 10):
        log.append(record(index))
    while sum(batches) < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    forwarder.stop()

    assert batches == [1, 9]


def test_forwarder_recovers_before_it_lingers(tmp_path: Path):
    journal = DurableJournal(tmp_path, ("audit",))
    delivered: list[bytes] = []
    attempts: list[int] = []

    def sink(payloads: list[bytes]) -> None:
        attempts.append(len(payloads))
        if len(attempts) == 1:
            raise ConnectionError("audit database is unreachable")
        delivered.extend(payloads)

    forwarder = JournalForwarder(journal, "audit", sink, retry_initial_s=0.01, linger_s=60.0)
    JournalDecisionLog(journal).append(record(0))
    forwarder.start()
    deadline = time.monotonic() + 10
    status = forwarder.status()
    while not (status.forwarded and status.healthy) and time.monotonic() < deadline:
        time.sleep(0.001)
        status = forwarder.status()

    # The retry delivered a one-record batch, so the forwarder now lingers for a
    # minute. It must be healthy already, because stop() drains only a healthy one.
    assert status.forwarded == 1
    assert status.healthy
    assert status.backlog == 0
    forwarder.stop(drain_timeout_s=0)

    assert attempts == [1, 1]
    assert [decode_record(payload).decision_id for payload in delivered] == ["decision-0"]


def test_journal_cuts_a_short_write(tmp_path: Path, monkeypatch):
    journal = DurableJournal(tmp_path, ("audit",))
    journal.append(b"whole")
    write = os.write

    def write_half(descriptor: int, data: bytes) -> int:
        return write(descriptor, data[: len(data) // 2])

    monkeypatch.setattr(segments.os, "write", write_half)
    with pytest.raises(OSError, match="wrote"):
        journal.append(b"torn record")
    monkeypatch.undo()
    journal.append(b"after")

    assert journal.read("audit", 10)[0] == [b"whole", b"after"]


def test_journal_sync_fails_once_its_segment_is_deleted(tmp_path: Path):
    journal = DurableJournal(tmp_path, ())
    journal.append(b"lost")
    for segment in tmp_path.glob("segment-*.log"):
        segment.unlink()

    with pytest.raises(OSError, match="deleted while open"):
        journal.sync()


def test_journal_resets_a_cursor_past_data(tmp_path: Path):
    journal = DurableJournal(tmp_path, ("audit",))
    for payload in (b"one", b"two"):
        journal.append(payload)
    journal.close()
    (tmp_path / "cursor-audit.json").write_text('{"segment": 0, "offset": 5000}')

    assert DurableJournal(tmp_path, ("audit",)).read("audit", 10)[0] == [b"one", b"two"]


def test_forwarder_reports_a_stalled_sink(tmp_path: Path):
    journal = DurableJournal(tmp_path, ("audit",))
    journal.append(b"waiting")
    answer = threading.Event()
    forwarder = JournalForwarder(
        journal, "audit", lambda payloads: answer.wait(10), stalled_after_s=0.1
    )
    forwarder.start()
    deadline = time.monotonic() + 10
    while forwarder.status().healthy and time.monotonic() < deadline:
        time.sleep(0.01)
    status = forwarder.status()
    answer.set()
    forwarder.stop()

    assert not status.healthy
    assert "has not answered" in (status.last_error or "")
    assert forwarder.status().healthy
    assert forwarder.status().backlog == 0
