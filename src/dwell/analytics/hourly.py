"""Analytics from the hourly rollups (migration 0006): KPIs, time series and occupancy,
groups by camera or time bucket, repeat visitors, dwell times and the whole report. The
same numbers as the queries over the events, from a few thousand rows instead of millions.

A question qualifies when the rollups are current, it names no persons, and its time range
starts and ends on whole UTC hours (a bound outside the stored data is no bound); a time
series also needs a zone whose offsets are whole hours, so its buckets are unions of hours.
Anything else gets None and is answered from the events.

Counts and sums add up over hours and cameras. Distinct persons and dwell order statistics
do not, so each hour keeps its members: person keys, united here in a bitmap, and dwell
values, ranked here exactly as percentile_cont does. Occupancy is rolled up over all
cameras; with a camera filter it is swept from the sessions. The rollups hold every
session, while a range that starts at S counts only sessions that entered from S on: the
hours until every earlier session has left are swept from the sessions too.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import psycopg
from psycopg import sql as pgsql

from dwell.analytics import sql
from dwell.analytics.filters import Filters
from dwell.analytics.occupancy import Occupancy, occupancy_sweep, peak_sweep, person_seconds

HOUR = timedelta(hours=1)
_EMPTY_BUCKET = {"events": 0, "entries": 0, "exits": 0, "sessions_started": 0,
                 "avg_dwell_s": None, "max_dwell_s": None}

_KPI_SQL = """
    SELECT coalesce(sum(events), 0) AS total_events,
           count(DISTINCT camera_id) AS active_cameras,
           coalesce(sum(orphan_exits), 0) AS orphan_exits,
           coalesce(sum(complete), 0) AS complete_sessions,
           coalesce(sum(missing_exit), 0) AS missing_exit,
           coalesce(sum(open), 0) AS open,
           sum(dwell_sum) AS dwell_sum,
           sum(dwell_sum) / nullif(sum(complete), 0)::numeric AS avg_dwell_s,
           min(dwell_min) AS min_dwell_s,
           max(dwell_max) AS max_dwell_s,
           coalesce(sum(octet_length(visitors) / 4 + octet_length(dwellers) / 4), 0)
               + coalesce(sum(complete), 0) AS members
    FROM rollup_hours
    WHERE {where}
"""
# The members (person keys, dwell values) an answer may hold in memory: past this many,
# about 200 MB, the question is answered by PostgreSQL from the events instead.
MAX_MEMBERS = 25_000_000
MAX_DWELL_MS = 2**31 - 1   # the rollups keep dwell times as int4 milliseconds

_BUCKETS_SQL = """
    WITH ev_b AS (SELECT {hour_key} AS k FROM rollup_hours WHERE {where}),
    {buckets}
    SELECT k, b_start, b_end, date_part('epoch', b_end - b_start) AS seconds
    FROM buckets ORDER BY k
"""

_BUCKET_SUMS_SQL = """
    SELECT b.b_start AS bucket,
           sum(r.events) AS events, sum(r.entries) AS entries, sum(r.exits) AS exits,
           sum(r.complete + r.missing_exit + r.open) AS sessions_started,
           sum(r.dwell_sum) / nullif(sum(r.complete), 0)::numeric AS avg_dwell_s,
           max(r.dwell_max) AS max_dwell_s
    FROM unnest(%(b_start)s::timestamptz[], %(b_end)s::timestamptz[]) AS b(b_start, b_end)
    JOIN rollup_hours r ON r.hour >= b.b_start AND r.hour < b.b_end
    WHERE {where}
    GROUP BY b.b_start
"""


_GROUP_SUMS_SQL = """
    SELECT k, {value} AS group_value,
           sum(events) AS events,
           sum(complete + missing_exit + open) AS sessions,
           sum(complete) AS complete_sessions,
           sum(dwell_sum) / nullif(sum(complete), 0)::numeric AS avg_dwell_s,
           min(dwell_min) AS min_dwell_s,
           max(dwell_max) AS max_dwell_s
    FROM (SELECT {key} AS k, events, complete, missing_exit, open, dwell_sum, dwell_min,
                 dwell_max
          FROM rollup_hours WHERE {where}) AS r
    GROUP BY k
    ORDER BY k
