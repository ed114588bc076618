"""Find the PostgreSQL server: `DATABASE_URL` when set, else an embedded one (pgserver)."""

from __future__ import annotations

import logging
import secrets
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

log = logging.getLogger(__name__)


@contextmanager
def postgres_server(database_url: str | None, data_dir: Path) -> Iterator[str]:
    """Yield a conninfo for the server; an embedded one is started here and stopped after
    the last process using it lets go."""
    if database_url:
        yield database_url
        return
    # Imported late: only needed without DATABASE_URL. pgserver asks platformdirs for a
    # runtime dir, which warns on machines without XDG_RUNTIME_DIR; the fallback is fine.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import pgserver

    pgdata = Path(data_dir) / "pg"
    pgdata.mkdir(parents=True, exist_ok=True)
    log.info("starting embedded PostgreSQL", extra={"pgdata": str(pgdata)})
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


def with_dbname(conninfo: str, dbname: str) -> str:
    """The same server, another database."""
    params = conninfo_to_dict(conninfo)
    params["dbname"] = dbname
    return make_conninfo(**params)


def ensure_database(conninfo: str) -> None:
    """Create the database a conninfo names if it does not exist yet."""
    dbname = conninfo_to_dict(conninfo).get("dbname") or "postgres"
    with psycopg.connect(with_dbname(conninfo, "postgres"), autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))


@contextmanager
def scratch_database(server_conninfo: str, prefix: str = "dwell_tmp") -> Iterator[str]:
    """A new, empty database on the server, dropped afterwards (also after errors)."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    admin_info = with_dbname(server_conninfo, "postgres")
    with psycopg.connect(admin_info, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_dbname(server_conninfo, name)
    finally:
        with psycopg.connect(admin_info, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
