"""The analytics part of the report document, SPEC §12."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from dwell.analytics import hourly, sql
from dwell.analytics.filters import Filters
from dwell.analytics.formatting import count, seconds
from dwell.analytics.groups import group_entries, per_camera_table
from dwell.analytics.kpis import kpi_document
from dwell.analytics.occupancy import occupancy_sweep
from dwell.analytics.repeat import repeat_document
from dwell.analytics.timeseries import series

# GROUPING() of (hour, day, camera) in report_sessions.sql: the grouping set of a row.
_BY_HOUR, _BY_DAY, _BY_CAMERA, _OVERALL = 3, 5, 6, 7

_DWELL = ("complete_sessions", "avg_dwell_s", "median_dwell_s", "min_dwell_s", "max_dwell_s",
          "p90_dwell_s")


def _event_rows(conn: psycopg.Connection, filters: Filters) -> list[dict[str, Any]]:
    tz = filters.tz
    statement = sql.query(
        "report_events",
        hour_key=sql.bucket_key("hour", tz, "ts"),
        day_key=sql.bucket_key("day", tz, "ts"),
        local_day=sql.local_day(tz, "ts"),
        events_where=sql.events_where(filters),
        hour_start=sql.bucket_start("hour", tz),
        hour_step=sql.bucket_step("hour", tz),
        day_start=sql.bucket_start("day", tz),
        day_step=sql.bucket_step("day", tz),
    )
    return sql.fetch_all(conn, statement, sql.filter_params(filters))


def _session_rows(conn: psycopg.Connection, filters: Filters) -> list[dict[str, Any]]:
    tz = filters.tz
    statement = sql.query(
        "report_sessions",
        hour_key=sql.bucket_key("hour", tz, "entry_ts"),
        day_key=sql.bucket_key("day", tz, "entry_ts"),
        hour_start=sql.bucket_start("hour", tz, "hour_k"),
        day_start=sql.bucket_start("day", tz, "day_k"),
        sessions_where=sql.sessions_where(filters),
        dwell_stats=sql.fragment("dwell_stats"),
    )
    return sql.fetch_all(conn, statement, sql.filter_params(filters))


def _bucket_rows(events: list[dict[str, Any]], sessions: dict[datetime, dict[str, Any]],
                 grain: str) -> list[dict[str, Any]]:
    """The rows bucket_counts() gives: every bucket of the series, with its sessions."""
    rows = []
    for row in sorted((r for r in events if r["grain"] == grain), key=lambda r: r["bucket"]):
        started = sessions.get(row["bucket"], {})
        rows.append({
            "bucket": row["bucket"],
            "events": row["events"],
            "entries": row["entries"],
            "exits": row["exits"],
            "unique_visitors": row["visitors"],
            "sessions_started": started.get("sessions"),
            "avg_dwell_s": started.get("avg_dwell_s"),
            "median_dwell_s": started.get("median_dwell_s"),
            "max_dwell_s": started.get("max_dwell_s"),
        })
    return rows


def _per_camera(events: list[dict[str, Any]],
                sessions: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """per_camera(): every camera with events or sessions, in byte order of the id."""
    by_camera = {row["camera"]: row for row in events if row["grain"] == "camera"}
    result = {}
    for camera in sorted(set(by_camera) | set(sessions)):
        seen, started = by_camera.get(camera, {}), sessions.get(camera, {})
        result[camera] = {
            "events": count(seen.get("events")),
            "unique_visitors": count(seen.get("visitors")),
            "complete_sessions": count(started.get("complete_sessions")),
            "avg_dwell_s": seconds(started.get("avg_dwell_s")),
            "median_dwell_s": seconds(started.get("median_dwell_s")),
            "max_dwell_s": seconds(started.get("max_dwell_s")),
        }
    return result


def report(conn: psycopg.Connection, filters: Filters,
           connect: sql.Connect | None = None) -> dict[str, Any]:
    """{"kpis", "hourly", "daily", "repeat", "per_camera"} for the filtered data; the
    caller adds "quality", which belongs to uploads rather than to the stored data.

    The same numbers as kpis(), timeseries() and friends, from three statements: one scan
    of the events for every count (report_events.sql), one of the sessions for every dwell
    statistic (report_sessions.sql), and one occupancy sweep for the peak, the hours and
    the days. With `connect`, the three run at once on their own connections, in one
    snapshot (see `sql.run_together`).
    """
    sql.check_filters(filters)
    fast = hourly.report(conn, filters)
    if fast is not None:
        return {
            "kpis": kpi_document(*fast["kpis"]),
            "hourly": series(*fast["hourly"], "hour"),
            "daily": series(*fast["daily"], "day"),
            "repeat": repeat_document(fast["repeat"]),
            "per_camera": per_camera_table(group_entries(fast["per_camera"])),
        }
    events, session_rows, swept = sql.run_together(conn, (
        lambda c: _event_rows(c, filters),
        lambda c: _session_rows(c, filters),
        lambda c: occupancy_sweep(c, filters, ("hour", "day")),
    ), connect)

    by_hour = {r["bucket"]: r for r in session_rows if r["g"] == _BY_HOUR}
    by_day = {r["bucket"]: r for r in session_rows if r["g"] == _BY_DAY}
    by_camera = {r["camera"]: r for r in session_rows if r["g"] == _BY_CAMERA}
    overall = next((r for r in session_rows if r["g"] == _OVERALL), {})

    cameras = [r for r in events if r["grain"] == "camera"]
    visits = sorted((r for r in events if r["grain"] == "visits"), key=lambda r: r["visits"])
    counts = {
        "total_events": sum(r["events"] for r in cameras),
        "unique_visitors": sum(r["visitors"] for r in visits),
        "active_cameras": len(cameras),
        "orphan_exits": sum(r["orphan_exits"] for r in cameras),
        "missing_exit": overall.get("missing_exit"),
        "open": overall.get("open"),
        "avg_dwell_per_person_s": overall.get("avg_dwell_per_person_s"),
        **{name: overall.get(name) for name in _DWELL},
    }
    return {
        "kpis": kpi_document(counts, swept),
        "hourly": series(_bucket_rows(events, by_hour, "hour"), swept, "hour"),
        "daily": series(_bucket_rows(events, by_day, "day"), swept, "day"),
        "repeat": repeat_document([{"visits": r["visits"], "persons": r["visitors"],
                                    "gap_days": r["gap_days"], "gaps": r["gaps"]}
                                   for r in visits]),
        "per_camera": _per_camera(events, by_camera),
    }
