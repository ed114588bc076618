"""Key figures, SPEC §6."""

from __future__ import annotations

from typing import Any

import psycopg

from dwell.analytics import hourly, sql
from dwell.analytics.filters import Filters
from dwell.analytics.formatting import count, iso_utc, seconds
from dwell.analytics.occupancy import Occupancy, occupancy_sweep


def kpi_counts(conn: psycopg.Connection, filters: Filters) -> dict[str, Any]:
    """Every KPI but the peak occupancy, as database values."""
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
    return {**events, **sessions}


def kpi_document(counts: dict[str, Any], swept: Occupancy) -> dict[str, Any]:
    """The SPEC §12 `kpis` object."""
    return {
        "total_events": count(counts.get("total_events")),
        "unique_visitors": count(counts.get("unique_visitors")),
        "active_cameras": count(counts.get("active_cameras")),
        "sessions": {
            "complete": count(counts.get("complete_sessions")),
            "missing_exit": count(counts.get("missing_exit")),
            "open": count(counts.get("open")),
        },
        "orphan_exits": count(counts.get("orphan_exits")),
        "avg_dwell_s": seconds(counts.get("avg_dwell_s")),
        "median_dwell_s": seconds(counts.get("median_dwell_s")),
        "max_dwell_s": seconds(counts.get("max_dwell_s")),
        "min_dwell_s": seconds(counts.get("min_dwell_s")),
        "p90_dwell_s": seconds(counts.get("p90_dwell_s")),
        "avg_dwell_per_person_s": seconds(counts.get("avg_dwell_per_person_s")),
        "peak_occupancy": swept.peak,
        "peak_occupancy_at": iso_utc(swept.peak_at),
    }


def kpis(conn: psycopg.Connection, filters: Filters) -> dict[str, Any]:
    """Events, visitors, cameras, sessions by status, orphan exits, complete-dwell
    statistics and peak occupancy for the filtered data: from the hourly rollups when they
    can answer, else from the events."""
    answer = hourly.kpis(conn, filters)
    if answer is None:
        answer = kpi_counts(conn, filters), occupancy_sweep(conn, filters)
    return kpi_document(*answer)
