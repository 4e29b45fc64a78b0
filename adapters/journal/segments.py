"""An append-only record journal on local disk, read by named cursors.

Records are appended to segment files ``segment-<n>.log``. Each record is framed as
``<II`` (payload length, CRC-32 of the payload) followed by the payload, so a record
torn by a crash in the middle of a write is detected and cut off when the journal
reopens. A record is in the operating system's page cache once ``append`` returns
(it survives a crash of the process) and on the disk once ``sync`` returns (it
survives a crash of the machine). ``sync`` coalesces: callers that arrive while
another thread syncs wait for it and sync only what is still new.

Each cursor (``cursor-<name>.json``) marks how far one consumer has forwarded the
journal. Cursor files are replaced atomically but not synced: after a machine crash a
cursor may point to an earlier record, and its consumer forwards a few records again,
so consumers must be idempotent. Segments behind every cursor are deleted.
"""

from __future__ import annotations

import json
import logging
import os
import re
import struct
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_FRAME = struct.Struct("<II")
_SEGMENT = re.compile(r"segment-(\d{8})\.log")
MAX_RECORD_BYTES = 16 * 1024 * 1024


class InvalidJournal(ValueError):
    """A journal folder or cursor name that cannot be used."""


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """A place in the journal: a segment number and a byte offset in it."""

    segment: int
    offset: int


def _segment_name(segment: int) -> str:
    return f"segment-{segment:08d}.log"


def _scan(path: Path, start: int) -> tuple[int, int]:
    """Return (records, end offset of the last whole record) from ``start`` on."""
    records = 0
    offset = start
    with path.open("rb") as file:
        file.seek(start)
        while True:
            header = file.read(_FRAME.size)
            if len(header) < _FRAME.size:
                return records, offset
            length, checksum = _FRAME.unpack(header)
            if length > MAX_RECORD_BYTES:
                return records, offset
            payload = file.read(length)
            if len(payload) < length or zlib.crc32(payload) != checksum:
                return records, offset
            records += 1
            offset += _FRAME.size + length


