"""Analytics over a real PostgreSQL (SPEC §5-§10, §12), on small hand-computed datasets.

Rows are inserted directly, the way the ingest pipeline leaves them: every session has its
entry event (and its exit event when complete), an orphan exit is an exit with no session.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dwell import analytics
from dwell.analytics import Filters
from dwell.analytics.formatting import iso_utc
from dwell.analytics.sql import ZoneProfile, zone_profile
from dwell.store import rollups

pytestmark = pytest.mark.integration

UTC = timezone.utc


def at(text: str) -> datetime:
    """An instant from `2024-03-05T10:00:00Z`-style text."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class Store:
    """Inserts events and sessions with explicit ids, as the ingest pipeline stores them."""

    conn: psycopg.Connection
    rollups: bool = False    # keep the hourly rollups current, so analytics answer from them
    upload_id: int = 0
    next_event_id: int = 1
    next_session_id: int = 1
    lines: int = 1
    attributes_seen: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.upload_id = self.conn.execute(
            "INSERT INTO uploads (filename) VALUES ('analytics_test.csv') RETURNING id"
        ).fetchone()[0]
        self.sync()

    def sync(self) -> None:
        """Rows written behind the pipeline's back: the rollups are rebuilt from them, or
        marked stale so that every answer comes from the events."""
        with self.conn.transaction():
            rollups.mark_stale(self.conn)
            if self.rollups:
                rollups.refresh(self.conn, rollups.Changes.none())

    def event(self, ts: str | datetime, person: str, camera: str, kind: str = "other", *,
              session_id: int | None = None, dwell_s: float | None = None,
              attributes: dict[str, Any] | None = None, sync: bool = True) -> int:
        event_id = self.next_event_id
        self.next_event_id += 1
        self.lines += 1
        moment = at(ts) if isinstance(ts, str) else ts
        self.conn.execute(
            "INSERT INTO camera_events (id, upload_id, line, ts, person_id, camera_id, event_type,"
            " raw_event_type, session_id, dwell_duration, attribute_set)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (event_id, self.upload_id, self.lines, moment, person, camera, kind, kind, session_id,
             dwell_s, self.attribute_set(attributes)),
        )
        for name in attributes or {}:
            if name not in self.attributes_seen:
                self.attributes_seen.add(name)
                self.conn.execute("INSERT INTO attributes (name, first_upload_id) VALUES (%s, %s)"
                                  " ON CONFLICT DO NOTHING", (name, self.upload_id))
        if sync:
            self.sync()
        return event_id

    def attribute_set(self, attributes: dict[str, Any] | None) -> int:
        """The id of this combination in `attribute_sets`, added when new."""
        return self.conn.execute(
            "WITH added AS (INSERT INTO attribute_sets (attributes) VALUES (%s::jsonb)"
            " ON CONFLICT (attributes) DO NOTHING RETURNING attribute_set)"
            " SELECT attribute_set FROM added UNION ALL"
            " SELECT attribute_set FROM attribute_sets WHERE attributes = %s::jsonb",
            (json.dumps(attributes or {}),) * 2).fetchone()[0]

    def visit(self, person: str, camera: str, entry: str | datetime,
              exit: str | datetime | None = None, *, status: str | None = None,
              attributes: dict[str, Any] | None = None) -> int:
        """A session with its entry event; complete ones get their exit event too."""
        status = status or ("complete" if exit is not None else "open")
        entry_ts = at(entry) if isinstance(entry, str) else entry
        exit_ts = (at(exit) if isinstance(exit, str) else exit) if status == "complete" else None
        session_id = self.next_session_id
        self.next_session_id += 1
        entry_id = self.event(entry_ts, person, camera, "entry", session_id=session_id,
                              attributes=attributes, sync=False)
        exit_id = dwell_s = None
        if exit_ts is not None:
            dwell_s = (exit_ts - entry_ts).total_seconds()
            exit_id = self.event(exit_ts, person, camera, "exit", session_id=session_id,
                                 dwell_s=dwell_s, attributes=attributes, sync=False)
        self.conn.execute(
            "INSERT INTO person_sessions (id, person_id, camera_id, entry_ts, exit_ts, status,"
            " dwell_s, entry_event_id, exit_event_id, attribute_set)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (session_id, person, camera, entry_ts, exit_ts, status, dwell_s, entry_id, exit_id,
             self.attribute_set(attributes)),
        )
        self.sync()
        return session_id

    def orphan_exit(self, person: str, camera: str, ts: str | datetime) -> int:
        return self.event(ts, person, camera, "exit")

    def clear(self) -> None:
        self.conn.execute("DELETE FROM person_sessions")
        self.conn.execute("DELETE FROM camera_events")
        self.sync()


@pytest.fixture(params=["events", "rollups"])
def store(conn: psycopg.Connection, request: pytest.FixtureRequest) -> Store:
    """Every question answered from the events, and again from the hourly rollups wherever
    they can answer it."""
    return Store(conn, rollups=request.param == "rollups")


def by_bucket(series: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["bucket"]: row for row in series}


# --- formatting -------------------------------------------------------------------------

def test_iso_utc_shows_milliseconds_only_when_not_zero() -> None:
    assert iso_utc(at("2024-03-05T14:00:00Z")) == "2024-03-05T14:00:00Z"
    assert iso_utc(at("2024-03-05T14:00:00.123Z")) == "2024-03-05T14:00:00.123Z"
    assert iso_utc(datetime(2024, 3, 5, 15, 0, tzinfo=timezone(timedelta(hours=1)))) == \
        "2024-03-05T14:00:00Z"
    assert iso_utc(None) is None


