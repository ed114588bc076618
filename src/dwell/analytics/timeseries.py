"""Time aggregations, SPEC §8: a continuous series of hour, day or ISO-week buckets."""

from __future__ import annotations

from typing import Any

import psycopg

from dwell.analytics import hourly, sql
from dwell.analytics.filters import Filters
from dwell.analytics.formatting import count, iso_utc, seconds
from dwell.analytics.occupancy import (
    Occupancy,
    bucket_visitors,
    occupancy_entries,
    occupancy_sweep,
)


def bucket_counts(conn: psycopg.Connection, filters: Filters,
                  interval: str) -> list[dict[str, Any]]:
    """Events and sessions per bucket, every bucket of the series, as database values."""
    sql.check_interval(interval)
    sql.check_filters(filters)
    tz = filters.tz
    statement = sql.query(
        "timeseries",
        event_key=sql.bucket_key(interval, tz, "ts"),
        session_key=sql.bucket_key(interval, tz, "entry_ts"),
        events_where=sql.events_where(filters),
        sessions_where=sql.sessions_where(filters),
        buckets=sql.fragment("buckets", **sql.bucket_parts(interval, tz)),
    )
    return sql.fetch_all(conn, statement, sql.filter_params(filters))


def series(rows: list[dict[str, Any]], swept: Occupancy, interval: str) -> list[dict[str, Any]]:
    """The SPEC §12 entries: bucket counts joined with the bucket's occupancy."""
    result = []
    for row in rows:
        peak, mean = swept.of(interval, row["bucket"])
        result.append({
            "bucket": iso_utc(row["bucket"]),
            "events": count(row["events"]),
            "entries": count(row["entries"]),
            "exits": count(row["exits"]),
            "unique_visitors": count(row["unique_visitors"]),
            "sessions_started": count(row["sessions_started"]),
            "avg_dwell_s": seconds(row["avg_dwell_s"]),
            "median_dwell_s": seconds(row["median_dwell_s"]),
            "max_dwell_s": seconds(row["max_dwell_s"]),
            "peak_occupancy": peak,
            "mean_occupancy": mean,
        })
    return result


def timeseries(conn: psycopg.Connection, filters: Filters, interval: str) -> list[dict[str, Any]]:
    """One entry per bucket from the first event's bucket to the last event's, in
    `filters.tz` (DST aware); empty buckets have zero counts and None statistics. From the
    hourly rollups when they can answer, else from the events."""
    answer = hourly.timeseries(conn, filters, interval)
    if answer is None:
        rows = bucket_counts(conn, filters, interval)
        answer = rows, occupancy_sweep(conn, filters, (interval,)) if rows else Occupancy(0, None)
    return series(*answer, interval)


def occupancy(conn: psycopg.Connection, filters: Filters, interval: str) -> list[dict[str, Any]]:
    """Per bucket of `interval` in `filters.tz`: peak and mean occupancy, and visitors
    (distinct persons with an event in the bucket). From the hourly rollups when they can
    answer, else from the events."""
    answer = hourly.timeseries(conn, filters, interval)
    if answer is not None:
        rows, swept = answer
        rows = [{"bucket": row["bucket"], "visitors": row["unique_visitors"]} for row in rows]
    else:
        rows = bucket_visitors(conn, filters, interval)
        swept = occupancy_sweep(conn, filters, (interval,)) if rows else Occupancy(0, None)
    return occupancy_entries(rows, swept, interval)
