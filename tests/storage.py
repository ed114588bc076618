"""Emptying the test run's store between tests and hypothesis examples."""

from __future__ import annotations

import psycopg

DATA_TABLES = (
    "camera_events, person_sessions, rejected_rows, attributes, attribute_sets, analytics_cache,"
    " uploads, api_keys, person_keys, rollup_hours, rollup_attributes, rollup_occupancy"
)


def empty_store(conn: psycopg.Connection) -> None:
    """Every data table emptied and every counter restarted; the (empty) rollups are current."""
    conn.execute(f"TRUNCATE {DATA_TABLES} RESTART IDENTITY CASCADE")
    conn.execute("UPDATE data_version SET version = 0, store_id = md5(random()::text)")
    conn.execute("UPDATE rollup_state SET ready = true")
    conn.execute("ALTER SEQUENCE camera_events_id_seq RESTART")
    conn.execute("ALTER SEQUENCE person_sessions_id_seq RESTART")
