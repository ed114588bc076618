"""Analytics from the hourly rollups (migration 0006): KPIs, time series and occupancy,
groups by camera or time bucket, repeat visitors, dwell times and the whole report. The
same numbers as the queries over the events, from a few thousand rows instead of millions.

A question qualifies when the rollups are current, it names no persons, and its time range
starts and ends on whole UTC hours (a bound outside the stored data is no bound); a time
series also needs a zone whose offsets are whole hours, so its buckets are unions of hours.
Anything else gets None and is answered from the events.

Counts and sums add up over hours and cameras. Distinct persons and dwell order statistics
do not, so each hour keeps its members: person keys, united here, and dwell values, ranked
here exactly as percentile_cont does (dwell.analytics.members holds them in memory).
Occupancy is rolled up over all cameras; with a camera filter it is swept from the
sessions. The rollups hold every session, while a range that starts at S counts only
sessions that entered from S on: the hours until every earlier session has left are swept
from the sessions too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
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
from dwell.analytics.members import (
    ATTRIBUTES,
    MAX_HELD,
    MemberTable,
    distinct_count,
    holds,
    member_table,
    percentiles,
)
from dwell.analytics.occupancy import Occupancy, occupancy_sweep, peak_sweep, person_seconds

HOUR = timedelta(hours=1)

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
# about 200 MB, the question is answered by PostgreSQL from the events instead. The same
# bound as a held state's, so an answer over a held state never exceeds it.
MAX_MEMBERS = MAX_HELD
MAX_DWELL_MS = 2**31 - 1   # the rollups keep dwell times as int4 milliseconds

# Every bucket of the series with its sums, and the occupancy of its settled hours; an hour
# lies in one bucket (whole-hour zones).
_BUCKETS_SQL = """
    WITH ev_b AS (
        SELECT {hour_key} AS k, events, entries, exits, complete, missing_exit, open,
               dwell_sum, dwell_max
        FROM rollup_hours WHERE {where}
    ),
    {buckets},
    sums AS (
        SELECT k, sum(events)::bigint AS events, sum(entries)::bigint AS entries,
               sum(exits)::bigint AS exits,
               sum(complete + missing_exit + open)::bigint AS sessions_started,
               sum(dwell_sum) / nullif(sum(complete), 0)::numeric AS avg_dwell_s,
               max(dwell_max) AS max_dwell_s
        FROM ev_b GROUP BY k
    ),
    occ AS (
        SELECT {hour_key} AS k, max(peak) AS peak, sum(person_s) AS person_s
        FROM rollup_occupancy WHERE {occ_where} GROUP BY 1
    )
    SELECT b.b_start AS bucket, b.b_end, date_part('epoch', b.b_end - b.b_start) AS seconds,
           date_part('epoch', b.b_start)::bigint AS start_s,
           date_part('epoch', b.b_end)::bigint AS end_s,
           coalesce(s.events, 0) AS events, coalesce(s.entries, 0) AS entries,
           coalesce(s.exits, 0) AS exits, coalesce(s.sessions_started, 0) AS sessions_started,
           s.avg_dwell_s, s.max_dwell_s, o.peak AS occ_peak, o.person_s AS occ_person_s
    FROM buckets b LEFT JOIN sums s USING (k) LEFT JOIN occ o USING (k)
    ORDER BY b.k
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


