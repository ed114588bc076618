"""Property: random event streams, randomly split into files and loaded in either order,
give in the database exactly the sessions of the reference state machine over all events."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import E, O, X, reference
from storage import empty_store

from dwell.ingest.pipeline import IngestOptions, ingest_file
from dwell.ingest.spill import Partitioning
from dwell.store import touched

BASE = datetime(2024, 3, 4, 9, 0, tzinfo=timezone.utc)
KIND_WORD = {E: "entry", X: "exit", O: "pass_by"}
PERSONS, CAMERAS = ("p1", "p2", "p3"), ("c1", "c2")
TABLES = "camera_events, person_sessions, rejected_rows, attributes, uploads"

# Whole files, and files spilled to disk and processed in parts of a few rows each
PARTITIONINGS = st.sampled_from([Partitioning(),
                                 Partitioning(spill_above_bytes=0, part_rows=4, buckets=4)])
# How later files find their keys' stored rows: both shapes, whatever the store's size
LOOKUPS = st.sampled_from([touched.BY_SCAN, touched.BY_PROBES])
event = st.tuples(st.sampled_from(PERSONS), st.sampled_from(CAMERAS), st.integers(0, 30),
                  st.sampled_from([E, E, X, X, O]))


def write_csv(path: Path, rows: list[tuple]) -> Path:
    lines = ["timestamp,person_id,camera_id,event_type"]
    lines += [f"{(BASE + timedelta(seconds=t)).isoformat()},{p},{c},{KIND_WORD[k]}"
              for p, c, t, k in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def stored_sessions(conn: psycopg.Connection) -> list[tuple]:
    rows = conn.execute(
        "SELECT person_id, camera_id, entry_ts, exit_ts, status, dwell_s FROM person_sessions"
    ).fetchall()
    return sorted(((p, c, int((a - BASE).total_seconds()),
                    None if b is None else int((b - BASE).total_seconds()), s,
                    None if d is None else int(d)) for p, c, a, b, s, d in rows),
                  key=repr)


def expected_sessions(rows: list[tuple], window_s: int, max_session_s: int) -> list[tuple]:
    unique: dict[tuple, tuple] = {}
    for p, c, t, k in rows:  # the pipeline skips exact duplicates (SPEC §3)
        unique.setdefault((p, c, t, k), (p, c, t, k))
    events = list(unique.values())
    keys = {pc: i for i, pc in enumerate(sorted({(p, c) for p, c, _, _ in events}))}
    as_ref = [(keys[(p, c)], t, k) for p, c, t, k in events]
    sessions, *_ = reference(as_ref, window_s, max_session_s)
    out = []
    for _, entry, exit_, status, dwell in sessions:
        p, c, t, _ = events[entry]
        out.append((p, c, t, None if exit_ < 0 else events[exit_][2], status,
                    None if status != "complete" else dwell))
    return sorted(out, key=repr)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rows=st.lists(event, min_size=1, max_size=30), split=st.randoms(use_true_random=False),
       b_first=st.booleans(), window_s=st.sampled_from([0, 3]),
       max_session_s=st.sampled_from([86400, 10]), partitioning=PARTITIONINGS, lookups=LOOKUPS)
def test_random_streams_split_into_files_pair_like_the_reference(
        clean_database_url, tmp_path, monkeypatch, rows, split, b_first, window_s,
        max_session_s, partitioning, lookups):
    with psycopg.connect(clean_database_url, autocommit=True) as conn, \
            monkeypatch.context() as patch:
        patch.setattr(touched, "choose_lookups", lambda keys, sessions: lookups)
        empty_store(conn)
        in_a = [split.random() < 0.5 for _ in rows]
        file_a = write_csv(tmp_path / "a.csv", [r for r, a in zip(rows, in_a) if a] or rows[:1])
        file_b = write_csv(tmp_path / "b.csv", [r for r, a in zip(rows, in_a) if not a] or rows[:1])
        options = IngestOptions(duplicate_window_s=window_s, max_session_s=max_session_s)
        for path in ([file_b, file_a] if b_first else [file_a, file_b]):
            ingest_file(conn, path, options, partitioning=partitioning)
        assert stored_sessions(conn) == expected_sessions(rows, window_s, max_session_s)
        orphans = conn.execute(
            "SELECT count(*) FROM camera_events WHERE is_exit AND session_id IS NULL").fetchone()[0]
        assert orphans == sum(1 for s in _orphans(rows, window_s, max_session_s) if s)


def _orphans(rows, window_s, max_session_s):
    unique = list(dict.fromkeys(rows))
    keys = {pc: i for i, pc in enumerate(sorted({(p, c) for p, c, _, _ in unique}))}
    _, _, orphan, _ = reference([(keys[(p, c)], t, k) for p, c, t, k in unique], window_s,
                                max_session_s)
    return orphan


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rows=st.lists(event, min_size=1, max_size=40),
       cuts=st.lists(st.integers(0, 31), min_size=1, max_size=3),
       order=st.randoms(use_true_random=False), window_s=st.sampled_from([0, 3]),
       max_session_s=st.sampled_from([86400, 10]), partitioning=PARTITIONINGS, lookups=LOOKUPS)
def test_files_covering_successive_periods_pair_like_the_reference(
        clean_database_url, tmp_path, monkeypatch, rows, cuts, order, window_s, max_session_s,
        partitioning, lookups):
    """The usual way data arrives: each file a later period, sometimes late or overlapping.
    Later files re-pair only from each key's cut, which must not change any session."""
    with psycopg.connect(clean_database_url, autocommit=True) as conn, \
            monkeypatch.context() as patch:
        patch.setattr(touched, "choose_lookups", lambda keys, sessions: lookups)
        empty_store(conn)
        bounds = [0, *sorted(cuts), 31]
        parts = [[r for r in rows if lo <= r[2] < hi] for lo, hi in zip(bounds, bounds[1:])]
        parts = [part for part in parts if part]
        if order.random() < 0.3:  # now and then a file arrives late
            order.shuffle(parts)
        options = IngestOptions(duplicate_window_s=window_s, max_session_s=max_session_s)
        for i, part in enumerate(parts):
            ingest_file(conn, write_csv(tmp_path / f"part{i}.csv", part), options,
                        partitioning=partitioning)
        assert stored_sessions(conn) == expected_sessions(rows, window_s, max_session_s)
        session_events = conn.execute(
            "SELECT count(*) FROM camera_events e JOIN person_sessions s ON s.id = e.session_id"
            " WHERE e.id IN (s.entry_event_id, s.exit_event_id)").fetchone()[0]
        assert session_events == conn.execute(
            "SELECT count(*) + count(exit_event_id) FROM person_sessions").fetchone()[0]


