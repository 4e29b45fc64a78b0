"""Real servers for contract tests.

Where a Docker engine answers, testcontainers starts throwaway servers; otherwise the
tests use the servers on 127.0.0.1 that the machine (and CI) provide. A server that is
neither startable nor running fails the tests instead of skipping them, because a
contract suite that silently skips proves nothing.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

LOCAL_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _docker_available() -> bool:
    try:
        import docker  # noqa: PLC0415 - optional: only present where testcontainers is usable

        docker.from_env().ping()
    except Exception:  # any failure means "no Docker here"
        return False
    return True


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    configured = os.environ.get("TWINBANK_TEST_POSTGRES_URL")
    if configured:
        yield configured
        return
    if _docker_available():
        from testcontainers.postgres import PostgresContainer  # noqa: PLC0415

        with PostgresContainer("postgres:16-alpine", driver="psycopg") as container:
            yield container.get_connection_url()
        return
    yield LOCAL_POSTGRES


@pytest.fixture
def postgres_engine(postgres_url: str) -> Iterator[Engine]:
    """An engine on a fresh schema, dropped afterwards, so parallel runs never collide."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(postgres_url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
