"""Hourly occupancy from session intervals (dwell.domain.hours.hourly_presence) against a
plain reference: per hour, each person's covered time and the most persons present at once."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dwell.domain.hours import HOUR_MS, hourly_levels, hourly_presence, presence_spans

STEP = HOUR_MS // 4   # coarse instants: many ties, touching intervals and hour edges


def reference(intervals: list[tuple[int, int, int]], first: int, end: int
              ) -> tuple[list[int], list[int]]:
    peaks, person_ms = [], []
    persons = {p for p, _, _ in intervals}
    for hour in range(first, end):
        lo, hi = hour * HOUR_MS, (hour + 1) * HOUR_MS

        def present(t: int) -> int:
            return sum(any(s <= t < e for q, s, e in intervals if q == p) for p in persons)

        # the level only rises at an entry: the hour's start and its entries decide the peak
        candidates = [lo] + [s for _, s, _ in intervals if lo <= s < hi]
        peaks.append(max(present(t) for t in candidates))
        total = 0
        for p in persons:  # each person's union of intervals within the hour
            covered = sorted((max(s, lo), min(e, hi)) for q, s, e in intervals
                             if q == p and max(s, lo) < min(e, hi))
            end_so_far = lo
            for s, e in covered:
                total += max(0, e - max(s, end_so_far))
                end_so_far = max(end_so_far, e)
        person_ms.append(total)
    return peaks, person_ms


intervals = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 16), st.integers(1, 8)).map(
        lambda x: (x[0], x[1] * STEP, (x[1] + x[2]) * STEP)),
    max_size=12)


@settings(max_examples=300, deadline=None)
@given(intervals=intervals, first=st.integers(0, 3), hours=st.integers(1, 4))
def test_presence_per_hour_matches_the_plain_reference(intervals, first, hours) -> None:
    person = np.array([p for p, _, _ in intervals], dtype=np.int64)
    entry = np.array([s for _, s, _ in intervals], dtype=np.int64)
    exit_ = np.array([e for _, _, e in intervals], dtype=np.int64)
    peaks, person_ms = hourly_presence(person, entry, exit_, first, first + hours)
    assert (peaks.tolist(), person_ms.tolist()) == reference(intervals, first, first + hours)


def test_a_hand_computed_hour() -> None:
    """Hour 0: p1 10-30 min and 30-40 min (touching: one stay), p2 20-50 min on two cameras
    at once (overlapping: counted once), p3 from 50 min into hour 1."""
    m = 60_000
    person = np.array([1, 1, 2, 2, 3])
    entry = np.array([10, 30, 20, 25, 50]) * m
    exit_ = np.array([30, 40, 50, 45, 70]) * m
    peaks, person_ms = hourly_presence(person, entry, exit_, 0, 2)
    assert peaks.tolist() == [2, 1]      # p1 and p2 from 20 to 40 min; p3 carried into hour 1
    assert person_ms.tolist() == [(30 + 30 + 10) * m, 10 * m]


def test_no_sessions_and_no_hours() -> None:
    none = np.array([], dtype=np.int64)
    peaks, person_ms = hourly_presence(none, none, none, 5, 7)
    assert peaks.tolist() == [0, 0] and person_ms.tolist() == [0, 0]
    assert [a.tolist() for a in hourly_presence(none, none, none, 5, 5)] == [[], []]


@settings(max_examples=200, deadline=None)
@given(intervals=intervals, split=st.sets(st.integers(0, 3)), first=st.integers(0, 3),
       hours=st.integers(1, 4))
def test_presence_spans_of_disjoint_persons_add_up(intervals, split, first, hours) -> None:
    """A first load's parts hold different persons: their spans, swept together, give the
    occupancy of all of them."""
    def spans(chosen: list[tuple[int, int, int]]) -> tuple[np.ndarray, np.ndarray]:
        return presence_spans(np.array([p for p, _, _ in chosen], dtype=np.int64),
                              np.array([s for _, s, _ in chosen], dtype=np.int64),
                              np.array([e for _, _, e in chosen], dtype=np.int64))

    a = spans([i for i in intervals if i[0] in split])
    b = spans([i for i in intervals if i[0] not in split])
    peaks, person_ms = hourly_levels(np.concatenate([a[0], b[0]]), np.concatenate([a[1], b[1]]),
                                     first, first + hours)
    assert (peaks.tolist(), person_ms.tolist()) == reference(intervals, first, first + hours)
