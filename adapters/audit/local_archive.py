"""The audit archive in a local directory: one gzip JSON-lines file per segment, one
manifest beside it. Both are made read-only once written."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from pydantic import ValidationError

from twinbank.core.audit import ArchiveManifest, ChainedRecord

SEGMENT_SUFFIX = ".jsonl.gz"
MANIFEST_SUFFIX = ".manifest.json"
_READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
_FIELDS = (
    "seq",
    "kind",
    "recorded_at_ns",
    "decision_id",
    "model_id",
    "model_version",
    "customer_pseudonym",
    "body",
    "prev_hash",
    "record_hash",
)


class InvalidArchive(ValueError):
    """A file in the archive directory that cannot be read as a manifest or segment."""


class LocalDirectoryArchive:
    """The AuditArchive port on a directory; files are written to a temporary name and
    renamed when complete, so a failed export leaves no partial segment."""

    def __init__(self, root: Path) -> None:
        self._root = root

    @property
    def root(self) -> Path:
        return self._root

    def manifests(self) -> list[ArchiveManifest]:
        if not self._root.is_dir():
            return []
        manifests = []
        for path in sorted(self._root.glob(f"*{MANIFEST_SUFFIX}")):
            try:
                manifests.append(ArchiveManifest.model_validate_json(path.read_bytes()))
            except ValidationError as error:
                raise InvalidArchive(
                    f"{path}: not a valid archive manifest ({error.error_count()} problems, the "
                    f"first: {error.errors()[0]['msg']} at {error.errors()[0]['loc']}); restore "
                    "it from a copy"
                ) from error
        return sorted(manifests, key=lambda manifest: manifest.first_seq)

    def write_segment(self, name: str, records: Iterable[ChainedRecord]) -> tuple[str, str]:
        self._root.mkdir(parents=True, exist_ok=True)
        file = name + SEGMENT_SUFFIX
        final = self._root / file
        if final.exists():
            raise InvalidArchive(f"{final} already exists; an archived segment is never rewritten")
        temporary = self._root / (file + ".partial")
        digest = hashlib.sha256()
        try:
            # mtime=0 keeps the gzip header free of the export time.
            with (
                temporary.open("wb") as raw,
                _DigestingWriter(raw, digest) as sink,
                gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=6, mtime=0) as zipped,
            ):
                for record in records:
                    zipped.write(_line(record))
            os.replace(temporary, final)
        finally:
            temporary.unlink(missing_ok=True)
        final.chmod(_READ_ONLY)
        return file, digest.hexdigest()

    def write_manifest(self, manifest: ArchiveManifest) -> None:
        stem = manifest.file.removesuffix(SEGMENT_SUFFIX)
        path = self._root / (stem + MANIFEST_SUFFIX)
        temporary = path.with_name(path.name + ".partial")
        temporary.write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
        os.replace(temporary, path)
        path.chmod(_READ_ONLY)

    def read_segment(self, manifest: ArchiveManifest) -> Iterator[ChainedRecord]:
        path = self._root / manifest.file
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                try:
                    values = json.loads(line)
                    fields = {field: values[field] for field in _FIELDS}
                    fields["body_json"] = fields.pop("body")
                    yield ChainedRecord(**fields)
                except (json.JSONDecodeError, KeyError, TypeError) as error:
                    raise InvalidArchive(
                        f"{path} line {number}: not an archived audit record ({error})"
                    ) from error

    def segment_digest(self, manifest: ArchiveManifest) -> str | None:
        path = self._root / manifest.file
        if not path.is_file():
            return None
        digest = hashlib.sha256()
        with path.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()


class _DigestingWriter:
    """A binary sink that hashes what it passes on."""

    def __init__(self, raw, digest) -> None:  # type: ignore[no-untyped-def]
        self._raw = raw
        self._digest = digest

    def write(self, data: bytes) -> int:
        self._digest.update(data)
        return int(self._raw.write(data))

    def flush(self) -> None:
        self._raw.flush()

    def __enter__(self) -> _DigestingWriter:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.flush()


def _line(record: ChainedRecord) -> bytes:
    values = {field: getattr(record, field) for field in _FIELDS[:7]}
    values.update(body=record.body_json, prev_hash=record.prev_hash, record_hash=record.record_hash)
    return (json.dumps(values, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