@pytest.mark.parametrize("tz, fixed_offset_s, hour_phase_s, whole_hours", [
    ("UTC", 0, 0, True),
    ("Asia/Kolkata", 19800, 1800, False),
    ("Europe/Berlin", None, 0, True),
    ("America/St_Johns", None, 1800, False),       # -03:30 / -02:30
    ("Australia/Lord_Howe", None, 1800, False),    # +10:30 standard, +11:00 in summer
])
def test_zone_profile_tells_where_arithmetic_can_replace_conversion(
        tz: str, fixed_offset_s: int | None, hour_phase_s: int | None, whole_hours: bool) -> None:
    assert zone_profile(tz) == ZoneProfile(fixed_offset_s, hour_phase_s, whole_hours)


# --- KPIs (SPEC §6) ---------------------------------------------------------------------

def test_kpis_of_an_empty_store_are_zero_counts_and_null_statistics(store: Store) -> None:
    assert analytics.kpis(store.conn, Filters()) == {
        "total_events": 0, "unique_visitors": 0, "active_cameras": 0,
        "sessions": {"complete": 0, "missing_exit": 0, "open": 0}, "orphan_exits": 0,
        "avg_dwell_s": None, "median_dwell_s": None, "max_dwell_s": None, "min_dwell_s": None,
        "p90_dwell_s": None, "avg_dwell_per_person_s": None,
        "peak_occupancy": 0, "peak_occupancy_at": None,
    }


def test_kpis_count_events_visitors_cameras_sessions_by_status_and_orphan_exits(
        store: Store) -> None:
    store.visit("p1", "c1", "2024-03-05T10:00:00Z", "2024-03-05T10:10:00Z")
    store.visit("p1", "c2", "2024-03-05T11:00:00Z", status="missing_exit")
    store.visit("p2", "c2", "2024-03-05T11:30:00Z", status="open")
    store.orphan_exit("p3", "c3", "2024-03-05T12:00:00Z")
    store.event("2024-03-05T12:30:00Z", "p3", "c3", "other")

    kpis = analytics.kpis(store.conn, Filters())

    assert kpis["total_events"] == 6
    assert kpis["unique_visitors"] == 3
    assert kpis["active_cameras"] == 3
    assert kpis["sessions"] == {"complete": 1, "missing_exit": 1, "open": 1}
    assert kpis["orphan_exits"] == 1


def test_dwell_statistics_use_complete_sessions_with_even_count_median_and_p90_interpolation(
        store: Store) -> None:
    for minute, dwell_s in enumerate([30, 10, 100, 20]):
        entry = at("2024-03-05T10:00:00Z") + timedelta(minutes=10 * minute)
        store.visit(f"p{minute}", "c1", entry, entry + timedelta(seconds=dwell_s))
    store.visit("p9", "c1", "2024-03-05T09:00:00Z", status="missing_exit")
    store.visit("p9", "c1", "2024-03-05T12:00:00Z", status="open")

    kpis = analytics.kpis(store.conn, Filters())

    assert kpis["avg_dwell_s"] == 40.0
    assert kpis["median_dwell_s"] == 25.0          # mean of the two middle values 20 and 30
    assert kpis["min_dwell_s"] == 10.0
    assert kpis["max_dwell_s"] == 100.0
    assert kpis["p90_dwell_s"] == pytest.approx(79.0)  # rank 0.9 * 3 = 2.7: 30 + 0.7 * 70
    assert all(isinstance(kpis[k], float) for k in ("avg_dwell_s", "median_dwell_s"))


def test_dwell_keeps_milliseconds(store: Store) -> None:
    store.visit("p1", "c1", "2024-03-05T10:00:00Z", "2024-03-05T10:00:01.250Z")
    assert analytics.kpis(store.conn, Filters())["max_dwell_s"] == 1.25


def test_avg_dwell_per_person_divides_total_dwell_by_persons_with_a_complete_session(
        store: Store) -> None:
    store.visit("p1", "c1", "2024-03-05T10:00:00Z", "2024-03-05T10:00:10Z")
    store.visit("p1", "c2", "2024-03-05T11:00:00Z", "2024-03-05T11:00:20Z")
    store.visit("p2", "c1", "2024-03-05T12:00:00Z", "2024-03-05T12:00:30Z")
    store.visit("p3", "c1", "2024-03-05T13:00:00Z", status="open")

    kpis = analytics.kpis(store.conn, Filters())

    assert kpis["avg_dwell_per_person_s"] == 30.0   # (10 + 20 + 30) / 2 persons
    assert kpis["avg_dwell_s"] == 20.0


# --- occupancy (SPEC §7) ----------------------------------------------------------------

def test_peak_occupancy_counts_one_person_at_two_cameras_at_once_once(store: Store) -> None:
    store.visit("p1", "c1", "2024-03-05T10:00:00Z", "2024-03-05T10:30:00Z")
    store.visit("p1", "c2", "2024-03-05T10:10:00Z", "2024-03-05T10:20:00Z")
    store.visit("p2", "c1", "2024-03-05T10:15:00Z", "2024-03-05T10:40:00Z")

    kpis = analytics.kpis(store.conn, Filters())

    assert kpis["peak_occupancy"] == 2
    assert kpis["peak_occupancy_at"] == "2024-03-05T10:15:00Z"


