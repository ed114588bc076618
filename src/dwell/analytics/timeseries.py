"""Time aggregations, SPEC §8: a continuous series of hour, day or ISO-week buckets."""

from __future__ import annotations

from typing import Any

import psycopg

from dwell.analytics import sql
from dwell.analytics.filters import Filters
from dwell.analytics.formatting import count, iso_utc, seconds
from dwell.analytics.occupancy import presence


def timeseries(conn: psycopg.Connection, filters: Filters, interval: str) -> list[dict[str, Any]]:
    """One entry per bucket from the first event's bucket to the last event's, in
    `filters.tz` (DST aware); empty buckets have zero counts and None statistics."""
    sql.check_interval(interval)
    sql.check_filters(filters)
    statement = sql.query(
        "timeseries",
        event_key=sql.bucket_key(interval, "ts"),
        session_key=sql.bucket_key(interval, "entry_ts"),
        events_where=sql.events_where(filters),
        sessions_where=sql.sessions_where(filters),
        buckets=sql.fragment("buckets", **sql.bucket_parts(interval)),
        presence=presence(filters),
        bucket_occupancy=sql.fragment("bucket_occupancy"),
    )
    return [
        {
            "bucket": iso_utc(row["bucket"]),
            "events": count(row["events"]),
            "entries": count(row["entries"]),
            "exits": count(row["exits"]),
            "unique_visitors": count(row["unique_visitors"]),
            "sessions_started": count(row["sessions_started"]),
            "avg_dwell_s": seconds(row["avg_dwell_s"]),
            "median_dwell_s": seconds(row["median_dwell_s"]),
            "max_dwell_s": seconds(row["max_dwell_s"]),
            "peak_occupancy": count(row["peak_occupancy"]),
            "mean_occupancy": seconds(row["mean_occupancy"]),
        }
        for row in sql.fetch_all(conn, statement, sql.filter_params(filters))
    ]
