"""A private PostgreSQL schema per test on the server at 127.0.0.1:5432 (database
``test``), so that parallel runs never see each other's tables.

The server must be running: these tests fail rather than skip without it. CI starts
it (see ``.ci/run``); ``TWINBANK_TEST_POSTGRES_URL`` points them at another server.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine

POSTGRES_URL = os.environ.get(
    "TWINBANK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """Yield a URL whose connections use a fresh schema, dropped after the test."""
    schema = f"twinbank_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()
