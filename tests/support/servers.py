"""Real Redis and PostgreSQL servers for contract and end-to-end tests.

The servers run on 127.0.0.1 (CI starts them in ``.ci/run``); their addresses can be
changed with ``TWINBANK_TEST_REDIS_URL`` and ``TWINBANK_TEST_POSTGRES_URL``. A test
that needs a server fails, never skips, when the server is down, so a missing server
cannot turn into a green run. Each test gets its own Redis key prefix or PostgreSQL
schema, because other test runs share the servers.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest
import redis
from sqlalchemy import create_engine, text

REDIS_URL = os.environ.get("TWINBANK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get(
    "TWINBANK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def unique_name(kind: str) -> str:
    return f"twinbank-test-{kind}-{uuid.uuid4().hex[:12]}"


def delete_prefix(client: redis.Redis, prefix: str) -> None:
    batch = []
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        batch.append(key)
        if len(batch) == 1000:
            client.delete(*batch)
            batch = []
    if batch:
        client.delete(*batch)


@pytest.fixture
def real_redis() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as error:
        pytest.fail(f"Redis at {REDIS_URL} is not reachable ({error}); start it (see .ci/run)")
    yield client
    client.close()


@pytest.fixture
def redis_prefix(real_redis: redis.Redis) -> Iterator[str]:
    prefix = unique_name("redis")
    yield prefix
    delete_prefix(real_redis, prefix)


@pytest.fixture
def postgres_schema_url() -> Iterator[str]:
    """Return a URL whose connections use a fresh schema, dropped after the test."""
    schema = unique_name("pg").replace("-", "_")
    admin = create_engine(POSTGRES_URL)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as error:  # any driver error means the server is unusable
        admin.dispose()
        pytest.fail(f"PostgreSQL at {POSTGRES_URL} is not usable ({error}); start it (see .ci/run)")
    separator = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{separator}options={quote(f'-csearch_path={schema}')}"
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()