"""


def kpis(conn: psycopg.Connection, filters: Filters
         ) -> tuple[dict[str, Any], Occupancy] | None:
    """The KPI counts and the overall peak from the rollups, or None if the question needs
    the events."""
    with _snapshot(conn):
        planned = _plan(conn, filters)
        if planned is None:
            return None
        plan, where, params = planned
        counts = sql.fetch_one(conn, pgsql.SQL(_KPI_SQL).format(where=where), params) or {}
        if counts.get("members", 0) > MAX_MEMBERS or _too_long(counts.get("max_dwell_s")):
            return None
        members = _member_rows(conn, plan, where, params, *_MEMBERS)
        dwells = _dwells([row[4] for row in members])
        dwellers = _distinct([row[3] for row in members])
        # Divided by PostgreSQL, as the query over the events divides (numeric, exact).
        per_person = conn.execute("SELECT %s::numeric / nullif(%s::numeric, 0)",
                                  (counts["dwell_sum"], dwellers)).fetchone()
        median, p90 = percentiles(dwells, 0.5, 0.9)
        counts.update(unique_visitors=_distinct([row[2] for row in members]),
                      avg_dwell_per_person_s=per_person[0] if per_person else None,
                      median_dwell_s=median, p90_dwell_s=p90)
        return counts, _peak(conn, plan)


def timeseries(conn: psycopg.Connection, filters: Filters,
               interval: str) -> tuple[list[dict[str, Any]], Occupancy] | None:
    """The counts of every bucket of the SPEC §8 series and their occupancy from the rollups,
    or None if the question needs the events."""
    sql.check_interval(interval)
    with _snapshot(conn):
        planned = _plan(conn, filters, bounded=True, zoned=True)
        if planned is None:
            return None
        plan, where, params = planned
        statement = pgsql.SQL(_BUCKETS_SQL).format(
            hour_key=sql.bucket_key(interval, plan.tz, "hour"), where=where,
            buckets=sql.fragment("buckets", **sql.bucket_parts(interval, plan.tz)))
        buckets = sql.fetch_all(conn, statement, params)
        if not buckets:
            return [], Occupancy(0, None)
        starts = [b["b_start"] for b in buckets]
        if any(not _whole_hour(b["b_start"]) or not _whole_hour(b["b_end"]) for b in buckets):
            return None
        params.update(b_start=starts, b_end=[b["b_end"] for b in buckets])
        sums = {row["bucket"]: row for row in sql.fetch_all(
            conn, pgsql.SQL(_BUCKET_SUMS_SQL).format(where=where), params)}
        if any(_too_long(row["max_dwell_s"]) for row in sums.values()):
            return None
        slices = _by_start(_member_rows(conn, plan, where, params, "visitors", "dwells"), starts)
        visitors = _distinct_counts([[m[2] for m in mine] for mine in slices])
        rows = []
        for start, mine, unique in zip(starts, slices, visitors):
            row = dict(sums.get(start) or _EMPTY_BUCKET)
            row.update(bucket=start, unique_visitors=unique,
                       median_dwell_s=percentiles(_dwells([m[4] for m in mine]), 0.5)[0])
            rows.append(row)
        occupancy = _bucket_occupancy(conn, plan, interval, buckets)
        return rows, occupancy


def groups(conn: psycopg.Connection, filters: Filters,
           group_by: str) -> list[dict[str, Any]] | None:
    """Per camera, or per hour, day or week bucket with data: events, unique visitors,
    sessions, complete sessions and their dwell statistics (SPEC §10) from the rollups, as
    database values; None if the question needs the events."""
    sql.check_filters(filters)
    if group_by == "camera":
        key: pgsql.Composable = pgsql.Identifier("camera_id")
        value: pgsql.Composable = pgsql.Identifier("k")
    elif group_by in sql.INTERVALS:
        key = sql.bucket_key(group_by, filters.tz, "hour")
        value = sql.bucket_start(group_by, filters.tz, "k")
    else:
        return None
    with _snapshot(conn):
        planned = _plan(conn, filters, bounded=True, zoned=group_by != "camera")
        if planned is None:
            return None
        plan, where, params = planned
        rows = sql.fetch_all(conn, pgsql.SQL(_GROUP_SUMS_SQL).format(
            key=key, value=value, where=where), params)
        if any(_too_long(row["max_dwell_s"]) for row in rows):
            return None
        members = _member_rows(conn, plan, where, params, "visitors", "dwells")
    if group_by == "camera":
        by_camera: dict[str, list[tuple[Any, ...]]] = {}
        for member in members:
            by_camera.setdefault(member[1], []).append(member)
        slices = [by_camera.get(row["k"], []) for row in rows]
    else:  # every hour with data lies in one of the buckets with data, which come in order
        slices = _by_start(members, [row["group_value"] for row in rows])
    visitors = _distinct_counts([[m[2] for m in mine] for mine in slices])
    for row, mine, unique in zip(rows, slices, visitors):
        median, p90 = percentiles(_dwells([m[4] for m in mine]), 0.5, 0.9)
        row.update(unique_visitors=unique, median_dwell_s=median, p90_dwell_s=p90)
    return rows


def repeat_rows(conn: psycopg.Connection, filters: Filters) -> list[dict[str, Any]] | None:
    """Per number of visits (SPEC §9, ascending): the persons who made that many and the
    day gaps between their consecutive visits, from the hours' person keys; None if the
    question needs the events (a local day must be a union of UTC hours)."""
    with _snapshot(conn):
        planned = _plan(conn, filters, bounded=True, zoned=True)
        if planned is None:
            return None
        plan, where, params = planned
        members = _member_rows(conn, plan, where, params, "visitors")
    zone = ZoneInfo(plan.tz)
    by_day: dict[int, list[bytes]] = {}  # in day order: the rows come in hour order
    for hour, _, visitors, _, _ in members:
        by_day.setdefault(hour.astimezone(zone).date().toordinal(), []).append(visitors)
    days = _distinct_keys(list(by_day.values()))
    top = max((int(keys.max()) for keys in days if len(keys)), default=-1)
    visits = np.zeros(top + 1, dtype=np.int64)
    first = np.full(top + 1, -1, dtype=np.int64)
    last = np.zeros(top + 1, dtype=np.int64)
    for day, persons in zip(by_day, days):
        visits[persons] += 1
        first[persons] = np.where(first[persons] < 0, day, first[persons])
        last[persons] = day
    # The gaps between a person's consecutive visit days add up to last day - first day.
    came = visits > 0
    count = visits[came]
    persons_by_count = np.bincount(count)
    gap_days = np.bincount(count, weights=(last - first)[came])
    return [{"visits": int(n), "persons": int(persons_by_count[n]),
             "gap_days": int(gap_days[n]), "gaps": int(persons_by_count[n]) * (int(n) - 1)}
            for n in np.flatnonzero(persons_by_count)]


def dwell_ms(conn: psycopg.Connection, filters: Filters) -> np.ndarray | None:
    """The dwell times of the complete sessions (in milliseconds, in no order) from the
    rollups, or None if the question needs the sessions."""
    with _snapshot(conn):
        planned = _plan(conn, filters)
        if planned is None:
            return None
        plan, where, params = planned
        held = conn.execute(pgsql.SQL("SELECT coalesce(sum(complete), 0), max(dwell_max)"
                                      " FROM rollup_hours WHERE {}").format(where),
                            params).fetchone()
        if held is None or held[0] > MAX_MEMBERS or _too_long(held[1]):
            return None
        members = _member_rows(conn, plan, where, params, "dwells")
    return _dwells([row[4] for row in members])


def report(conn: psycopg.Connection, filters: Filters) -> dict[str, Any] | None:
    """Every part of the report (SPEC §12) from the rollups, in one snapshot, or None if any
    part needs the events."""
    shared = _SHARED.set({})
    try:
        return _report(conn, filters)
    finally:
        _SHARED.reset(shared)


def _report(conn: psycopg.Connection, filters: Filters) -> dict[str, Any] | None:
    with _snapshot(conn):
        parts = {"kpis": kpis(conn, filters)}
        if parts["kpis"] is not None:
            parts.update(hourly=timeseries(conn, filters, "hour"),
                         daily=timeseries(conn, filters, "day"),
                         repeat=repeat_rows(conn, filters),
                         per_camera=groups(conn, filters, "camera"))
    return None if any(part is None for part in parts.values()) else parts


def _member_count(conn: psycopg.Connection, plan: Filters) -> int:
    """How many members (person keys, dwell values) the plan's rollup rows hold."""
    held = conn.execute(pgsql.SQL(
        "SELECT coalesce(sum(octet_length(visitors) / 4 + complete), 0) FROM rollup_hours"
        " WHERE {}").format(sql.hours_where(plan)), sql.filter_params(plan)).fetchone()
    return int(held[0]) if held else 0


