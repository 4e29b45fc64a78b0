"""A private PostgreSQL schema per test, as a URL that the composition root accepts.

Builds on the ``postgres_url`` fixture of ``tests/contract/conftest.py`` (a throwaway
server where Docker runs, else the server at 127.0.0.1:5432, database ``test``), so
these tests fail rather than skip without a server.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine


@pytest.fixture
def postgres_schema_url(postgres_url: str) -> Iterator[str]:
    """Yield a URL whose connections use a fresh schema, dropped after the test."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in postgres_url else "?"
    try:
        yield f"{postgres_url}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()
