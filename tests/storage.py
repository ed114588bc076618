"""Emptying the test run's store between tests and hypothesis examples."""

from __future__ import annotations

import secrets

import psycopg

# Every store id of this run starts so: the answers its tests leave in a shared Redis are
# found and deleted at the end of the run (conftest.forget_cached_answers).
RUN_STORE_PREFIX = f"test-{secrets.token_hex(6)}-"

DATA_TABLES = (
    "camera_events, person_sessions, rejected_rows, attributes, attribute_sets, analytics_cache,"
    " uploads, api_keys, person_keys, rollup_hours, rollup_attributes, rollup_occupancy"
)


def empty_store(conn: psycopg.Connection) -> None:
    """Every data table emptied and every counter restarted; the (empty) rollups are current."""
    conn.execute(f"TRUNCATE {DATA_TABLES} RESTART IDENTITY CASCADE")
    conn.execute("UPDATE data_version SET version = 0, store_id = %s || md5(random()::text)",
                 (RUN_STORE_PREFIX,))
    conn.execute("UPDATE rollup_state SET ready = true")
    conn.execute("ALTER SEQUENCE camera_events_id_seq RESTART")
    conn.execute("ALTER SEQUENCE person_sessions_id_seq RESTART")