def percentiles(dwell_ms: np.ndarray, *fractions: float) -> list[float | None]:
    """PostgreSQL's percentile_cont over the dwell_s column for each fraction: linear
    interpolation between the values at the two ranks around fraction * (n - 1), computed
    as it computes it, on the same float8 seconds (whole milliseconds / 1000). The
    fractions share one partial sort of the integers, which rank as the seconds do."""
    n = len(dwell_ms)
    if n == 0:
        return [None] * len(fractions)
    positions = [fraction * (n - 1) for fraction in fractions]
    ranks = sorted({r for p in positions for r in (math.floor(p), math.ceil(p))})
    ranked = np.partition(dwell_ms, ranks)
    results: list[float | None] = []
    for position in positions:
        lo, hi = math.floor(position), math.ceil(position)
        first, second = float(ranked[lo]) / 1000.0, float(ranked[hi]) / 1000.0
        results.append(first if hi == lo else first + (second - first) * (position - lo))
    return results


def _distinct(blobs: list[bytes]) -> int:
    """How many distinct person keys the big-endian int4 arrays hold together."""
    return _distinct_counts([blobs])[0]


def _distinct_counts(groups: list[list[bytes]]) -> list[int]:
    """How many distinct person keys each group of big-endian int4 arrays holds."""
    return [len(keys) for keys in _distinct_keys(groups)]


