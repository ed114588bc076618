"""Rows of the hourly rollups (migrations 0006 and 0008) from events and sessions in memory.

A first load into an empty store holds every event and session it writes: grouping them
here costs a fraction of grouping the stored rows again in SQL (`dwell.store.rollups`,
which refreshes the rollups of every later upload). The rows are those of rollup_attributes,
per UTC hour, camera and attribute combination, with everything rollup_hours sums from
them; tests hold both ways equal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dwell.domain.codes import group_codes
from dwell.domain.hours import HOUR_MS
from dwell.domain.sessions import SessionStatus
from dwell.domain.vocabulary import EventKind

# Dwells are kept as int4 milliseconds, saturated (24.8 days).
MAX_DWELL_MS = 2**31 - 1


@dataclass(frozen=True)
class EventColumns:
    """One element per stored event."""

    ts_ms: np.ndarray          # int64 UTC milliseconds
    camera: np.ndarray         # int codes of the camera ids
    attribute_set: np.ndarray  # int: the combination's id, 0 without attributes
    person: np.ndarray         # int: the person's key (person_keys)
    kind: np.ndarray           # int8 EventKind
    in_session: np.ndarray     # bool: the event belongs to a session


@dataclass(frozen=True)
class SessionColumns:
    """One element per session, under its opening entry's hour, camera and combination."""

    entry_ms: np.ndarray
    camera: np.ndarray
    attribute_set: np.ndarray
    person: np.ndarray
    status: np.ndarray         # int8 SessionStatus
    dwell_ms: np.ndarray       # int64, meaningful for complete sessions


def rollup_rows(events: EventColumns, sessions: SessionColumns) -> pa.Table:
    """One row per (hour, camera, attribute_set) with events or sessions, sorted by them.

    Columns: hour (UTC hour number), camera (the code), attribute_set; events, entries,
    exits, orphan_exits (by the hour of the event); sessions, complete, missing_exit, open
    (by the hour of the entry); dwell_sum_ms, dwell_min_ms, dwell_max_ms of the complete
    sessions (null without any); visitors: the distinct person keys with an event, int4
    big-endian; dwellers and dwells: per complete session its person key and its dwell in
    int4 milliseconds (saturated), in the same order.
    """
    ev_hour = np.asarray(events.ts_ms, np.int64) // HOUR_MS
    se_hour = np.asarray(sessions.entry_ms, np.int64) // HOUR_MS
    n_events = len(ev_hour)
    columns = (np.concatenate([ev_hour, se_hour]),
               np.concatenate([events.camera, sessions.camera], dtype=np.int64),
               np.concatenate([events.attribute_set, sessions.attribute_set], dtype=np.int64))
    first, row_of = group_codes(*columns)
    keys = [column[first] for column in columns]
    n_rows = len(first)
    ev_row, se_row = row_of[:n_events], row_of[n_events:]

    def per_row(rows: np.ndarray) -> np.ndarray:
        return np.bincount(rows, minlength=n_rows).astype(np.int64)

    kind = np.asarray(events.kind)
    status = np.asarray(sessions.status)
    complete = status == SessionStatus.COMPLETE
    exits = kind == EventKind.EXIT

    # Distinct (row, person) pairs, sorted by row: the visitors of each row in turn.
    persons = np.asarray(events.person, np.int64)
    span = int(persons.max()) + 1 if n_events else 1
    pairs = np.sort(ev_row * span + persons)  # np.unique alone hashes: 50x slower here
    pairs = pairs[np.concatenate([[True], pairs[1:] != pairs[:-1]])] if n_events else pairs
    visitors = _int4_lists(pairs // span, pairs % span, n_rows)

    # Complete sessions in row order: dwellers and dwells side by side, sums and extremes.
    order = np.argsort(se_row[complete], kind="stable")
    c_row = se_row[complete][order]
    c_person = np.asarray(sessions.person, np.int64)[complete][order]
    c_dwell = np.asarray(sessions.dwell_ms, np.int64)[complete][order]
    has = per_row(c_row) > 0
    starts = np.searchsorted(c_row, np.flatnonzero(has))
    dwell_sum = np.zeros(n_rows, np.int64)
    dwell_min = np.zeros(n_rows, np.int64)
    dwell_max = np.zeros(n_rows, np.int64)
    if len(c_row):
        dwell_sum[has] = np.add.reduceat(c_dwell, starts)
        dwell_min[has] = np.minimum.reduceat(c_dwell, starts)
        dwell_max[has] = np.maximum.reduceat(c_dwell, starts)

    def nullable(values: np.ndarray) -> pa.Array:
        return pa.array(values, mask=~has)

    return pa.table({
        "hour": pa.array(keys[0]),
        "camera": pa.array(keys[1]),
        "attribute_set": pa.array(keys[2].astype(np.int32)),
        "events": pa.array(per_row(ev_row)),
        "entries": pa.array(per_row(ev_row[kind == EventKind.ENTRY])),
        "exits": pa.array(per_row(ev_row[exits])),
        "orphan_exits": pa.array(per_row(ev_row[exits & ~np.asarray(events.in_session)])),
        "sessions": pa.array(per_row(se_row)),
        "complete": pa.array(per_row(c_row)),
        "missing_exit": pa.array(per_row(se_row[status == SessionStatus.MISSING_EXIT])),
        "open": pa.array(per_row(se_row[status == SessionStatus.OPEN])),
        "dwell_sum_ms": nullable(dwell_sum),
        "dwell_min_ms": nullable(dwell_min),
        "dwell_max_ms": nullable(dwell_max),
        "visitors": visitors,
        "dwellers": _int4_lists(c_row, c_person, n_rows),
        "dwells": _int4_lists(c_row, np.minimum(c_dwell, MAX_DWELL_MS), n_rows),
    })


def _int4_lists(rows: np.ndarray, values: np.ndarray, n_rows: int) -> pa.Array:
    """Per row, its values (given sorted by row) as int4 big-endian bytes."""
    counts = np.bincount(rows, minlength=n_rows).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts) * 4]).astype(np.int64)
    data = np.asarray(values).astype(">i4").tobytes()
    return pa.Array.from_buffers(pa.large_binary(), n_rows,
                                 [None, pa.py_buffer(offsets), pa.py_buffer(data)])
