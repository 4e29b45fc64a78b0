"""The decision writer process: records cross to the child unchanged and in order, and
a child that fails or dies makes the parent raise instead of losing decisions."""

from __future__ import annotations

import dataclasses
import functools
import os
import signal
import sqlite3
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.audit import decision_record, stored_decision_counts
from tests.support.writer_process import chained_sqlite_log, failing_log, unbuildable_log
from twinbank.adapters.audit import DecisionLogFailed, DecisionLogProcess
from twinbank.adapters.audit.writer_process import flatten, restore
from twinbank.core.decisions import DecisionRecord, Outcome, StageLatency
from twinbank.core.explanations import DecisionExplanation
from twinbank.core.features.vector import FeatureVector
from twinbank.core.transactions import Transaction

finite = st.floats(allow_nan=True, allow_infinity=True)


@st.composite
def records(draw: st.DrawFn) -> DecisionRecord:
    names = tuple(draw(st.lists(st.text(min_size=1, max_size=8), max_size=4)))
    return DecisionRecord(
        decision_id=draw(st.text(max_size=36)),
        transaction=Transaction(
            draw(st.integers()),
            draw(st.integers()),
            draw(st.integers()),
            draw(st.integers()),
            draw(finite),
        ),
        decided_at_ns=draw(st.integers()),
        score=draw(finite),
        outcome=draw(st.sampled_from(Outcome)),
        reasons=tuple(draw(st.lists(st.text(max_size=12), max_size=3))),
        policy_version=draw(st.text(max_size=12)),
        model_version=draw(st.text(max_size=12)),
        features=FeatureVector(
            names,
            tuple(draw(st.lists(finite, min_size=len(names), max_size=len(names)))),
            draw(st.text(max_size=8)),
        ),
        latency=StageLatency(draw(st.integers()), draw(st.integers()), draw(st.integers())),
        degraded=tuple(draw(st.lists(st.text(max_size=12), max_size=2))),
    )


@given(records())
def test_flatten_then_restore_gives_an_equal_record(record):
    restored = restore(flatten(record))
    # NaN is not equal to itself, so compare the texts, which show every field.
    assert repr(restored) == repr(record)
    assert type(restored.outcome) is Outcome


def test_flatten_keeps_explained_record_as_it_is():
    explanation = DecisionExplanation((), (), (), 0.0, 0.5, None, (), (), ())
    explained = dataclasses.replace(decision_record(1), explanation=explanation)
    assert flatten(explained) is explained
    assert restore(explained) is explained


@pytest.fixture
def chained_writer(tmp_path) -> Iterator[Callable[[int], DecisionLogProcess]]:
    """Start writers of a chained SQLite file in ``tmp_path``; closed after the test."""
    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    started: list[DecisionLogProcess] = []

    def start(batch_size: int) -> DecisionLogProcess:
        started.append(
            DecisionLogProcess(functools.partial(chained_sqlite_log, url), batch_size=batch_size)
        )
        return started[-1]

    yield start
    for writer in started:
        writer.close()


def test_records_reach_the_database_in_append_order(tmp_path, chained_writer):
    log = chained_writer(4)
    for index in range(25):
        log.append(decision_record(index))
    assert log.count() == 25
    log.close()
    with sqlite3.connect(tmp_path / "decisions.db") as connection:
        chained = [
            row[0]
            for row in connection.execute(
                "SELECT decision_id FROM audit_records WHERE kind = 'decision' ORDER BY seq"
            )
        ]
    assert chained == [decision_record(index).decision_id for index in range(25)]


def test_writer_flush_writes_both_logs(tmp_path, chained_writer):
    log = chained_writer(2)
    # The chain writes 3 entries at a time, and its first batch also contains the
    # feature-set entry, so 2 of these 4 decisions are written only by the flush.
    for index in range(4):
        log.append(decision_record(index))
    log.flush()
    table_rows, chained = stored_decision_counts(tmp_path / "decisions.db")
    assert table_rows == 4
    assert chained == 4


def test_writer_failure_is_raised_by_every_later_call():
    log = DecisionLogProcess(functools.partial(failing_log, 3), batch_size=2)
    try:
        for index in range(5):
            log.append(decision_record(index))
        with pytest.raises(DecisionLogFailed, match="OSError: disk full"):
            log.flush()
        with pytest.raises(DecisionLogFailed, match="disk full"):
            log.append(decision_record(6))
        with pytest.raises(DecisionLogFailed, match="disk full"):
            log.count()
    finally:
        log.close()


def test_writer_failing_to_build_fails_first_flush():
    log = DecisionLogProcess(unbuildable_log)
    try:
        log.append(decision_record(1))
        with pytest.raises(DecisionLogFailed, match="ValueError: no such database"):
            log.flush()
    finally:
        log.close()


def test_writer_killed_fails_the_next_call(chained_writer):
    log = chained_writer(2)
    log.append(decision_record(1))
    assert log.count() == 1
    os.kill(log.child_pid, signal.SIGKILL)
    log.append(decision_record(2))
    with pytest.raises(DecisionLogFailed, match="exit code -9"):
        log.flush()


def test_writer_closed_rejects_records(chained_writer):
    log = chained_writer(1_000)
    log.close()
    with pytest.raises(DecisionLogFailed, match="closed"):
        log.append(decision_record(1))
