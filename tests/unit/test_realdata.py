"""The conversion of real pedestrian tracks (ETH, UCY) into camera events."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import datetime

import numpy as np
import pytest

from realdata import (
    BASE_INSTANT,
    DATASETS,
    expected_dwell_s,
    obsmat_path,
    realdata_events_csv,
    require_realdata,
)


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    require_realdata()
    return list(csv.DictReader(io.StringIO(realdata_events_csv())))


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _raw(dataset: str) -> np.ndarray:
    return np.loadtxt(obsmat_path(dataset), ndmin=2)


def test_one_entry_and_one_exit_per_pedestrian(rows: list[dict[str, str]]) -> None:
    assert set(rows[0]) == {"timestamp", "person_id", "camera_id", "event_type"}
    kinds = Counter((r["person_id"], r["camera_id"], r["event_type"]) for r in rows)
    persons = {(p, c) for p, c, _ in kinds}
    for person, camera in persons:
        assert kinds[(person, camera, "entry")] == 1
        assert kinds[(person, camera, "exit")] == 1
        assert person.startswith(f"{camera}-")
    assert len(rows) == 2 * len(persons)


def test_pedestrians_per_camera_match_the_annotations(rows: list[dict[str, str]]) -> None:
    per_camera = Counter(r["camera_id"] for r in rows if r["event_type"] == "entry")
    for dataset in DATASETS:
        distinct = len(np.unique(_raw(dataset)[:, 1]))
        assert per_camera[dataset] == distinct
    assert per_camera == {"eth": 360, "hotel": 390, "zara01": 148}


def test_timestamps_are_sorted_ms_iso_after_the_base(rows: list[dict[str, str]]) -> None:
    instants = [_instant(r["timestamp"]) for r in rows]
    assert instants == sorted(instants)
    assert all(len(r["timestamp"]) == 24 and r["timestamp"].endswith("Z") for r in rows)
    assert min(instants) >= BASE_INSTANT


def test_dwell_matches_the_frames(rows: list[dict[str, str]]) -> None:
    entry, exit_ = {}, {}
    for r in rows:
        side = entry if r["event_type"] == "entry" else exit_
        side[(r["person_id"], r["camera_id"])] = _instant(r["timestamp"])
    expected = expected_dwell_s()
    assert set(expected) == set(entry) == set(exit_)
    for key, dwell in expected.items():
        from_csv = (exit_[key] - entry[key]).total_seconds()
        assert from_csv >= 0
        assert from_csv == pytest.approx(dwell, abs=1e-9)
    # and the millisecond rounding stays within a millisecond of (last - first) / fps
    for dataset, (_, fps) in DATASETS.items():
        raw = _raw(dataset)
        for pid in np.unique(raw[:, 1]):
            frames = raw[raw[:, 1] == pid, 0]
            exact = (frames.max() - frames.min()) / fps
            assert abs(expected[(f"{dataset}-{int(pid)}", dataset)] - exact) <= 0.001


def test_a_subset_of_datasets(rows: list[dict[str, str]]) -> None:
    text = realdata_events_csv(("hotel",))
    cameras = {r["camera_id"] for r in csv.DictReader(io.StringIO(text))}
    assert cameras == {"hotel"}
    assert len(expected_dwell_s(("zara01",))) == 148
