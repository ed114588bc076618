"""Repeat visitors, SPEC §9: a visit is a distinct (person, calendar day in tz)."""

from __future__ import annotations

from typing import Any

import psycopg

from dwell.analytics import hourly, sql
from dwell.analytics.filters import Filters


def repeat_visitors(conn: psycopg.Connection, filters: Filters) -> dict[str, Any]:
    """Visitors, those with two or more visit days, the visits-per-person distribution
    (keys are the visit counts as strings, only counts that occur) and the mean number of
    days between consecutive visits."""
    sql.check_filters(filters)
    rows = hourly.repeat_rows(conn, filters)
    if rows is None:
        statement = sql.query("repeat_visits", events_where=sql.events_where(filters),
                              local_day=sql.local_day(filters.tz, "ts"))
        rows = sql.fetch_all(conn, statement, sql.filter_params(filters))
    return repeat_document(rows)


def repeat_document(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The SPEC §12 `repeat` object from one row per number of visits (ascending):
    visits, persons, gap_days, gaps."""
    unique = sum(int(row["persons"]) for row in rows)
    repeat = sum(int(row["persons"]) for row in rows if row["visits"] >= 2)
    gaps = sum(int(row["gaps"]) for row in rows)
    gap_days = sum(int(row["gap_days"]) for row in rows)
    return {
        "unique_visitors": unique,
        "repeat_visitors": repeat,
        "repeat_rate": repeat / unique if unique else None,
        "visits_per_person": {str(row["visits"]): int(row["persons"]) for row in rows},
        "mean_days_between_visits": gap_days / gaps if gaps else None,
    }