# Per value of an attribute (NULL: missing or empty, SPEC §10), as the queries over the
# events group it: sums over its combinations' rows.
_ATTRIBUTE_SUMS_SQL = """
    WITH per_set AS (
        SELECT attribute_set, sum(events) AS events, sum(sessions) AS sessions,
               sum(complete) AS complete, sum(dwell_sum) AS dwell_sum,
               min(dwell_min) AS dwell_min, max(dwell_max) AS dwell_max
        FROM rollup_attributes WHERE {where} GROUP BY 1
    )
    SELECT nullif(a.attributes ->> %(attribute)s::text, '') AS group_value,
           sum(p.events)::bigint AS events,
           sum(p.sessions)::bigint AS sessions,
           sum(p.complete)::bigint AS complete_sessions,
           sum(p.dwell_sum) / nullif(sum(p.complete), 0)::numeric AS avg_dwell_s,
           min(p.dwell_min) AS min_dwell_s,
           max(p.dwell_max) AS max_dwell_s,
           array_agg(p.attribute_set) AS sets
    FROM per_set p LEFT JOIN attribute_sets a USING (attribute_set)
    GROUP BY 1
    ORDER BY 1 NULLS LAST
"""
ATTRIBUTE_PREFIX = "attribute:"


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
        table, rows = _members(conn, plan, where, params)
        dwellers = distinct_count(table.dwellers.take(rows))
        # Divided by PostgreSQL, as the query over the events divides (numeric, exact).
        per_person = conn.execute("SELECT %s::numeric / nullif(%s::numeric, 0)",
                                  (counts["dwell_sum"], dwellers)).fetchone()
        median, p90 = percentiles(table.dwells.take(rows), 0.5, 0.9)
        counts.update(unique_visitors=table.visitor_count(rows),
                      avg_dwell_per_person_s=per_person[0] if per_person else None,
                      median_dwell_s=median, p90_dwell_s=p90)
        return counts, _peak(conn, plan, table)


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
        table, rows = _members(conn, plan, where, params)
        before = table.memo("reach", lambda: reach(conn))
        # a camera's occupancy is swept from its sessions: no rolled-up hours to settle
        lower = None if plan.camera_ids else _settled(conn, plan, before)
        occ_where = pgsql.SQL("false") if plan.camera_ids else where if lower is None else \
            pgsql.SQL("{} AND hour >= %(settled)s").format(where)
        statement = pgsql.SQL(_BUCKETS_SQL).format(
            hour_key=sql.bucket_key(interval, plan.tz, "hour"), where=where,
            occ_where=occ_where,
            buckets=sql.fragment("buckets", **sql.bucket_parts(interval, plan.tz)))
        series = sql.fetch_all(conn, statement, {**params, "settled": lower}, binary=True)
        if not series:
            return [], Occupancy(0, None)
        starts = np.fromiter((row["start_s"] for row in series), np.int64, len(series))
        ends = np.fromiter((row["end_s"] for row in series), np.int64, len(series))
        if np.any(starts % 3600) or np.any(ends % 3600) or \
                any(_too_long(row["max_dwell_s"]) for row in series):
            return None
        of = _bucket_of(table, rows, starts)
        visitors = table.distinct_visitors(rows, of, len(starts))
        medians = table.dwell_percentiles(rows, of, len(starts), 0.5)
        for row, unique, median in zip(series, visitors, medians):
            row.update(unique_visitors=int(unique), median_dwell_s=median)
        occupancy = _bucket_occupancy(conn, plan, interval, series, (starts, ends),
                                      lower, before)
        return series, occupancy


def groups(conn: psycopg.Connection, filters: Filters,
           group_by: str) -> list[dict[str, Any]] | None:
    """Per camera, or per hour, day or week bucket with data: events, unique visitors,
    sessions, complete sessions and their dwell statistics (SPEC §10) from the rollups, as
    database values; None if the question needs the events."""
    sql.check_filters(filters)
    if group_by.startswith(ATTRIBUTE_PREFIX):
        return _attribute_groups(conn, filters, group_by[len(ATTRIBUTE_PREFIX):])
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
        found = sql.fetch_all(conn, pgsql.SQL(_GROUP_SUMS_SQL).format(
            key=key, value=value, where=where), params)
        if any(_too_long(row["max_dwell_s"]) for row in found):
            return None
        table, rows = _members(conn, plan, where, params)
    if group_by == "camera" and table.held:  # slices camera by camera
        layout = table.by_key("camera")
        return _with_members(found, lambda row: [layout.members(
            row["k"], _epoch(plan.start), _epoch(plan.end))])
    if group_by == "camera":
        position = {row["k"]: i for i, row in enumerate(found)}
        of = np.array([position[camera] for camera in table.camera_ids[rows]], dtype=np.int64)
    else:  # every hour with data lies in one of the buckets with data, which come in order
        of = _bucket_of(table, rows, _epochs(row["group_value"] for row in found))
    return _with_group_members(found, table, rows, of)


