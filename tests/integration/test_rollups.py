"""The hourly rollups (migration 0006) through the real pipeline: the KPIs and time series
they give equal, value for value, those computed from the events, however the data arrived
(one file or several, in any order, whole or in parts) and for any filter they can answer.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from storage import empty_store

from dwell import analytics
from dwell.analytics import Filters, hourly, members
from dwell.analytics.charts import chart
from dwell.analytics.groups import known_attributes
from dwell.analytics.kpis import kpi_counts, kpi_document, kpis
from dwell.analytics.occupancy import occupancy_sweep
from dwell.analytics.timeseries import bucket_counts, series, timeseries
from dwell.domain.hours import hour_runs, touched_hours
from dwell.ingest.pipeline import IngestOptions, ingest_file, rebuild_rollups
from dwell.ingest.spill import Partitioning
from dwell.store import rollups, touched

pytestmark = pytest.mark.integration

# Three days across Europe's spring-forward night (2024-03-31), so local days of 23 h occur.
BASE = datetime(2024, 3, 30, tzinfo=timezone.utc)
HOURS = 72
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata")

# (minute since BASE, person, camera, kind, gender): minutes that are often whole hours, so
# events and session ends fall on the rollups' edges; a person's gender may change between
# events, or be missing.
WHO_WHERE_WHAT = (
    st.sampled_from(["P1", "P2", "P3", "P4", "P5"]),
    st.sampled_from(["C1", "C2", "C3"]),
    st.sampled_from(["entry", "entry", "exit", "exit", "other"]),
    st.sampled_from(["f", "m", ""]),
)
event = st.tuples(
    st.one_of(st.integers(0, HOURS * 60 - 1), st.integers(0, HOURS - 1).map(lambda h: h * 60)),
    *WHO_WHERE_WHAT)
# Events of five hours: rows with several visitors and sessions, sessions across hours.
crowded_event = st.tuples(st.integers(0, 5 * 60), *WHO_WHERE_WHAT)
hour_bound = st.one_of(st.none(), st.integers(-2, HOURS + 2).map(lambda h: BASE + timedelta(hours=h)))
filters = st.builds(
    lambda start, end, cameras, tz: Filters(
        start=start, end=end if start is None or end is None or end >= start else start,
        camera_ids=tuple(cameras), tz=tz),
    hour_bound, hour_bound,
    st.lists(st.sampled_from(["C1", "C2", "C3"]), unique=True, max_size=2),
    st.sampled_from(ZONES),
)
PARTITIONINGS = st.sampled_from([
    Partitioning(), Partitioning(spill_above_bytes=0, part_rows=6, buckets=4, block_bytes=256)])


def write_csv(path: Path, rows: list[tuple]) -> Path:
    """Rows of (minute, person, camera, kind), each with a gender after them, or none."""
    gendered = any(len(row) > 4 for row in rows)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "person_id", "camera_id", "event_type"]
                        + (["gender"] if gendered else []))
        for minute, person, camera, kind, *gender in rows:
            moment = BASE + timedelta(minutes=minute)
            writer.writerow([moment.isoformat().replace("+00:00", "Z"), person, camera, kind,
                             *gender])
    return path


def dealt_into_files(tmp_path: Path, rows: list[tuple], split, files: int) -> list[Path]:
    """The rows dealt at random into up to `files` CSV files, in order (none left empty)."""
    groups: list[list] = [[] for _ in range(files)]
    for row in rows:
        groups[split.randrange(files)].append(row)
    return [write_csv(tmp_path / f"f{number}.csv", group)
            for number, group in enumerate(g for g in groups if g)]


def from_events_kpis(conn: psycopg.Connection, f: Filters) -> dict:
    return kpi_document(kpi_counts(conn, f), occupancy_sweep(conn, f))


def from_events_series(conn: psycopg.Connection, f: Filters, interval: str) -> list:
    rows = bucket_counts(conn, f, interval)
    return series(rows, occupancy_sweep(conn, f, (interval,)), interval) if rows else []


def from_rollups_kpis(conn: psycopg.Connection, f: Filters) -> dict:
    answer = hourly.kpis(conn, f)
    assert answer is not None, f"the rollups should answer {f}"
    return kpi_document(*answer)


def from_rollups_series(conn: psycopg.Connection, f: Filters, interval: str) -> list | None:
    answer = hourly.timeseries(conn, f, interval)
    return None if answer is None else series(*answer, interval)


def every_answer(conn: psycopg.Connection, f: Filters, interval: str) -> dict:
    """What every analytics function answers to `f`, by name."""
    return {
        "kpis": analytics.kpis(conn, f),
        "timeseries": analytics.timeseries(conn, f, interval),
        "occupancy": analytics.occupancy(conn, f, interval),
        "by camera": analytics.dwell_groups(conn, f, "camera"),
        "by bucket": analytics.dwell_groups(conn, f, interval),
        "per camera": analytics.per_camera(conn, f),
        "repeat": analytics.repeat_visitors(conn, f),
        "report": analytics.report(conn, f),
        "dwell histogram": chart(conn, "dwell-histogram", f),
    } | ({
        "by gender": analytics.dwell_groups(conn, f, "attribute:gender"),
        "demographics": analytics.demographics(conn, f, "gender"),
    } if "gender" in known_attributes(conn) else {})


def from_events(conn: psycopg.Connection, f: Filters, interval: str) -> dict:
    """every_answer() with the rollups set aside: every function answers from the events."""
    rollups.mark_stale(conn)
    try:
        return every_answer(conn, f, interval)
    finally:
        conn.execute("UPDATE rollup_state SET ready = true")  # nothing changed meanwhile


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rows=st.lists(event, min_size=1, max_size=40), split=st.randoms(use_true_random=False),
       files=st.integers(1, 3), partitioning=PARTITIONINGS,
       questions=st.lists(filters, min_size=1, max_size=3),
       interval=st.sampled_from(["hour", "day", "week"]), held=st.booleans(),
       sweep_hours=st.sampled_from([rollups.SWEEP_HOURS, 1, 5]))
def test_rollups_answer_like_the_events_however_the_data_arrived(
        clean_database_url, tmp_path, rows, split, files, partitioning, questions, interval,
        held, sweep_hours):
    """With the members held in memory, or (as for rollups too large to hold) read per answer;
    with the occupancy of refreshed hours swept in one window or in windows of a few hours."""
    with psycopg.connect(clean_database_url, autocommit=True) as conn, holding(held), \
            sweeping(sweep_hours):
        empty_store(conn)
        for path in dealt_into_files(tmp_path, rows, split, files):
            ingest_file(conn, path, partitioning=partitioning)
        assert rollups.ready(conn)
        for f in [Filters(), *questions]:
            whole_hours = f.tz != "Asia/Kolkata"  # its hours begin at half past
            assert hourly.kpis(conn, f) is not None
            assert (hourly.timeseries(conn, f, interval) is not None) == whole_hours
            assert (hourly.repeat_rows(conn, f) is not None) == whole_hours
            assert (hourly.report(conn, f) is not None) == whole_hours
            assert hourly.dwell_ms(conn, f) is not None
            assert hourly.groups(conn, f, "attribute:gender") is not None or \
                "gender" not in known_attributes(conn)
            fast, slow = every_answer(conn, f, interval), from_events(conn, f, interval)
            for name in fast:
                assert fast[name] == slow[name], (name, f, interval)


@contextmanager
def sweeping(hours: int) -> Iterator[None]:
    """The occupancy refresh swept in windows of `hours`."""
    was = rollups.SWEEP_HOURS
    rollups.SWEEP_HOURS = hours
    try:
        yield
    finally:
        rollups.SWEEP_HOURS = was


@contextmanager
def holding(held: bool) -> Iterator[None]:
    """Rollup members held in memory (the default) or read by each answer."""
    was = members.MAX_HELD
    members.MAX_HELD = was if held else -1
    try:
        yield
    finally:
        members.MAX_HELD = was


def test_members_held_in_memory_follow_every_change_of_the_rollups(conn, tmp_path) -> None:
    first = [(60, "P1", "C1", "entry"), (200, "P1", "C1", "exit")]
    ingest_file(conn, write_csv(tmp_path / "a.csv", first))
    assert from_rollups_kpis(conn, Filters())["unique_visitors"] == 1
    generation = conn.execute("SELECT generation FROM rollup_state").fetchone()[0]
    ingest_file(conn, write_csv(tmp_path / "b.csv", [(300, "P2", "C2", "entry")]))
    assert from_rollups_kpis(conn, Filters())["unique_visitors"] == 2
    renewed = conn.execute("SELECT generation FROM rollup_state").fetchone()[0]
    assert renewed != generation
    # Any statement on the rollup rows renews it, whoever runs it.
    conn.execute("UPDATE rollup_hours SET visitors = visitors")
    assert conn.execute("SELECT generation FROM rollup_state").fetchone()[0] != renewed
    empty_store(conn)
    assert from_rollups_kpis(conn, Filters())["unique_visitors"] == 0


def test_a_range_starting_during_visits_counts_only_those_entering_in_it(conn, tmp_path) -> None:
    """P1 is present 09:30-11:30 and P2 10:15-10:45. From 10:00 on, P1's visit does not
    count (sessions filter by entry), though the rollup of hour 10 holds both."""
    rows = [(9 * 60 + 30, "P1", "C1", "entry"), (11 * 60 + 30, "P1", "C1", "exit"),
            (10 * 60 + 15, "P2", "C2", "entry"), (10 * 60 + 45, "P2", "C2", "exit"),
            (12 * 60, "P3", "C1", "entry"), (13 * 60, "P3", "C1", "exit")]
    ingest_file(conn, write_csv(tmp_path / "a.csv", rows))
    whole = from_rollups_kpis(conn, Filters())
    assert (whole["peak_occupancy"], whole["peak_occupancy_at"]) == (2, "2024-03-30T10:15:00Z")
    later = Filters(start=BASE + timedelta(hours=10))
    got = from_rollups_kpis(conn, later)
    assert (got["peak_occupancy"], got["peak_occupancy_at"]) == (1, "2024-03-30T10:15:00Z")
    assert got["total_events"] == 5 and got["unique_visitors"] == 3
    assert got["sessions"]["complete"] == 2 and got["median_dwell_s"] == 2700.0
    assert got == from_events_kpis(conn, later)
    hours = {row["bucket"]: row for row in from_rollups_series(conn, later, "hour")}
    assert hours["2024-03-30T10:00:00Z"]["peak_occupancy"] == 1
    assert hours["2024-03-30T10:00:00Z"]["mean_occupancy"] == pytest.approx(1800 / 3600)
    assert hours["2024-03-30T11:00:00Z"]["peak_occupancy"] == 0  # P1 entered before the range
    assert list(hours.values()) == from_events_series(conn, later, "hour")


def test_questions_the_rollups_cannot_answer_exactly_go_to_the_events(conn, tmp_path) -> None:
    rows = [(600, "P1", "C1", "entry"), (700, "P1", "C1", "exit"), (800, "P2", "C2", "entry")]
    ingest_file(conn, write_csv(tmp_path / "a.csv", rows))
    for f in (Filters(person_ids=("P1",)),
              Filters(start=BASE + timedelta(hours=10, minutes=30)),     # inside an hour
              Filters(end=BASE + timedelta(hours=11, seconds=1))):
        assert hourly.kpis(conn, f) is None
        assert kpis(conn, f) == from_events_kpis(conn, f)
    # A bound outside the data is no bound, wherever it lies.
    assert hourly.kpis(conn, Filters(end=BASE + timedelta(days=9, seconds=1))) is not None
    assert hourly.timeseries(conn, Filters(tz="Asia/Kolkata"), "hour") is None
    assert timeseries(conn, Filters(tz="Asia/Kolkata"), "hour") == \
        from_events_series(conn, Filters(tz="Asia/Kolkata"), "hour")


def test_a_store_loaded_without_rollups_answers_from_events_until_the_next_upload(
        conn, tmp_path) -> None:
    first = [(60, "P1", "C1", "entry"), (200, "P1", "C1", "exit"), (250, "P2", "C1", "entry")]
    ingest_file(conn, write_csv(tmp_path / "a.csv", first), rollups=False)
    assert not rollups.ready(conn)
    assert hourly.kpis(conn, Filters()) is None
    assert kpis(conn, Filters()) == from_events_kpis(conn, Filters())
    second = [(300, "P2", "C1", "exit"), (2000, "P3", "C2", "entry")]
    ingest_file(conn, write_csv(tmp_path / "b.csv", second))
    assert rollups.ready(conn)
    assert from_rollups_kpis(conn, Filters()) == from_events_kpis(conn, Filters())
    assert from_rollups_kpis(conn, Filters())["unique_visitors"] == 3
    keys = conn.execute("SELECT count(*), max(person_key) FROM person_keys").fetchone()
    assert keys == (3, 3)  # dense: known persons draw no new key


def test_touched_hours_cover_events_and_every_hour_under_a_span() -> None:
    hour = 3_600_000
    got = touched_hours(np.array([5 * hour + 10, 5 * hour + 20, 9 * hour]),
                        np.array([7 * hour + 1, 20 * hour]), np.array([8 * hour, 20 * hour + 5]))
    assert got.tolist() == [5, 7, 8, 9, 20]
    assert touched_hours(np.array([], dtype=np.int64), np.array([], dtype=np.int64),
                         np.array([], dtype=np.int64)).tolist() == []
    assert hour_runs(got) == [(5, 6), (7, 10), (20, 21)]
    assert hour_runs(np.array([], dtype=np.int64)) == []


@pytest.mark.parametrize("dwell_ms, fraction, expected", [
    ([3000], 0.5, 3.0), ([1000, 2001], 0.5, 1.5005), ([4000, 1000, 3000, 2000], 0.9, 3.7),
    ([], 0.5, None),
])
def test_percentiles_interpolate_between_ranks_as_percentile_cont_does(
        conn, dwell_ms, fraction, expected) -> None:
    got = hourly.percentiles(np.array(dwell_ms, dtype=np.int32), fraction)[0]
    assert got == (pytest.approx(expected) if expected is not None else None)
    in_sql = conn.execute("SELECT percentile_cont(%s) WITHIN GROUP (ORDER BY v / 1000.0::float8)"
                          " FROM unnest(%s::int[]) v", (fraction, dwell_ms)).fetchone()[0]
    assert got == in_sql  # the very same float


def test_a_dwell_longer_than_the_rollups_keep_is_answered_from_the_sessions(conn, tmp_path) -> None:
    """Dwell times are kept as int4 milliseconds (24.8 days); a longer one, possible with a
    larger max_session_s, saturates there and sends its ranges to the events."""
    rows = [(0, "P1", "C1", "entry"), (25 * 24 * 60, "P1", "C1", "exit"),
            (60, "P2", "C1", "entry"), (120, "P2", "C1", "exit")]
    ingest_file(conn, write_csv(tmp_path / "long.csv", rows),
                IngestOptions(max_session_s=30 * 86400))
    assert hourly.kpis(conn, Filters()) is None
    assert hourly.timeseries(conn, Filters(), "day") is None
    assert kpis(conn, Filters())["max_dwell_s"] == 25 * 86400
    assert kpis(conn, Filters()) == from_events_kpis(conn, Filters())
    later = Filters(start=BASE + timedelta(hours=1))  # only P2's hour: exact again
    assert from_rollups_kpis(conn, later) == from_events_kpis(conn, later)


def test_dwell_rebuild_rollups_makes_a_store_loaded_without_them_answer_from_them(
        conn, clean_database_url, tmp_path) -> None:
    rows = [(60, "P1", "C1", "entry"), (200, "P1", "C1", "exit"), (3000, "P2", "C2", "entry"),
            (3100, "P2", "C2", "exit")]
    ingest_file(conn, write_csv(tmp_path / "a.csv", rows), rollups=False)
    assert hourly.kpis(conn, Filters()) is None
    done = subprocess.run([str(Path(sys.executable).parent / "dwell"), "rebuild-rollups",
                           "--database-url", clean_database_url],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "rollups rebuilt" in done.stdout
    assert rollups.ready(conn)
    assert from_rollups_kpis(conn, Filters()) == from_events_kpis(conn, Filters())
    assert from_rollups_kpis(conn, Filters())["sessions"]["complete"] == 2


def test_a_returning_person_turns_an_open_session_of_the_past_into_a_missing_exit(
        conn, tmp_path) -> None:
    """The past hour is recounted, not recomputed; the numbers are the events' all the same."""
    ingest_file(conn, write_csv(tmp_path / "a.csv", [(600, "P1", "C1", "entry"),
                                                     (700, "P2", "C1", "entry"),
                                                     (710, "P2", "C1", "exit")]))
    ingest_file(conn, write_csv(tmp_path / "b.csv", [(3000, "P1", "C1", "entry")]))
    got = from_rollups_kpis(conn, Filters())
    assert got["sessions"] == {"complete": 1, "missing_exit": 1, "open": 1}
    assert got == from_events_kpis(conn, Filters())
    row = conn.execute("SELECT open, missing_exit FROM rollup_hours"
                       " WHERE hour = %s AND camera_id = 'C1'", (BASE + timedelta(hours=10),)
                       ).fetchone()
    assert row == (0, 1)


