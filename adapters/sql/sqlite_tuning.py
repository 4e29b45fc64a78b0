"""Connection settings for SQLite database files that take bulk inserts.

A replay writes millions of decision rows and audit records into one file. Their
indexes on random keys (decision ids, customer pseudonyms) grow to hundreds of MB,
so with SQLite's default page cache of 2 MiB nearly every insert reads an index page
back from the file.
"""

from __future__ import annotations

from sqlalchemy import Engine, event

PAGE_CACHE_KIB = 262_144
"""Page cache per connection, in KiB (256 MiB); SQLite allocates it as pages are read."""


def tune_sqlite_file(engine: Engine) -> Engine:
    """Give every new connection of a SQLite file engine a larger page cache.

    Returns the engine. In-memory SQLite databases and other dialects are returned
    unchanged. Connections opened before the call keep SQLite's defaults.
    """
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return engine
    if not event.contains(engine, "connect", _set_page_cache):
        event.listen(engine, "connect", _set_page_cache)
    return engine


def _set_page_cache(dbapi_connection, _record):  # type: ignore[no-untyped-def]
    # A negative cache_size is in KiB rather than in pages.
    dbapi_connection.execute(f"PRAGMA cache_size = -{PAGE_CACHE_KIB}")
