"""The in-memory rollup members (dwell.analytics.members) against plain Python sets, and
their percentiles against a full sort."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dwell.analytics import members as members_module
from dwell.analytics.members import MemberTable, Packed, percentiles

T0 = datetime(2024, 3, 4, tzinfo=timezone.utc)
CAMERAS = ("cam-a", "cam-b", "cam-c")


def blob(values: list[int]) -> bytes:
    return np.array(values, dtype=">i4").tobytes()


def table(rows: list[tuple[int, str, list[int], list[int]]], links: bool) -> MemberTable:
    """Rows of (hour number, camera, visitor keys, dwell ms), in (hour, camera) order."""
    return MemberTable.from_rows(
        [(T0 + timedelta(hours=hour), camera, blob(keys), blob(keys[:1]), blob(dwells))
         for hour, camera, keys, dwells in rows], links=links)


# (hour, camera) rows in order: each hour has some of the cameras; keys from a small range so
# persons repeat across rows.
member_rows = st.lists(
    st.tuples(st.sets(st.sampled_from(CAMERAS), min_size=1),
              st.lists(st.lists(st.integers(0, 12), max_size=6), min_size=3, max_size=3),
              st.lists(st.integers(0, 5000), max_size=4)),
    max_size=12,
).map(lambda hours: [
    (hour, camera, keys[i], dwells)
    for hour, (cameras, keys, dwells) in enumerate(hours)
    for i, camera in enumerate(CAMERAS) if camera in cameras
])


@st.composite
def questions(draw: st.DrawFn) -> tuple[list, int | None, int | None, tuple[str, ...], int]:
    rows = draw(member_rows)
    start = draw(st.none() | st.integers(0, 12))
    end = draw(st.none() | st.integers(0, 13))
    cameras = tuple(draw(st.sets(st.sampled_from(CAMERAS), max_size=2)))
    width = draw(st.integers(1, 4))  # hours per group
    return rows, start, end, cameras, width


def expected(rows: list, start: int | None, end: int | None, cameras: tuple[str, ...],
             width: int) -> dict[int, list]:
    """The selected rows, by group (hour // width)."""
    groups: dict[int, list] = {}
    for hour, camera, keys, dwells in rows:
        if (start is None or hour >= start) and (end is None or hour < end) and \
                (not cameras or camera in cameras):
            groups.setdefault(hour // width, []).append((keys, dwells))
    return groups


@settings(max_examples=300, deadline=None)
@given(question=questions(), links=st.booleans(), few_runs=st.sampled_from([0, 4096]))
def test_groups_of_rows_count_like_sets(question: tuple, links: bool, few_runs: int) -> None:
    """`few_runs`: runs counted one by one, or all at once."""
    was, members_module.FEW_RUNS = members_module.FEW_RUNS, few_runs
    try:
        check_groups_of_rows(question, links)
    finally:
        members_module.FEW_RUNS = was


def check_groups_of_rows(question: tuple, links: bool) -> None:
    rows, start, end, cameras, width = question
    members = table(rows, links)
    selected = members.select(None if start is None else int((T0 + timedelta(hours=start)).timestamp()),
                              None if end is None else int((T0 + timedelta(hours=end)).timestamp()),
                              cameras)
    hours = (members.hour_s[selected] - int(T0.timestamp())) // 3600
    labels = sorted(expected(rows, start, end, cameras, width))
    groups = np.searchsorted(labels, hours // width) if labels else hours
    want = expected(rows, start, end, cameras, width)

    counts = members.distinct_visitors(selected, groups, len(labels))
    assert counts.tolist() == [len({k for keys, _ in want[g] for k in keys}) for g in labels]
    dwells = members.dwell_groups(selected, groups, len(labels))
    assert [sorted(d.tolist()) for d in dwells] == \
        [sorted(v for _, ds in want[g] for v in ds) for g in labels]

    for fraction in (0.5, 0.9):
        assert members.dwell_percentiles(selected, groups, len(labels), fraction) == \
            [percentiles(np.array([v for _, ds in want[g] for v in ds], dtype=np.int32),
                         fraction)[0] for g in labels]

    visits, first, last = members.visits(selected, groups, len(labels))
    days: dict[int, list[int]] = {}
    for position, g in enumerate(labels):
        for key in {k for keys, _ in want[g] for k in keys}:
            days.setdefault(key, []).append(position)
    for key in range(len(visits)):
        seen = days.get(key, [])
        assert visits[key] == len(seen)
        assert first[key] == (seen[0] if seen else -1)
        assert last[key] == (seen[-1] if seen else -1)


def test_a_run_of_hours_counts_each_person_once_per_group() -> None:
    """Hand-computed: person 1 in hours 0, 1 and 3; person 2 in hour 1 on two cameras."""
    members = table([(0, "cam-a", [1], [60_000]),
                     (1, "cam-a", [1, 2], []),
                     (1, "cam-b", [2], [1_000, 2_000]),
                     (3, "cam-a", [1], [])], links=True)
    rows = members.select(None, None, ())
    assert members.distinct_visitors(rows, np.zeros(4, dtype=np.int64), 1).tolist() == [2]
    # hours 0-1 and hours 2-3
    two = np.array([0, 0, 0, 1])
    assert members.distinct_visitors(rows, two, 2).tolist() == [2, 1]
    # one group per hour of every camera: the counts the table keeps per hour
    per_hour = np.array([0, 1, 1, 2])
    assert members.hours is not None
    assert members.hours.visitor_counts(rows, per_hour, 3).tolist() == [1, 2, 1]
    assert members.distinct_visitors(rows, per_hour, 3).tolist() == [1, 2, 1]
    # not whole hours (cam-a of hour 1 without cam-b): counted, not looked up
    assert members.hours.visitor_counts(rows[:2], per_hour[:2], 2) is None
    assert members.distinct_visitors(rows[:2], per_hour[:2], 2).tolist() == [1, 2]
    visits, first, last = members.visits(rows, two, 2)
    assert visits.tolist() == [0, 2, 1] and first.tolist() == [-1, 0, 0]
    assert last.tolist() == [-1, 1, 0]
    # cam-b alone: rows not consecutive in the table
    only_b = members.select(None, None, ("cam-b",))
    assert only_b.tolist() == [2]
    assert members.distinct_visitors(only_b, np.zeros(1, dtype=np.int64), 1).tolist() == [1]


def test_packed_take_gathers_rows_in_order() -> None:
    packed = Packed.decode([blob([1, 2]), blob([]), blob([3]), blob([4, 5, 6])])
    assert packed.take(np.array([0, 2, 3])).tolist() == [1, 2, 3, 4, 5, 6]
    assert packed.take(np.array([3, ], dtype=np.int64)).tolist() == [4, 5, 6]
    assert packed.take(np.array([0, 3])).tolist() == [1, 2, 4, 5, 6]
    assert packed.take(np.array([], dtype=np.int64)).tolist() == []


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.integers(0, 2**31 - 1) | st.integers(0, 20), min_size=1, max_size=60),
       fractions=st.lists(st.sampled_from([0.0, 0.1, 0.5, 0.9, 0.99, 1.0]) | st.floats(0, 1),
                          min_size=1, max_size=4))
def test_percentiles_of_several_fractions_rank_like_a_full_sort(values, fractions) -> None:
    ordered = sorted(values)
    expected = []
    for fraction in fractions:
        position = fraction * (len(values) - 1)
        lo, hi = math.floor(position), math.ceil(position)
        first, second = ordered[lo] / 1000.0, ordered[hi] / 1000.0
        expected.append(first if hi == lo else first + (second - first) * (position - lo))
    assert percentiles(np.array(values, dtype=np.int32), *fractions) == expected


@settings(max_examples=200, deadline=None)
@given(rows=member_rows, start=st.none() | st.integers(0, 12), end=st.none() | st.integers(0, 13))
def test_a_cameras_members_in_a_range_are_one_slice_of_the_layout_by_camera(rows, start, end):
    members = table(rows, links=True)
    layout = members.by_key("camera")
    assert members.by_key("camera") is layout  # built once per table
    start_s = None if start is None else int((T0 + timedelta(hours=start)).timestamp())
    end_s = None if end is None else int((T0 + timedelta(hours=end)).timestamp())
    for camera in (*CAMERAS, "cam-unknown"):
        keys, dwells = layout.members(camera, start_s, end_s)
        mine = [(k, d) for hour, cam, k, d in rows if cam == camera
                and (start is None or hour >= start) and (end is None or hour < end)]
        assert keys.tolist() == [key for k, _ in mine for key in k]
        assert dwells.tolist() == [value for _, d in mine for value in d]


def test_packed_rows_reorders_rows_with_their_offsets() -> None:
    packed = Packed.decode([blob([1, 2]), blob([]), blob([3]), blob([4, 5, 6])])
    picked = packed.rows(np.array([3, 0, 1, 2]))
    assert picked.values.tolist() == [4, 5, 6, 1, 2, 3]
    assert picked.offsets.tolist() == [0, 3, 5, 5, 6]
    assert picked.slice(1, 3).tolist() == [1, 2]
