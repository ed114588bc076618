"""Open the persistent store or a throw-away one, migrated and ready."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from dwell.settings import Settings
from dwell.store.migrations import migrate
from dwell.store.server import ensure_database, postgres_server, scratch_database, with_dbname

EMBEDDED_DATABASE = "dwell"


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
            yield conninfo
