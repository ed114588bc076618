"""Maintaining the hourly rollups (migration 0006) inside an upload's transaction.

An upload changes the events of the hours it adds to and the sessions of the keys it
re-pairs, nothing else. Those hours are recomputed from the stored rows, so a rollup row is
always exactly what a query over the events of its hour would say; a session that only went
from open to missing_exit changes two counts of its hour instead. Hours that only the
upload's own events fill (every hour of a first load) are written from the rows it made
from its arrays (`StagedRollups`), which are the same rows.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc

from dwell.analytics.hourly import entered_since, reach
from dwell.domain.hours import HOUR_MS, hour_runs, hourly_levels, hourly_presence
from dwell.store.bulk import allocate_ids, copy_in, copy_out

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

# Every person with an event in the runs gets a key. Under the ingest lock nobody else adds
# keys, and NOT EXISTS (unlike ON CONFLICT) draws no identity value for a known person, so
# keys stay dense.
_ADD_PERSON_KEYS = """
    INSERT INTO person_keys (person_id)
    SELECT DISTINCT e.person_id
    FROM rollup_runs r JOIN camera_events e ON e.ts >= r.lo AND e.ts < r.hi
    WHERE NOT EXISTS (SELECT 1 FROM person_keys k WHERE k.person_id = e.person_id)
"""

# Events by the hour of their timestamp, sessions by the hour of their entry: per hour,
# camera and attribute combination into rollup_attributes, and their sums per hour and
# camera into rollup_hours, so the events and sessions are read and grouped once. Events
# group by (hour, camera, combination, person) first, so a person's key is written once per
# row of rollup_attributes; a row of rollup_hours holds its combinations' keys end to end
# (a person seen under two combinations in the hour is in it twice: members are counted as
# distinct keys, so repeats cost only their bytes).
_HOURS = """
    WITH ev_a AS (
        SELECT g.hour, g.camera_id, g.attribute_set,
               sum(g.events)::int AS events, sum(g.entries)::int AS entries,
               sum(g.exits)::int AS exits, sum(g.orphan_exits)::int AS orphan_exits,
               string_agg(int4send(k.person_key), ''::bytea) AS visitors
        FROM (SELECT date_bin('1 hour', e.ts, TIMESTAMPTZ '2000-01-01 00:00+00') AS hour,
                     e.camera_id, coalesce(e.attribute_set, 0) AS attribute_set, e.person_id,
                     count(*) AS events,
                     count(*) FILTER (WHERE e.is_entry) AS entries,
                     count(*) FILTER (WHERE e.is_exit) AS exits,
                     count(*) FILTER (WHERE e.is_exit AND e.session_id IS NULL) AS orphan_exits
              FROM rollup_runs r JOIN camera_events e ON e.ts >= r.lo AND e.ts < r.hi
              GROUP BY 1, 2, 3, 4) AS g
        JOIN person_keys k USING (person_id)
        GROUP BY 1, 2, 3
    ),
    se_a AS (
        SELECT date_bin('1 hour', s.entry_ts, TIMESTAMPTZ '2000-01-01 00:00+00') AS hour,
               s.camera_id, coalesce(s.attribute_set, 0) AS attribute_set,
               count(*)::int AS sessions,
               count(*) FILTER (WHERE s.status = 'complete')::int AS complete,
               count(*) FILTER (WHERE s.status = 'missing_exit')::int AS missing_exit,
               count(*) FILTER (WHERE s.status = 'open')::int AS open,
               sum(s.dwell_s::numeric) FILTER (WHERE s.status = 'complete') AS dwell_sum,
               min(s.dwell_s) FILTER (WHERE s.status = 'complete') AS dwell_min,
               max(s.dwell_s) FILTER (WHERE s.status = 'complete') AS dwell_max,
               -- a key per complete session: a person's repeats cost less than sorting them out
               string_agg(int4send(k.person_key), ''::bytea)
                   FILTER (WHERE s.status = 'complete') AS dwellers,
               string_agg(int4send(least(round(s.dwell_s * 1000), 2147483647)::int4), ''::bytea)
                   FILTER (WHERE s.status = 'complete') AS dwells
        FROM rollup_runs r
        JOIN person_sessions s ON s.entry_ts >= r.lo AND s.entry_ts < r.hi
        JOIN person_keys k ON k.person_id = s.person_id
        GROUP BY 1, 2, 3
    ),
    by_attributes AS (  -- runs once, to completion, though nothing reads it (PostgreSQL)
        INSERT INTO rollup_attributes (hour, camera_id, attribute_set, events, sessions,
                                       complete, dwell_sum, dwell_min, dwell_max, visitors,
                                       dwells)
        SELECT hour, camera_id, attribute_set, coalesce(e.events, 0), coalesce(s.sessions, 0),
               coalesce(s.complete, 0), s.dwell_sum, s.dwell_min, s.dwell_max,
               coalesce(e.visitors, ''::bytea), coalesce(s.dwells, ''::bytea)
        FROM ev_a e FULL JOIN se_a s USING (hour, camera_id, attribute_set)
    ),
    ev_h AS (
        SELECT hour, camera_id, sum(events)::int AS events, sum(entries)::int AS entries,
               sum(exits)::int AS exits, sum(orphan_exits)::int AS orphan_exits,
               string_agg(visitors, ''::bytea) AS visitors
        FROM ev_a GROUP BY 1, 2
    ),
    se_h AS (
        SELECT hour, camera_id, sum(complete)::int AS complete,
               sum(missing_exit)::int AS missing_exit, sum(open)::int AS open,
               sum(dwell_sum) AS dwell_sum, min(dwell_min) AS dwell_min,
               max(dwell_max) AS dwell_max,
               string_agg(dwellers, ''::bytea) AS dwellers,
               string_agg(dwells, ''::bytea) AS dwells
        FROM se_a GROUP BY 1, 2
    )
    INSERT INTO rollup_hours (hour, camera_id, events, entries, exits, orphan_exits,
                              complete, missing_exit, open, dwell_sum, dwell_min, dwell_max,
                              visitors, dwellers, dwells)
    SELECT e.hour, e.camera_id, e.events, e.entries, e.exits, e.orphan_exits,
           coalesce(s.complete, 0), coalesce(s.missing_exit, 0), coalesce(s.open, 0),
           s.dwell_sum, s.dwell_min, s.dwell_max,
           e.visitors, coalesce(s.dwellers, ''::bytea), coalesce(s.dwells, ''::bytea)
    FROM ev_h e LEFT JOIN se_h s USING (hour, camera_id)
