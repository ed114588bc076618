"""The hourly rollups' members in memory: the person keys and dwell times of each
(hour, camera) row, and of each (hour, camera, attribute combination) row, decoded into
flat arrays.

Reading them is most of the work of a rollup answer (tens of MB for ten million events),
and they change only when an upload commits. So a process holds the latest state it read
of each table, and every answer takes its rows from there. `rollup_state.generation`,
renewed by a trigger on every change of either table, names the state; it is read in the
answer's snapshot, so an answer never mixes two states. Rollups with more than MAX_HELD
members are not held: each answer reads only its own rows.

With a held state of rollup_hours come structures computed once for it, as indexes would
be: each person key's previous and next occurrence (distinct persons over a run of
consecutive rows are the keys whose previous occurrence lies before the run: a comparison
per member, no bitmap), each hour's dwell times sorted and distinct visitors counted (an
hourly series looks them up), and values derived from the state on demand
(`MemberTable.memo`).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import psycopg
from psycopg import sql as pgsql

T = TypeVar("T")

# Runs of rows up to this many are counted one by one, more at once (NumPy's reduceat).
FEW_RUNS = 4096
# About 100 MB of members, and as much again for their occurrence links and sorted copies.
MAX_HELD = 25_000_000


@dataclass(frozen=True)
class Source:
    """A rollup table whose members are held: the rows in order, their members in all, and
    whether to link each key's occurrences (see MemberTable)."""

    select: str
    members: str
    links: bool


HOURS = Source(
    "SELECT hour, camera_id, visitors, dwellers, dwells FROM rollup_hours {}"
    " ORDER BY hour, camera_id",
    "SELECT coalesce(sum(octet_length(visitors) / 4 + octet_length(dwellers) / 4 + complete),"
    " 0) FROM rollup_hours",
    links=True)
# Groups by an attribute are not runs of rows: their keys are counted, not linked.
ATTRIBUTES = Source(
    "SELECT hour, camera_id, visitors, ''::bytea, dwells, attribute_set FROM rollup_attributes"
    " {} ORDER BY hour, camera_id, attribute_set",
    "SELECT coalesce(sum(octet_length(visitors) / 4 + complete), 0) FROM rollup_attributes",
    links=False)


