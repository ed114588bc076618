"""Open the persistent store or a throw-away one, migrated and ready."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from dwell.settings import Settings
from dwell.store.migrations import migrate
from dwell.store.server import ensure_database, postgres_server, scratch_database, with_dbname

EMBEDDED_DATABASE = "dwell"
# A throw-away database lives for one command: its bulk tables skip the write-ahead log, and
# commits do not wait for a flush. A crash loses nothing anyone could still read.
THROWAWAY_UNLOGGED = ("camera_events", "person_sessions", "rejected_rows")


@contextmanager
def persistent_store(settings: Settings, database_url: str | None = None) -> Iterator[str]:
    """The configured database (`DATABASE_URL`), or the `dwell` database of the embedded server."""
    url = database_url or settings.database_url
    with postgres_server(url, settings.data_dir) as server:
        conninfo = server if url else with_dbname(server, EMBEDDED_DATABASE)
        ensure_database(conninfo)
        with psycopg.connect(conninfo, autocommit=True) as conn:
            migrate(conn)
        yield conninfo


@contextmanager
def throwaway_store(settings: Settings) -> Iterator[str]:
    """A fresh database on the configured or embedded server, dropped afterwards."""
    with postgres_server(settings.database_url, settings.data_dir) as server:
        with scratch_database(server, prefix="dwell_analyze") as conninfo:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                migrate(conn)
                for table in THROWAWAY_UNLOGGED:
                    conn.execute(sql.SQL("ALTER TABLE {} SET UNLOGGED").format(sql.Identifier(table)))
                conn.execute(sql.SQL("ALTER DATABASE {} SET synchronous_commit = off").format(
                    sql.Identifier(conn.info.dbname)))
            yield conninfo
