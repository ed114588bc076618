"""The stored rows an upload re-pairs: the (person, camera) keys it touches, each key's cut,
the stored events after the cut and the stored sessions they replace."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
import pyarrow as pa

from dwell.store.bulk import copy_in, copy_out, estimated_rows

UTC_MS = pa.timestamp("ms", tz="UTC")

STORED_EVENTS = pa.schema([
    ("id", pa.int64()), ("person_id", pa.string()), ("camera_id", pa.string()),
    ("ts_ms", pa.int64()), ("event_type", pa.string()), ("session_id", pa.int64()),
    ("dwell_duration", pa.float64()), ("attribute_set", pa.int32()),
])
# The stored events an upload re-pairs: per touched key, those after its cut (all of them
# when it has none). Re-pairing starts from a closed key there, as the stored pairing did.
STORED_EVENTS_SQL = """
    SELECT e.id, e.person_id, e.camera_id, (extract(epoch FROM e.ts) * 1000)::bigint,
           e.event_type, e.session_id, e.dwell_duration, e.attribute_set
    FROM {rows}
    ORDER BY e.id
"""
# The stored sessions an upload re-pairs, deleted and returned (instants in UTC ms) so that
# the rollups are refreshed only where the new pairing differs.
REPLACED_SESSIONS = pa.schema([
    ("entry_event_id", pa.int64()), ("exit_event_id", pa.int64()), ("status", pa.string()),
    ("entry_ts", pa.int64()), ("exit_ts", pa.int64()), ("camera_id", pa.string()),
])
REPLACE_SESSIONS_SQL = """
    DELETE FROM person_sessions s USING {rows}
    RETURNING s.entry_event_id, s.exit_event_id, s.status,
              (extract(epoch FROM s.entry_ts) * 1000)::bigint,
              (extract(epoch FROM s.exit_ts) * 1000)::bigint, s.camera_id
"""
# A key's cut: the latest exit, before the upload's first event of the key, that completed a
# stored session with no entry at the same instant. Pairing is a left-to-right state machine
# whose state after such an exit is "closed" whatever came before, and events before the
# upload's first one are processed as before; so nothing up to the cut can change, and the
# sessions that entered up to it stay as stored. Without this an upload re-read every stored
# event of each returning person, and got slower as the store grew.
# A key's sessions do not overlap, so among its complete ones a later entry means a later
# exit: the latest qualifying exit is the greatest. Only that candidate is checked for an
# entry at the same instant, by one index probe; a key whose candidate has one gets no cut
# (it is re-paired whole: rare, and always correct). Any qualifying exit is a correct cut;
# the latest re-pairs the least.
CUT_SQL = """
    UPDATE touched_keys t SET cut_ts = c.exit_ts
    FROM (SELECT l.person_id, l.camera_id, l.exit_ts,
                 (SELECT true FROM camera_events e
                  WHERE e.person_id = l.person_id AND e.camera_id = l.camera_id
                    AND e.ts = l.exit_ts AND e.event_type = 'entry'
                  LIMIT 1) AS reentered
          FROM ({latest_exits}) AS l) AS c
    WHERE c.person_id = t.person_id AND c.camera_id = t.camera_id AND c.reentered IS NULL
