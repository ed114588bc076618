"""Schema migrations on a store that already holds data."""

from __future__ import annotations

import json

import psycopg

from dwell.store.migrations import available, migrate
from dwell.store.server import scratch_database


def test_attribute_sets_take_over_the_stored_attributes(server_conninfo):
    """0005 moves each event's and session's attributes into `attribute_sets`, one row per
    distinct combination, and every row keeps exactly the attributes it had."""
    before = [(v, name, text) for v, name, text in available() if v < 5]
    with scratch_database(server_conninfo, prefix="dwell_migrate") as url, \
            psycopg.connect(url, autocommit=True) as conn:
        with conn.transaction():  # the store as migration 0004 left it
            conn.execute("CREATE TABLE schema_migrations (version integer PRIMARY KEY,"
                         " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
            for version, name, text in before:
                conn.execute(text)
                conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                             (version, name))
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
