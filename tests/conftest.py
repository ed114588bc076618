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
from dwell.store.server import postgres_server, scratch_database

DATA_TABLES = (
    "camera_events, person_sessions, rejected_rows, attributes, analytics_cache, uploads"
)


@pytest.fixture(scope="session")
def server_conninfo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = Path(tmp_path_factory.mktemp("embedded-pg"))
    with postgres_server(os.environ.get("DATABASE_URL"), data_dir) as conninfo:
        yield conninfo


@pytest.fixture(scope="session")
def database_url(server_conninfo: str) -> Iterator[str]:
    """A migrated database that lives for the whole test run."""
    with scratch_database(server_conninfo, prefix="dwell_test") as conninfo:
        with psycopg.connect(conninfo) as conn:
            migrate(conn)
        yield conninfo


@pytest.fixture
def clean_database_url(database_url: str) -> str:
    """The run's database, emptied before the test."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {DATA_TABLES} RESTART IDENTITY CASCADE")
        conn.execute("UPDATE data_version SET version = 0")
        conn.execute("ALTER SEQUENCE camera_events_id_seq RESTART")
        conn.execute("ALTER SEQUENCE person_sessions_id_seq RESTART")
    return database_url


@pytest.fixture
def conn(clean_database_url: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection to an empty, migrated database."""
    with psycopg.connect(clean_database_url, autocommit=True) as connection:
        yield connection