def _attribute_groups(conn: psycopg.Connection, filters: Filters,
                      attribute: str) -> list[dict[str, Any]] | None:
    """Per value of `attribute`, from the rollups per attribute combination (see groups)."""
    with _snapshot(conn):
        planned = _plan(conn, filters, bounded=True)
        if planned is None:
            return None
        plan, where, params = planned
        found = sql.fetch_all(conn, pgsql.SQL(_ATTRIBUTE_SUMS_SQL).format(where=where),
                              {**params, "attribute": attribute})
        if any(_too_long(row["max_dwell_s"]) for row in found):
            return None
        table = member_table(conn, where, params, ATTRIBUTES)
    if table.held and not plan.camera_ids:  # slices per combination of the value
        layout = table.by_key("set")
        return _with_members(found, lambda row: [layout.members(
            number, _epoch(plan.start), _epoch(plan.end)) for number in row.pop("sets")])
    rows = table.select(_epoch(plan.start), _epoch(plan.end), plan.camera_ids)
    assert table.attribute_sets is not None
    # each combination's group: the one of its value
    group_of_set = np.zeros(int(table.attribute_sets.max(initial=0)) + 1, dtype=np.int64)
    for position, row in enumerate(found):
        group_of_set[row.pop("sets")] = position
    return _with_group_members(found, table, rows, group_of_set[table.attribute_sets[rows]])


def _with_group_members(found: list[dict[str, Any]], table: MemberTable, rows: np.ndarray,
                        of: np.ndarray) -> list[dict[str, Any]]:
    """Each group row with its distinct visitors and dwell median and p90, from the table's
    `rows`, each in group `of` (the position of its group in `found`)."""
    visitors = table.distinct_visitors(rows, of, len(found))
    for row, unique, mine in zip(found, visitors, table.dwell_groups(rows, of, len(found))):
        median, p90 = percentiles(mine, 0.5, 0.9)
        row.update(unique_visitors=int(unique), median_dwell_s=median, p90_dwell_s=p90)
    return found


def _with_members(found: list[dict[str, Any]],
                  parts: Callable[[dict[str, Any]], list[tuple[np.ndarray, np.ndarray]]]
                  ) -> list[dict[str, Any]]:
    """Each group row with its distinct visitors and dwell median and p90, from the
    (visitor keys, dwell times) parts `parts(row)` gives."""
    for row in found:
        pieces = parts(row)
        keys = np.concatenate([keys for keys, _ in pieces])
        median, p90 = percentiles(np.concatenate([dwells for _, dwells in pieces]), 0.5, 0.9)
        row.update(unique_visitors=distinct_count(keys), median_dwell_s=median,
                   p90_dwell_s=p90)
    return found


def repeat_rows(conn: psycopg.Connection, filters: Filters) -> list[dict[str, Any]] | None:
    """Per number of visits (SPEC §9, ascending): the persons who made that many and the
    day gaps between their consecutive visits, from the hours' person keys; None if the
    question needs the events (a local day must be a union of UTC hours)."""
    with _snapshot(conn):
        planned = _plan(conn, filters, bounded=True, zoned=True)
        if planned is None:
            return None
        plan, where, params = planned
        table, rows = _members(conn, plan, where, params)
    zone = ZoneInfo(plan.tz)
    hours, of_hour = np.unique(table.hour_s[rows], return_inverse=True)
    ordinals = np.array([datetime.fromtimestamp(int(h), zone).date().toordinal() for h in hours],
                        dtype=np.int64)
    days, of_day = np.unique(ordinals, return_inverse=True)  # local days, in order
    visits, first, last = table.visits(rows, of_day[of_hour], len(days))
    # The gaps between a person's consecutive visit days add up to last day - first day.
    came = visits > 0
    count = visits[came]
    persons_by_count = np.bincount(count)
    gap_days = np.bincount(count, weights=(days[last[came]] - days[first[came]]))
    return [{"visits": int(n), "persons": int(persons_by_count[n]),
             "gap_days": int(gap_days[n]), "gaps": int(persons_by_count[n]) * (int(n) - 1)}
            for n in np.flatnonzero(persons_by_count)]