@dataclass(frozen=True)
class Packed:
    """One int32 array per row, end to end: row i holds values[offsets[i]:offsets[i + 1]]."""

    values: np.ndarray
    offsets: np.ndarray

    @classmethod
    def decode(cls, blobs: list[bytes]) -> Packed:
        """From big-endian int4 arrays (bytea)."""
        lengths = np.fromiter((len(blob) for blob in blobs), dtype=np.int64, count=len(blobs))
        offsets = np.zeros(len(blobs) + 1, dtype=np.int64)
        np.cumsum(lengths // 4, out=offsets[1:])
        values = np.frombuffer(b"".join(blobs), dtype=">i4").astype(np.int32)
        return cls(values, offsets)

    def slice(self, lo: int, hi: int) -> np.ndarray:
        """The values of rows lo to hi - 1, end to end (a view)."""
        return self.values[self.offsets[lo]:self.offsets[hi]]

    def take(self, rows: np.ndarray) -> np.ndarray:
        """The values of `rows` (ascending row numbers), in row order."""
        if not len(rows):
            return self.values[:0]
        if _contiguous(rows):
            return self.values[self.offsets[rows[0]]:self.offsets[rows[-1] + 1]]
        return self.rows(rows).values

    def rows(self, rows: np.ndarray) -> Packed:
        """`rows` (row numbers, in any order) as a Packed of their own."""
        lengths = self.offsets[rows + 1] - self.offsets[rows]
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        shift = np.repeat(self.offsets[rows] - offsets[:-1], lengths)
        return Packed(self.values[shift + np.arange(int(offsets[-1]))], offsets)


@dataclass(frozen=True)
class MemberTable:
    """Rollup rows in (hour, camera) order with their members. `before` and `after` give,
    for each visitor key, the position of the same key's previous and next occurrence among
    all visitors (-1 and len when there is none); a table read for one answer goes without
    them (None), as sorting its keys would cost more than it saves."""

    hour_s: np.ndarray       # int64 epoch seconds per row
    camera_ids: np.ndarray   # str per row
    visitors: Packed
    dwellers: Packed
    dwells: Packed
    before: np.ndarray | None
    after: np.ndarray | None
    hours: Hours | None
    attribute_sets: np.ndarray | None = None   # int32 per row, of rollup_attributes
    held: bool = False   # every row of the table, kept for the answers of its state
    derived: dict[Hashable, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_rows(cls, rows: list[tuple[Any, ...]], links: bool,
                  with_sets: bool = False, held: bool = False) -> MemberTable:
        """Rows of (hour, camera_id, visitors, dwellers, dwells[, attribute_set])."""
        visitors = Packed.decode([row[2] for row in rows])
        before, after = _occurrences(visitors.values) if links else (None, None)
        hour_s = np.array([int(row[0].timestamp()) for row in rows], dtype=np.int64)
        dwells = Packed.decode([row[4] for row in rows])
        return cls(
            hour_s=hour_s,
            camera_ids=np.array([row[1] for row in rows], dtype=object),
            visitors=visitors,
            dwellers=Packed.decode([row[3] for row in rows]),
            dwells=dwells,
            before=before, after=after,
            hours=Hours.of(hour_s, dwells, visitors, before) if before is not None else None,
            attribute_sets=np.fromiter((row[5] for row in rows), np.int32, len(rows))
            if with_sets else None, held=held)

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """A value derived from this state of the store (the rollups and the sessions they
        were computed from), computed once while the state is held."""
        if key not in self.derived:
            self.derived[key] = compute()
        return self.derived[key]

    def select(self, start_s: int | None, end_s: int | None,
               camera_ids: tuple[str, ...]) -> np.ndarray:
        """The row numbers in [start, end) of the cameras (all when empty), ascending."""
        lo = 0 if start_s is None else int(np.searchsorted(self.hour_s, start_s, "left"))
        hi = len(self.hour_s) if end_s is None else int(np.searchsorted(self.hour_s, end_s, "left"))
        rows = np.arange(lo, hi, dtype=np.int64)
        if camera_ids:
            rows = rows[np.isin(self.camera_ids[lo:hi], list(camera_ids))]
        return rows

    def distinct_visitors(self, rows: np.ndarray, groups: np.ndarray, count: int) -> np.ndarray:
        """Distinct visitors of each group (0 to count - 1) of `rows`; `groups` gives each
        row's group."""
        counts = np.zeros(count, dtype=np.int64)
        if not len(rows):
            return counts
        if self._runs(rows, groups):
            assert self.hours is not None
            looked_up = self.hours.visitor_counts(rows, groups, count)
            if looked_up is not None:
                return looked_up
            firsts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
            if len(firsts) <= FEW_RUNS:
                # a comparison with the run's start and a count per run: no array of starts
                bounds = self.visitors.offsets[np.r_[rows[firsts], rows[-1] + 1]].tolist()
                for group, lo, hi in zip(groups[firsts].tolist(), bounds, bounds[1:]):
                    counts[group] = np.count_nonzero(self.before[lo:hi] < lo)
                return counts
            _, _, run_groups, starts, new = self._links(rows, groups)
            counts[run_groups] = _per_run(new, starts)
            return counts
        return np.array([len(keys) for keys in self.visitor_keys(rows, groups, count)],
                        dtype=np.int64)

    def visitor_count(self, rows: np.ndarray) -> int:
        """Distinct visitors of `rows` together."""
        return int(self.distinct_visitors(rows, np.zeros(len(rows), dtype=np.int64), 1)[0])

    def visitor_keys(self, rows: np.ndarray, groups: np.ndarray,
                     count: int) -> list[np.ndarray]:
        """The distinct visitor keys of each group of `rows`."""
        return distinct_keys([self.visitors.take(part) for part in split(rows, groups, count)])

    def by_key(self, name: str) -> ByKey:
        """The rows laid out by camera (`camera`) or attribute combination (`set`), built
        once per held state."""
        keys = {"camera": lambda: self.camera_ids.astype(str),
                "set": lambda: self.attribute_sets}[name]
        return self.memo(("by", name), lambda: ByKey.of(self, keys()))

    def dwell_groups(self, rows: np.ndarray, groups: np.ndarray,
                     count: int) -> list[np.ndarray]:
        """The dwell times (ms) of each group of `rows`."""
        return [self.dwells.take(part) for part in split(rows, groups, count)]

    def dwell_percentiles(self, rows: np.ndarray, groups: np.ndarray, count: int,
                          fraction: float) -> list[float | None]:
        """`percentiles(dwells, fraction)` of each group of `rows`: looked up where each
        group is one whole hour of every camera (an hourly series), else ranked."""
        if self.hours is not None and len(rows) and self._runs(rows, groups):
            looked_up = self.hours.percentiles(rows, groups, count, fraction)
            if looked_up is not None:
                return looked_up
        return [percentiles(part, fraction)[0]
                for part in self.dwell_groups(rows, groups, count)]

    def visits(self, rows: np.ndarray, groups: np.ndarray, count: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per visitor key: in how many groups it is, and the first and last group it is
        in (-1 for keys in none)."""
        top = int(self.visitors.values.max(initial=-1)) + 1
        visits = np.zeros(top, dtype=np.int64)
        first = np.full(top, -1, dtype=np.int64)
        last = np.full(top, -1, dtype=np.int64)
        if not len(rows):
            return visits, first, last
        if self._runs(rows, groups):
            assert self.before is not None and self.after is not None
            lo, hi, run_groups, starts, new = self._links(rows, groups)
            keys = self.visitors.values[lo:hi]
            visits += np.bincount(keys.take(np.flatnonzero(new)), minlength=top)
            # a key's first visit in the rows, and its last
            for target, ends in ((first, self.before[lo:hi] < lo), (last, self.after[lo:hi] >= hi)):
                positions = np.flatnonzero(ends)
                runs = np.searchsorted(starts, positions, "right") - 1
                target[keys.take(positions)] = run_groups[runs]
            return visits, first, last
        for g, keys in enumerate(self.visitor_keys(rows, groups, count)):
            visits[keys] += 1
            first[keys] = np.where(first[keys] < 0, g, first[keys])
            last[keys] = g
        return visits, first, last

    def _runs(self, rows: np.ndarray, groups: np.ndarray) -> bool:
        """Whether the links are known, the rows consecutive and each group a run of them,
        in group order."""
        return self.before is not None and _contiguous(rows) and \
            bool(np.all(groups[1:] >= groups[:-1]))

    def _span(self, rows: np.ndarray) -> tuple[int, int]:
        """The visitor positions of consecutive rows."""
        offsets = self.visitors.offsets
        return int(offsets[rows[0]]), int(offsets[rows[-1] + 1])

    def _links(self, rows: np.ndarray, groups: np.ndarray
               ) -> tuple[int, int, np.ndarray, np.ndarray, np.ndarray]:
        """For the visitors of consecutive rows in runs of groups: their positions lo to hi,
        each run's group and first position (from lo), and whether each visitor is its key's
        first in its run (its previous occurrence lies before the run)."""
        assert self.before is not None
        offsets = self.visitors.offsets
        lo, hi = self._span(rows)
        firsts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
        starts = offsets[rows[firsts]]
        new = self.before[lo:hi] < np.repeat(starts.astype(np.int32), np.diff(np.r_[starts, hi]))
        return lo, hi, groups[firsts], starts - lo, new


@dataclass(frozen=True)
class Hours:
    """The distinct hours of a table's rows, over every camera: the dwell times of each in
    order (as an index on (hour, dwell) would hold them) and its distinct visitors. An
    hourly series of every camera looks both up instead of ranking and counting."""

    of_row: np.ndarray       # each row's hour number
    first_row: np.ndarray    # each hour's first row, and the number of rows at the end
    sorted_dwells: Packed    # per hour
    visitors: np.ndarray     # distinct visitors per hour

    @classmethod
    def of(cls, hour_s: np.ndarray, dwells: Packed, visitors: Packed,
           before: np.ndarray) -> Hours:
        """`before`: each visitor's previous occurrence of its key (see MemberTable)."""
        change = np.r_[True, hour_s[1:] != hour_s[:-1]] if len(hour_s) else np.zeros(0, bool)
        first_row = np.r_[np.flatnonzero(change), len(hour_s)]
        offsets = dwells.offsets[first_row]
        values = dwells.values.copy()
        for lo, hi in zip(offsets[:-1].tolist(), offsets[1:].tolist()):
            values[lo:hi].sort()
        # A visitor is new in its hour when its key's previous occurrence lies before it.
        starts = visitors.offsets[first_row]
        new = before < np.repeat(starts[:-1].astype(np.int32), np.diff(starts))
        return cls(np.cumsum(change) - 1, first_row, Packed(values, offsets),
                   _per_run(new, starts[:-1]))

    def _whole(self, rows: np.ndarray, groups: np.ndarray) -> np.ndarray | None:
        """The hour of each group's first row when `rows` (consecutive) are whole hours and
        each group is one of them; None otherwise."""
        hour = self.of_row[rows]
        if self.first_row[hour[0]] != rows[0] or self.first_row[hour[-1] + 1] != rows[-1] + 1 \
                or not np.array_equal(np.diff(hour) != 0, np.diff(groups) != 0):
            return None
        return np.flatnonzero(np.r_[True, np.diff(groups) != 0])

    def visitor_counts(self, rows: np.ndarray, groups: np.ndarray,
                       count: int) -> np.ndarray | None:
        """Distinct visitors of each group of consecutive rows when every group is one whole
        hour; None otherwise."""
        firsts = self._whole(rows, groups)
        if firsts is None:
            return None
        counts = np.zeros(count, dtype=np.int64)
        counts[groups[firsts]] = self.visitors[self.of_row[rows[firsts]]]
        return counts

    def percentiles(self, rows: np.ndarray, groups: np.ndarray, count: int,
                    fraction: float) -> list[float | None] | None:
        """As `percentiles` for each group of consecutive rows when every group is one
        whole hour; None otherwise."""
        firsts = self._whole(rows, groups)
        if firsts is None:
            return None
        hour = self.of_row[rows[firsts]]
        start = self.sorted_dwells.offsets[hour]
        n = self.sorted_dwells.offsets[hour + 1] - start
        values = self.sorted_dwells.values
        if not len(values):
            return [None] * count
        position = fraction * (np.maximum(n, 1) - 1).astype(np.float64)
        lo, hi = np.floor(position).astype(np.int64), np.ceil(position).astype(np.int64)
        first = values[np.minimum(start + lo, len(values) - 1)] / 1000.0
        second = values[np.minimum(start + hi, len(values) - 1)] / 1000.0
        result = np.where(hi == lo, first, first + (second - first) * (position - lo))
        found: list[float | None] = [None] * count
        for group, value, size in zip(groups[firsts].tolist(), result.tolist(), n.tolist()):
            found[group] = value if size else None
        return found


@dataclass(frozen=True)
class ByKey:
    """A table's rows grouped by a key (camera, attribute combination), each key's rows in
    hour order, with their visitor keys and dwell times laid out so: a key's rows in a time
    range are consecutive, and their members a slice."""

    first_row: dict[Hashable, int]   # each key's first row in this order
    last_row: dict[Hashable, int]    # and one past its last
    hour_s: np.ndarray
    visitors: Packed
    dwells: Packed

    @classmethod
    def of(cls, table: MemberTable, keys: np.ndarray) -> ByKey:
        distinct, code = np.unique(keys, return_inverse=True)
        order = np.argsort(code, kind="stable")   # rows stay in hour order within a key
        bounds = np.searchsorted(code[order], np.arange(len(distinct) + 1)).tolist()
        names = distinct.tolist()
        return cls(dict(zip(names, bounds[:-1])), dict(zip(names, bounds[1:])),
                   table.hour_s[order], table.visitors.rows(order), table.dwells.rows(order))

    def members(self, key: Hashable, start_s: int | None, end_s: int | None
                ) -> tuple[np.ndarray, np.ndarray]:
        """The visitor keys and dwell times (ms) of the key's rows in [start, end)."""
        first = self.first_row.get(key, 0)
        hours = self.hour_s[first:self.last_row.get(key, 0)]
        lo = first + (0 if start_s is None else int(np.searchsorted(hours, start_s)))
        hi = first + (len(hours) if end_s is None else int(np.searchsorted(hours, end_s)))
        return self.visitors.slice(lo, hi), self.dwells.slice(lo, hi)


def _per_run(new: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """How many of `new` are true in each run: run i from starts[i] to the next start (the
    last to the end)."""
    counts = np.zeros(len(starts), dtype=np.int64)
    filled = np.diff(np.r_[starts, len(new)]) > 0
    if filled.any():
        counts[filled] = np.add.reduceat(new.view(np.uint8), starts[filled], dtype=np.int64)
    return counts


def split(rows: np.ndarray, groups: np.ndarray, count: int) -> list[np.ndarray]:
    """`rows` (ascending) cut by group, each part ascending."""
    order = np.argsort(groups, kind="stable")
    bounds = np.searchsorted(groups[order], np.arange(count + 1), "left")
    ordered = rows[order]
    return [ordered[bounds[g]:bounds[g + 1]] for g in range(count)]


def _contiguous(rows: np.ndarray) -> bool:
    return len(rows) == 0 or int(rows[-1]) - int(rows[0]) + 1 == len(rows)


def _occurrences(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each position's previous and next position holding the same key (-1 and len(keys)
    when there is none)."""
    order = np.argsort(keys, kind="stable").astype(np.int32)
    same = keys[order[1:]] == keys[order[:-1]]
    before = np.full(len(keys), -1, dtype=np.int32)
    after = np.full(len(keys), len(keys), dtype=np.int32)
    before[order[1:][same]] = order[:-1][same]
    after[order[:-1][same]] = order[1:][same]
    return before, after


def percentiles(dwell_ms: np.ndarray, *fractions: float) -> list[float | None]:
    """PostgreSQL's percentile_cont over the dwell_s column for each fraction: linear
    interpolation between the values at the two ranks around fraction * (n - 1), computed
    as it computes it, on the same float8 seconds (whole milliseconds / 1000). The integers
    rank as the seconds do. One rank at a time: NumPy's partition at several ranks at once
    is ten times slower than at one."""
    n = len(dwell_ms)
    if n == 0:
        return [None] * len(fractions)
    ranked = np.array(dwell_ms)
    values: dict[int, float] = {}
    done = -1  # ranked[:done + 1] holds the smallest values, in order
    for rank in sorted({math.floor(fraction * (n - 1)) for fraction in fractions}):
        if rank > done:
            ranked[done + 1:].partition(rank - done - 1)
            done = rank
        values[rank] = float(ranked[rank])
        if rank + 1 < n:  # the next rank's value is the least of the rest
            values[rank + 1] = float(ranked[rank + 1:].min())
    results: list[float | None] = []
    for fraction in fractions:
        position = fraction * (n - 1)
        lo, hi = math.floor(position), math.ceil(position)
        first, second = values[lo] / 1000.0, values[hi] / 1000.0
        results.append(first if hi == lo else first + (second - first) * (position - lo))
    return results


def distinct_count(keys: np.ndarray) -> int:
    """How many distinct keys (non-negative int32) there are."""
    if not len(keys):
        return 0
    seen = np.zeros(int(keys.max()) + 1, dtype=bool)
    seen[keys] = True
    return int(np.count_nonzero(seen))


def distinct_keys(groups: list[np.ndarray]) -> list[np.ndarray]:
    """The distinct keys of each group of int32 keys.

    A group with keys for a good part of all persons marks them in a bitmap. Smaller groups
    share one array indexed by key, never cleared: each key's position in the group is
    written there, one write wins, and the key is kept where its own position is read back.
    No sort, and no pass over every person per small group.
    """
    top = max((int(keys.max()) for keys in groups if len(keys)), default=-1)
    owner = None
    distinct = []
    for keys in groups:
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


class _Held:
    """The one state of a source this process holds, loaded by one thread while the others
    wait."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.generation: Any = None
        self.table: MemberTable | None = None


_HELD = {HOURS: _Held(), ATTRIBUTES: _Held()}


def holds(generation: Any, source: Source = HOURS) -> bool:
    """Whether this process holds that state of the rollups."""
    held = _HELD[source]
    return held.table is not None and held.generation == generation


def member_table(conn: psycopg.Connection, where: pgsql.Composable,
                 params: dict[str, Any], source: Source = HOURS) -> MemberTable:
    """The rollup rows (and members) an answer may need, in the caller's snapshot: every
    row, held for the next answers, or only those matching `where` when there are too many
    to hold."""
    row = conn.execute("SELECT generation FROM rollup_state").fetchone()
    generation = row[0] if row else None
    held = _HELD[source]
    with held.lock:
        if held.table is not None and held.generation == generation:
            return held.table
        total = conn.execute(source.members).fetchone()
        if total is not None and total[0] <= MAX_HELD:
            held.table = None  # let the old state go before reading the new one
            held.table = _read(conn, source, pgsql.SQL(""), {}, held=True)
            held.generation = generation
            return held.table
    return _read(conn, source, pgsql.SQL("WHERE {}").format(where), params, held=False)


def _read(conn: psycopg.Connection, source: Source, where: pgsql.Composable,
          params: dict[str, Any], held: bool) -> MemberTable:
    """Rows in binary, so the arrays arrive as bytes without hex encoding. Only a held
    table links its keys: for one answer, sorting them would cost more than it saves."""
    with conn.cursor(binary=True) as cur:
        rows = cur.execute(pgsql.SQL(source.select).format(where), params).fetchall()
    return MemberTable.from_rows(rows, links=source.links and held,
                                 with_sets=source is ATTRIBUTES, held=held)
