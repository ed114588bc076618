"""Analytics on a large store, opt-in because loading takes minutes:

    DWELL_SCALE_EVENTS=1500000 pytest -s tests/integration/test_analytics_scale.py

Synthetic events go through the real ingest pipeline, then every analytics question is timed
and the report is checked against itself (the parts must add up). With DWELL_SCALE_REPORT_S
set, the full report must also finish within that many seconds.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import psycopg
import pytest

from dwell import analytics
from dwell.analytics import Filters
from dwell.ingest.pipeline import ingest_file
from dwell.synth import write_csv

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not os.environ.get("DWELL_SCALE_EVENTS"),
                       reason="set DWELL_SCALE_EVENTS to run the large-store analytics test"),
]


def timed(label: str, call):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = call()
    print(f"{label:<28} {time.perf_counter() - started:7.2f} s")
    return result


def test_a_large_store_reports_consistent_numbers_in_bounded_time(
        conn: psycopg.Connection, tmp_path: Path) -> None:
    rows = int(os.environ["DWELL_SCALE_EVENTS"])
    path = tmp_path / "events.csv.gz"
    write_csv(path, rows, seed=7)
    timed(f"ingest {rows:,} rows", lambda: ingest_file(conn, path))
    conn.execute("ANALYZE")
    stored = conn.execute("SELECT count(*) FROM camera_events").fetchone()[0]
    berlin = Filters(tz="Europe/Berlin")

    kpis = timed("kpis", lambda: analytics.kpis(conn, berlin))
    timed("timeseries hour", lambda: analytics.timeseries(conn, berlin, "hour"))
    timed("timeseries week", lambda: analytics.timeseries(conn, berlin, "week"))
    timed("occupancy day", lambda: analytics.occupancy(conn, berlin, "day"))
    timed("repeat_visitors", lambda: analytics.repeat_visitors(conn, berlin))
    timed("dwell_groups attribute", lambda: analytics.dwell_groups(conn, berlin,
                                                                   "attribute:age_group"))
    timed("dwell_groups person", lambda: analytics.dwell_groups(conn, berlin, "person"))
    started = time.perf_counter()
    document = timed("report (Europe/Berlin)", lambda: analytics.report(conn, berlin))
    report_s = time.perf_counter() - started
    timed("report (UTC)", lambda: analytics.report(conn, Filters()))

    assert document["kpis"] == kpis
    assert kpis["total_events"] == stored
    assert sum(b["events"] for b in document["hourly"]) == stored
    assert sum(b["events"] for b in document["daily"]) == stored
    assert sum(c["events"] for c in document["per_camera"].values()) == stored
    sessions = sum(kpis["sessions"].values())
    assert sum(b["sessions_started"] for b in document["daily"]) == sessions
    assert kpis["peak_occupancy"] == max(b["peak_occupancy"] for b in document["hourly"])
    assert kpis["peak_occupancy"] == max(b["peak_occupancy"] for b in document["daily"])
    assert sum(document["repeat"]["visits_per_person"].values()) == kpis["unique_visitors"]
    budget = os.environ.get("DWELL_SCALE_REPORT_S")
    if budget:
        assert report_s <= float(budget)
