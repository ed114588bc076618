"""Raw records for listing: sessions and events with the filters of SPEC §5."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from dwell.analytics.filters import Filters

SESSIONS_SQL = """
    SELECT id AS session_id, person_id, camera_id,
           to_char(entry_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS entry,
           to_char(exit_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS exit,
           status, dwell_s, attributes
    FROM person_sessions
    WHERE (%(start)s::timestamptz IS NULL OR entry_ts >= %(start)s)
      AND (%(end)s::timestamptz IS NULL OR entry_ts < %(end)s)
      AND (cardinality(%(cameras)s::text[]) = 0 OR camera_id = ANY(%(cameras)s))
      AND (cardinality(%(persons)s::text[]) = 0 OR person_id = ANY(%(persons)s))
    ORDER BY person_id, camera_id, entry_ts
"""


def filter_params(filters: Filters) -> dict[str, Any]:
    return {"start": filters.start, "end": filters.end, "cameras": list(filters.camera_ids),
            "persons": list(filters.person_ids)}


def all_sessions(conn: psycopg.Connection, filters: Filters) -> list[dict[str, Any]]:
    """Every session matching the filters, by person, camera and entry time."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(SESSIONS_SQL, filter_params(filters)).fetchall()
