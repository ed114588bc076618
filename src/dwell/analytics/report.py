"""The analytics part of the report document, SPEC §12."""

from __future__ import annotations

from typing import Any

import psycopg

from dwell.analytics import sql
from dwell.analytics.filters import Filters
from dwell.analytics.groups import per_camera
from dwell.analytics.kpis import kpis
from dwell.analytics.repeat import repeat_visitors
from dwell.analytics.timeseries import timeseries


def report(conn: psycopg.Connection, filters: Filters) -> dict[str, Any]:
    """{"kpis", "hourly", "daily", "repeat", "per_camera"} for the filtered data; the
    caller adds "quality", which belongs to uploads rather than to the stored data."""
    sql.check_filters(filters)
    return {
        "kpis": kpis(conn, filters),
        "hourly": timeseries(conn, filters, "hour"),
        "daily": timeseries(conn, filters, "day"),
        "repeat": repeat_visitors(conn, filters),
        "per_camera": per_camera(conn, filters),
    }