def _distinct_keys(groups: list[list[bytes]]) -> list[np.ndarray]:
    """The distinct person keys of each group of big-endian int4 arrays.

    A group with keys for a good part of all persons marks them in a bitmap. Smaller groups
    (an hour's few thousand keys) share one array indexed by key, never cleared: each key's
    position in the group is written there, one write wins, and the key is kept where its
    own position is read back. No sort, and no pass over every person per small group.
    """
    arrays = [np.frombuffer(b"".join(blobs), dtype=">i4").astype(np.int32) for blobs in groups]
    top = max((int(keys.max()) for keys in arrays if len(keys)), default=-1)
    owner = None
    distinct = []
    for keys in arrays:
        if len(keys) * 8 > top:
            seen = np.zeros(top + 1, dtype=bool)
            seen[keys] = True
            distinct.append(np.flatnonzero(seen))
            continue
        if owner is None:
            owner = np.empty(top + 1, dtype=np.int32)
        positions = np.arange(len(keys), dtype=np.int32)
        owner[keys] = positions
        distinct.append(keys[owner[keys] == positions])
    return distinct


def _dwells(blobs: list[bytes]) -> np.ndarray:
    """Dwell times in milliseconds (int4, big-endian) as native integers."""
    return np.frombuffer(b"".join(blobs), dtype=">i4").astype(np.int32)


def _too_long(longest_s: Any) -> bool:
    """A dwell past what the rollups keep exactly (int4 milliseconds)."""
    return longest_s is not None and float(longest_s) >= MAX_DWELL_MS / 1000


def _peak(conn: psycopg.Connection, plan: Filters) -> Occupancy:
    """The overall peak and the first instant it is reached."""
    if plan.camera_ids:
        return peak_sweep(conn, plan)
    before = reach(conn)
    lower = _settled(conn, plan, before)
    candidates = []
    if plan.start is not None and lower > plan.start:
        end = lower if plan.end is None else min(lower, plan.end)
        swept = peak_sweep(conn, replace(plan, end=end))
        candidates.append((swept.peak, swept.peak_at))
    settled = Filters(start=lower, end=plan.end)
    top = conn.execute(
        pgsql.SQL("SELECT peak, hour FROM rollup_occupancy WHERE {} ORDER BY peak DESC, hour"
                  " LIMIT 1").format(sql.hours_where(settled)), sql.filter_params(settled)
    ).fetchone()
    if top is not None:
        hour = top[1]
        # When in that hour: a sweep of every session that can be present in it.
        since = hour - before if plan.start is None else max(plan.start, hour - before)
        swept = peak_sweep(conn, replace(plan, start=since, end=hour + HOUR), present_from=hour)
        candidates.append((swept.peak, swept.peak_at))
    peak = max((level for level, _ in candidates), default=0)
    if peak == 0:
        return Occupancy(0, None)
    return Occupancy(peak, min(at for level, at in candidates if level == peak and at is not None))


