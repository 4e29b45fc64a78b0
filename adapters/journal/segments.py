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
so consumers must be idempotent. Segments behind every cursor are deleted. On a full
disk the replacement file cannot be written, so the cursor file, padded to a fixed
width, is overwritten in place instead: its blocks are already allocated, and the
segments deleted behind the new position free the disk.
"""

from __future__ import annotations

import errno
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


def scan_whole_records(path: Path, start: int, limit: int | None = None) -> tuple[int, int]:
    """Return (records, end offset of the last whole record) from ``start`` on, stopping
    at offset ``limit`` when given. A record cut short or failing its checksum ends the
    scan."""
    records = 0
    offset = start
    with path.open("rb") as file:
        file.seek(start)
        while limit is None or offset < limit:
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
    return records, offset


def frame(payload: bytes) -> bytes:
    """Return ``payload`` framed for a segment: its length, its CRC-32, itself."""
    if len(payload) > MAX_RECORD_BYTES:
        raise InvalidJournal(
            f"record of {len(payload)} bytes exceeds the limit of {MAX_RECORD_BYTES}"
        )
    return _FRAME.pack(len(payload), zlib.crc32(payload)) + payload


def list_segments(folder: Path) -> list[int]:
    """Return the numbers of the segment files in ``folder``, oldest first."""
    return sorted(
        int(match.group(1))
        for entry in folder.iterdir()
        if (match := _SEGMENT.fullmatch(entry.name))
    )


def segment_path(folder: Path, segment: int) -> Path:
    return folder / _segment_name(segment)


def check_cursor_names(cursors: tuple[str, ...]) -> None:
    for name in cursors:
        if not re.fullmatch(r"[a-z][a-z0-9-]*", name):
            raise InvalidJournal(
                f"cursor name {name!r} is invalid; use lower-case letters, digits and '-'"
            )


def load_cursor(folder: Path, name: str, first_segment: int) -> Position:
    """Return a cursor's stored position, or the oldest segment's start when it has none
    or it cannot be read."""
    path = folder / f"cursor-{name}.json"
    if not path.exists():
        return Position(first_segment, 0)
    try:
        stored = json.loads(path.read_text("utf-8"))
        position = Position(int(stored["segment"]), int(stored["offset"]))
    except (ValueError, KeyError, TypeError) as error:
        log.error(
            "journal %s: cursor %s is unreadable (%s); forwarding again from the oldest segment",
            folder,
            name,
            error,
        )
        return Position(first_segment, 0)
    position = max(position, Position(first_segment, 0))
    if not _at_record_boundary(folder, position):
        # Records the cursor had passed were lost (unsynced when the machine stopped),
        # or the file was edited. Forwarding again loses nothing: sinks are idempotent.
        log.error(
            "journal %s: cursor %s points to segment %d offset %d, which is not the end of "
            "a whole record in the journal; forwarding again from the oldest segment",
            folder,
            name,
            position.segment,
            position.offset,
        )
        return Position(first_segment, 0)
    return position


def _at_record_boundary(folder: Path, position: Position) -> bool:
    path = segment_path(folder, position.segment)
    if not path.exists():
        return position.offset == 0 and not list_segments(folder)
    _, end = scan_whole_records(path, 0, position.offset)
    return end == position.offset


_CURSOR_WIDTH = 96
"""Bytes of a cursor file: the JSON document padded with spaces, which JSON ignores."""

_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def store_cursor(folder: Path, name: str, position: Position) -> None:
    """Replace a cursor's file atomically, or on a full disk overwrite it in place
    (not synced; see the module's notes)."""
    path = folder / f"cursor-{name}.json"
    document = json.dumps({"segment": position.segment, "offset": position.offset})
    content = document.ljust(_CURSOR_WIDTH).encode("utf-8")
    temporary = path.with_suffix(".tmp")
    try:
        temporary.write_bytes(content)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        if error.errno not in _DISK_FULL or not path.exists():
            raise
        # A machine crash in the middle of this write may leave a damaged cursor.
        # load_cursor then starts from the oldest segment, so records are forwarded
        # again, not skipped.
        with path.open("r+b") as file:
            file.write(content)
            file.truncate()
        return
    temporary.replace(path)


def delete_segments_before(folder: Path, oldest: int) -> None:
    for segment in list_segments(folder):
        if segment < oldest:
            segment_path(folder, segment).unlink(missing_ok=True)


def count_records_from(folder: Path, position: Position, end: Position | None = None) -> int:
    """Return how many whole records lie after ``position`` (and before ``end``)."""
    total = 0
    for segment in list_segments(folder):
        if segment < position.segment or (end is not None and segment > end.segment):
            continue
        start = position.offset if segment == position.segment else 0
        limit = end.offset if end is not None and segment == end.segment else None
        records, _ = scan_whole_records(segment_path(folder, segment), start, limit)
        total += records
    return total


def read_records(
    folder: Path, position: Position, end: Position, max_records: int
) -> tuple[list[bytes], Position]:
    """Return the records from ``position`` up to ``end`` (at most ``max_records``) and
    the position after the last one. Every record before ``end`` must be whole."""
    records: list[bytes] = []
    while len(records) < max_records and position < end:
        path = segment_path(folder, position.segment)
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
                    raise InvalidJournal(f"journal {path} has a corrupt record at offset {offset}")
                records.append(payload)
                offset += _FRAME.size + length
        position = Position(position.segment, offset)
    return records, position


class CursorTable:
    """Named cursors of one journal folder: their positions and how many records each
    has not passed. The journal's lock guards ``add`` and the counts, and ``persist``
    takes a lock of its own."""

    def __init__(self, folder: Path, names: tuple[str, ...], first_segment: int) -> None:
        self._folder = folder
        self.positions = {name: load_cursor(folder, name, first_segment) for name in names}
        self.backlog = dict.fromkeys(names, 0)
        self._stored = dict(self.positions)
        self._store_lock = threading.Lock()

    def count_until(self, end: Position | None) -> None:
        """Count each cursor's backlog from the segments, up to ``end`` when given."""
        for name, position in self.positions.items():
            self.backlog[name] = count_records_from(self._folder, position, end)

    def add(self, records: int) -> None:
        for name in self.backlog:
            self.backlog[name] += records

    def move(self, cursor: str, position: Position, records: int) -> None:
        """Move a cursor past ``records`` records in memory."""
        self.positions[cursor] = position
        self.backlog[cursor] = max(0, self.backlog[cursor] - records)

    def commit(
        self, cursor: str, position: Position, records: int, journal_lock: threading.Lock
    ) -> None:
        """Move a cursor past ``records`` forwarded records under ``journal_lock``, then
        store it and delete the segments every stored cursor has passed."""
        with journal_lock:
            self.move(cursor, position, records)
        self.persist(cursor, position)

    def persist(self, cursor: str, position: Position) -> None:
        """Store a cursor's file, then delete the segments every stored cursor has
        passed. Positions only moved in memory do not count, because a crash before
        their files are written sends those cursors back to the stored positions."""
        with self._store_lock:
            store_cursor(self._folder, cursor, position)
            self._stored[cursor] = position
            delete_segments_before(self._folder, min(self._stored.values()).segment)


class DurableJournal:
    """The journal in one folder, shared by one writer and the given cursors."""

    def __init__(
        self, folder: Path, cursors: tuple[str, ...], segment_bytes: int = 64 * 1024 * 1024
    ) -> None:
        check_cursor_names(cursors)
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK):
            raise InvalidJournal(f"journal folder {folder} is not writable; choose another")
        self._folder = folder
        self._segment_bytes = segment_bytes
        self._lock = threading.Lock()
        self._appended = threading.Condition(self._lock)
        self._sync_lock = threading.Lock()
        self._synced = Position(0, 0)
        segments = list_segments(folder)
        if not segments:
            segments = [0]
            (folder / _segment_name(0)).touch()
        last = segments[-1]
        _, end = scan_whole_records(folder / _segment_name(last), 0)
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
        self._cursors = CursorTable(folder, cursors, segments[0])
        self._cursors.count_until(None)
        self._closed = False

    @property
    def folder(self) -> Path:
        return self._folder

    def append(self, payload: bytes) -> None:
        """Append one record; raises OSError when the disk refuses it (full, read-only)."""
        framed = frame(payload)
        with self._appended:
            if self._closed:
                raise InvalidJournal(f"journal {self._folder} is closed")
            try:
                written = os.write(self._fd, framed)
            except OSError:
                self._cut_torn_record()
                raise
            if written != len(framed):
                # Cut now, so that records appended later do not follow a torn one.
                self._cut_torn_record()
                raise OSError(f"journal {self._folder}: wrote {written} of {len(framed)} bytes")
            self._size += written
            self._cursors.add(1)
            if self._size >= self._segment_bytes:
                self._roll()
            self._appended.notify_all()

    def sync(self) -> None:
        """Make every appended record durable on disk (fdatasync)."""
        with self._lock:
            target = Position(self._segment, self._size)
            descriptor = os.dup(self._fd)
        try:
            if os.fstat(descriptor).st_nlink == 0:
                raise OSError(
                    f"journal {self._folder}: segment {target.segment} was deleted while open, "
                    "so new records would be lost; restore the folder and restart the service"
                )
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
            position = self._cursors.positions[cursor]
            end = Position(self._segment, self._size)
        return read_records(self._folder, position, end, max_records)

    def commit(self, cursor: str, position: Position, records: int) -> None:
        """Move a cursor past ``records`` forwarded records, and delete segments every
        cursor has passed."""
        self._cursors.commit(cursor, position, records, self._lock)

    def backlog(self, cursor: str) -> int:
        """Return how many appended records the cursor has not passed."""
        with self._lock:
            return self._cursors.backlog[cursor]

    def wait_for_records(self, cursor: str, timeout: float) -> bool:
        """Wait until the cursor has records to read or ``timeout`` seconds pass."""
        with self._appended:
            if self._cursors.backlog[cursor] == 0:
                self._appended.wait(timeout)
            return self._cursors.backlog[cursor] > 0

    def close(self) -> None:
        self.sync()
        with self._appended:
            if not self._closed:
                os.close(self._fd)
                self._closed = True
            self._appended.notify_all()

    def _cut_torn_record(self) -> None:
        """Truncate the segment to its last whole record after a failed write."""
        try:
            os.ftruncate(self._fd, self._size)
        except OSError as error:
            log.error(
                "journal %s: failed to truncate a torn record at offset %d (%s); "
                "reopening the journal truncates it",
                self._folder,
                self._size,
                error,
            )

    def _roll(self) -> None:
        os.fdatasync(self._fd)
        os.close(self._fd)
        self._segment += 1
        self._size = 0
        path = self._folder / _segment_name(self._segment)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        log.info("journal %s: started %s", self._folder, path.name)
