"""Raw records for listing: events, sessions, cameras and one person's timeline, with the
filters of SPEC §5 and keyset pagination.

Pages are cut by the sort key of their last row, never by OFFSET: a page is
`WHERE ts >= last ts AND (ts, id) > (last ts, last id) ORDER BY ts, id LIMIT n + 1`. The (ts)
index starts right at the cursor and an incremental sort orders the few rows of one instant by
id, so a page deep into the table reads what the first one does. Rows added between two page
requests cannot shift a row already returned into the next page, nor push an unseen row before
the cursor. Sessions page the same way by (entry_ts, id); cameras, being few, are listed whole
once per data version and paged by camera_id.
"""

from __future__ import annotations

import base64
import bisect
import binascii
import hashlib
import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql as pgsql

from dwell.analytics import sql
from dwell.analytics.filters import Filters
from dwell.analytics.formatting import count, iso_utc, seconds

MAX_LIMIT = 1000

EVENT_TYPES = ("entry", "exit", "other")
SESSION_STATUSES = ("complete", "missing_exit", "open")

ALL_SESSIONS_SQL = """
    SELECT id AS session_id, person_id, camera_id, entry_ts, exit_ts, status, dwell_s, attributes
    FROM person_sessions LEFT JOIN attribute_sets USING (attribute_set)
    WHERE {where}
    ORDER BY person_id, camera_id, entry_ts, id
"""

EVENTS_SQL = """
    SELECT id, ts, person_id, camera_id, event_type, raw_event_type, session_id,
           dwell_duration, upload_id, line, attributes
    FROM camera_events LEFT JOIN attribute_sets USING (attribute_set)
    WHERE {where}
    ORDER BY ts, id
    LIMIT %(limit)s
"""

SESSIONS_SQL = """
    SELECT id, person_id, camera_id, entry_ts, exit_ts, status, dwell_s, attributes
    FROM person_sessions LEFT JOIN attribute_sets USING (attribute_set)
    WHERE {where}
    ORDER BY entry_ts, id
    LIMIT %(limit)s
"""

# One pass over the events, grouped by (camera, person) in a hash table, then by camera: far
# cheaper than count(DISTINCT person_id) per camera, which sorts every camera's events.
# "C" order is code point order, the order Python compares the camera ids of a cursor in.
CAMERAS_SQL = """
    WITH pairs AS (
        SELECT camera_id, person_id, count(*) AS events, min(ts) AS first_seen,
               max(ts) AS last_seen
        FROM camera_events
        GROUP BY camera_id, person_id
    ), cameras AS (
        SELECT camera_id, min(first_seen) AS first_seen, max(last_seen) AS last_seen,
               sum(events) AS events, count(*) AS unique_visitors
        FROM pairs
        GROUP BY camera_id
    ), sessions AS (
        SELECT camera_id, count(*) AS sessions FROM person_sessions GROUP BY camera_id
    )
    SELECT c.camera_id, c.first_seen, c.last_seen, c.events, c.unique_visitors,
           coalesce(s.sessions, 0) AS sessions
    FROM cameras c LEFT JOIN sessions s USING (camera_id)
    ORDER BY c.camera_id COLLATE "C"
"""

PERSON_EXISTS_SQL = "SELECT EXISTS (SELECT 1 FROM camera_events WHERE person_id = %(person_id)s)"

PERSON_EVENTS_SUMMARY_SQL = """
    SELECT min(ts) AS first_seen, max(ts) AS last_seen, count(*) AS events,
           array_agg(DISTINCT camera_id ORDER BY camera_id) AS cameras,
           count(DISTINCT (ts AT TIME ZONE %(tz)s::text)::date) AS visits
    FROM camera_events
    WHERE {where}
"""

PERSON_SESSIONS_SUMMARY_SQL = """
    SELECT count(*) FILTER (WHERE status = 'complete') AS complete_sessions,
           sum(dwell_s) FILTER (WHERE status = 'complete') AS total_dwell_s,
           avg(dwell_s) FILTER (WHERE status = 'complete') AS avg_dwell_s
    FROM person_sessions
    WHERE {where}
"""