def test_peak_occupancy_applies_ends_before_starts_at_the_same_instant(store: Store) -> None:
    store.visit("p1", "c1", "2024-03-05T10:00:00Z", "2024-03-05T10:30:00Z")
    store.visit("p2", "c2", "2024-03-05T10:30:00Z", "2024-03-05T11:00:00Z")
    # the same person leaving one camera and entering another at the same instant
    store.visit("p3", "c1", "2024-03-05T12:00:00Z", "2024-03-05T12:30:00Z")
    store.visit("p3", "c2", "2024-03-05T12:30:00Z", "2024-03-05T13:00:00Z")

    kpis = analytics.kpis(store.conn, Filters())

    assert kpis["peak_occupancy"] == 1
    assert kpis["peak_occupancy_at"] == "2024-03-05T10:00:00Z"


def test_peak_occupancy_at_is_the_first_instant_the_peak_is_reached(store: Store) -> None:
    store.visit("p1", "c1", "2024-03-05T10:00:00Z", "2024-03-05T10:10:00Z")
    store.visit("p2", "c1", "2024-03-05T10:05:00.500Z", "2024-03-05T10:10:00Z")
    store.visit("p3", "c1", "2024-03-05T11:00:00Z", "2024-03-05T11:30:00Z")
    store.visit("p4", "c1", "2024-03-05T11:20:00Z", "2024-03-05T11:40:00Z")

    kpis = analytics.kpis(store.conn, Filters())

    assert kpis["peak_occupancy"] == 2
    assert kpis["peak_occupancy_at"] == "2024-03-05T10:05:00.500Z"


def test_zero_length_sessions_are_never_present(store: Store) -> None:
    store.visit("p1", "c1", "2024-03-05T10:00:00Z", "2024-03-05T10:00:00Z")
    store.visit("p2", "c1", "2024-03-05T10:20:00Z", status="open")
    store.visit("p3", "c1", "2024-03-05T10:30:00Z", status="missing_exit")

    kpis = analytics.kpis(store.conn, Filters())
    hourly = analytics.timeseries(store.conn, Filters(), "hour")

    assert kpis["sessions"]["complete"] == 1 and kpis["min_dwell_s"] == 0.0
    assert (kpis["peak_occupancy"], kpis["peak_occupancy_at"]) == (0, None)
    assert [(b["peak_occupancy"], b["mean_occupancy"]) for b in hourly] == [(0, 0.0)]


def test_bucket_peak_and_mean_include_the_level_carried_in_at_the_bucket_start(
        store: Store) -> None:
    store.visit("p1", "c1", "2024-03-05T10:30:00Z", "2024-03-05T12:15:00Z")

    series = by_bucket(analytics.occupancy(store.conn, Filters(), "hour"))

    assert list(series) == ["2024-03-05T10:00:00Z", "2024-03-05T11:00:00Z",
                            "2024-03-05T12:00:00Z"]
    assert [(b["peak_occupancy"], b["mean_occupancy"], b["visitors"])
            for b in series.values()] == [(1, 0.5, 1), (1, 1.0, 0), (1, 0.25, 1)]


def test_a_person_leaving_exactly_at_a_bucket_start_is_not_carried_in(store: Store) -> None:
    store.visit("p1", "c1", "2024-03-05T10:00:00Z", "2024-03-05T11:00:00Z")
    store.event("2024-03-05T11:30:00Z", "p2", "c1")

    series = analytics.timeseries(store.conn, Filters(), "hour")

    assert [(b["bucket"], b["peak_occupancy"], b["mean_occupancy"]) for b in series] == [
        ("2024-03-05T10:00:00Z", 1, 1.0), ("2024-03-05T11:00:00Z", 0, 0.0)]


def test_mean_occupancy_of_a_berlin_spring_forward_day_divides_by_23_hours(
        store: Store) -> None:
    # 2024-03-31 in Europe/Berlin runs from 2024-03-30T23:00Z to 2024-03-31T22:00Z: 23 h.
    store.visit("p1", "c1", "2024-03-30T23:00:00Z", "2024-03-31T22:00:00Z")  # the whole day
    store.visit("p2", "c1", "2024-03-31T08:00:00Z", "2024-03-31T19:30:00Z")  # 11.5 h

    daily = analytics.timeseries(store.conn, Filters(tz="Europe/Berlin"), "day")

    assert [b["bucket"] for b in daily] == ["2024-03-30T23:00:00Z", "2024-03-31T22:00:00Z"]
    assert daily[0]["mean_occupancy"] == pytest.approx(1.5)
    assert daily[0]["peak_occupancy"] == 2
    assert daily[1]["mean_occupancy"] == 0.0 and daily[1]["peak_occupancy"] == 0
    assert daily[1]["exits"] == 1


def test_hourly_series_of_a_spring_forward_night_has_no_missing_or_doubled_hour(
        store: Store) -> None:
    # Berlin skips 02:00-03:00 local on 2024-03-31: 00:00Z is 01:00 CET, 01:00Z is 03:00 CEST.
    store.event("2024-03-31T00:30:00Z", "p1", "c1")
    store.event("2024-03-31T01:30:00Z", "p1", "c1")

    hourly = analytics.timeseries(store.conn, Filters(tz="Europe/Berlin"), "hour")

    assert [(b["bucket"], b["events"]) for b in hourly] == [
        ("2024-03-31T00:00:00Z", 1), ("2024-03-31T01:00:00Z", 1)]


