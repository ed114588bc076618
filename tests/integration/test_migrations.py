"""Schema migrations on a store that already holds data."""

from __future__ import annotations

import json

import psycopg

from dwell import analytics
from dwell.analytics import Filters, hourly
from dwell.analytics.kpis import kpi_document
from dwell.ingest.pipeline import rebuild_rollups
from dwell.store import rollups
from dwell.store.migrations import available, migrate
from dwell.store.server import scratch_database


def store_as_left_by(conn: psycopg.Connection, last: int) -> None:
    """The schema as migration `last` left it, recorded as applied."""
    with conn.transaction():
        conn.execute("CREATE TABLE schema_migrations (version integer PRIMARY KEY,"
                     " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
        for version, name, text in available():
            if version <= last:
                conn.execute(text)
                conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                             (version, name))


def test_attribute_sets_take_over_the_stored_attributes(server_conninfo):
    """0005 moves each event's and session's attributes into `attribute_sets`, one row per
    distinct combination, and every row keeps exactly the attributes it had."""
    with scratch_database(server_conninfo, prefix="dwell_migrate") as url, \
            psycopg.connect(url, autocommit=True) as conn:
        store_as_left_by(conn, 4)
        upload = conn.execute("INSERT INTO uploads (filename) VALUES ('a.csv') RETURNING id"
                              ).fetchone()[0]
        kept = [{"age_group": "25-34", "gender": "f"}, {"gender": "f", "age_group": "25-34"},
                {"age_group": None}, None, {"age_group": "65+"}, {}]
        for i, attributes in enumerate(kept, start=1):
            value = None if attributes is None else json.dumps(attributes)
            conn.execute(
                "INSERT INTO camera_events (id, upload_id, line, ts, person_id, camera_id,"
                " event_type, raw_event_type, attributes)"
                " VALUES (%s, %s, %s, now(), 'p', 'c', 'entry', 'entry', %s)",
                (i, upload, i + 1, value))
            conn.execute(
                "INSERT INTO person_sessions (id, person_id, camera_id, entry_ts, status,"
                " entry_event_id, attributes) VALUES (%s, 'p', 'c', now(), 'open', %s, %s)",
                (i, i, value))

        assert "0005_attribute_sets.sql" in migrate(conn)

        for table in ("camera_events", "person_sessions"):
            rows = conn.execute(f"SELECT id, attributes FROM {table}"
                                " LEFT JOIN attribute_sets USING (attribute_set) ORDER BY id"
                                ).fetchall()
            assert [attributes for _, attributes in rows] == kept
        # the two spellings of one combination are one set; {} and {"age_group": null} differ
        assert conn.execute("SELECT count(*) FROM attribute_sets").fetchone()[0] == 4


def test_a_store_with_events_gets_stale_rollups_and_answers_from_events_until_rebuilt(
        server_conninfo):
    """0006 cannot know the hours of events stored before it: it marks the rollups stale,
    so answers come from the events until a rebuild, which then gives the same answers."""
    with scratch_database(server_conninfo, prefix="dwell_migrate") as url, \
            psycopg.connect(url, autocommit=True) as conn:
        store_as_left_by(conn, 5)
        upload = conn.execute("INSERT INTO uploads (filename) VALUES ('a.csv') RETURNING id"
                              ).fetchone()[0]
        events = [(1, "2024-03-05 10:00Z", "P1", "C1", "entry", 1, 1800.0),
                  (2, "2024-03-05 10:30Z", "P1", "C1", "exit", 1, 1800.0),
                  (3, "2024-03-05 11:00Z", "P2", "C2", "entry", 2, None),
                  (4, "2024-03-05 12:00Z", "P3", "C2", "exit", None, None)]
        for event_id, ts, person, camera, kind, session, dwell in events:
            conn.execute(
                "INSERT INTO camera_events (id, upload_id, line, ts, person_id, camera_id,"
                " event_type, raw_event_type, session_id, dwell_duration)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (event_id, upload, event_id + 1, ts, person, camera, kind, kind, session, dwell))
        conn.execute(
            "INSERT INTO person_sessions (id, person_id, camera_id, entry_ts, exit_ts, status,"
            " dwell_s, entry_event_id, exit_event_id) VALUES"
            " (1, 'P1', 'C1', '2024-03-05 10:00Z', '2024-03-05 10:30Z', 'complete', 1800, 1, 2),"
            " (2, 'P2', 'C2', '2024-03-05 11:00Z', NULL, 'open', NULL, 3, NULL)")

        assert "0006_rollups.sql" in migrate(conn)
        assert not rollups.ready(conn)
        assert hourly.kpis(conn, Filters()) is None
        expected = analytics.kpis(conn, Filters())  # from the events
        assert (expected["total_events"], expected["unique_visitors"],
                expected["orphan_exits"], expected["peak_occupancy"]) == (4, 3, 1, 1)
        rebuild_rollups(conn)
        assert rollups.ready(conn)
        assert kpi_document(*hourly.kpis(conn, Filters())) == expected