@pytest.mark.parametrize("lookups", [touched.BY_SCAN, touched.BY_PROBES], ids=["scan", "probes"])
def test_a_later_file_repairs_each_key_from_its_cut_either_way(conn, tmp_path, monkeypatch,
                                                               lookups):
    """p1 has two complete visits before the later file: it is re-paired from the second's
    exit, which stays that visit's. p2's only complete visit ends at the instant p2 entered
    again: no cut there, p2 is re-paired whole, and the later exit closes the second visit."""
    monkeypatch.setattr(touched, "choose_lookups", lambda keys, sessions: lookups)
    earlier = [("p1", "c1", 10, E), ("p1", "c1", 20, X), ("p1", "c1", 40, E), ("p1", "c1", 50, X),
               ("p2", "c1", 10, E), ("p2", "c1", 20, X), ("p2", "c1", 20, E)]
    later = [("p1", "c1", 60, E), ("p1", "c1", 70, X), ("p2", "c1", 30, X)]
    for name, rows in (("earlier.csv", earlier), ("later.csv", later)):
        ingest_file(conn, write_csv(tmp_path / name, rows))
    assert stored_sessions(conn) == sorted([
        ("p1", "c1", 10, 20, "complete", 10), ("p1", "c1", 40, 50, "complete", 10),
        ("p1", "c1", 60, 70, "complete", 10),
        ("p2", "c1", 10, 20, "complete", 10), ("p2", "c1", 20, 30, "complete", 10),
    ], key=repr) == expected_sessions(earlier + later, 0, 86400)
    unpaired = conn.execute("SELECT count(*) FROM camera_events WHERE session_id IS NULL")
    assert unpaired.fetchone()[0] == 0
    entries_and_exits = conn.execute(
        "SELECT count(*) FROM camera_events e JOIN person_sessions s ON s.id = e.session_id"
        " WHERE e.id IN (s.entry_event_id, s.exit_event_id)").fetchone()[0]
    assert entries_and_exits == 10