def test_hourly_buckets_of_a_fall_back_night_keep_both_repeated_hours(store: Store) -> None:
    # Berlin repeats 02:00-03:00 local on 2024-10-27: 00:30Z and 01:30Z are both 02:30 local.
    store.event("2024-10-27T00:30:00Z", "p1", "c1")
    store.event("2024-10-27T01:30:00Z", "p2", "c1")

    hourly = analytics.timeseries(store.conn, Filters(tz="Europe/Berlin"), "hour")
    daily = analytics.timeseries(store.conn, Filters(tz="Europe/Berlin"), "day")

    assert [(b["bucket"], b["events"]) for b in hourly] == [
        ("2024-10-27T00:00:00Z", 1), ("2024-10-27T01:00:00Z", 1)]
    assert [(b["bucket"], b["events"]) for b in daily] == [("2024-10-26T22:00:00Z", 2)]


def test_hourly_buckets_follow_local_hours_in_a_half_hour_offset_zone(store: Store) -> None:
    store.event("2024-03-05T10:10:00Z", "p1", "c1")   # 15:40 in Asia/Kolkata (+05:30)

    hourly = analytics.timeseries(store.conn, Filters(tz="Asia/Kolkata"), "hour")

    assert [b["bucket"] for b in hourly] == ["2024-03-05T09:30:00Z"]


def test_series_is_continuous_from_first_to_last_event_with_empty_buckets(store: Store) -> None:
    store.visit("p1", "c1", "2024-03-05T10:05:00Z", "2024-03-05T10:25:00Z")
    store.event("2024-03-05T13:10:00Z", "p2", "c2")

    hourly = analytics.timeseries(store.conn, Filters(), "hour")

    assert [b["bucket"] for b in hourly] == [
        "2024-03-05T10:00:00Z", "2024-03-05T11:00:00Z", "2024-03-05T12:00:00Z",
        "2024-03-05T13:00:00Z"]
    assert hourly[1] == {
        "bucket": "2024-03-05T11:00:00Z", "events": 0, "entries": 0, "exits": 0,
        "unique_visitors": 0, "sessions_started": 0, "avg_dwell_s": None,
        "median_dwell_s": None, "max_dwell_s": None, "peak_occupancy": 0,
        "mean_occupancy": 0.0,
    }
    assert hourly[0]["events"] == 2 and hourly[3]["events"] == 1


def test_an_empty_selection_has_an_empty_series(store: Store) -> None:
    assert analytics.timeseries(store.conn, Filters(), "day") == []
    assert analytics.occupancy(store.conn, Filters(), "hour") == []


def test_bucket_counts_sessions_started_of_every_status_and_dwell_of_complete_ones(
        store: Store) -> None:
    store.visit("p1", "c1", "2024-03-05T10:00:00Z", "2024-03-05T10:00:10Z")
    store.visit("p2", "c1", "2024-03-05T10:10:00Z", "2024-03-05T10:10:30Z")
    store.visit("p3", "c1", "2024-03-05T10:20:00Z", "2024-03-05T11:20:00Z")  # exits next hour
    store.visit("p4", "c1", "2024-03-05T10:30:00Z", status="missing_exit")
    store.visit("p5", "c1", "2024-03-05T10:40:00Z", status="open")
    store.orphan_exit("p6", "c1", "2024-03-05T10:50:00Z")

    first, second = analytics.timeseries(store.conn, Filters(), "hour")

    assert first["events"] == 8 and first["entries"] == 5 and first["exits"] == 3
    assert first["unique_visitors"] == 6
    assert first["sessions_started"] == 5
    assert first["avg_dwell_s"] == pytest.approx((10 + 30 + 3600) / 3)
    assert first["median_dwell_s"] == 30.0
    assert first["max_dwell_s"] == 3600.0
    assert second["sessions_started"] == 0 and second["exits"] == 1
    assert second["avg_dwell_s"] is None


def test_week_buckets_are_iso_weeks_starting_monday_in_the_zone(store: Store) -> None:
    # Sunday 2024-03-10 23:30 and Monday 2024-03-11 00:30 in Berlin; both are Sunday in UTC.
    store.event("2024-03-10T22:30:00Z", "p1", "c1")
    store.event("2024-03-10T23:30:00Z", "p1", "c1")

    berlin = analytics.timeseries(store.conn, Filters(tz="Europe/Berlin"), "week")
    utc = analytics.timeseries(store.conn, Filters(), "week")

    assert [(b["bucket"], b["events"]) for b in berlin] == [
        ("2024-03-03T23:00:00Z", 1), ("2024-03-10T23:00:00Z", 1)]
    assert [(b["bucket"], b["events"]) for b in utc] == [("2024-03-04T00:00:00Z", 2)]


def test_week_mean_occupancy_divides_by_the_real_week_length(store: Store) -> None:
    # The Berlin week of Monday 2024-03-25 holds the spring-forward night: 167 h.
    store.visit("p1", "c1", "2024-03-24T23:00:00Z", "2024-03-31T22:00:00Z")

    weeks = analytics.timeseries(store.conn, Filters(tz="Europe/Berlin"), "week")

    assert weeks[0]["bucket"] == "2024-03-24T23:00:00Z"
    assert weeks[0]["mean_occupancy"] == pytest.approx(1.0)


