"""Occupancy, SPEC §7: how many distinct persons are present, from complete sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from dwell.analytics import sql
from dwell.analytics.filters import Filters
from dwell.analytics.formatting import count, iso_utc, seconds


def presence(filters: Filters) -> Any:
    """The presence CTEs (merged per-person intervals) for these filters."""
    return sql.fragment("presence", sessions_where=sql.sessions_where(filters))


def occupancy_peak(conn: psycopg.Connection, filters: Filters) -> tuple[int, datetime | None]:
    """The highest number of persons present at once and the first instant it is reached;
    (0, None) when nobody is ever present."""
    sql.check_filters(filters)
    statement = sql.query("occupancy_peak", presence=presence(filters))
    row = sql.fetch_one(conn, statement, sql.filter_params(filters))
    if row is None:
        return 0, None
    return count(row["peak_occupancy"]), row["peak_occupancy_at"]


def occupancy(conn: psycopg.Connection, filters: Filters, interval: str) -> list[dict[str, Any]]:
    """Per bucket of `interval` in `filters.tz`: peak and mean occupancy, and visitors
    (distinct persons with an event in the bucket)."""
    sql.check_interval(interval)
    sql.check_filters(filters)
    statement = sql.query(
        "occupancy_series",
        event_key=sql.bucket_key(interval, "ts"),
        events_where=sql.events_where(filters),
        buckets=sql.fragment("buckets", **sql.bucket_parts(interval)),
        presence=presence(filters),
        bucket_occupancy=sql.fragment("bucket_occupancy"),
    )
    return [
        {
            "bucket": iso_utc(row["bucket"]),
            "peak_occupancy": count(row["peak_occupancy"]),
            "mean_occupancy": seconds(row["mean_occupancy"]),
            "visitors": count(row["visitors"]),
        }
        for row in sql.fetch_all(conn, statement, sql.filter_params(filters))
    ]