def test_hours_after_the_start_with_nobody_entered_yet_have_no_presence(conn, tmp_path) -> None:
    """P3 is present from 00:00 to 24:00; from 01:00 on nobody counts until someone enters.
    The hours swept for that stretch hold only marks (an empty sweep ends without a next
    instant), which must count as nobody, not as unknown."""
    ingest_file(conn, write_csv(tmp_path / "a.csv", [(0, "P3", "C3", "entry"),
                                                     (283, "P5", "C3", "other"),
                                                     (1440, "P3", "C3", "exit")]))
    later = Filters(start=BASE + timedelta(hours=1))
    fast = from_rollups_series(conn, later, "hour")
    assert fast == from_events_series(conn, later, "hour")
    assert {row["peak_occupancy"] for row in fast} == {0}


def rollup_tables(conn: psycopg.Connection) -> dict[str, list]:
    """Every rollup row, members as sorted multisets (their order is no part of them)."""
    def members(raw: bytes) -> list[int]:
        return sorted(np.frombuffer(raw, ">i4").tolist())

    def pairs(keys: bytes, dwells: bytes) -> list[tuple[int, int]]:
        return sorted(zip(np.frombuffer(keys, ">i4").tolist(), np.frombuffer(dwells, ">i4").tolist()))

    hours = conn.execute(
        "SELECT hour, camera_id, events, entries, exits, orphan_exits, complete, missing_exit,"
        " open, dwell_sum, dwell_min, dwell_max, visitors, dwellers, dwells"
        " FROM rollup_hours ORDER BY 1, 2").fetchall()
    combinations = conn.execute(
        "SELECT hour, camera_id, attribute_set, events, sessions, complete, dwell_sum, dwell_min,"
        " dwell_max, visitors, dwells FROM rollup_attributes ORDER BY 1, 2, 3").fetchall()
    return {
        "hours": [(*row[:12], members(row[12]), pairs(row[13], row[14])) for row in hours],
        "attributes": [(*row[:9], members(row[9]), sorted(np.frombuffer(row[10], ">i4").tolist()))
                       for row in combinations],
        "occupancy": conn.execute("SELECT * FROM rollup_occupancy ORDER BY 1").fetchall(),
    }


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rows=st.lists(crowded_event, min_size=1, max_size=60), split=st.randoms(use_true_random=False),
       files=st.integers(1, 3), partitioning=PARTITIONINGS,
       known_persons=st.lists(st.sampled_from(["P1", "P3", "P9"]), unique=True),
       lookups=st.sampled_from([touched.BY_SCAN, touched.BY_PROBES]))
