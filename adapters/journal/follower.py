"""Read a journal that another process writes, through named cursors.

A follower can read a record as soon as the writer's ``append`` has returned, because
both processes share the operating system's page cache. It finds the journal's end by
scanning the bytes after the last whole record it has counted. A record that is still
being written, or was torn by a crash, ends the scan, and the follower looks again on
its next call. A segment is finished once the next one exists, since the writer
creates the next segment only after its last write to the previous one.

The follower owns the cursors: it stores them and deletes the segments every cursor has
passed. The writer is then opened without cursors. Only one follower at a time may own
them, because one that deleted a segment another still reads would stall the other, so
a follower holds an exclusive lock on ``follower.lock`` in the folder until it closes.
"""

from __future__ import annotations

import fcntl
import threading
import time
from pathlib import Path
from typing import IO

from .segments import (
    CursorTable,
    InvalidJournal,
    Position,
    check_cursor_names,
    list_segments,
    read_records,
    scan_whole_records,
    segment_path,
)


class JournalFollower:
    """The cursors of a journal written by another process."""

    def __init__(
        self,
        folder: Path,
        cursors: tuple[str, ...],
        poll_s: float = 0.005,
        idle_poll_s: float = 0.05,
        lock_timeout_s: float = 10.0,
    ) -> None:
        check_cursor_names(cursors)
        if not folder.is_dir():
            raise InvalidJournal(
                f"journal folder {folder} does not exist; start the process that writes it first"
            )
        self._lock_file = _lock_folder(folder, lock_timeout_s)
        self._folder = folder
        self._poll = poll_s
        self._idle_poll = max(poll_s, idle_poll_s)
        self._interval = dict.fromkeys(cursors, poll_s)
        self._lock = threading.Lock()
        segments = list_segments(folder)
        first = segments[0] if segments else 0
        self._cursors = CursorTable(folder, cursors, first)
        self._end = max(self._cursors.positions.values(), default=Position(first, 0))
        self._cursors.count_until(self._end)

    @property
    def folder(self) -> Path:
        return self._folder

    def close(self) -> None:
        """Release the folder's lock, so that another follower can take the cursors."""
        if not self._lock_file.closed:
            self._lock_file.close()

    def read(self, cursor: str, max_records: int) -> tuple[list[bytes], Position]:
        """Return the records after ``cursor`` (at most ``max_records``) and the position
        after the last one. The cursor moves only when ``commit`` is called."""
        with self._lock:
            self._follow()
            position = self._cursors.positions[cursor]
            end = self._end
        return read_records(self._folder, position, end, max_records)

    def commit(self, cursor: str, position: Position, records: int) -> None:
        """Move a cursor past ``records`` forwarded records (see ``CursorTable.commit``)."""
        self._cursors.commit(cursor, position, records, self._lock)

    def backlog(self, cursor: str) -> int:
        """Return how many written records the cursor has not passed."""
        with self._lock:
            self._follow()
            return self._cursors.backlog[cursor]

    def wait_for_records(self, cursor: str, timeout: float) -> bool:
        """Look for new records until the cursor has some to read or ``timeout`` seconds
        pass. The pause between looks starts at ``poll_s`` and doubles after each look
        that finds nothing, up to ``idle_poll_s``, so an idle follower wakes rarely."""
        deadline = time.monotonic() + timeout
        while True:
            if self.backlog(cursor) > 0:
                self._interval[cursor] = self._poll
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            interval = self._interval[cursor]
            time.sleep(min(interval, remaining))
            self._interval[cursor] = min(self._idle_poll, interval * 2)

    def _follow(self) -> None:
        """Count the whole records written after the known end. Call with the lock held."""
        while True:
            path = segment_path(self._folder, self._end.segment)
            # Checked before the scan: once the next segment exists, this scan reads
            # every record of this one.
            finished = segment_path(self._folder, self._end.segment + 1).exists()
            try:
                size = path.stat().st_size
            except FileNotFoundError:  # the writer has not created its first segment yet
                return
            if size > self._end.offset:
                records, offset = scan_whole_records(path, self._end.offset)
                self._cursors.add(records)
                self._end = Position(self._end.segment, offset)
            if not finished:
                return
            if self._end.offset != size:
                raise InvalidJournal(
                    f"journal {path} has a corrupt record at offset {self._end.offset}"
                )
            self._end = Position(self._end.segment + 1, 0)


def _lock_folder(folder: Path, timeout_s: float) -> IO[bytes]:
    """Take the folder's follower lock, waiting up to ``timeout_s`` for another follower
    (one still draining, say) to release it. Raises InvalidJournal after that."""
    lock_file = (folder / "follower.lock").open("ab")
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return lock_file
        except BlockingIOError:
            if time.monotonic() >= deadline:
                lock_file.close()
                raise InvalidJournal(
                    f"journal {folder} is locked by another follower: "
                    f"{folder / 'follower.lock'} stayed locked for {timeout_s:.0f} s; stop "
                    "the other `twinbank forward` first"
                ) from None
            time.sleep(0.05)
