"""Grouping and demographics, SPEC §10: statistics per person, camera, time bucket or
attribute value, and the per-camera table of the report."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql as pgsql

from dwell.analytics import hourly, sql
from dwell.analytics.filters import Filters
from dwell.analytics.formatting import count, iso_utc, seconds

ATTRIBUTE_PREFIX = hourly.ATTRIBUTE_PREFIX
GROUP_BYS = ("person", "camera", *sql.INTERVALS, "attribute:<name>")

# A missing or empty attribute value is the group None (SPEC §10).
_ATTRIBUTE_VALUE = pgsql.SQL("nullif(attributes ->> %(attribute)s::text, '')")
# Byte order ("C") for ids: the fastest to sort and group, and the same on every server.
_COLUMN_KEYS = {"person": pgsql.SQL('person_id COLLATE "C"'),
                "camera": pgsql.SQL('camera_id COLLATE "C"')}


def known_attributes(conn: psycopg.Connection) -> list[str]:
    """Names of the attribute columns seen in uploads (age_group, gender, ...)."""
    with conn.cursor() as cur:
        return [name for (name,) in cur.execute(sql.query("known_attributes"))]


def _check_attribute(conn: psycopg.Connection, parameter: str, name: str) -> str:
    known = known_attributes(conn)
    if name not in known:
        listed = ", ".join(known) if known else "none loaded yet"
        raise ValueError(f"{parameter}: unknown attribute {name!r} (known: {listed})")
    return name


def _group_rows(conn: psycopg.Connection, filters: Filters, group_by: str,
                parameter: str = "group_by") -> list[dict[str, Any]]:
    if not isinstance(group_by, str):
        raise ValueError(f"{parameter}: expected one of {', '.join(GROUP_BYS)}, got {group_by!r}")
    extra: dict[str, Any] = {}
    is_time = group_by in sql.INTERVALS
    if group_by in _COLUMN_KEYS:
        event_key = session_key = _COLUMN_KEYS[group_by]
        group_value: pgsql.Composable = pgsql.Identifier("k")
    elif is_time:
        sql.check_filters(filters)
        event_key = sql.bucket_key(group_by, filters.tz, "ts")
        session_key = sql.bucket_key(group_by, filters.tz, "entry_ts")
        group_value = sql.bucket_start(group_by, filters.tz, "k")
    elif group_by.startswith(ATTRIBUTE_PREFIX):
        name = group_by[len(ATTRIBUTE_PREFIX):]
        extra["attribute"] = _check_attribute(conn, parameter, name)
        event_key = session_key = _ATTRIBUTE_VALUE
        group_value = pgsql.Identifier("k")
    else:
        raise ValueError(f"{parameter}: expected one of {', '.join(GROUP_BYS)}, got {group_by!r}")
    sql.check_filters(filters)
    rows = hourly.groups(conn, filters, group_by)
    if rows is None:
        rows = sql.fetch_all(conn, _group_statement(filters, event_key, session_key, group_value),
                             sql.filter_params(filters, **extra))
    return group_entries(rows, is_time)


def group_entries(rows: list[dict[str, Any]], is_time: bool = False) -> list[dict[str, Any]]:
    """Group rows as database values to the JSON-ready entries of dwell_groups()."""
    return [
        {
            "group": iso_utc(row["group_value"]) if is_time else row["group_value"],
            "events": count(row["events"]),
            "unique_visitors": count(row["unique_visitors"]),
            "sessions": count(row["sessions"]),
            "complete_sessions": count(row["complete_sessions"]),
            "avg_dwell_s": seconds(row["avg_dwell_s"]),
            "median_dwell_s": seconds(row["median_dwell_s"]),
            "min_dwell_s": seconds(row["min_dwell_s"]),
            "max_dwell_s": seconds(row["max_dwell_s"]),
            "p90_dwell_s": seconds(row["p90_dwell_s"]),
        }
        for row in rows
    ]


def _group_statement(filters: Filters, event_key: pgsql.Composable,
                     session_key: pgsql.Composable,
                     group_value: pgsql.Composable) -> pgsql.Composed:
    return sql.query(
        "groups",
        event_key=event_key,
        session_key=session_key,
        group_value=group_value,
        events_where=sql.events_where(filters),
        sessions_where=sql.sessions_where(filters),
        dwell_stats=sql.fragment("dwell_stats"),
    )


def dwell_groups(conn: psycopg.Connection, filters: Filters, group_by: str) -> list[dict[str, Any]]:
    """Events, unique visitors, sessions (all statuses), complete sessions and their dwell
    statistics per group. `group_by` is person, camera, hour, day, week (bucket starts as
    UTC strings, only buckets with data) or `attribute:<name>`; a missing attribute value
    is the group None, listed last."""
    return _group_rows(conn, filters, group_by)


def demographics(conn: psycopg.Connection, filters: Filters, attribute: str) -> list[dict[str, Any]]:
    """The groups of one attribute, each with `share`: its unique visitors over all unique
    visitors (a person seen with two values counts in both, so shares may sum above 1)."""
    if not isinstance(attribute, str) or not attribute:
        raise ValueError(f"attribute: expected an attribute name, got {attribute!r}")
    rows = _group_rows(conn, filters, ATTRIBUTE_PREFIX + attribute, parameter="attribute")
    total = hourly.unique_visitors(conn, filters)
    if total is None:
        statement = sql.query("unique_visitors", events_where=sql.events_where(filters))
        total = count((sql.fetch_one(conn, statement, sql.filter_params(filters)) or {})
                      .get("unique_visitors"))
    for row in rows:
        row["share"] = row["unique_visitors"] / total if total else None
    return rows


def per_camera(conn: psycopg.Connection, filters: Filters) -> dict[str, dict[str, Any]]:
    """The report's per-camera table (SPEC §12), keyed by camera id."""
    return per_camera_table(_group_rows(conn, filters, "camera"))


def per_camera_table(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The per-camera table from the camera groups of dwell_groups()."""
    return {
        row["group"]: {
            "events": row["events"],
            "unique_visitors": row["unique_visitors"],
            "complete_sessions": row["complete_sessions"],
            "avg_dwell_s": row["avg_dwell_s"],
            "median_dwell_s": row["median_dwell_s"],
            "max_dwell_s": row["max_dwell_s"],
        }
        for row in rows
    }
