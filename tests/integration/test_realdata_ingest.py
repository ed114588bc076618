"""Real pedestrian tracks (ETH/UCY): the engine's dwell per person equals the annotations'."""

from __future__ import annotations

import pytest
from realdata import expected_dwell_s, realdata_events_csv, require_realdata

from dwell import analytics
from dwell.analytics.filters import Filters
from dwell.ingest.pipeline import ingest_file
from dwell.ingest.spill import Partitioning


@pytest.mark.parametrize("partitioning", [Partitioning(),
                                          Partitioning(spill_above_bytes=0, part_rows=100)],
                         ids=["whole", "in parts"])
def test_dwell_of_every_real_pedestrian_matches_the_annotated_track(conn, tmp_path,
                                                                    partitioning):
    require_realdata()
    path = tmp_path / "pedestrians.csv"
    path.write_text(realdata_events_csv())
    result = ingest_file(conn, path, partitioning=partitioning)
    expected = expected_dwell_s()
    assert result.quality.rejected_rows == 0
    rows = conn.execute(
        "SELECT person_id, camera_id, status, dwell_s FROM person_sessions").fetchall()
    assert len(rows) == len(expected)
    assert all(status == "complete" for _, _, status, _ in rows)
    got = {(person, camera): dwell for person, camera, _, dwell in rows}
    assert got.keys() == expected.keys()
    for key, dwell in expected.items():
        assert got[key] == pytest.approx(dwell, abs=0.001), key

    kpis = analytics.kpis(conn, Filters())
    assert kpis["unique_visitors"] == len(expected)
    assert kpis["active_cameras"] == 3
    assert kpis["max_dwell_s"] == pytest.approx(max(expected.values()), abs=0.001)
    # Several people are in view at once in every scene: occupancy must see it.
    assert kpis["peak_occupancy"] > 1


def test_peak_occupancy_of_real_scenes_matches_a_plain_sweep(conn, tmp_path):
    require_realdata()
    import csv
    import io
    from datetime import datetime

    text = realdata_events_csv()
    path = tmp_path / "pedestrians.csv"
    path.write_text(text)
    ingest_file(conn, path)
    spans: dict[str, list[datetime]] = {}
    for row in csv.DictReader(io.StringIO(text)):
        spans.setdefault(row["person_id"], []).append(datetime.fromisoformat(row["timestamp"]))
    # Present on [entry, exit); at equal instants, leaving happens before arriving.
    points = []
    for moments in spans.values():
        entry, exit_ = min(moments), max(moments)
        if exit_ > entry:
            points += [(entry, +1), (exit_, -1)]
    level = peak = 0
    peak_at = None
    for moment, step in sorted(points):
        level += step
        if level > peak:
            peak, peak_at = level, moment
    kpis = analytics.kpis(conn, Filters())
    assert kpis["peak_occupancy"] == peak
    assert datetime.fromisoformat(kpis["peak_occupancy_at"].replace("Z", "+00:00")) == peak_at