def test_buckets_of_a_fixed_offset_zone_start_at_its_local_midnight(store: Store) -> None:
    # Etc/GMT-3 is UTC+03:00 all year: its days start at 21:00Z, its weeks on Sunday 21:00Z.
    store.visit("p1", "c1", "2024-03-10T20:30:00Z", "2024-03-10T21:30:00Z")   # Sun 23:30 local
    tz = Filters(tz="Etc/GMT-3")

    daily = analytics.timeseries(store.conn, tz, "day")
    weekly = analytics.timeseries(store.conn, tz, "week")
    hourly = analytics.timeseries(store.conn, tz, "hour")

    assert [(b["bucket"], b["events"], b["mean_occupancy"]) for b in daily] == [
        ("2024-03-09T21:00:00Z", 1, pytest.approx(0.5 / 24)),
        ("2024-03-10T21:00:00Z", 1, pytest.approx(0.5 / 24))]
    assert [b["bucket"] for b in weekly] == ["2024-03-03T21:00:00Z", "2024-03-10T21:00:00Z"]
    assert [(b["bucket"], b["mean_occupancy"]) for b in hourly] == [
        ("2024-03-10T20:00:00Z", 0.5), ("2024-03-10T21:00:00Z", 0.5)]


def test_hours_of_a_half_hour_dst_zone_follow_its_standard_time_and_keep_every_event(
        store: Store) -> None:
    # Lord Howe Island is +10:30 in standard time and +11:00 in its summer (March): its hours
    # start at half past the UTC hour all year; days still start at local midnight.
    store.event("2024-03-05T10:10:00Z", "p1", "c1")
    store.event("2024-03-05T13:20:00Z", "p1", "c1")    # 00:20 on 03-06, local

    tz = Filters(tz="Australia/Lord_Howe")
    hourly = analytics.timeseries(store.conn, tz, "hour")
    daily = analytics.timeseries(store.conn, tz, "day")

    assert [(b["bucket"], b["events"]) for b in hourly] == [
        ("2024-03-05T09:30:00Z", 1), ("2024-03-05T10:30:00Z", 0), ("2024-03-05T11:30:00Z", 0),
        ("2024-03-05T12:30:00Z", 1)]
    assert [(b["bucket"], b["events"]) for b in daily] == [
        ("2024-03-04T13:00:00Z", 1), ("2024-03-05T13:00:00Z", 1)]


# --- repeat visitors (SPEC §9) ----------------------------------------------------------

def repeat_dataset(store: Store) -> None:
    # p1: 2024-03-04 22:00 and 2024-03-05 10:00 in New York, one UTC day (03-05)
    store.event("2024-03-05T03:00:00Z", "p1", "c1")
    store.event("2024-03-05T15:00:00Z", "p1", "c2")
    # p2: 03-01 and 03-08 in both zones, with a second event on 03-08
    store.event("2024-03-01T15:00:00Z", "p2", "c1")
    store.event("2024-03-08T15:00:00Z", "p2", "c1")
    store.event("2024-03-08T16:00:00Z", "p2", "c1")
    store.event("2024-03-06T15:00:00Z", "p3", "c1")


def test_repeat_visits_are_local_calendar_days_in_the_zone(store: Store) -> None:
    repeat_dataset(store)

    new_york = analytics.repeat_visitors(store.conn, Filters(tz="America/New_York"))

    assert new_york == {
        "unique_visitors": 3, "repeat_visitors": 2, "repeat_rate": pytest.approx(2 / 3),
        "visits_per_person": {"1": 1, "2": 2}, "mean_days_between_visits": 4.0,
    }


def test_repeat_visits_in_utc_merge_what_new_york_splits(store: Store) -> None:
    repeat_dataset(store)

    utc = analytics.repeat_visitors(store.conn, Filters())

    assert utc == {
        "unique_visitors": 3, "repeat_visitors": 1, "repeat_rate": pytest.approx(1 / 3),
        "visits_per_person": {"1": 2, "2": 1}, "mean_days_between_visits": 7.0,
    }


def test_repeat_visits_in_a_fixed_offset_zone_use_its_calendar_days(store: Store) -> None:
    repeat_dataset(store)

    # Etc/GMT+5 is UTC-05:00 all year, New York's winter offset: the same days.
    fixed = analytics.repeat_visitors(store.conn, Filters(tz="Etc/GMT+5"))

    assert fixed == analytics.repeat_visitors(store.conn, Filters(tz="America/New_York"))
    assert fixed["mean_days_between_visits"] == 4.0


def test_repeat_without_visitors_has_null_rate_and_mean(store: Store) -> None:
    assert analytics.repeat_visitors(store.conn, Filters()) == {
        "unique_visitors": 0, "repeat_visitors": 0, "repeat_rate": None,
        "visits_per_person": {}, "mean_days_between_visits": None,
    }


def test_mean_days_between_visits_averages_every_consecutive_pair(store: Store) -> None:
    for day in ("01", "02", "05"):       # gaps 1 and 3
        store.event(f"2024-03-{day}T12:00:00Z", "p1", "c1")
    store.event("2024-03-01T12:00:00Z", "p2", "c1")
    store.event("2024-03-03T12:00:00Z", "p2", "c1")   # gap 2

    repeat = analytics.repeat_visitors(store.conn, Filters())

    assert repeat["mean_days_between_visits"] == 2.0
    assert repeat["visits_per_person"] == {"2": 1, "3": 1}
    assert repeat["repeat_rate"] == 1.0


# --- groups and demographics (SPEC §10) -------------------------------------------------