"""


# The rows dwell.domain.rollup_rows computes from an upload's own events and sessions, part
# by part (see StagedRollups); the parts hold different persons, so the rows of one hour,
# camera and combination add up (members end to end).
_PARTS_TABLE = """
    CREATE TEMP TABLE rollup_parts (
        hour bigint, camera_id text COLLATE "C", attribute_set integer,
        events bigint, entries bigint, exits bigint, orphan_exits bigint, sessions bigint,
        complete bigint, missing_exit bigint, open bigint,
        dwell_sum_ms bigint, dwell_min_ms bigint, dwell_max_ms bigint,
        visitors bytea, dwellers bytea, dwells bytea
    ) ON COMMIT DROP
"""
# The same rows as _HOURS makes from the stored ones: dwell_s is milliseconds / 1000 (its
# numeric value is exactly that), rollup_hours rows only where events are.
_FROM_PARTS = """
    WITH a AS (
        SELECT TIMESTAMPTZ 'epoch' + hour * interval '1 hour' AS hour, camera_id, attribute_set,
               sum(events) AS events, sum(entries) AS entries, sum(exits) AS exits,
               sum(orphan_exits) AS orphan_exits, sum(sessions) AS sessions,
               sum(complete) AS complete, sum(missing_exit) AS missing_exit, sum(open) AS open,
               sum(dwell_sum_ms) AS dwell_sum_ms, min(dwell_min_ms) AS dwell_min_ms,
               max(dwell_max_ms) AS dwell_max_ms,
               string_agg(visitors, ''::bytea) AS visitors,
               string_agg(dwellers, ''::bytea) AS dwellers,
               string_agg(dwells, ''::bytea) AS dwells
        FROM rollup_parts GROUP BY 1, 2, 3
    ),
    by_attributes AS (
        INSERT INTO rollup_attributes (hour, camera_id, attribute_set, events, sessions,
                                       complete, dwell_sum, dwell_min, dwell_max, visitors,
                                       dwells)
        SELECT hour, camera_id, attribute_set, events, sessions, complete,
               dwell_sum_ms * 0.001, dwell_min_ms::float8 / 1000, dwell_max_ms::float8 / 1000,
               visitors, dwells
        FROM a
    )
    INSERT INTO rollup_hours (hour, camera_id, events, entries, exits, orphan_exits,
                              complete, missing_exit, open, dwell_sum, dwell_min, dwell_max,
                              visitors, dwellers, dwells)
    SELECT hour, camera_id, sum(events), sum(entries), sum(exits), sum(orphan_exits),
           sum(complete), sum(missing_exit), sum(open), sum(dwell_sum_ms) * 0.001,
           min(dwell_min_ms)::float8 / 1000, max(dwell_max_ms)::float8 / 1000,
           string_agg(visitors, ''::bytea), string_agg(dwellers, ''::bytea),
           string_agg(dwells, ''::bytea)
    FROM a GROUP BY 1, 2 HAVING sum(events) > 0
