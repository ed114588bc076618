"""Chart-ready series for the dashboard: labels plus named series, from the analytics functions."""

from __future__ import annotations

from typing import Any

import numpy as np
import psycopg
from psycopg import sql as pgsql

from dwell.analytics import hourly
from dwell.analytics.filters import Filters
from dwell.analytics.groups import demographics, known_attributes, per_camera
from dwell.analytics.repeat import repeat_visitors
from dwell.analytics.sql import fetch_all, filter_params, sessions_where
from dwell.analytics.timeseries import occupancy, timeseries

CHARTS = ("visitors", "occupancy", "dwell-histogram", "per-camera", "demographics", "repeat")

# Dwell bins a person reads at a glance: upper bounds in seconds (the last bin is open).
DWELL_BINS_S = (60, 300, 900, 1800, 3600, 7200)
DWELL_BIN_LABELS = ("< 1 min", "1-5 min", "5-15 min", "15-30 min", "30-60 min", "1-2 h", "2 h +")

HISTOGRAM_SQL = """
    SELECT width_bucket(dwell_s, %(bins)s::double precision[]) AS bin, count(*) AS sessions
    FROM person_sessions
    WHERE status = 'complete' AND {where}
    GROUP BY 1 ORDER BY 1
"""


def _series(rows: list[dict[str, Any]], names: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{"name": name, "data": [row.get(name) for row in rows]} for name in names]


def chart(conn: psycopg.Connection, name: str, filters: Filters, *, interval: str = "day",
          attribute: str | None = None) -> dict[str, Any]:
    """One chart: {name, title, labels, series: [{name, data}]}."""
    if name == "visitors":
        rows = timeseries(conn, filters, interval)
        return {"name": name, "title": "Visitors and events over time",
                "labels": [r["bucket"] for r in rows],
                "series": _series(rows, ("unique_visitors", "events", "entries", "exits"))}
    if name == "occupancy":
        rows = occupancy(conn, filters, interval)
        return {"name": name, "title": "Occupancy over time",
                "labels": [r["bucket"] for r in rows],
                "series": _series(rows, ("peak_occupancy", "mean_occupancy"))}
    if name == "dwell-histogram":
        return _dwell_histogram(conn, filters)
    if name == "per-camera":
        stats = per_camera(conn, filters)
        rows = [{"camera": camera, **values} for camera, values in stats.items()]
        return {"name": name, "title": "Cameras compared", "labels": [r["camera"] for r in rows],
                "series": _series(rows, ("events", "unique_visitors", "complete_sessions",
                                         "avg_dwell_s", "median_dwell_s"))}
    if name == "demographics":
        attributes = known_attributes(conn)
        chosen = attribute or (attributes[0] if attributes else None)
        if chosen is None:
            return {"name": name, "title": "Demographics (no attribute columns uploaded)",
                    "labels": [], "series": [], "attribute": None}
        rows = demographics(conn, filters, chosen)
        return {"name": name, "title": f"Visitors by {chosen}", "attribute": chosen,
                "labels": [r["group"] for r in rows],
                "series": _series(rows, ("unique_visitors", "sessions", "avg_dwell_s"))}
    if name == "repeat":
        repeat = repeat_visitors(conn, filters)
        visits = repeat["visits_per_person"]
        labels = sorted(visits, key=int)
        return {"name": name, "title": "Visits per person", "labels": labels,
                "series": [{"name": "persons", "data": [visits[k] for k in labels]}]}
    raise ValueError(f"name: unknown chart {name!r}")


def _dwell_histogram(conn: psycopg.Connection, filters: Filters) -> dict[str, Any]:
    """Complete sessions per dwell bin, as width_bucket() bins them: from the rollups' dwell
    times when they can answer, else from the sessions."""
    dwells = hourly.dwell_ms(conn, filters)
    if dwells is not None:
        bins = np.searchsorted(np.array(DWELL_BINS_S) * 1000, dwells, side="right")
        counts = np.bincount(bins, minlength=len(DWELL_BIN_LABELS)).tolist()
    else:
        statement = pgsql.SQL(HISTOGRAM_SQL).format(where=sessions_where(filters))
        rows = fetch_all(conn, statement, filter_params(filters, bins=list(DWELL_BINS_S)))
        counts = [0] * len(DWELL_BIN_LABELS)
        for row in rows:
            counts[int(row["bin"])] = int(row["sessions"])
    return {"name": "dwell-histogram", "title": "Dwell time distribution (complete sessions)",
            "labels": list(DWELL_BIN_LABELS), "series": [{"name": "sessions", "data": counts}]}