def unique_visitors(conn: psycopg.Connection, filters: Filters) -> int | None:
    """Distinct persons with an event in the filtered data, from the rollups; None if the
    question needs the events."""
    with _snapshot(conn):
        planned = _plan(conn, filters, bounded=True)
        if planned is None:
            return None
        plan, where, params = planned
        table, rows = _members(conn, plan, where, params)
    return table.visitor_count(rows)


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
        table, rows = _members(conn, plan, where, params)
    return table.dwells.take(rows)


def report(conn: psycopg.Connection, filters: Filters) -> dict[str, Any] | None:
    """Every part of the report (SPEC §12) from the rollups, in one snapshot, or None if any
    part needs the events."""
    with _snapshot(conn):
        parts = {"kpis": kpis(conn, filters)}
        if parts["kpis"] is not None:
            parts.update(hourly=timeseries(conn, filters, "hour"),
                         daily=timeseries(conn, filters, "day"),
                         repeat=repeat_rows(conn, filters),
                         per_camera=groups(conn, filters, "camera"))
    return None if any(part is None for part in parts.values()) else parts


def warm(conn: psycopg.Connection) -> None:
    """Hold the rollups' members of the store's current state in this process, ahead of the
    answers that will need them (after an upload)."""
    with _snapshot(conn):
        state = conn.execute("SELECT ready FROM rollup_state").fetchone()
        if state and state[0]:
            member_table(conn, pgsql.SQL("TRUE"), {})
            member_table(conn, pgsql.SQL("TRUE"), {}, ATTRIBUTES)


def _member_count(conn: psycopg.Connection, plan: Filters) -> int:
    """How many members (person keys, dwell values) the plan's rollup rows hold."""
    held = conn.execute(pgsql.SQL(
        "SELECT coalesce(sum(octet_length(visitors) / 4 + complete), 0) FROM rollup_hours"
        " WHERE {}").format(sql.hours_where(plan)), sql.filter_params(plan)).fetchone()
    return int(held[0]) if held else 0


def _too_long(longest_s: Any) -> bool:
    """A dwell past what the rollups keep exactly (int4 milliseconds)."""
    return longest_s is not None and float(longest_s) >= MAX_DWELL_MS / 1000


def _peak(conn: psycopg.Connection, plan: Filters, table: MemberTable) -> Occupancy:
    """The overall peak and the first instant it is reached."""
    if plan.camera_ids:
        return peak_sweep(conn, plan)
    before = table.memo("reach", lambda: reach(conn))
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
        since = entered_since(conn, hour, before)
        since = since if plan.start is None else max(plan.start, since)
        swept = table.memo(("peak in", hour, since), lambda: peak_sweep(
            conn, replace(plan, start=since, end=hour + HOUR), present_from=hour))
        candidates.append((swept.peak, swept.peak_at))
    peak = max((level for level, _ in candidates), default=0)
    if peak == 0:
        return Occupancy(0, None)
    return Occupancy(peak, min(at for level, at in candidates if level == peak and at is not None))


def _bucket_occupancy(conn: psycopg.Connection, plan: Filters, interval: str,
                      buckets: list[dict[str, Any]], bounds: tuple[np.ndarray, np.ndarray],
                      lower: datetime | None, before: timedelta) -> Occupancy:
    """Peak and mean occupancy per bucket, summed from hours: the rolled up ones from
    `lower` on (summed per bucket with the buckets), and swept ones for the hours before,
    which a range's start leaves partly counted."""
    if plan.camera_ids:
        return occupancy_sweep(conn, plan, (interval,))
    totals: dict[datetime, tuple[int, Decimal]] = {
        b["bucket"]: (b["occ_peak"], b["occ_person_s"]) for b in buckets
        if b["occ_peak"] is not None}
    hours: dict[datetime, tuple[int, Decimal]] = {}
    if plan.start is not None and lower is not None and lower > plan.start:
        end = lower if plan.end is None else min(lower, plan.end)
        swept = person_seconds(conn, replace(plan, end=end, tz="UTC"), "hour")
        hours.update((h, value) for h, value in swept.items() if plan.start <= h < end)
    starts, ends = bounds
    hour_s = _epochs(hours)
    positions = np.searchsorted(starts, hour_s, "right") - 1
    inside = (positions >= 0) & (hour_s < ends[np.maximum(positions, 0)])
    for (peak, person_s), position, counted in zip(hours.values(), positions.tolist(),
                                                   inside.tolist()):
        if not counted:
            continue
        key = buckets[position]["bucket"]
        was_peak, was_s = totals.get(key, (0, Decimal(0)))
        totals[key] = (max(was_peak, peak), was_s + person_s)
    last = buckets[-1]
    if plan.end is not None and last["b_end"] > plan.end:
        # A bucket that runs past the range's end counts its sessions' presence to the
        # bucket's end, as the sweep over the events does: only sessions that entered in
        # the range, which the rollups after the end do not tell apart.
        was_peak, was_s = totals.get(last["bucket"], (0, Decimal(0)))
        totals[last["bucket"]] = (was_peak, was_s + _tail(conn, plan, last["b_end"], before))
    length = {b["bucket"]: b["seconds"] for b in buckets}
    return Occupancy(0, None, {interval: {
        key: (peak, float(person_s) / float(length[key]) if length[key] else 0.0)
        for key, (peak, person_s) in totals.items()}})