"""


@dataclass(frozen=True)
class Changes:
    """What an upload changed in the rollups: hours to recompute, and sessions that only
    went between open and missing_exit, as count changes per (hour, camera_id) of entry
    (table: hour (UTC hour number), camera_id, open, missing_exit)."""

    hours: np.ndarray
    recounts: pa.Table

    @classmethod
    def none(cls) -> Changes:
        return cls(np.array([], dtype=np.int64), pa.table({
            "hour": pa.array([], pa.int64()), "camera_id": pa.array([], pa.string()),
            "open": pa.array([], pa.int64()), "missing_exit": pa.array([], pa.int64())}))

    @classmethod
    def combine(cls, parts: list[Changes]) -> Changes:
        if not parts:
            return cls.none()
        recounts = pa.concat_tables([part.recounts for part in parts]).group_by(
            ["hour", "camera_id"]).aggregate([("open", "sum"), ("missing_exit", "sum")])
        return cls(np.unique(np.concatenate([part.hours for part in parts])),
                   recounts.rename_columns(["hour", "camera_id", "open", "missing_exit"]))


def ready(conn: psycopg.Connection) -> bool:
    """Whether the rollups describe every stored event."""
    row = conn.execute("SELECT ready FROM rollup_state").fetchone()
    return bool(row and row[0])


def mark_stale(conn: psycopg.Connection) -> None:
    """Events were stored without refreshing the rollups: answer from the events until a
    later upload rebuilds them."""
    conn.execute("UPDATE rollup_state SET ready = false WHERE ready")


def refresh(conn: psycopg.Connection, changes: Changes,
            staged: StagedRollups | None = None) -> None:
    """Recompute the rollups of the changed hours and apply the recounts, or rebuild every
    hour when they were stale. Hours the upload staged rows for (`StagedRollups`, which an
    upload into current rollups needs: staging gave its persons their keys) are written
    from those instead of recomputed. Runs in the caller's transaction, under the ingest
    lock."""
    started = time.perf_counter()
    incremental = ready(conn)
    own = np.zeros(0, np.int64)
    if incremental:
        if staged is None:
            raise ValueError("an upload into current rollups refreshes them with its staged rows")
        _recount(conn, changes)
        runs = hour_runs(changes.hours)
        own = staged.hours
        recomputed = hour_runs(np.setdiff1d(changes.hours, own, assume_unique=True))
    else:
        bounds = conn.execute("SELECT min(ts), max(ts) FROM camera_events").fetchone()
        conn.execute("TRUNCATE rollup_hours, rollup_attributes, rollup_occupancy")
        runs = recomputed = [] if bounds is None or bounds[0] is None else [
            (_hour_of(bounds[0]), _hour_of(bounds[1]) + 1)]
        conn.execute("UPDATE rollup_state SET ready = true")
    if not runs:
        return
    conn.execute("DROP TABLE IF EXISTS rollup_runs")
    conn.execute("CREATE TEMP TABLE rollup_runs (lo timestamptz, hi timestamptz) ON COMMIT DROP")
    with conn.cursor().copy("COPY rollup_runs (lo, hi) FROM STDIN") as copy:
        for lo, hi in recomputed:
            copy.write_row((_instant(lo), _instant(hi)))
    conn.execute("ANALYZE rollup_runs")
    conn.execute("SET LOCAL work_mem = '256MB'")
    if not incremental:  # an upload's staging keyed its own persons
        conn.execute(_ADD_PERSON_KEYS)
    conn.execute("DELETE FROM rollup_hours h USING rollup_runs r WHERE h.hour >= r.lo AND h.hour < r.hi")
    conn.execute("DELETE FROM rollup_attributes h USING rollup_runs r"
                 " WHERE h.hour >= r.lo AND h.hour < r.hi")
    conn.execute("DELETE FROM rollup_occupancy h USING unnest(%s::timestamptz[], %s::timestamptz[])"
                 " AS r(lo, hi) WHERE h.hour >= r.lo AND h.hour < r.hi",
                 ([_instant(lo) for lo, _ in runs], [_instant(hi) for _, hi in runs]))
    if recomputed:
        conn.execute(_HOURS)
    if staged is not None and len(own):
        staged.write()
    _refresh_occupancy(conn, runs)
    log.info("rollups refreshed", extra={"hours": sum(hi - lo for lo, hi in runs),
                                         "from_upload": len(own), "runs": len(runs),
                                         "seconds": round(time.perf_counter() - started, 3)})


class StagedRollups:
    """Rollup rows an upload makes from its own arrays (`dwell.domain.rollup_rows`), part by
    part, for the hours only its own events fill: every hour of a first load into an empty
    store, the hours no stored event was in for a later upload. They are staged in a table
    and added up by `write` (parts hold different persons, so their rows add up); the SQL
    refresh recomputes the other hours from the stored rows. A first load also keeps its
    presence spans, to sweep the occupancy of every hour at once in `finish_first_load`."""

    def __init__(self, conn: psycopg.Connection, *, first_load: bool) -> None:
        self._conn = conn
        self.first_load = first_load
        if first_load:
            conn.execute("TRUNCATE rollup_hours, rollup_attributes, rollup_occupancy")
            conn.execute("UPDATE rollup_state SET ready = true")
        conn.execute("DROP TABLE IF EXISTS rollup_parts")
        conn.execute(_PARTS_TABLE)
        self._hours: list[np.ndarray] = []
        self._arrive: list[np.ndarray] = []
        self._leave: list[np.ndarray] = []

    def known_hours(self, hours: np.ndarray) -> np.ndarray:
        """Which of these hours (UTC hour numbers) held stored events before the upload."""
        if self.first_load or len(hours) == 0:
            return np.zeros(0, np.int64)
        rows = self._conn.execute(
            "SELECT DISTINCT (extract(epoch FROM hour) / 3600)::bigint FROM rollup_hours"
            " WHERE hour >= %s AND hour <= %s",
            (_instant(int(hours.min())), _instant(int(hours.max())))).fetchall()
        return np.array([row[0] for row in rows], dtype=np.int64)

    def add(self, rows: pa.Table, *, cameras: pa.Array,
            spans: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """One part's rows (camera codes into `cameras`) and, in a first load, its
        presence spans."""
        copy_in(self._conn, "rollup_parts", rows.set_column(
            rows.column_names.index("camera"), "camera_id",
            cameras.cast(pa.string()).take(rows.column("camera"))))
        self._hours.append(rows.column("hour").to_numpy()[rows.column("events").to_numpy() > 0])
        if spans is not None:
            self._arrive.append(spans[0])
            self._leave.append(spans[1])

    @property
    def hours(self) -> np.ndarray:
        """The distinct hours with events the staged rows fill."""
        return np.unique(np.concatenate([np.zeros(0, np.int64), *self._hours]))

    def write(self) -> None:
        self._conn.execute(_FROM_PARTS)

    def finish_first_load(self) -> None:
        """Write the rows, and sweep the occupancy of every hour they span."""
        started = time.perf_counter()
        self.write()
        hours = self.hours
        if len(hours):
            first, end = int(hours[0]), int(hours[-1]) + 1
            peaks, person_ms = hourly_levels(np.concatenate(self._arrive),
                                             np.concatenate(self._leave), first, end)
            _write_occupancy(self._conn, np.arange(first, end, dtype=np.int64), peaks, person_ms)
        log.info("rollups of a first load written", extra={
            "hours": int(hours[-1] - hours[0] + 1) if len(hours) else 0,
            "seconds": round(time.perf_counter() - started, 3)})


_KNOWN_KEYS = pa.schema([("i", pa.int64()), ("key", pa.int64())])


def person_keys(conn: psycopg.Connection, persons: pa.Array) -> np.ndarray:
    """The keys of these distinct persons, in their order; those without one get the next
    keys (one block of the identity, under the ingest lock), in the order of their ids:
    inserted in index order, half the work of inserting them at random."""
    order = pc.sort_indices(persons).to_numpy()
    conn.execute("DROP TABLE IF EXISTS key_persons")
    conn.execute('CREATE TEMP TABLE key_persons (i integer, person_id text COLLATE "C")'
                 " ON COMMIT DROP")
    copy_in(conn, "key_persons", pa.table({
        "i": pa.array(np.arange(len(persons), dtype=np.int32)),
        "person_id": persons.cast(pa.string()).take(pa.array(order))}))
    keys = np.full(len(persons), -1, dtype=np.int64)   # in the order of the ids
    known = copy_out(conn, "SELECT p.i, k.person_key FROM key_persons p"
                           " JOIN person_keys k USING (person_id)", _KNOWN_KEYS)
    if known.num_rows:
        keys[known.column("i").to_numpy()] = known.column("key").to_numpy()
    new = keys < 0
    first = allocate_ids(conn, "person_keys_person_key_seq", int(new.sum()))
    keys[new] = first + np.arange(int(new.sum()), dtype=np.int64)
    conn.execute(
        "INSERT INTO person_keys (person_id, person_key) OVERRIDING SYSTEM VALUE"
        " SELECT p.person_id, %s + row_number() OVER (ORDER BY p.i) - 1 FROM key_persons p"
        " WHERE NOT EXISTS (SELECT 1 FROM person_keys k WHERE k.person_id = p.person_id)"
        if known.num_rows else
        "INSERT INTO person_keys (person_id, person_key) OVERRIDING SYSTEM VALUE"
        " SELECT person_id, %s + i FROM key_persons ORDER BY i", (first,))
    in_order = np.empty_like(keys)
    in_order[order] = keys
    return in_order


def _recount(conn: psycopg.Connection, changes: Changes) -> None:
    """Apply the open / missing_exit count changes of hours that are not recomputed."""
    recounts = changes.recounts
    keep = ~np.isin(recounts.column("hour").to_numpy(), changes.hours)
    recounts = recounts.filter(pa.array(keep))
    if recounts.num_rows == 0:
        return
    updated = conn.execute(
        "UPDATE rollup_hours h SET open = h.open + d.open,"
        " missing_exit = h.missing_exit + d.missing_exit"
        " FROM unnest(%s::bigint[], %s::text[], %s::int[], %s::int[])"
        "      AS d(hour, camera_id, open, missing_exit)"
        " WHERE h.hour = TIMESTAMPTZ 'epoch' + d.hour * interval '1 hour'"
        "   AND h.camera_id = d.camera_id",
        [recounts.column(name).to_pylist()
         for name in ("hour", "camera_id", "open", "missing_exit")]).rowcount
    if updated != recounts.num_rows:  # every session's entry hour has its row
        raise RuntimeError(f"rollups: {recounts.num_rows - updated} recounted hours not found")


# The occupancy of refreshed hours is swept a week at a time at most.
SWEEP_HOURS = 24 * 7
# Complete sessions of positive length that entered in [since, end) and are present after
# `start` (the sessions the occupancy of the hours from `start` counts): person ids ended by
# a NUL (which no text holds) and UTC ms as int8, each column in one value. One row instead
# of one COPY message per session, which psycopg reads one at a time.
_PRESENT_SQL = """
    SELECT string_agg(convert_to(person_id, 'UTF8') || '\\x00'::bytea, ''::bytea),
           string_agg(int8send((extract(epoch FROM entry_ts) * 1000)::bigint), ''::bytea),
           string_agg(int8send((extract(epoch FROM exit_ts) * 1000)::bigint), ''::bytea)
    FROM person_sessions
    WHERE status = 'complete' AND exit_ts > entry_ts
      AND entry_ts >= %s AND entry_ts < %s AND exit_ts > %s
