"""A journal followed from another process: its end, its cursors, its segments."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from twinbank.adapters.journal import (
    DurableJournal,
    InvalidJournal,
    JournalFollower,
    Position,
    segments,
)
from twinbank.adapters.journal.segments import frame, list_segments, segment_path


def payload(index: int) -> bytes:
    return f"record-{index:05d}".encode() * 3


def drain(follower: JournalFollower, cursor: str, batch: int = 1000) -> list[bytes]:
    drained: list[bytes] = []
    while True:
        records, position = follower.read(cursor, batch)
        if not records:
            return drained
        follower.commit(cursor, position, len(records))
        drained.extend(records)


def test_follower_reads_appends_across_segments(tmp_path: Path):
    writer = DurableJournal(tmp_path, (), segment_bytes=200)
    follower = JournalFollower(tmp_path, ("audit", "events"))
    for index in range(40):
        writer.append(payload(index))

    assert follower.backlog("audit") == 40
    assert drain(follower, "audit", batch=7) == [payload(i) for i in range(40)]
    assert follower.backlog("audit") == 0
    assert follower.backlog("events") == 40
    assert len(list_segments(tmp_path)) > 3  # events still needs every segment

    assert drain(follower, "events") == [payload(i) for i in range(40)]
    assert list_segments(tmp_path) == [max(list_segments(tmp_path))]


def test_follower_skips_a_partial_record(tmp_path: Path):
    writer = DurableJournal(tmp_path, ())
    writer.append(payload(0))
    follower = JournalFollower(tmp_path, ("audit",))
    framed = frame(payload(1))
    with segment_path(tmp_path, 0).open("ab") as file:  # a write still in progress
        file.write(framed[:10])
        file.flush()
        assert follower.backlog("audit") == 1
        assert drain(follower, "audit") == [payload(0)]
        file.write(framed[10:])
        file.flush()

    assert follower.backlog("audit") == 1
    assert drain(follower, "audit") == [payload(1)]


def test_follower_resumes_from_stored_cursors(tmp_path: Path):
    writer = DurableJournal(tmp_path, (), segment_bytes=150)
    for index in range(30):
        writer.append(payload(index))
    first = JournalFollower(tmp_path, ("audit", "events"))
    records, position = first.read("audit", 12)
    first.commit("audit", position, len(records))
    records, position = first.read("events", 5)
    first.commit("events", position, len(records))
    first.close()

    second = JournalFollower(tmp_path, ("audit", "events"))
    for index in range(30, 35):
        writer.append(payload(index))

    assert second.backlog("audit") == 23
    assert second.backlog("events") == 30
    assert drain(second, "audit") == [payload(i) for i in range(12, 35)]
    assert drain(second, "events") == [payload(i) for i in range(5, 35)]


def test_follower_rejects_a_corrupt_segment(tmp_path: Path):
    writer = DurableJournal(tmp_path, (), segment_bytes=100)
    for index in range(6):
        writer.append(payload(index))
    path = segment_path(tmp_path, 0)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # the last record of the first segment no longer matches its CRC
    path.write_bytes(bytes(data))

    with pytest.raises(InvalidJournal, match="corrupt record"):
        JournalFollower(tmp_path, ("audit",)).read("audit", 100)


def test_follower_wait_ends_on_append(tmp_path: Path):
    writer = DurableJournal(tmp_path, ())
    follower = JournalFollower(tmp_path, ("audit",), poll_s=0.001)

    assert follower.wait_for_records("audit", 0.02) is False
    writer.append(payload(0))
    assert follower.wait_for_records("audit", 5.0) is True


def test_follower_rejects_a_missing_folder(tmp_path: Path):
    with pytest.raises(InvalidJournal, match="does not exist"):
        JournalFollower(tmp_path / "absent", ("audit",))


def test_writer_without_cursors_keeps_segments(tmp_path: Path):
    writer = DurableJournal(tmp_path, (), segment_bytes=100)
    for index in range(10):
        writer.append(payload(index))
    writer.close()
    reopened = DurableJournal(tmp_path, (), segment_bytes=100)
    reopened.append(payload(10))

    follower = JournalFollower(tmp_path, ("audit",))
    assert drain(follower, "audit") == [payload(i) for i in range(11)]
    assert os.listdir(tmp_path).count("cursor-audit.json") == 1


def test_follower_waits_for_the_lock_of_another(tmp_path: Path):
    DurableJournal(tmp_path, ()).append(payload(0))
    first = JournalFollower(tmp_path, ("audit",))

    with pytest.raises(InvalidJournal, match="locked by another follower"):
        JournalFollower(tmp_path, ("audit",), lock_timeout_s=0.1)
    first.close()
    second = JournalFollower(tmp_path, ("audit",), lock_timeout_s=0.1)
    assert second.backlog("audit") == 1


def test_follower_keeps_segments_of_unstored_cursors(tmp_path: Path, monkeypatch):
    writer = DurableJournal(tmp_path, (), segment_bytes=200)
    for index in range(40):
        writer.append(payload(index))
    follower = JournalFollower(tmp_path, ("audit", "events"))
    store = segments.store_cursor

    def store_all_but_events(folder: Path, name: str, position: Position) -> None:
        if name == "events":
            raise OSError("the process died before the cursor file was written")
        store(folder, name, position)

    monkeypatch.setattr(segments, "store_cursor", store_all_but_events)
    records, position = follower.read("events", 1000)
    with pytest.raises(OSError, match="process died"):
        follower.commit("events", position, len(records))
    drain(follower, "audit")
    follower.close()
    monkeypatch.undo()

    restarted = JournalFollower(tmp_path, ("audit", "events"))
    assert drain(restarted, "events") == [payload(i) for i in range(40)]


def test_full_disk_cursor_moves_in_place(tmp_path: Path, monkeypatch):
    writer = DurableJournal(tmp_path, (), segment_bytes=200)
    for index in range(40):
        writer.append(payload(index))
    follower = JournalFollower(tmp_path, ("audit",))
    records, position = follower.read("audit", 5)
    follower.commit("audit", position, len(records))  # the cursor file exists from here
    open_path = Path.open

    def disk_full_for_new_files(path: Path, mode: str = "r", *args, **kwargs):
        if path.suffix == ".tmp" and "w" in mode:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return open_path(path, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "open", disk_full_for_new_files)
    segments_before = len(list_segments(tmp_path))
    records, position = follower.read("audit", 30)
    follower.commit("audit", position, len(records))
    monkeypatch.undo()

    assert len(list_segments(tmp_path)) < segments_before
    assert not list(tmp_path.glob("*.tmp"))
    follower.close()
    restarted = JournalFollower(tmp_path, ("audit",))
    assert drain(restarted, "audit") == [payload(i) for i in range(35, 40)]