def test_attribute_groups_keep_missing_values_as_a_null_group(store: Store) -> None:
    store.visit("p1", "c1", "2024-03-05T10:00:00Z", "2024-03-05T10:01:00Z",
                attributes={"gender": "f", "age_group": "25-34"})
    store.visit("p2", "c1", "2024-03-05T10:00:00Z", "2024-03-05T10:03:00Z",
                attributes={"gender": "f"})
    store.visit("p3", "c1", "2024-03-05T10:00:00Z", "2024-03-05T10:02:00Z",
                attributes={"gender": None})
    store.visit("p4", "c1", "2024-03-05T10:00:00Z", status="open", attributes={"gender": ""})
    store.event("2024-03-05T11:00:00Z", "p5", "c1", attributes={})

    groups = analytics.dwell_groups(store.conn, Filters(), "attribute:gender")

    assert [g["group"] for g in groups] == ["f", None]
    female, missing = groups
    assert (female["events"], female["unique_visitors"], female["sessions"]) == (4, 2, 2)
    assert female["avg_dwell_s"] == 120.0 and female["median_dwell_s"] == 120.0
    assert (missing["events"], missing["unique_visitors"], missing["sessions"]) == (4, 3, 2)
    assert missing["complete_sessions"] == 1 and missing["avg_dwell_s"] == 120.0


def test_a_session_takes_its_attribute_from_its_entry_event(store: Store) -> None:
    session_id = store.visit("p1", "c1", "2024-03-05T10:00:00Z", "2024-03-05T10:01:00Z",
                             attributes={"zone": "north"})
    # the exit event says otherwise; the session keeps the entry's value
    store.conn.execute("UPDATE camera_events SET attribute_set = %s"
                       " WHERE session_id = %s AND event_type = 'exit'",
                       (store.attribute_set({"zone": "south"}), session_id))
    store.sync()

    groups = analytics.dwell_groups(store.conn, Filters(), "attribute:zone")

    assert [(g["group"], g["events"], g["sessions"]) for g in groups] == [
        ("north", 1, 1), ("south", 1, 0)]


def test_groups_by_person_camera_and_day(store: Store) -> None:
    store.visit("p1", "c1", "2024-03-05T10:00:00Z", "2024-03-05T10:00:10Z")
    store.visit("p1", "c2", "2024-03-06T10:00:00Z", "2024-03-06T10:00:30Z")
    store.visit("p2", "c2", "2024-03-06T11:00:00Z", status="open")

    persons = analytics.dwell_groups(store.conn, Filters(), "person")
    cameras = analytics.dwell_groups(store.conn, Filters(), "camera")
    days = analytics.dwell_groups(store.conn, Filters(), "day")

    assert [(g["group"], g["events"], g["sessions"], g["avg_dwell_s"]) for g in persons] == [
        ("p1", 4, 2, 20.0), ("p2", 1, 1, None)]
    assert [(g["group"], g["unique_visitors"], g["max_dwell_s"]) for g in cameras] == [
        ("c1", 1, 10.0), ("c2", 2, 30.0)]
    assert [(g["group"], g["events"], g["p90_dwell_s"]) for g in days] == [
        ("2024-03-05T00:00:00Z", 2, 10.0), ("2024-03-06T00:00:00Z", 3, 30.0)]


def test_demographics_give_each_value_its_share_of_visitors(store: Store) -> None:
    store.event("2024-03-05T10:00:00Z", "p1", "c1", attributes={"age_group": "25-34"})
    store.event("2024-03-05T10:00:00Z", "p2", "c1", attributes={"age_group": "25-34"})
    store.event("2024-03-05T10:00:00Z", "p3", "c1", attributes={"age_group": "35-44"})
    store.event("2024-03-05T10:00:00Z", "p4", "c1", attributes={})

    rows = analytics.demographics(store.conn, Filters(), "age_group")

    assert [(r["group"], r["unique_visitors"], r["share"]) for r in rows] == [
        ("25-34", 2, 0.5), ("35-44", 1, 0.25), (None, 1, 0.25)]


def test_known_attributes_lists_the_catalogue(store: Store) -> None:
    store.event("2024-03-05T10:00:00Z", "p1", "c1", attributes={"zone": "a", "gender": "f"})
    assert analytics.known_attributes(store.conn) == ["gender", "zone"]


def test_per_camera_has_events_visitors_and_complete_dwell(store: Store) -> None:
    store.visit("p1", "c1", "2024-03-05T10:00:00Z", "2024-03-05T10:00:10Z")
    store.visit("p2", "c1", "2024-03-05T10:00:00Z", "2024-03-05T10:00:20Z")
    store.visit("p2", "c2", "2024-03-05T10:00:00Z", status="open")

    assert analytics.per_camera(store.conn, Filters()) == {
        "c1": {"events": 4, "unique_visitors": 2, "complete_sessions": 2, "avg_dwell_s": 15.0,
               "median_dwell_s": 15.0, "max_dwell_s": 20.0},
        "c2": {"events": 1, "unique_visitors": 1, "complete_sessions": 0, "avg_dwell_s": None,
               "median_dwell_s": None, "max_dwell_s": None},
    }


# --- filters (SPEC §5) ------------------------------------------------------------------

@pytest.fixture
def filter_dataset(store: Store) -> Store:
    store.visit("p1", "c1", "2024-03-05T09:50:00Z", "2024-03-05T10:10:00Z")  # enters before
    store.visit("p2", "c1", "2024-03-05T10:00:00Z", "2024-03-05T10:30:00Z")
    store.visit("p3", "c2", "2024-03-05T10:20:00Z", "2024-03-05T11:10:00Z")  # exits after
    store.visit("p1", "c2", "2024-03-05T11:00:00Z", "2024-03-05T11:05:00Z")  # enters at end
    store.orphan_exit("p4", "c2", "2024-03-05T10:40:00Z")
    return store