"""


def _refresh_occupancy(conn: psycopg.Connection, runs: list[tuple[int, int]]) -> None:
    """Per hour of the runs, the occupancy of every session present in it: those that
    entered since they can have (`entered_since`) and are still present at its start, swept
    in NumPy (the same sweep as the SQL over the sessions, a few times faster). Runs closer
    than that are swept together, so no session is read twice, in windows of at most
    SWEEP_HOURS, so that memory is bounded by a window's sessions however long the runs."""
    before = reach(conn)
    reach_hours = math.ceil(before / timedelta(hours=1))
    groups: list[list[tuple[int, int]]] = []
    for run in runs:
        if groups and run[0] - groups[-1][-1][1] <= reach_hours:
            groups[-1].append(run)
        else:
            groups.append([run])
    wanted = np.concatenate([np.arange(lo, hi, dtype=np.int64) for lo, hi in runs])
    for group in groups:
        for first in range(group[0][0], group[-1][1], SWEEP_HOURS):
            end = min(first + SWEEP_HOURS, group[-1][1])
            peaks, person_ms = _sweep_hours(conn, first, end, before)
            hours = np.arange(first, end, dtype=np.int64)
            keep = np.isin(hours, wanted)
            _write_occupancy(conn, hours[keep], peaks[keep], person_ms[keep])