"""


@dataclass(frozen=True)
class KeyLookups:
    """How an upload finds its touched keys' stored rows: the statements for the cuts, the
    stored events and the replaced sessions, all of the same shape."""

    cut: str
    stored_events: str
    replace_sessions: str


# Every touched key at once: one scan of each table and a hash join. Cheapest when the upload
# touches a good share of the store: 500 k events touching 244 k keys of a store of 1.1 M
# sessions took 15.6 s so, 18.3 s by probes (and the seventh 1.43 M-event week of returning
# persons into a 10 M-event store found its cuts in 6.6 s so, 12.1 s by probes).
BY_SCAN = KeyLookups(
    cut=CUT_SQL.format(latest_exits="""
        SELECT s.person_id, s.camera_id, max(s.exit_ts) AS exit_ts
        FROM touched_keys k JOIN person_sessions s
          ON s.person_id = k.person_id AND s.camera_id = k.camera_id
        WHERE s.status = 'complete' AND s.entry_ts < k.first_ts AND s.exit_ts < k.first_ts
        GROUP BY 1, 2"""),
    stored_events=STORED_EVENTS_SQL.format(rows="""
        camera_events e JOIN touched_keys t USING (person_id, camera_id)
        WHERE t.cut_ts IS NULL OR e.ts > t.cut_ts"""),
    replace_sessions=REPLACE_SESSIONS_SQL.format(rows="""
        touched_keys t
        WHERE s.person_id = t.person_id AND s.camera_id = t.camera_id
          AND (t.cut_ts IS NULL OR s.entry_ts > t.cut_ts)"""),
)
# Key by key: index probes that read only the rows after the cut, in time that grows with
# the keys, not with the store. The planner, which cannot foresee how few rows follow a cut,
# would scan (OFFSET 0 keeps each probe a probe). A day's 100 k events, 51 k keys, into a
# store of 2.3 M events and 1.16 M sessions: the three statements 3.2 s -> 1.1 s, the upload
# 4.4-5.8 s -> 3.7-4.5 s; the scans' share grows with the store, the probes' does not.
BY_PROBES = KeyLookups(
    cut=CUT_SQL.format(latest_exits="""
        SELECT k.person_id, k.camera_id, l.exit_ts
        FROM touched_keys k CROSS JOIN LATERAL (
            SELECT s.exit_ts FROM person_sessions s
            WHERE s.person_id = k.person_id AND s.camera_id = k.camera_id
              AND s.entry_ts < k.first_ts AND s.status = 'complete'
              AND s.exit_ts < k.first_ts
            ORDER BY s.entry_ts DESC, s.exit_ts DESC LIMIT 1) AS l"""),
    stored_events=STORED_EVENTS_SQL.format(rows="""
        touched_keys t CROSS JOIN LATERAL (
            SELECT * FROM camera_events e
            WHERE e.person_id = t.person_id AND e.camera_id = t.camera_id
              AND e.ts > coalesce(t.cut_ts, '-infinity') OFFSET 0) AS e"""),
    replace_sessions=REPLACE_SESSIONS_SQL.format(rows="""
        (SELECT x.id FROM touched_keys t CROSS JOIN LATERAL (
            SELECT s.id FROM person_sessions s
            WHERE s.person_id = t.person_id AND s.camera_id = t.camera_id
              AND s.entry_ts > coalesce(t.cut_ts, '-infinity') OFFSET 0) AS x) AS d
        WHERE s.id = d.id"""),
)
# Probes while the touched keys are fewer than this share of the stored sessions.
PROBE_BELOW_SHARE = 0.1


def choose_lookups(keys: int, stored_sessions: float) -> KeyLookups:
    """Probes for an upload that touches few keys of a large store, else one scan."""
    return BY_PROBES if keys < PROBE_BELOW_SHARE * stored_sessions else BY_SCAN


def touch_keys(conn: psycopg.Connection, events: pa.Table) -> KeyLookups:
    """The upload's (person, camera) keys with their first instant and cut (CUT_SQL), as
    the temporary table `touched_keys`; and how to look up their stored rows."""
    conn.execute("DROP TABLE IF EXISTS touched_keys")
    conn.execute(
        'CREATE TEMP TABLE touched_keys (person_id text COLLATE "C", camera_id text COLLATE "C",'
        " first_ts timestamptz, cut_ts timestamptz) ON COMMIT DROP"
    )
    keys = events.select(["person_id", "camera_id", "ts_ms"]).group_by(
        ["person_id", "camera_id"]).aggregate([("ts_ms", "min")])
    copy_in(conn, "touched_keys", pa.table({
        "person_id": keys.column("person_id"), "camera_id": keys.column("camera_id"),
        "first_ts": keys.column("ts_ms_min").cast(UTC_MS),
    }))
    conn.execute("ANALYZE touched_keys")
    lookups = choose_lookups(keys.num_rows, estimated_rows(conn, "person_sessions"))
    conn.execute(lookups.cut)
    return lookups


def stored_events(conn: psycopg.Connection, lookups: KeyLookups) -> pa.Table:
    """The touched keys' stored events after their cuts, by id (`STORED_EVENTS`)."""
    return copy_out(conn, lookups.stored_events, STORED_EVENTS)


def replace_sessions(conn: psycopg.Connection, lookups: KeyLookups) -> pa.Table:
    """Delete the touched keys' stored sessions after their cuts; return them
    (`REPLACED_SESSIONS`)."""
    return copy_out(conn, lookups.replace_sessions, REPLACED_SESSIONS)