# Fixed fragments added to the filters' WHERE clause. PostgreSQL takes a row comparison as an
# index condition only on an index over exactly those columns; the plain `>=` beside it is what
# lets the (ts) or (camera_id, ts) index start reading at the cursor.
_AFTER_EVENT = pgsql.SQL(
    "ts >= %(after_ts)s::timestamptz"
    " AND (ts, id) > (%(after_ts)s::timestamptz, %(after_id)s::bigint)")
_AFTER_SESSION = pgsql.SQL(
    "entry_ts >= %(after_ts)s::timestamptz"
    " AND (entry_ts, id) > (%(after_ts)s::timestamptz, %(after_id)s::bigint)")
_EVENT_TYPE = pgsql.SQL("event_type = %(event_type)s::text")
_UPLOAD = pgsql.SQL("upload_id = %(upload_id)s::bigint")
_STATUS = pgsql.SQL("status = %(status)s::text")


class InvalidCursor(ValueError):
    """A cursor this service did not hand out for this listing (garbled, edited or foreign).
    `parameter` names the request parameter that carried it."""

    def __init__(self, message: str, parameter: str = "cursor") -> None:
        super().__init__(message)
        self.parameter = parameter


@dataclass(frozen=True)
class Page:
    """One page of a listing; `next_cursor` is None on the last page."""

    items: list[dict[str, Any]]
    next_cursor: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"items": self.items, "next_cursor": self.next_cursor}


# ------------------------------------------------------------------------------------------
# cursors: base64url of {"k": listing, "v": sort key, "c": check}


def _check(kind: str, key: list[Any]) -> str:
    # Catches garbled and hand-edited cursors; it is not a secret, and needs not be one: a
    # cursor only says where a page starts, and every value travels as a bound parameter.
    canonical = json.dumps([kind, key], separators=(",", ":"), ensure_ascii=True)
    return hashlib.blake2b(canonical.encode(), digest_size=6, person=b"dwell.cursor").hexdigest()