def test_rollups_made_from_uploads_equal_those_the_stored_rows_give(
        clean_database_url, tmp_path, monkeypatch, rows, split, files, partitioning,
        known_persons, lookups) -> None:
    """An upload makes the rollup rows of the hours only its own events fill from its own
    arrays, part by part (every hour, into an empty store); rebuilt from the stored events
    and sessions with the SQL every other hour is refreshed with, they are the same, row
    for row, after every upload. Persons may have keys already (a store whose events were
    all deleted keeps them). Later uploads find their stored rows either way."""
    with psycopg.connect(clean_database_url, autocommit=True) as conn, \
            monkeypatch.context() as patch:
        patch.setattr(touched, "choose_lookups", lambda keys, sessions: lookups)
        empty_store(conn)
        conn.execute("INSERT INTO person_keys (person_id) SELECT unnest(%s::text[])",
                     (known_persons,))
        known = dict(conn.execute("SELECT person_id, person_key FROM person_keys").fetchall())
        for number, path in enumerate(dealt_into_files(tmp_path, rows, split, files)):
            ingest_file(conn, path, partitioning=partitioning)
            assert rollups.ready(conn)
            made = rollup_tables(conn)
            rebuild_rollups(conn)
            assert rollup_tables(conn) == made, number
        keys = dict(conn.execute("SELECT person_id, person_key FROM person_keys").fetchall())
        assert {p: keys[p] for p in known} == known
        assert sorted(keys.values()) == list(range(1, len(keys) + 1))  # dense, none twice


def test_a_refresh_of_current_rollups_without_the_uploads_staged_rows_is_refused(conn) -> None:
    """Staging gives an upload's persons their keys: a refresh without it would leave new
    persons out of the rows it recomputes, so it is an error, not a quiet miscount."""
    assert rollups.ready(conn)
    with pytest.raises(ValueError, match="staged rows"):
        rollups.refresh(conn, rollups.Changes.none())