def _bucket_occupancy(conn: psycopg.Connection, plan: Filters, interval: str,
                      buckets: list[dict[str, Any]]) -> Occupancy:
    """Peak and mean occupancy per bucket, summed from hours: rolled up ones, and swept ones
    for the hours a range's start leaves partly counted."""
    if plan.camera_ids:
        return occupancy_sweep(conn, plan, (interval,))
    lower = _settled(conn, plan, reach(conn))
    hours: dict[datetime, tuple[int, Decimal]] = {}
    if plan.start is not None and lower > plan.start:
        end = lower if plan.end is None else min(lower, plan.end)
        swept = person_seconds(conn, replace(plan, end=end, tz="UTC"), "hour")
        hours.update((h, value) for h, value in swept.items() if plan.start <= h < end)
    settled = Filters(start=lower, end=plan.end)
    for hour, peak, person_s in conn.execute(
            pgsql.SQL("SELECT hour, peak, person_s FROM rollup_occupancy WHERE {}")
            .format(sql.hours_where(settled)), sql.filter_params(settled)):
        hours[hour] = (peak, person_s)
    starts = np.array([b["b_start"].timestamp() for b in buckets])
    totals: dict[datetime, tuple[int, Decimal]] = {}
    for hour, (peak, person_s) in hours.items():
        position = int(np.searchsorted(starts, hour.timestamp(), "right")) - 1
        if position < 0 or hour >= buckets[position]["b_end"]:
            continue
        key = buckets[position]["b_start"]
        was_peak, was_s = totals.get(key, (0, Decimal(0)))
        totals[key] = (max(was_peak, peak), was_s + person_s)
    last = buckets[-1]
    if plan.end is not None and last["b_end"] > plan.end:
        # A bucket that runs past the range's end counts its sessions' presence to the
        # bucket's end, as the sweep over the events does: only sessions that entered in
        # the range, which the rollups after the end do not tell apart.
        was_peak, was_s = totals.get(last["b_start"], (0, Decimal(0)))
        totals[last["b_start"]] = (was_peak, was_s + _tail(conn, plan, last["b_end"]))
    length = {b["b_start"]: b["seconds"] for b in buckets}
    return Occupancy(0, None, {interval: {
        key: (peak, float(person_s) / float(length[key]) if length[key] else 0.0)
        for key, (peak, person_s) in totals.items()}})


def _tail(conn: psycopg.Connection, plan: Filters, until: datetime) -> Decimal:
    """Person-seconds from the range's end to `until` of the sessions entered in the range
    and still present at its end. Each such person is present from the end until the last
    of those exits, with no gap, since every one of the intervals holds the end."""
    assert plan.end is not None
    since = plan.end - reach(conn)
    if plan.start is not None:
        since = max(since, plan.start)
    row = conn.execute(
        "SELECT coalesce(sum(extract(epoch FROM least(last_exit, %(until)s) - %(end)s)), 0)"
        " FROM (SELECT max(exit_ts) AS last_exit FROM person_sessions"
        "       WHERE status = 'complete' AND entry_ts >= %(since)s AND entry_ts < %(end)s"
        "         AND exit_ts > %(end)s"
        "       GROUP BY person_id) AS present",
        {"since": since, "end": plan.end, "until": until}).fetchone()
    return Decimal(row[0]) if row else Decimal(0)


def reach(conn: psycopg.Connection) -> timedelta:
    """How far before an instant a session present at it can have entered: the longest
    stored dwell, and a second against rounding."""
    row = conn.execute("SELECT max(dwell_max) FROM rollup_hours").fetchone()
    return timedelta(seconds=float(row[0] or 0) + 1 if row else 1.0)


