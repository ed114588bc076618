"""Find the PostgreSQL server: `DATABASE_URL` when set, else an embedded one (pgserver)."""

from __future__ import annotations

import logging
import os
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
        if _tune(server.get_uri(), embedded_settings(_ram_bytes())):
            # shared_buffers only changes with a restart: stop the server (pgserver does so
            # only if no other process uses it) and start it again.
            server.cleanup()
            server = pgserver.get_server(pgdata, cleanup_mode="stop")
        yield server.get_uri()
    finally:
        server.cleanup()


def embedded_settings(ram_bytes: int | None) -> dict[str, str]:
    """The embedded server's settings for a store that grows. PostgreSQL's defaults keep
    128 MB of pages in memory and checkpoint after 1 GB of WAL: once the indexes outgrow
    that, every later upload writes its index pages out again and again. An eighth of the
    memory (128 MB to 1 GB) and fewer checkpoints made later uploads of 1.4 M events into a
    4-6 M-event store 16-18% faster."""
    mb = 128 if not ram_bytes else min(max(ram_bytes // 8 // 2**20, 128), 1024)
    return {"shared_buffers": f"{mb}MB" if mb % 1024 else f"{mb // 1024}GB",
            "max_wal_size": "4GB", "checkpoint_timeout": "15min"}


def _ram_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows): keep the default
        return None


def _tune(conninfo: str, wanted: dict[str, str]) -> bool:
    """Write `wanted` into the server's own configuration (ALTER SYSTEM) where it differs and
    reload; True when one of them only changes with a restart."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        differing = [
            (name, context) for name, context, value in conn.execute(
                "SELECT name, context, current_setting(name) FROM pg_settings"
                " WHERE name = ANY(%s)", (list(wanted),)).fetchall()
            if value != wanted[name]]
        for name, _ in differing:
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(
                sql.Identifier(name), sql.Literal(wanted[name])))
        if differing:
            conn.execute("SELECT pg_reload_conf()")
            log.info("embedded PostgreSQL configured", extra=wanted)
        return any(context == "postmaster" for _, context in differing)


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
