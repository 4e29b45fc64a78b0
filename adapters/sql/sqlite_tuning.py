"""Connection settings for SQLite database files that take bulk inserts.

A replay writes millions of decision rows and audit records into one file. Their
indexes on random keys (decision ids, customer pseudonyms) grow to hundreds of MB,
so with SQLite's default page cache of 2 MiB nearly every insert reads an index page
back from the file.
"""

from __future__ import annotations

import os
from pathlib import Path

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


def bulk_load_sqlite_file(engine: Engine) -> Engine:
    """Trade crash safety for write speed on a SQLite file that is being built.

    Every new connection keeps its rollback journal in memory and does not wait for
    the disk at each commit. The file is synced once, when the engine is disposed.
    A crash before then can leave the file corrupt, so only a file that is rebuilt
    from scratch after a crash may use this. A scenario run's decision database is
    such a file, because its report is written only after the database is closed.

    Returns the engine. Other dialects and in-memory databases are returned unchanged.
    """
    path = engine.url.database
    if engine.dialect.name != "sqlite" or path in (None, "", ":memory:"):
        return engine
    tune_sqlite_file(engine)
    if not event.contains(engine, "connect", _skip_journal_and_sync):
        event.listen(engine, "connect", _skip_journal_and_sync)
        event.listen(engine, "engine_disposed", lambda _engine: sync_file(Path(path)))
    return engine


def _skip_journal_and_sync(dbapi_connection, _record):  # type: ignore[no-untyped-def]
    dbapi_connection.execute("PRAGMA journal_mode = MEMORY")
    dbapi_connection.execute("PRAGMA synchronous = OFF")


def sync_file(path: Path) -> None:
    """Write the file's data from the operating system's cache to the disk."""
    if not path.exists():
        return
    with path.open("rb") as file:
        os.fsync(file.fileno())
