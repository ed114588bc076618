"""Shared SQL pieces: the filters of SPEC §5 as WHERE clauses, the time buckets of SPEC §8,
and loading the queries kept in `queries/*.sql`.

User values only ever travel as bound parameters (`%(start)s`, `%(tz)s`, ...). The only
text composed into a statement is fixed fragments chosen from the tables below, after the
request was checked against them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from importlib import resources
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from dwell.analytics.filters import Filters

INTERVALS = ("hour", "day", "week")
T = TypeVar("T")

_TZ_NAME = re.compile(r"[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*")


@dataclass(frozen=True)
class Bucketing:
    """How instants map to buckets of one interval in the zone `%(tz)s`.

    `key` names the bucket of instant `{t}`; `start` / `end` turn key `{k}` into the bucket's
    first instant and the next bucket's first instant; `step` walks from key to key.
    """

    key: str
    start: str
    end: str
    step: str


# Days and weeks of any zone, keyed by their local start (a local midnight is unambiguous),
# so a spring-forward day lasts 23 h. ISO weeks: date_trunc('week') is the Monday.
ZONED: Mapping[str, Bucketing] = {
    "day": Bucketing(
        key="date_trunc('day', {t} AT TIME ZONE %(tz)s::text)",
        start="({k} AT TIME ZONE %(tz)s::text)",
        end="(({k} + interval '1 day') AT TIME ZONE %(tz)s::text)",
        step="interval '1 day'",
    ),
    "week": Bucketing(
        key="date_trunc('week', {t} AT TIME ZONE %(tz)s::text)",
        start="({k} AT TIME ZONE %(tz)s::text)",
        end="(({k} + interval '1 week') AT TIME ZONE %(tz)s::text)",
        step="interval '1 week'",
    ),
}

# Buckets by plain arithmetic on the instant: hours always, days and weeks when the zone has
# a single offset (UTC, Etc/GMT+5, ...). Local hours start where the UTC minutes equal the
# zone's offset modulo one hour; that never changes in every zone but a few with half-hour
# DST (Australia/Lord_Howe), whose hours follow their standard time. Hours are keyed by their
# UTC start, so the repeated hour of a fall-back night makes two buckets. Converting a
# million timestamps to local time costs more than the rest of a bucketed count; date_bin
# does not. Steps are in hours: a timestamptz plus '1 day' follows the session's time zone.
BINNED: Mapping[str, Bucketing] = {
    "hour": Bucketing(
        key="date_bin('1 hour', {t}, %(hour_origin)s::timestamptz)",
        start="{k}",
        end="({k} + interval '1 hour')",
        step="interval '1 hour'",
    ),
    "day": Bucketing(
        key="date_bin('24 hours', {t}, %(day_origin)s::timestamptz)",
        start="{k}",
        end="({k} + interval '24 hours')",
        step="interval '24 hours'",
    ),
    "week": Bucketing(
        key="date_bin('168 hours', {t}, %(week_origin)s::timestamptz)",
        start="{k}",
        end="({k} + interval '168 hours')",
        step="interval '168 hours'",
    ),
}

# The local calendar day of an instant, as a value whose differences count days (SPEC §9).
ZONED_DAY = "({t} AT TIME ZONE %(tz)s::text)::date"
BINNED_DAY = "floor((date_part('epoch', {t}) + %(fixed_offset_s)s::float8) / 86400)::int"

_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
_MONDAY = datetime(2000, 1, 3, tzinfo=timezone.utc)


@dataclass(frozen=True)
class ZoneProfile:
    """What arithmetic can stand in for time-zone conversion in one zone, from 2000 on
    (earlier timestamps are rejected at ingest, SPEC §2)."""

    fixed_offset_s: int | None   # the zone's only UTC offset, if it never changes
    hour_phase_s: int            # offset modulo one hour (standard time's, if it changes)
    whole_hours: bool = False    # every offset is whole hours: local hours, days and weeks
                                 # begin on UTC hours


@lru_cache(maxsize=256)
def zone_profile(tz: str) -> ZoneProfile:
    # Offsets are sampled every 3 days up to 2100; none in force since 2000 lasted less.
    zone = ZoneInfo(check_tz(tz))
    offsets: set[int] = set()
    standard_phases: Counter[int] = Counter()
    moment, until, step = _EPOCH, datetime(2100, 1, 1, tzinfo=timezone.utc), timedelta(days=3)
    while moment < until:
        local = moment.astimezone(zone)
        offset = int((local.utcoffset() or timedelta()).total_seconds())
        offsets.add(offset)
        standard_phases[(offset - int((local.dst() or timedelta()).total_seconds())) % 3600] += 1
        moment += step
    phases = {offset % 3600 for offset in offsets}
    return ZoneProfile(
        fixed_offset_s=next(iter(offsets)) if len(offsets) == 1 else None,
        hour_phase_s=phases.pop() if len(phases) == 1 else standard_phases.most_common(1)[0][0],
        whole_hours=all(offset % 3600 == 0 for offset in offsets),
    )


def bucketing(interval: str, tz: str) -> Bucketing:
    """The bucket templates of `interval` in zone `tz`: plain arithmetic where exact."""
    check_interval(interval)
    binned = interval == "hour" or zone_profile(tz).fixed_offset_s is not None
    return (BINNED if binned else ZONED)[interval]


def zone_params(tz: str) -> dict[str, Any]:
    """The bound parameters the BINNED templates use: instants where local hours, days and
    (Monday) weeks begin."""
    profile = zone_profile(tz)
    params: dict[str, Any] = {
        "hour_origin": _EPOCH - timedelta(seconds=profile.hour_phase_s),
        "day_origin": None, "week_origin": None, "fixed_offset_s": profile.fixed_offset_s}
    if profile.fixed_offset_s is not None:
        shift = timedelta(seconds=profile.fixed_offset_s)
        params.update(day_origin=_EPOCH - shift, week_origin=_MONDAY - shift)
    return params


def check_interval(interval: str) -> str:
    if interval not in INTERVALS:
        raise ValueError(f"interval: expected one of {', '.join(INTERVALS)}, got {interval!r}")
    return interval


@lru_cache(maxsize=512)
def _is_known_tz(name: str) -> bool:
    if not _TZ_NAME.fullmatch(name):
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def check_tz(tz: str) -> str:
    if not isinstance(tz, str) or not _is_known_tz(tz):
        raise ValueError(f"tz: unknown time zone {tz!r} (expected an IANA name such as "
                         "'Europe/Berlin')")
    return tz


def _check_ids(name: str, ids: Any) -> None:
    if isinstance(ids, (str, bytes)):
        raise ValueError(f"{name}: expected a sequence of ids, got the single string {ids!r}")
    for value in ids:
        if not isinstance(value, str):
            raise ValueError(f"{name}: ids must be strings, got {value!r}")


def check_filters(filters: Filters) -> None:
    """Raise ValueError naming the filter that cannot be used."""
    for name in ("start", "end"):
        moment = getattr(filters, name)
        if moment is None:
            continue
        if not isinstance(moment, datetime):
            raise ValueError(f"{name}: expected a datetime, got {moment!r}")
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"{name}: must be timezone-aware, got {moment.isoformat()}")
    if filters.start is not None and filters.end is not None and filters.end < filters.start:
        raise ValueError(f"end: {filters.end.isoformat()} is before start "
                         f"{filters.start.isoformat()}")
    _check_ids("camera_ids", filters.camera_ids)
    _check_ids("person_ids", filters.person_ids)
    check_tz(filters.tz)


def filter_params(filters: Filters, **extra: Any) -> dict[str, Any]:
    """The bound parameters every query of this package may use."""
    return {
        "start": filters.start,
        "end": filters.end,
        "camera_ids": list(filters.camera_ids),
        "person_ids": list(filters.person_ids),
        "tz": filters.tz,
        **zone_params(filters.tz),
        **extra,
    }


def _where(filters: Filters, time_column: str) -> sql.Composable:
    # Only the conditions in use are written, so the planner sees plain range and
    # equality predicates and can use the (ts) / (camera_id, ts) indexes.
    column = sql.Identifier(time_column)
    conditions: list[sql.Composable] = []
    if filters.start is not None:
        conditions.append(sql.SQL("{} >= %(start)s").format(column))
    if filters.end is not None:
        conditions.append(sql.SQL("{} < %(end)s").format(column))
    if filters.camera_ids:
        conditions.append(sql.SQL("camera_id = ANY(%(camera_ids)s::text[])"))
    if filters.person_ids:
        conditions.append(sql.SQL("person_id = ANY(%(person_ids)s::text[])"))
    return sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("TRUE")


def events_where(filters: Filters) -> sql.Composable:
    """Events filter by their timestamp (SPEC §5)."""
    return _where(filters, "ts")


def sessions_where(filters: Filters) -> sql.Composable:
    """Sessions filter by their entry time (SPEC §5)."""
    return _where(filters, "entry_ts")


def hours_where(filters: Filters) -> sql.Composable:
    """Rows of the hourly rollups filter by their hour (whole UTC hours, so a range that
    starts and ends on the hour takes exactly the hours of its events)."""
    return _where(filters, "hour")


def bucket_key(interval: str, tz: str, instant: sql.Composable | str) -> sql.Composable:
    """The bucket key of an instant (a timestamptz column name or expression)."""
    t = sql.Identifier(instant) if isinstance(instant, str) else instant
    return sql.SQL(bucketing(interval, tz).key).format(t=t)


def bucket_start(interval: str, tz: str, key: sql.Composable | str = "k") -> sql.Composable:
    """The first instant of the bucket with this key."""
    k = sql.Identifier(key) if isinstance(key, str) else key
    return sql.SQL(bucketing(interval, tz).start).format(k=k)


def bucket_end(interval: str, tz: str, key: sql.Composable | str = "k") -> sql.Composable:
    """The first instant after the bucket with this key."""
    k = sql.Identifier(key) if isinstance(key, str) else key
    return sql.SQL(bucketing(interval, tz).end).format(k=k)


def bucket_step(interval: str, tz: str) -> sql.Composable:
    return sql.SQL(bucketing(interval, tz).step)


def bucket_parts(interval: str, tz: str) -> dict[str, sql.Composable]:
    """The fragments `_buckets.sql` needs for one interval."""
    return {
        "bucket_start": bucket_start(interval, tz),
        "bucket_end": bucket_end(interval, tz),
        "step": bucket_step(interval, tz),
    }


def local_day(tz: str, instant: str) -> sql.Composable:
    """The local calendar day of a timestamptz column, as a value whose differences are days."""
    template = BINNED_DAY if zone_profile(tz).fixed_offset_s is not None else ZONED_DAY
    return sql.SQL(template).format(t=sql.Identifier(instant))


@lru_cache(maxsize=None)
def query_text(name: str) -> str:
    """The text of `queries/<name>.sql`."""
    path = resources.files("dwell.analytics") / "queries" / f"{name}.sql"
    return path.read_text(encoding="utf-8")


def query(name: str, **parts: sql.Composable) -> sql.Composed:
    """`queries/<name>.sql` with its `{placeholders}` filled by fixed fragments."""
    return sql.SQL(query_text(name)).format(**parts)  # type: ignore[arg-type]


def fragment(name: str, **parts: sql.Composable) -> sql.Composed:
    """A shared piece of a query (`queries/_<name>.sql`), e.g. a group of CTEs."""
    return query(f"_{name}", **parts)


# Settings for the duration of one analytics statement. Aggregates over computed keys are
# hard to estimate, and a large misestimate makes the JIT spend seconds compiling for a
# query that runs in less; the sorts and hashes of a sweep over a million sessions want
# more than the default 4 MB to stay in memory.
STATEMENT_SETTINGS = sql.SQL("SET LOCAL jit = off; SET LOCAL work_mem = '256MB'")


@contextmanager
def _analytics_cursor(conn: psycopg.Connection,
                      binary: bool = False) -> Iterator[psycopg.Cursor[dict[str, Any]]]:
    with conn.transaction(), conn.cursor(row_factory=dict_row, binary=binary) as cur:
        conn.execute(STATEMENT_SETTINGS)  # in text: several statements in one
        yield cur


# Statements are planned for their actual parameters every time (prepare=False): planning
# is nothing next to the work, and a generic plan cannot see how narrow a time range is.
def fetch_all(conn: psycopg.Connection, statement: sql.Composable,
              params: Mapping[str, Any], binary: bool = False) -> list[dict[str, Any]]:
    """Every row; `binary` for many rows of timestamps or numbers, which load faster so."""
    with _analytics_cursor(conn, binary) as cur:
        return cur.execute(statement, params, prepare=False).fetchall()


Connect = Callable[[], AbstractContextManager[psycopg.Connection]]


def run_together(conn: psycopg.Connection, jobs: Sequence[Callable[[psycopg.Connection], T]],
                 connect: Connect | None = None) -> list[T]:
    """Run independent read-only jobs and return their results in order.

    With `connect` (a source of more connections) the jobs run at once, one connection each,
    all in one exported snapshot, so every job sees the same data. Without it they run one
    after the other on `conn`. Callers that pass `connect` must not draw it from a bounded
    pool that `conn` already holds a slot of, or concurrent callers could wait on each other.
    """
    if connect is None or len(jobs) < 2:
        return [job(conn) for job in jobs]
    with ExitStack() as stack:
        snapshot = _begin_snapshot(conn, stack, export=None)
        others = []
        for _ in jobs[1:]:
            other = stack.enter_context(connect())
            _begin_snapshot(other, stack, export=snapshot)
            others.append(other)
        with ThreadPoolExecutor(max_workers=len(others)) as pool:
            futures = [pool.submit(job, other) for job, other in zip(jobs[1:], others)]
            first = jobs[0](conn)
            return [first, *(future.result() for future in futures)]


def _begin_snapshot(conn: psycopg.Connection, stack: ExitStack, export: str | None) -> str:
    """Open a repeatable-read transaction on `conn` (ended by `stack`): a new snapshot,
    exported, or the one `export` names."""
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    stack.callback(conn.execute, "ROLLBACK")  # read only: nothing to keep
    if export is None:
        return str(conn.execute("SELECT pg_export_snapshot()").fetchone()[0])  # type: ignore[index]
    conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(export)))
    return export


def fetch_one(conn: psycopg.Connection, statement: sql.Composable,
              params: Mapping[str, Any]) -> dict[str, Any] | None:
    with _analytics_cursor(conn) as cur:
        return cur.execute(statement, params, prepare=False).fetchone()