def encode_cursor(kind: str, key: list[Any]) -> str:
    """The opaque cursor of the row whose sort key is `key` in listing `kind`."""
    body = json.dumps({"k": kind, "v": key, "c": _check(kind, key)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


def decode_cursor(kind: str, token: str) -> list[Any]:
    """The sort key inside a cursor of listing `kind`; InvalidCursor for anything else."""
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
        body = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidCursor("not a cursor of this listing (it cannot be decoded); "
                            "pass the next_cursor of the previous page unchanged") from None
    if (not isinstance(body, dict) or set(body) != {"k", "v", "c"}
            or not isinstance(body["v"], list)):
        raise InvalidCursor("not a cursor of this listing; pass the next_cursor of the previous "
                            "page unchanged")
    if body["k"] != kind:
        raise InvalidCursor(f"this cursor belongs to another listing ({body['k']!r}), "
                            f"not to {kind}")
    if body["c"] != _check(kind, body["v"]):
        raise InvalidCursor("the cursor was altered; pass the next_cursor of the previous page "
                            "unchanged")
    return body["v"]


def _time_key(kind: str, token: str) -> tuple[datetime, int]:
    key = decode_cursor(kind, token)
    if (len(key) != 2 or not isinstance(key[0], str) or not isinstance(key[1], int)
            or isinstance(key[1], bool) or not -(2**63) <= key[1] < 2**63):
        raise InvalidCursor("the cursor does not hold a sort key of this listing")
    try:
        moment = datetime.fromisoformat(key[0])
    except ValueError:
        raise InvalidCursor("the cursor does not hold a sort key of this listing") from None
    if moment.tzinfo is None:
        raise InvalidCursor("the cursor does not hold a sort key of this listing")
    return moment, key[1]


def _camera_key(token: str) -> str:
    key = decode_cursor("cameras", token)
    if len(key) != 1 or not isinstance(key[0], str):
        raise InvalidCursor("the cursor does not hold a sort key of this listing")
    return key[0]


def _check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit: expected an integer from 1 to {MAX_LIMIT}, got {limit!r}")
    return limit


def _and(*conditions: pgsql.Composable) -> pgsql.Composable:
    return pgsql.SQL(" AND ").join(conditions)


def _fetch_page(conn: psycopg.Connection, statement: pgsql.Composable, params: dict[str, Any],
                limit: int) -> tuple[list[dict[str, Any]], bool]:
    rows = sql.fetch_all(conn, statement, {**params, "limit": limit + 1})
    return rows[:limit], len(rows) > limit


# ------------------------------------------------------------------------------------------
# listings


def _event_item(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "ts": iso_utc(row["ts"]),
        "person_id": row["person_id"],
        "camera_id": row["camera_id"],
        "event_type": row["event_type"],
        "raw_event_type": row["raw_event_type"],
        "session_id": row["session_id"],
        "dwell_s": seconds(row["dwell_duration"]),
        "upload_id": row["upload_id"],
        "line": row["line"],
        "attributes": row["attributes"],
    }


def _session_item(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "person_id": row["person_id"],
        "camera_id": row["camera_id"],
        "entry": iso_utc(row["entry_ts"]),
        "exit": iso_utc(row["exit_ts"]),
        "status": row["status"],
        "dwell_s": seconds(row["dwell_s"]),
        "attributes": row["attributes"],
    }


def events_page(conn: psycopg.Connection, filters: Filters, *, limit: int = 50,
                cursor: str | None = None, event_type: str | None = None,
                upload_id: int | None = None) -> Page:
    """Events by (ts, id), after `cursor`. ValueError naming the parameter, InvalidCursor."""
    sql.check_filters(filters)
    _check_limit(limit)
    conditions = [sql.events_where(filters)]
    params = sql.filter_params(filters)
    if event_type is not None:
        if event_type not in EVENT_TYPES:
            raise ValueError(f"event_type: expected one of {', '.join(EVENT_TYPES)}, "
                             f"got {event_type!r}")
        conditions.append(_EVENT_TYPE)
        params["event_type"] = event_type
    if upload_id is not None:
        conditions.append(_UPLOAD)
        params["upload_id"] = upload_id
    if cursor is not None:
        params["after_ts"], params["after_id"] = _time_key("events", cursor)
        conditions.append(_AFTER_EVENT)
    rows, more = _fetch_page(conn, pgsql.SQL(EVENTS_SQL).format(where=_and(*conditions)),
                             params, limit)
    last = rows[-1] if rows and more else None
    return Page([_event_item(row) for row in rows],
                encode_cursor("events", [last["ts"].isoformat(), last["id"]]) if last else None)


def sessions_page(conn: psycopg.Connection, filters: Filters, *, limit: int = 50,
                  cursor: str | None = None, status: str | None = None) -> Page:
    """Sessions by (entry_ts, id), after `cursor`; the filters apply to the entry time."""
    sql.check_filters(filters)
    _check_limit(limit)
    conditions = [sql.sessions_where(filters)]
    params = sql.filter_params(filters)
    if status is not None:
        if status not in SESSION_STATUSES:
            raise ValueError(f"status: expected one of {', '.join(SESSION_STATUSES)}, "
                             f"got {status!r}")
        conditions.append(_STATUS)
        params["status"] = status
    if cursor is not None:
        params["after_ts"], params["after_id"] = _time_key("sessions", cursor)
        conditions.append(_AFTER_SESSION)
    rows, more = _fetch_page(conn, pgsql.SQL(SESSIONS_SQL).format(where=_and(*conditions)),
                             params, limit)
    last = rows[-1] if rows and more else None
    return Page([_session_item(row) for row in rows],
                encode_cursor("sessions", [last["entry_ts"].isoformat(), last["id"]])
                if last else None)


def all_cameras(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Every camera seen in the events, in code point order of camera_id, with its first and
    last event, events, unique visitors and sessions (all statuses)."""
    return [{
        "camera_id": row["camera_id"],
        "first_seen": iso_utc(row["first_seen"]),
        "last_seen": iso_utc(row["last_seen"]),
        "events": count(row["events"]),
        "unique_visitors": count(row["unique_visitors"]),
        "sessions": count(row["sessions"]),
    } for row in sql.fetch_all(conn, pgsql.SQL(CAMERAS_SQL), {})]


def cameras_page(cameras: list[dict[str, Any]], *, limit: int = 50,
                 cursor: str | None = None) -> Page:
    """A page of `all_cameras`' answer: the cameras after the cursor's camera_id.

    Cameras are few, so the whole list is computed once per data version (and cached by the
    API); paging it needs no further query."""
    _check_limit(limit)
    start = 0
    if cursor is not None:
        start = bisect.bisect_right([item["camera_id"] for item in cameras], _camera_key(cursor))
    items = cameras[start:start + limit]
    more = start + limit < len(cameras)
    return Page(items, encode_cursor("cameras", [items[-1]["camera_id"]]) if more else None)


def person_exists(conn: psycopg.Connection, person_id: str) -> bool:
    """Whether any event of `person_id` is stored."""
    row = conn.execute(PERSON_EXISTS_SQL, {"person_id": person_id}).fetchone()
    return bool(row and row[0])


def person_summary(conn: psycopg.Connection, filters: Filters) -> dict[str, Any]:
    """One person's figures (`filters.person_ids` holds that person): first and last seen,
    events, cameras, visits (distinct days in `filters.tz`), complete sessions and dwell."""
    sql.check_filters(filters)
    params = sql.filter_params(filters)
    events = sql.fetch_one(
        conn, pgsql.SQL(PERSON_EVENTS_SUMMARY_SQL).format(where=sql.events_where(filters)),
        params) or {}
    sessions = sql.fetch_one(
        conn, pgsql.SQL(PERSON_SESSIONS_SUMMARY_SQL).format(where=sql.sessions_where(filters)),
        params) or {}
    return {
        "first_seen": iso_utc(events.get("first_seen")),
        "last_seen": iso_utc(events.get("last_seen")),
        "events": count(events.get("events")),
        "cameras": list(events.get("cameras") or []),
        "visits": count(events.get("visits")),
        "complete_sessions": count(sessions.get("complete_sessions")),
        "total_dwell_s": seconds(sessions.get("total_dwell_s")),
        "avg_dwell_s": seconds(sessions.get("avg_dwell_s")),
    }


def person_timeline(conn: psycopg.Connection, person_id: str, filters: Filters, *,
                    limit: int = 50, events_cursor: str | None = None,
                    sessions_cursor: str | None = None) -> dict[str, Any] | None:
    """The summary, events and sessions of one person; None when the person is unknown.

    The lists page like `events_page` / `sessions_page` (their cursors are interchangeable
    with those of the listings filtered to this person)."""
    if not person_exists(conn, person_id):
        return None
    own = replace(filters, person_ids=(person_id,))
    try:
        events = events_page(conn, own, limit=limit, cursor=events_cursor)
    except InvalidCursor as exc:
        raise InvalidCursor(str(exc), "events_cursor") from None
    try:
        sessions = sessions_page(conn, own, limit=limit, cursor=sessions_cursor)
    except InvalidCursor as exc:
        raise InvalidCursor(str(exc), "sessions_cursor") from None
    return {
        "person_id": person_id,
        "summary": person_summary(conn, own),
        "events": events.as_dict(),
        "sessions": sessions.as_dict(),
    }


def all_sessions(conn: psycopg.Connection, filters: Filters) -> list[dict[str, Any]]:
    """Every session matching the filters, by person, camera and entry time (CLI output)."""
    sql.check_filters(filters)
    statement = pgsql.SQL(ALL_SESSIONS_SQL).format(where=sql.sessions_where(filters))
    rows = sql.fetch_all(conn, statement, sql.filter_params(filters))
    return [{
        "session_id": row["session_id"],
        "person_id": row["person_id"],
        "camera_id": row["camera_id"],
        "entry": iso_utc(row["entry_ts"]),
        "exit": iso_utc(row["exit_ts"]),
        "status": row["status"],
        "dwell_s": seconds(row["dwell_s"]),
        "attributes": row["attributes"],
    } for row in rows]
