"""The analytics part of the report document, SPEC §12."""

from __future__ import annotations

from typing import Any

import psycopg

from dwell.analytics import sql
from dwell.analytics.filters import Filters
from dwell.analytics.groups import per_camera
from dwell.analytics.kpis import kpi_counts, kpi_document
from dwell.analytics.occupancy import occupancy_sweep
from dwell.analytics.repeat import repeat_visitors
from dwell.analytics.timeseries import bucket_counts, series


def report(conn: psycopg.Connection, filters: Filters) -> dict[str, Any]:
    """{"kpis", "hourly", "daily", "repeat", "per_camera"} for the filtered data; the
    caller adds "quality", which belongs to uploads rather than to the stored data.

    The same numbers as kpis(), timeseries() and friends, with one occupancy sweep for the
    peak, the hours and the days instead of three.
    """
    sql.check_filters(filters)
    swept = occupancy_sweep(conn, filters, ("hour", "day"))
    return {
        "kpis": kpi_document(kpi_counts(conn, filters), swept),
        "hourly": series(bucket_counts(conn, filters, "hour"), swept, "hour"),
        "daily": series(bucket_counts(conn, filters, "day"), swept, "day"),
        "repeat": repeat_visitors(conn, filters),
        "per_camera": per_camera(conn, filters),
    }
