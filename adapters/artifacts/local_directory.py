"""An artifact store in a local directory: ``ROOT/NAME/VERSION/{manifest.json, files}``.

The version is the first 16 hex digits of a SHA-256 over the sorted file names and
their SHA-256 digests. The manifest records every file's digest; loading recomputes
them and rejects an artifact whose files or version do not match.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path

from twinbank.core.ports import StoredArtifact

MANIFEST = "manifest.json"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class ArtifactRejected(ValueError):
    """An artifact that is missing, damaged or does not hash to its version."""


def content_version(files: dict[str, bytes]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return digest.hexdigest()[:16]


def _checked_name(kind: str, value: str) -> str:
    if not _SAFE_NAME.match(value) or value == MANIFEST:
        raise ArtifactRejected(
            f"{kind} {value!r} is not a plain file name; use letters, digits, '.', '_', '-'"
        )
    return value


class LocalArtifactStore:
    def __init__(self, root: Path) -> None:
        self._root = root

    @property
    def root(self) -> Path:
        return self._root

    def save(
        self, name: str, files: dict[str, bytes], manifest: dict[str, object]
    ) -> StoredArtifact:
        _checked_name("artifact name", name)
        for file_name in files:
            _checked_name("file name", file_name)
        version = content_version(files)
        full_manifest = dict(manifest) | {
            "name": name,
            "version": version,
            "files": {n: hashlib.sha256(data).hexdigest() for n, data in sorted(files.items())},
        }
        folder = self._root / name / version
        if not (folder / MANIFEST).is_file():
            self._root.joinpath(name).mkdir(parents=True, exist_ok=True)
            # Write into a temporary sibling, then rename, so a reader never sees half.
            staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=self._root / name))
            for file_name, data in files.items():
                (staging / file_name).write_bytes(data)
            (staging / MANIFEST).write_text(json.dumps(full_manifest, indent=2) + "\n")
            os.replace(staging, folder)
        return StoredArtifact(name, version, full_manifest, dict(files))

    def load(self, name: str, version: str) -> StoredArtifact:
        folder = (
            self._root / _checked_name("artifact name", name) / _checked_name("version", version)
        )
        path = folder / MANIFEST
        if not path.is_file():
            known = ", ".join(self.versions(name)) or "none"
            raise ArtifactRejected(f"{path} does not exist; stored versions of {name!r}: {known}")
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
            recorded = dict(manifest["files"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ArtifactRejected(f"{path} is not a valid artifact manifest: {error}") from None
        files = {}
        for file_name, expected in recorded.items():
            data = (folder / _checked_name("file name", file_name)).read_bytes()
            actual = hashlib.sha256(data).hexdigest()
            if actual != expected:
                raise ArtifactRejected(
                    f"{folder / file_name} has SHA-256 {actual}, but {path} records {expected}; "
                    "the file was replaced or damaged, so retrain or restore it"
                )
            files[file_name] = data
        if content_version(files) != version or manifest.get("version") != version:
            raise ArtifactRejected(
                f"{folder}: its files hash to version {content_version(files)}, not {version}; "
                "the manifest was edited, so retrain or restore the artifact"
            )
        return StoredArtifact(name, version, manifest, files)

    def versions(self, name: str) -> tuple[str, ...]:
        folder = self._root / _checked_name("artifact name", name)
        if not folder.is_dir():
            return ()
        stored = [p for p in folder.iterdir() if (p / MANIFEST).is_file()]
        return tuple(
            p.name for p in sorted(stored, key=lambda p: (p / MANIFEST).stat().st_mtime_ns)
        )
