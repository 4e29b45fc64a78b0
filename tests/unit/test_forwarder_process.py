"""The forwarding process: its reports, its restarts, its stop, and its own loop."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

from twinbank.adapters.journal import DurableJournal, JournalFollower, JournalForwarder
from twinbank.adapters.journal.segments import segment_path
from twinbank.entrypoints.http.forwarding import (
    STATUS_FILE,
    ForwarderProcess,
    read_status,
    run_forwarders,
)

# A stand-in for `twinbank forward`: it reports one healthy forwarder four times a
# second, counts its starts in a file, and exits with EXIT_CODE after EXIT_AFTER_S.
CHILD = """
import json, os, signal, sys, time
status, starts, exit_after, code = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
with open(starts, "a") as file:
    file.write("started\\n")
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
began = time.monotonic()
while True:
    document = {"pid": os.getpid(), "written_at": time.time(), "forwarders": [
        {"name": "audit", "healthy": True, "backlog": 3, "forwarded": 7, "failures": 0,
         "last_error": None}]}
    with open(status + ".tmp", "w") as file:
        json.dump(document, file)
    os.replace(status + ".tmp", status)
    if exit_after and time.monotonic() - began > exit_after:
        sys.exit(code)
    time.sleep(0.05)
"""


def _child(tmp_path: Path, exit_after_s: float = 0.0, code: int = 0) -> list[str]:
    return [
        sys.executable,
        "-c",
        CHILD,
        str(tmp_path / STATUS_FILE),
        str(tmp_path / "starts"),
        str(exit_after_s),
        str(code),
    ]


def _starts(tmp_path: Path) -> int:
    path = tmp_path / "starts"
    return len(path.read_text().splitlines()) if path.exists() else 0


def _wait_until(condition, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_forwarder_process_reports_and_stops(tmp_path: Path):
    forwarding = ForwarderProcess(_child(tmp_path), tmp_path / STATUS_FILE, ("audit", "events"))
    forwarding.start()  # returns after the first report
    try:
        audit, events = forwarding.statuses()
        assert (audit.name, audit.healthy, audit.backlog, audit.forwarded) == ("audit", True, 3, 7)
        assert (events.name, events.healthy) == ("events", False)  # absent from the report
        assert events.last_error == "the forwarding process does not run it"
    finally:
        forwarding.stop()
    assert not forwarding.statuses()[0].healthy
    assert "not running" in (forwarding.statuses()[0].last_error or "")


def test_forwarder_process_restarts_an_exited_child(tmp_path: Path):
    forwarding = ForwarderProcess(
        _child(tmp_path, exit_after_s=0.3, code=3),
        tmp_path / STATUS_FILE,
        ("audit",),
        restart_initial_s=1.0,
    )
    forwarding.start()
    try:
        _wait_until(lambda: not forwarding.statuses()[0].healthy)
        (status,) = forwarding.statuses()
        assert "exited with code 3" in (status.last_error or "")
        assert status.backlog == 3  # the last report's backlog stays visible
        _wait_until(lambda: _starts(tmp_path) >= 2)
        _wait_until(lambda: forwarding.statuses()[0].healthy)
    finally:
        forwarding.stop()


def test_forwarder_process_flags_a_silent_child(tmp_path: Path, monkeypatch):
    forwarding = ForwarderProcess(_child(tmp_path), tmp_path / STATUS_FILE, ("audit",))
    forwarding.start()
    try:
        written_at, _ = read_status(tmp_path / STATUS_FILE) or (0.0, [])
        monkeypatch.setattr(time, "time", lambda: written_at + 60)
        (status,) = forwarding.statuses()
        assert not status.healthy
        assert "has not reported for" in (status.last_error or "")
    finally:
        monkeypatch.undo()
        forwarding.stop()


def test_forwarder_process_restarts_hung_child(tmp_path: Path):
    forwarding = ForwarderProcess(
        _child(tmp_path),
        tmp_path / STATUS_FILE,
        ("audit",),
        restart_initial_s=0.2,
        kill_after_silent_s=1.0,
    )
    forwarding.start()
    try:
        hung = forwarding.pid
        assert hung is not None
        os.kill(hung, signal.SIGSTOP)  # alive, but it reports nothing more
        _wait_until(lambda: _starts(tmp_path) >= 2)
        assert forwarding.pid != hung
        _wait_until(lambda: forwarding.statuses()[0].healthy)
    finally:
        forwarding.stop()


def test_run_forwarders_stops_without_parent(tmp_path: Path):
    writer = DurableJournal(tmp_path, ())
    for index in range(25):
        writer.append(f"record-{index}".encode())
    delivered: list[bytes] = []
    forwarder = JournalForwarder(
        JournalFollower(tmp_path, ("audit",)), "audit", delivered.extend, batch_size=10
    )
    not_my_parent = os.getppid() + 1
    loop = threading.Thread(
        target=run_forwarders,
        args=([forwarder], tmp_path / STATUS_FILE, threading.Event(), not_my_parent),
    )
    loop.start()
    loop.join(10)

    assert not loop.is_alive()
    assert len(delivered) == 25
    report = read_status(tmp_path / STATUS_FILE)
    assert report is not None
    assert report[1][0].forwarded == 25
    assert report[1][0].backlog == 0


def test_run_forwarders_reports_a_corrupt_journal(tmp_path: Path):
    writer = DurableJournal(tmp_path, ())
    writer.append(b"whole")
    with segment_path(tmp_path, 0).open("ab") as segment:
        segment.write(b"\xff" * 30)  # a corrupt record, then a finished segment
    segment_path(tmp_path, 1).touch()
    forwarder = JournalForwarder(
        JournalFollower(tmp_path, ("audit",)), "audit", lambda payloads: None
    )
    stop = threading.Event()
    loop = threading.Thread(target=run_forwarders, args=([forwarder], tmp_path / STATUS_FILE, stop))
    loop.start()
    try:
        _wait_until(lambda: "corrupt record" in str(read_status(tmp_path / STATUS_FILE)))
        assert loop.is_alive()
    finally:
        stop.set()
        loop.join(10)
    (status,) = (read_status(tmp_path / STATUS_FILE) or (0.0, []))[1]
    assert not status.healthy