def test_time_filter_is_half_open_on_events_and_on_session_entries(
        filter_dataset: Store) -> None:
    window = Filters(start=at("2024-03-05T10:00:00Z"), end=at("2024-03-05T11:00:00Z"))

    kpis = analytics.kpis(filter_dataset.conn, window)

    # events at 10:00 (p2 in), 10:10 (p1 out), 10:20 (p3 in), 10:30 (p2 out), 10:40 (orphan)
    assert kpis["total_events"] == 5
    assert kpis["unique_visitors"] == 4
    assert kpis["orphan_exits"] == 1
    # sessions entering 10:00 and 10:20; not the one entering 09:50 nor the one at 11:00
    assert kpis["sessions"]["complete"] == 2
    assert kpis["max_dwell_s"] == 3000.0
    assert kpis["peak_occupancy"] == 2 and kpis["peak_occupancy_at"] == "2024-03-05T10:20:00Z"


def test_camera_filter_selects_events_and_sessions_of_those_cameras(
        filter_dataset: Store) -> None:
    kpis = analytics.kpis(filter_dataset.conn, Filters(camera_ids=("c2",)))
    both = analytics.kpis(filter_dataset.conn, Filters(camera_ids=("c1", "c2")))

    assert kpis["total_events"] == 5 and kpis["active_cameras"] == 1
    assert kpis["sessions"]["complete"] == 2 and kpis["orphan_exits"] == 1
    assert kpis["peak_occupancy"] == 2 and kpis["peak_occupancy_at"] == "2024-03-05T11:00:00Z"
    assert both["total_events"] == 9


def test_person_filter_selects_events_and_sessions_of_those_persons(
        filter_dataset: Store) -> None:
    kpis = analytics.kpis(filter_dataset.conn, Filters(person_ids=("p1", "p4")))

    assert kpis["total_events"] == 5 and kpis["unique_visitors"] == 2
    assert kpis["sessions"]["complete"] == 2
    assert kpis["avg_dwell_s"] == pytest.approx((1200 + 300) / 2)
    assert kpis["peak_occupancy"] == 1


def test_filters_apply_to_series_repeat_groups_and_per_camera(filter_dataset: Store) -> None:
    conn = filter_dataset.conn
    only = Filters(start=at("2024-03-05T10:00:00Z"), end=at("2024-03-05T11:00:00Z"),
                   camera_ids=("c1",))

    assert [(b["bucket"], b["events"], b["sessions_started"])
            for b in analytics.timeseries(conn, only, "hour")] == [
        ("2024-03-05T10:00:00Z", 3, 1)]
    assert analytics.repeat_visitors(conn, only)["unique_visitors"] == 2
    assert list(analytics.per_camera(conn, only)) == ["c1"]
    assert [g["group"] for g in analytics.dwell_groups(conn, only, "person")] == ["p1", "p2"]
    assert [(b["peak_occupancy"], b["mean_occupancy"])
            for b in analytics.occupancy(conn, only, "hour")] == [(1, 0.5)]


# --- the report document (SPEC §12) and bad input ----------------------------------------

def test_report_has_the_spec_sections_and_is_json_ready(filter_dataset: Store) -> None:
    document = analytics.report(filter_dataset.conn, Filters(tz="Europe/Berlin"))

    assert set(document) == {"kpis", "hourly", "daily", "repeat", "per_camera"}
    assert set(document["hourly"][0]) == {
        "bucket", "events", "entries", "exits", "unique_visitors", "sessions_started",
        "avg_dwell_s", "median_dwell_s", "max_dwell_s", "peak_occupancy", "mean_occupancy"}
    assert document["daily"][0]["bucket"] == "2024-03-04T23:00:00Z"
    assert json.loads(json.dumps(document)) == document


@pytest.mark.parametrize("filters", [
    Filters(tz="Europe/Berlin"),
    Filters(),
    Filters(start=at("2024-03-05T10:00:00Z"), end=at("2024-03-05T11:00:00Z"),
            camera_ids=("c2",), tz="Asia/Kolkata"),
])
def test_report_says_what_the_single_questions_say(filter_dataset: Store,
                                                   filters: Filters) -> None:
    conn = filter_dataset.conn
    filter_dataset.visit("p5", "c2", "2024-03-06T23:30:00Z", "2024-03-07T00:30:00Z")

    document = analytics.report(conn, filters)
    # the same from three connections at once, in one snapshot (as `dwell analyze` runs it)
    dsn = conn.info.dsn
    assert analytics.report(conn, filters,
                            connect=lambda: psycopg.connect(dsn, autocommit=True)) == document

    assert document == {
        "kpis": analytics.kpis(conn, filters),
        "hourly": analytics.timeseries(conn, filters, "hour"),
        "daily": analytics.timeseries(conn, filters, "day"),
        "repeat": analytics.repeat_visitors(conn, filters),
        "per_camera": analytics.per_camera(conn, filters),
    }


@pytest.mark.parametrize("call, parameter", [
    (lambda c: analytics.timeseries(c, Filters(), "month"), "interval"),
    (lambda c: analytics.occupancy(c, Filters(), "minute"), "interval"),
    (lambda c: analytics.kpis(c, Filters(tz="Mars/Olympus")), "tz"),
    (lambda c: analytics.report(c, Filters(tz="../../etc/passwd")), "tz"),
    (lambda c: analytics.dwell_groups(c, Filters(), "attribute:shoe_size"), "group_by"),
    (lambda c: analytics.dwell_groups(c, Filters(), "colour"), "group_by"),
    (lambda c: analytics.demographics(c, Filters(), "shoe_size"), "attribute"),
    (lambda c: analytics.kpis(c, Filters(start=datetime(2024, 3, 5))), "start"),
    (lambda c: analytics.kpis(c, Filters(start=at("2024-03-05T11:00:00Z"),
                                         end=at("2024-03-05T10:00:00Z"))), "end"),
    (lambda c: analytics.kpis(c, Filters(camera_ids="c1")), "camera_ids"),  # type: ignore[arg-type]
])
def test_bad_input_raises_value_error_naming_the_parameter(store: Store, call: Any,
                                                           parameter: str) -> None:
    with pytest.raises(ValueError, match=f"^{parameter}:"):
        call(store.conn)