def _write_occupancy(conn: psycopg.Connection, hours: np.ndarray, peaks: np.ndarray,
                     person_ms: np.ndarray) -> None:
    """The rows of the hours someone was present in."""
    present = peaks > 0
    with conn.cursor().copy("COPY rollup_occupancy (hour, peak, person_s) FROM STDIN") as copy:
        for hour, peak, ms in zip(hours[present], peaks[present], person_ms[present]):
            copy.write_row((_instant(int(hour)), int(peak), Decimal(int(ms)) / 1000))


def _sweep_hours(conn: psycopg.Connection, first: int, end: int,
                 before: timedelta) -> tuple[np.ndarray, np.ndarray]:
    """`hourly_presence` of the hours [first, end) from the sessions present in them."""
    start = _instant(first)
    with conn.cursor(binary=True) as cur:
        ids, entry_ms, exit_ms = cur.execute(_PRESENT_SQL, (
            entered_since(conn, start, before), _instant(end), start)).fetchone()
    ids = ids or b""
    # Each id with its NUL is one value of a binary array over the bytes as they came.
    ends = np.flatnonzero(np.frombuffer(ids, np.uint8) == 0) + 1
    offsets = np.concatenate([[0], ends]).astype(np.int64)
    persons = pa.Array.from_buffers(pa.large_binary(), len(ends),
                                    [None, pa.py_buffer(offsets), pa.py_buffer(ids)])
    return hourly_presence(
        pc.dictionary_encode(persons).indices.to_numpy(zero_copy_only=False),
        np.frombuffer(entry_ms or b"", ">i8").astype(np.int64),
        np.frombuffer(exit_ms or b"", ">i8").astype(np.int64), first, end)


def _hour_of(moment: datetime) -> int:
    return int((moment - _EPOCH) // timedelta(hours=1))


def _instant(hour: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=hour * HOUR_MS)
