"""Key figures, SPEC §6."""

from __future__ import annotations

from typing import Any

import psycopg

from dwell.analytics import sql
from dwell.analytics.filters import Filters
from dwell.analytics.formatting import count, iso_utc, seconds
from dwell.analytics.occupancy import occupancy_peak


def kpis(conn: psycopg.Connection, filters: Filters) -> dict[str, Any]:
    """Events, visitors, cameras, sessions by status, orphan exits, complete-dwell
    statistics and peak occupancy for the filtered data."""
    sql.check_filters(filters)
    params = sql.filter_params(filters)
    events = sql.fetch_one(
        conn, sql.query("kpi_events", events_where=sql.events_where(filters)), params) or {}
    sessions = sql.fetch_one(
        conn,
        sql.query("kpi_sessions", sessions_where=sql.sessions_where(filters),
                  dwell_stats=sql.fragment("dwell_stats")),
        params,
    ) or {}
    peak, peak_at = occupancy_peak(conn, filters)
    return {
        "total_events": count(events.get("total_events")),
        "unique_visitors": count(events.get("unique_visitors")),
        "active_cameras": count(events.get("active_cameras")),
        "sessions": {
            "complete": count(sessions.get("complete_sessions")),
            "missing_exit": count(sessions.get("missing_exit")),
            "open": count(sessions.get("open")),
        },
        "orphan_exits": count(events.get("orphan_exits")),
        "avg_dwell_s": seconds(sessions.get("avg_dwell_s")),
        "median_dwell_s": seconds(sessions.get("median_dwell_s")),
        "max_dwell_s": seconds(sessions.get("max_dwell_s")),
        "min_dwell_s": seconds(sessions.get("min_dwell_s")),
        "p90_dwell_s": seconds(sessions.get("p90_dwell_s")),
        "avg_dwell_per_person_s": seconds(sessions.get("avg_dwell_per_person_s")),
        "peak_occupancy": peak,
        "peak_occupancy_at": iso_utc(peak_at),
    }