class DurableJournal:
    """The journal in one folder, shared by one writer and the given cursors."""

    def __init__(
        self, folder: Path, cursors: tuple[str, ...], segment_bytes: int = 64 * 1024 * 1024
    ) -> None:
        for name in cursors:
            if not re.fullmatch(r"[a-z][a-z0-9-]*", name):
                raise InvalidJournal(
                    f"cursor name {name!r} is invalid; use lower-case letters, digits and '-'"
                )
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK):
            raise InvalidJournal(f"journal folder {folder} is not writable; choose another")
        self._folder = folder
        self._segment_bytes = segment_bytes
        self._lock = threading.Lock()
        self._appended = threading.Condition(self._lock)
        self._sync_lock = threading.Lock()
        self._synced = Position(0, 0)
        segments = self._segments()
        if not segments:
            segments = [0]
            (folder / _segment_name(0)).touch()
        last = segments[-1]
        _, end = _scan(folder / _segment_name(last), 0)
        path = folder / _segment_name(last)
        if path.stat().st_size != end:
            log.warning(
                "journal %s: cut %d bytes of a torn record at the end of %s",
                folder,
                path.stat().st_size - end,
                path.name,
            )
            with path.open("r+b") as file:
                file.truncate(end)
        self._segment = last
        self._size = end
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self._cursors = {name: self._load_cursor(name, segments[0]) for name in cursors}
        self._backlog = {
            name: self._count_from(position) for name, position in self._cursors.items()
        }
        self._closed = False

    @property
    def folder(self) -> Path:
        return self._folder

    def append(self, payload: bytes) -> None:
        """Append one record; raises OSError when the disk refuses it (full, read-only)."""
        if len(payload) > MAX_RECORD_BYTES:
            raise InvalidJournal(
                f"record of {len(payload)} bytes exceeds the limit of {MAX_RECORD_BYTES}"
            )
        frame = _FRAME.pack(len(payload), zlib.crc32(payload)) + payload
        with self._appended:
            if self._closed:
                raise InvalidJournal(f"journal {self._folder} is closed")
            written = os.write(self._fd, frame)
            if written != len(frame):
                # A short write leaves a torn record, which reopening cuts off.
                raise OSError(f"journal {self._folder}: wrote {written} of {len(frame)} bytes")
            self._size += written
            for name in self._backlog:
                self._backlog[name] += 1
            if self._size >= self._segment_bytes:
                self._roll()
            self._appended.notify_all()

    def sync(self) -> None:
        """Make every appended record durable on disk (fdatasync)."""
        with self._lock:
            target = Position(self._segment, self._size)
            descriptor = os.dup(self._fd)
        try:
            with self._sync_lock:
                if self._synced >= target:
                    return
                os.fdatasync(descriptor)
                self._synced = max(self._synced, target)
        finally:
            os.close(descriptor)

    def read(self, cursor: str, max_records: int) -> tuple[list[bytes], Position]:
        """Return the records after ``cursor`` (at most ``max_records``) and the position
        after the last one; the cursor moves only when ``commit`` is called."""
        with self._lock:
            position = self._cursors[cursor]
            end = Position(self._segment, self._size)
        records: list[bytes] = []
        while len(records) < max_records and position < end:
            path = self._folder / _segment_name(position.segment)
            limit = end.offset if position.segment == end.segment else path.stat().st_size
            if position.offset >= limit:
                position = Position(position.segment + 1, 0)
                continue
            with path.open("rb") as file:
                file.seek(position.offset)
                offset = position.offset
                while len(records) < max_records and offset < limit:
                    length, checksum = _FRAME.unpack(file.read(_FRAME.size))
                    payload = file.read(length)
                    if zlib.crc32(payload) != checksum:
                        raise InvalidJournal(
                            f"journal {path} has a corrupt record at offset {offset}"
                        )
                    records.append(payload)
                    offset += _FRAME.size + length
            position = Position(position.segment, offset)
        return records, position

    def commit(self, cursor: str, position: Position, records: int) -> None:
        """Move a cursor past ``records`` forwarded records, and delete segments every
        cursor has passed."""
        with self._lock:
            self._cursors[cursor] = position
            self._backlog[cursor] = max(0, self._backlog[cursor] - records)
            oldest = min(self._cursors.values()).segment
        path = self._folder / f"cursor-{cursor}.json"
        temporary = path.with_suffix(".tmp")
        temporary.write_text(
            json.dumps({"segment": position.segment, "offset": position.offset}), "utf-8"
        )
        temporary.replace(path)
        for segment in self._segments():
            if segment < oldest:
                (self._folder / _segment_name(segment)).unlink(missing_ok=True)

    def backlog(self, cursor: str) -> int:
        """Return how many appended records the cursor has not passed."""
        with self._lock:
            return self._backlog[cursor]

    def wait_for_records(self, cursor: str, timeout: float) -> bool:
        """Wait until the cursor has records to read or ``timeout`` seconds pass."""
        with self._appended:
            if self._backlog[cursor] == 0:
                self._appended.wait(timeout)
            return self._backlog[cursor] > 0

    def close(self) -> None:
        self.sync()
        with self._appended:
            if not self._closed:
                os.close(self._fd)
                self._closed = True
            self._appended.notify_all()

    def _roll(self) -> None:
        os.fdatasync(self._fd)
        os.close(self._fd)
        self._segment += 1
        self._size = 0
        path = self._folder / _segment_name(self._segment)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        log.info("journal %s: started %s", self._folder, path.name)

    def _segments(self) -> list[int]:
        return sorted(
            int(match.group(1))
            for entry in self._folder.iterdir()
            if (match := _SEGMENT.fullmatch(entry.name))
        )

    def _load_cursor(self, name: str, first_segment: int) -> Position:
        path = self._folder / f"cursor-{name}.json"
        if not path.exists():
            return Position(first_segment, 0)
        try:
            stored = json.loads(path.read_text("utf-8"))
            position = Position(int(stored["segment"]), int(stored["offset"]))
        except (ValueError, KeyError, TypeError) as error:
            log.error(
                "journal %s: cursor %s is unreadable (%s); forwarding again from the oldest segment",
                self._folder,
                name,
                error,
            )
            return Position(first_segment, 0)
        return max(position, Position(first_segment, 0))

    def _count_from(self, position: Position) -> int:
        total = 0
        for segment in self._segments():
            if segment < position.segment:
                continue
            start = position.offset if segment == position.segment else 0
            records, _ = _scan(self._folder / _segment_name(segment), start)
            total += records
        return total