def _settled(conn: psycopg.Connection, plan: Filters, before: timedelta) -> datetime | None:
    """The first whole hour from which the range counts everyone the rollups count: after
    the last exit of the sessions that entered before the range's start."""
    if plan.start is None:
        return None
    row = conn.execute(
        "SELECT max(exit_ts) FROM person_sessions WHERE status = 'complete'"
        " AND entry_ts >= %s AND entry_ts < %s AND exit_ts > %s",
        (plan.start - before, plan.start, plan.start)).fetchone()
    last_exit = row[0] if row else None
    if last_exit is None:
        return plan.start
    floor = last_exit.replace(minute=0, second=0, microsecond=0)
    return floor if floor == last_exit else floor + HOUR


def _plan(conn: psycopg.Connection, filters: Filters, bounded: bool = False,
          zoned: bool = False) -> tuple[Filters, pgsql.Composable, dict[str, Any]] | None:
    """`filters` as the rollups can answer them (bounds outside the data dropped), with the
    WHERE clause of their rows and its parameters; None if they cannot, if (`bounded`) their
    rows hold more than MAX_MEMBERS members, or if (`zoned`: local buckets or days) the
    zone has an offset that is not whole hours."""
    sql.check_filters(filters)
    if filters.person_ids or (zoned and not sql.zone_profile(filters.tz).whole_hours):
        return None
    state = conn.execute("SELECT ready FROM rollup_state").fetchone()
    if not state or not state[0]:
        return None
    start, end = filters.start, filters.end
    if start is not None or end is not None:
        first, last = conn.execute("SELECT min(ts), max(ts) FROM camera_events").fetchone()
        if first is None:
            start = end = None
        start = None if start is not None and start <= first else start
        end = None if end is not None and end > last else end
    if any(moment is not None and not _whole_hour(moment) for moment in (start, end)):
        return None
    plan = replace(filters, start=start, end=end)
    if bounded and _member_count(conn, plan) > MAX_MEMBERS:
        return None
    return plan, sql.hours_where(plan), sql.filter_params(plan)


def _whole_hour(moment: datetime) -> bool:
    return moment.timestamp() % 3600 == 0


# Member rows already read in this context, by range and cameras: the parts of one report
# read them once.
_SHARED: ContextVar[dict[tuple[Any, ...], list[tuple[Any, ...]]] | None] = ContextVar(
    "hourly_members", default=None)


_MEMBERS = ("visitors", "dwellers", "dwells")


def _member_rows(conn: psycopg.Connection, plan: Filters, where: pgsql.Composable,
                 params: dict[str, Any], *needed: str) -> list[tuple[Any, ...]]:
    """(hour, camera_id, visitors, dwellers, dwells) of the plan's rows, in hour order; the
    arrays not `needed` are None, unless the parts of a report share the rows."""
    shared = _SHARED.get()
    key = (plan.start, plan.end, plan.camera_ids)
    if shared is not None and key in shared:
        return shared[key]
    columns = [pgsql.Identifier(name) if name in needed or shared is not None
               else pgsql.SQL("NULL") for name in _MEMBERS]
    rows = _fetch(conn, pgsql.SQL("SELECT hour, camera_id, {} FROM rollup_hours WHERE {}"
                                  " ORDER BY hour").format(pgsql.SQL(", ").join(columns), where),
                  params)
    if shared is not None:
        shared[key] = rows
    return rows


def _by_start(members: list[tuple[Any, ...]], starts: list[datetime]
              ) -> list[list[tuple[Any, ...]]]:
    """Hour-ordered member rows cut into the buckets that begin at `starts` (ascending)."""
    position = np.searchsorted(np.array([start.timestamp() for start in starts]),
                               np.array([m[0].timestamp() for m in members]), "right") - 1
    edges = np.searchsorted(position, np.arange(len(starts) + 1), "left")
    return [members[edges[i]:edges[i + 1]] for i in range(len(starts))]


def _fetch(conn: psycopg.Connection, statement: pgsql.Composable,
           params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Rows in binary, so the arrays arrive as bytes without hex encoding."""
    with conn.cursor(binary=True) as cur:
        return cur.execute(statement, params).fetchall()


@contextmanager
def _snapshot(conn: psycopg.Connection) -> Iterator[None]:
    """One snapshot for the several reads of an answer, so an upload committing between
    them cannot mix two states of the store."""
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        yield  # the caller's transaction is the snapshot
        return
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield
