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
# It also serves one user: the report's hash aggregates may take four times work_mem (twice
# is PostgreSQL's default), so the per-person groups of a large file stay in one hash table
# instead of a sort or a spill to disk. A shared store keeps the default, for its many
# concurrent requests.
THROWAWAY_SETTINGS = {"synchronous_commit": "off", "hash_mem_multiplier": "4"}


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
                for name, value in THROWAWAY_SETTINGS.items():
                    conn.execute(sql.SQL("ALTER DATABASE {} SET {} = {}").format(
                        sql.Identifier(conn.info.dbname), sql.Identifier(name),
                        sql.Literal(value)))
            yield conninfo
