"""UTC hours as integers (milliseconds // 3,600,000): which hours an upload changed, and the
runs of consecutive hours the rollups are refreshed over."""

from __future__ import annotations

import numpy as np

HOUR_MS = 3_600_000


def touched_hours(event_ts_ms: np.ndarray, span_start_ms: np.ndarray,
                  span_end_ms: np.ndarray) -> np.ndarray:
    """Sorted distinct hours holding an event, or lying under a span [start, end]
    (a session's presence, which reaches every hour from its entry to its exit)."""
    event_hours = np.asarray(event_ts_ms, dtype=np.int64) // HOUR_MS
    first = np.asarray(span_start_ms, dtype=np.int64) // HOUR_MS
    last = np.asarray(span_end_ms, dtype=np.int64) // HOUR_MS
    lengths = np.maximum(last - first + 1, 1)
    ends = np.cumsum(lengths)
    within = np.arange(ends[-1] if len(ends) else 0, dtype=np.int64) - np.repeat(ends - lengths, lengths)
    span_hours = np.repeat(first, lengths) + within
    return np.unique(np.concatenate([event_hours, span_hours]))


def hour_runs(hours: np.ndarray) -> list[tuple[int, int]]:
    """Sorted distinct hours as runs of consecutive hours, each [first, last + 1)."""
    hours = np.asarray(hours, dtype=np.int64)
    if len(hours) == 0:
        return []
    breaks = np.flatnonzero(np.diff(hours) > 1) + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [len(hours)]])
    return [(int(hours[s]), int(hours[e - 1]) + 1) for s, e in zip(starts, ends)]


def hourly_presence(person: np.ndarray, entry_ms: np.ndarray, exit_ms: np.ndarray,
                    first_hour: int, end_hour: int) -> tuple[np.ndarray, np.ndarray]:
    """Occupancy (SPEC §7) per UTC hour from `first_hour` to `end_hour` (exclusive): the
    peak, counting the level carried in at the hour's start, and the person-milliseconds
    present. A person is present on the union of their [entry, exit) intervals (touching
    ones merge), however many cameras saw them. As the SQL sweep over the sessions computes
    it, without sorting the sessions by person in PostgreSQL."""
    return hourly_levels(*presence_spans(person, entry_ms, exit_ms), first_hour, end_hour)


def presence_spans(person: np.ndarray, entry_ms: np.ndarray,
                   exit_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each person's presence, the union of their [entry, exit) intervals (touching ones
    merge), as the instants they arrive and leave. Persons never mix, so the spans of
    disjoint sets of persons simply add up (`hourly_levels` of their concatenation)."""
    # Each person's coverage: +1 at an entry, -1 at an exit, a person's instants in order,
    # entries first at one instant so touching intervals merge. Each person's steps add up
    # to zero, so one running sum over all persons is each person's own.
    n = len(person)
    t = np.concatenate([np.asarray(entry_ms, np.int64), np.asarray(exit_ms, np.int64)])
    d = np.concatenate([np.ones(n, np.int64), np.full(n, -1, np.int64)])
    order = np.lexsort((-d, t, np.concatenate([person, person])))
    t, d = t[order], d[order]
    cover = np.cumsum(d)
    return t[(d == 1) & (cover == 1)], t[(d == -1) & (cover == 0)]


def hourly_levels(arrive: np.ndarray, leave: np.ndarray, first_hour: int,
                  end_hour: int) -> tuple[np.ndarray, np.ndarray]:
    """`hourly_presence` from the persons' arrivals and departures (`presence_spans`)."""
    hours = end_hour - first_hour
    if hours <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    # One sweep over every person's arrivals and departures, with a mark (0) at each hour's
    # start: at one instant departures come first, then the mark, then arrivals, so a
    # mark's level is the level carried into its hour. Marks cut the sweep into hours.
    marks = (np.arange(first_hour, end_hour + 1, dtype=np.int64)) * HOUR_MS
    t = np.concatenate([leave, marks, arrive])
    d = np.concatenate([np.full(len(leave), -1, np.int64), np.zeros(len(marks), np.int64),
                        np.ones(len(arrive), np.int64)])
    order = np.lexsort((d, t))
    t, d = t[order], d[order]
    level = np.cumsum(d)
    held = level * np.diff(t, append=t[-1])   # level until the next instant
    cells = np.flatnonzero(d == 0)            # each hour's mark, and the end of the last hour
    return np.maximum.reduceat(level, cells)[:hours], np.add.reduceat(held, cells)[:hours]
