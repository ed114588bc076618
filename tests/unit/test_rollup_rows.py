"""Rollup rows from events and sessions in memory (dwell.domain.rollup_rows) against a plain
reference that groups them one by one in dictionaries."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dwell.domain.hours import HOUR_MS
from dwell.domain.rollup_rows import MAX_DWELL_MS, EventColumns, SessionColumns, rollup_rows
from dwell.domain.sessions import SessionStatus
from dwell.domain.vocabulary import EventKind

# (hour, camera, attribute_set, person) with a few values each, so rows collect many members
# and persons repeat across rows; hours far apart too (the codes then come from sorting).
HOURS = st.one_of(st.integers(0, 5), st.sampled_from([-400_000, 0, 3, 900_000]))
event = st.tuples(HOURS, st.integers(0, HOUR_MS - 1), st.integers(0, 2), st.integers(0, 2),
                  st.integers(1, 6), st.sampled_from(list(EventKind)), st.booleans())
session = st.tuples(HOURS, st.integers(0, HOUR_MS - 1), st.integers(0, 2), st.integers(0, 2),
                    st.integers(1, 6), st.sampled_from(list(SessionStatus)),
                    st.one_of(st.integers(0, 10 * HOUR_MS), st.just(MAX_DWELL_MS + 5)))


def int4s(raw: bytes) -> list[int]:
    return np.frombuffer(raw, ">i4").tolist()


def reference(events: list[tuple], sessions: list[tuple]) -> dict[tuple, dict]:
    rows: dict[tuple, dict] = defaultdict(lambda: defaultdict(int) | {
        "visitors": set(), "members": []})
    for hour, _, camera, aset, person, kind, in_session in events:
        row = rows[(hour, camera, aset)]
        row["events"] += 1
        row["entries"] += kind == EventKind.ENTRY
        row["exits"] += kind == EventKind.EXIT
        row["orphan_exits"] += kind == EventKind.EXIT and not in_session
        row["visitors"].add(person)
    for hour, _, camera, aset, person, status, dwell_ms in sessions:
        row = rows[(hour, camera, aset)]
        row["sessions"] += 1
        row[status.label] += 1
        if status == SessionStatus.COMPLETE:
            row["members"].append((person, min(dwell_ms, MAX_DWELL_MS)))
            row["dwell_ms"] = row.get("dwell_ms", []) + [dwell_ms]
    return {key: {
        "events": row["events"], "entries": row["entries"], "exits": row["exits"],
        "orphan_exits": row["orphan_exits"], "sessions": row["sessions"],
        "complete": row["complete"], "missing_exit": row["missing_exit"], "open": row["open"],
        "dwell_sum_ms": sum(row["dwell_ms"]) if "dwell_ms" in row else None,
        "dwell_min_ms": min(row["dwell_ms"]) if "dwell_ms" in row else None,
        "dwell_max_ms": max(row["dwell_ms"]) if "dwell_ms" in row else None,
        "visitors": sorted(row["visitors"]), "members": sorted(row["members"]),
    } for key, row in rows.items()}


def computed(events: list[tuple], sessions: list[tuple]) -> dict[tuple, dict]:
    def column(rows: list[tuple], at: int, dtype: type) -> np.ndarray:
        return np.array([r[at] for r in rows], dtype=dtype)

    table = rollup_rows(
        EventColumns(ts_ms=np.array([h * HOUR_MS + ms for h, ms, *_ in events], np.int64),
                     camera=column(events, 2, np.int32), attribute_set=column(events, 3, np.int32),
                     person=column(events, 4, np.int64), kind=column(events, 5, np.int8),
                     in_session=column(events, 6, bool)),
        SessionColumns(entry_ms=np.array([h * HOUR_MS + ms for h, ms, *_ in sessions], np.int64),
                       camera=column(sessions, 2, np.int32),
                       attribute_set=column(sessions, 3, np.int32),
                       person=column(sessions, 4, np.int64), status=column(sessions, 5, np.int8),
                       dwell_ms=column(sessions, 6, np.int64)))
    rows = table.to_pylist()
    keys = [(r["hour"], r["camera"], r["attribute_set"]) for r in rows]
    assert keys == sorted(keys), "rows come sorted by (hour, camera, attribute_set)"
    result = {}
    for r, key in zip(rows, keys):
        visitors = int4s(r.pop("visitors"))
        assert len(visitors) == len(set(visitors)), "a row's visitors are distinct"
        members = list(zip(int4s(r.pop("dwellers")), int4s(r.pop("dwells"))))
        assert len(members) == r["complete"]
        result[key] = {**{k: v for k, v in r.items() if k not in ("hour", "camera", "attribute_set")},
                       "visitors": sorted(visitors), "members": sorted(members)}
    return result


@settings(max_examples=300, deadline=None)
@given(events=st.lists(event, max_size=30), sessions=st.lists(session, max_size=20))
def test_rows_match_the_plain_reference(events, sessions) -> None:
    assert computed(events, sessions) == reference(events, sessions)


def test_a_hand_computed_hour() -> None:
    """Hour 2, camera 0, no attributes: P1 enters and leaves after 10 min, P2 enters twice
    (a missing exit, then still open) and P3's exit closes nothing."""
    m = 60_000
    events = [(2, 0, 0, 0, 1, EventKind.ENTRY, True), (2, 10 * m, 0, 0, 1, EventKind.EXIT, True),
              (2, m, 0, 0, 2, EventKind.ENTRY, True), (2, 2 * m, 0, 0, 2, EventKind.ENTRY, True),
              (2, 3 * m, 0, 0, 3, EventKind.EXIT, False)]
    sessions = [(2, 0, 0, 0, 1, SessionStatus.COMPLETE, 10 * m),
                (2, m, 0, 0, 2, SessionStatus.MISSING_EXIT, 0),
                (2, 2 * m, 0, 0, 2, SessionStatus.OPEN, 0)]
    assert computed(events, sessions) == {(2, 0, 0): {
        "events": 5, "entries": 3, "exits": 2, "orphan_exits": 1, "sessions": 3, "complete": 1,
        "missing_exit": 1, "open": 1, "dwell_sum_ms": 600_000, "dwell_min_ms": 600_000,
        "dwell_max_ms": 600_000, "visitors": [1, 2, 3], "members": [(1, 600_000)]}}


def test_nothing_in_no_rows_out() -> None:
    assert computed([], []) == {}
