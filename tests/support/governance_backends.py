"""The audit trail and governance store on every backend, built through the composition
root, with a way to tamper with stored records as someone with database access could."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from tests.support.audit import TEST_KEY, modified
from twinbank.adapters.memory import InMemoryAuditTrail
from twinbank.entrypoints.containers import ApplicationContainer, build_container
from twinbank.entrypoints.governance_settings import AuditSettings, GovernanceSettings
from twinbank.entrypoints.settings import PlatformSettings

BACKENDS = [
    "memory",
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
]


def governance_container(
    backend: str, url: str | None, batch_size: int = 5_000, archive_dir: Path | None = None
) -> ApplicationContainer:
    audit = AuditSettings(
        pseudonymisation_key=TEST_KEY.decode(),
        pseudonymisation_key_id="test-key",
        batch_size=batch_size,
        archive_dir=archive_dir or Path("audit-archive"),
    )
    return build_container(
        PlatformSettings(profile="memory"),
        audit_settings=audit,
        governance_settings=GovernanceSettings(),
        governance_url=url or "sqlite://",
        governance_backend="memory" if backend == "memory" else "sql",
    )


@dataclass
class Tamperer:
    """Changes stored audit records behind the trail's back."""

    container: ApplicationContainer
    url: str | None

    def _memory(self) -> InMemoryAuditTrail | None:
        trail = self.container.audit.trail()
        return trail if isinstance(trail, InMemoryAuditTrail) else None

    def _engine(self) -> Engine:
        return create_engine(self.url) if self.url else self.container.audit.engine()

    def modify_body(self, seq: int) -> None:
        memory = self._memory()
        if memory is not None:
            index = self._index(memory, seq)
            memory.stored[index] = modified(memory.stored[index])
            return
        self._execute(
            "UPDATE audit_records SET body = REPLACE(body, '}', :suffix) WHERE seq = :seq",
            suffix=',"x":1}',
            seq=seq,
        )

    def delete(self, seq: int) -> None:
        memory = self._memory()
        if memory is not None:
            del memory.stored[self._index(memory, seq)]
            return
        self._execute("DELETE FROM audit_records WHERE seq = :seq", seq=seq)

    def swap(self, first: int, second: int) -> None:
        memory = self._memory()
        if memory is not None:
            i, j = self._index(memory, first), self._index(memory, second)
            memory.stored[i], memory.stored[j] = (
                replace(memory.stored[j], seq=first),
                replace(memory.stored[i], seq=second),
            )
            return
        self._execute("UPDATE audit_records SET seq = -1 WHERE seq = :a", a=first)
        self._execute("UPDATE audit_records SET seq = :a WHERE seq = :b", a=first, b=second)
        self._execute("UPDATE audit_records SET seq = :b WHERE seq = -1", b=second)

    def _execute(self, sql: str, **parameters: object) -> None:
        engine = self._engine()
        with engine.begin() as connection:
            connection.execute(text(sql), parameters)
        if self.url:
            engine.dispose()

    @staticmethod
    def _index(memory: InMemoryAuditTrail, seq: int) -> int:
        return next(index for index, record in enumerate(memory.stored) if record.seq == seq)


def backend_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str | None:
    if backend == "memory":
        return None
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'governance.db'}"
    return str(request.getfixturevalue("postgres_schema_url"))


def close(container: ApplicationContainer, backend: str) -> None:
    if backend != "memory":
        container.audit.engine().dispose()