def test_attribute_names_and_values_are_data_not_sql(store: Store) -> None:
    name = "x'); DROP TABLE camera_events; --"
    store.event("2024-03-05T10:00:00Z", "p'1", "c1", attributes={name: "v'1"})

    groups = analytics.dwell_groups(store.conn, Filters(person_ids=("p'1",)), f"attribute:{name}")

    assert [(g["group"], g["events"]) for g in groups] == [("v'1", 1)]


# --- property: SQL against a plain Python reference --------------------------------------

BASE = at("2024-03-05T09:00:00Z")


def reference_occupancy(sessions: list[tuple[str, str, int, int]], bucket_s: int,
                        origin_s: int = 0
                        ) -> tuple[int, int | None, dict[int, tuple[int, float]]]:
    """Peak, first peak instant and {bucket start: (peak, mean)} by brute force over seconds
    offsets: a person is present at t when one of their sessions has entry <= t < exit.
    Buckets are bucket_s long and one of them starts at origin_s."""
    present = [(p, s, e) for p, _, s, e in sessions if e > s]

    def level(t: int) -> int:
        return len({p for p, s, e in present if s <= t < e})

    def bucket_of(t: int) -> int:
        return origin_s + (t - origin_s) // bucket_s * bucket_s

    instants = sorted({s for _, s, _ in present} | {e for _, _, e in present})
    peak, peak_at = 0, None
    for t in instants:
        if level(t) > peak:
            peak, peak_at = level(t), t
    buckets: dict[int, tuple[int, float]] = {}
    first = bucket_of(min(s for _, _, s, _ in sessions))
    last = bucket_of(max(e for _, _, _, e in sessions))
    for start in range(first, last + 1, bucket_s):
        end = start + bucket_s
        cuts = sorted({start, end} | {t for t in instants if start < t < end})
        person_s = sum(level(a) * (b - a) for a, b in zip(cuts, cuts[1:]))
        buckets[start] = (max(level(t) for t in cuts[:-1]), person_s / bucket_s)
    return peak, peak_at, buckets


def occupancy_of(series: list[dict[str, Any]]) -> dict[str, tuple[int, Any]]:
    return {b["bucket"]: (b["peak_occupancy"], pytest.approx(b["mean_occupancy"]))
            for b in series}


def at_offsets(buckets: dict[int, tuple[int, float]]) -> dict[str, tuple[int, float]]:
    return {iso_utc(BASE + timedelta(seconds=start)): value for start, value in buckets.items()}


session_sets = st.lists(
    st.tuples(st.sampled_from(["p1", "p2", "p3", "p4"]), st.sampled_from(["c1", "c2", "c3"]),
              st.one_of(st.integers(0, 4 * 3600), st.integers(0, 20 * 3600)),
              st.one_of(st.integers(0, 2 * 3600), st.integers(0, 8 * 3600))),
    min_size=1, max_size=12,
).map(lambda rows: [(p, c, s, s + d) for p, c, s, d in rows])


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sessions=session_sets)
def test_occupancy_and_dwell_match_a_python_reference(store: Store,
                                                      sessions: list[tuple[str, str, int, int]]
                                                      ) -> None:
    store.clear()
    seen: set[tuple[str, str, int]] = set()
    kept = []
    for person, camera, start, end in sessions:
        if (person, camera, start) in seen or (person, camera, end) in seen:
            continue          # the store keeps one event per (person, camera, ts, type)
        seen |= {(person, camera, start), (person, camera, end)}
        kept.append((person, camera, start, end))
        store.visit(person, camera, BASE + timedelta(seconds=start),
                    BASE + timedelta(seconds=end))

    kpis = analytics.kpis(store.conn, Filters())
    peak, peak_at, hours = reference_occupancy(kept, 3600)
    _, _, days = reference_occupancy(kept, 86400, origin_s=-9 * 3600)   # BASE is 09:00Z

    assert kpis["peak_occupancy"] == peak
    assert kpis["peak_occupancy_at"] == (None if peak_at is None
                                         else iso_utc(BASE + timedelta(seconds=peak_at)))
    assert occupancy_of(analytics.timeseries(store.conn, Filters(), "hour")) == at_offsets(hours)
    assert occupancy_of(analytics.timeseries(store.conn, Filters(), "day")) == at_offsets(days)
    report = analytics.report(store.conn, Filters())
    assert occupancy_of(report["daily"]) == at_offsets(days)
    assert report["kpis"] == kpis
    dwell = [float(e - s) for _, _, s, e in kept]
    assert kpis["avg_dwell_s"] == pytest.approx(statistics.fmean(dwell))
    assert kpis["median_dwell_s"] == pytest.approx(statistics.median(dwell))
    assert kpis["p90_dwell_s"] == pytest.approx(float(np.percentile(dwell, 90)))
    assert (kpis["min_dwell_s"], kpis["max_dwell_s"]) == (min(dwell), max(dwell))