def _tail(conn: psycopg.Connection, plan: Filters, until: datetime,
          before: timedelta) -> Decimal:
    """Person-seconds from the range's end to `until` of the sessions entered in the range
    and still present at its end. Each such person is present from the end until the last
    of those exits, with no gap, since every one of the intervals holds the end."""
    assert plan.end is not None
    since = entered_since(conn, plan.end, before)
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


def entered_since(conn: psycopg.Connection, moment: datetime, before: timedelta) -> datetime:
    """The earliest entry of a complete session that can be present at `moment`: the start
    of the first hour, up to `before` (the reach) earlier, whose longest dwell reaches past
    it. A sweep from there, rather than from a whole reach before, reads the sessions of
    the last hours only, unless one of the longest visits is under way."""
    row = conn.execute(
        "SELECT min(hour) FROM rollup_hours WHERE hour > %(m)s - %(before)s - interval '1 hour'"
        " AND hour <= %(m)s"
        " AND hour + interval '1 hour' + (dwell_max + 1) * interval '1 second' > %(m)s",
        {"m": moment, "before": before}).fetchone()
    return moment if row is None or row[0] is None else row[0]


def _settled(conn: psycopg.Connection, plan: Filters, before: timedelta) -> datetime | None:
    """The first whole hour from which the range counts everyone the rollups count: after
    the last exit of the sessions that entered before the range's start."""
    if plan.start is None:
        return None
    row = conn.execute(
        "SELECT max(exit_ts) FROM person_sessions WHERE status = 'complete'"
        " AND entry_ts >= %s AND entry_ts < %s AND exit_ts > %s",
        (entered_since(conn, plan.start, before), plan.start, plan.start)).fetchone()
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
    state = conn.execute("SELECT ready, generation FROM rollup_state").fetchone()
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
    # A state held in memory has at most MAX_MEMBERS members in all: no need to count.
    if bounded and not holds(state[1]) and _member_count(conn, plan) > MAX_MEMBERS:
        return None
    return plan, sql.hours_where(plan), sql.filter_params(plan)


def _whole_hour(moment: datetime) -> bool:
    return moment.timestamp() % 3600 == 0


def _members(conn: psycopg.Connection, plan: Filters, where: pgsql.Composable,
             params: dict[str, Any]) -> tuple[MemberTable, np.ndarray]:
    """The member table in this snapshot, and the numbers of the plan's rows in it."""
    table = member_table(conn, where, params)
    return table, table.select(_epoch(plan.start), _epoch(plan.end), plan.camera_ids)


def _epoch(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp())


def _epochs(moments: Iterable[datetime]) -> np.ndarray:
    """Whole epoch seconds (int64)."""
    return np.array([int(moment.timestamp()) for moment in moments], dtype=np.int64)


def _bucket_of(table: MemberTable, rows: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The bucket of each row, by the buckets' starts (epoch seconds, ascending, covering
    every row)."""
    return np.searchsorted(starts, table.hour_s[rows], "right") - 1


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
