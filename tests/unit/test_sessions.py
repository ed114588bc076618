"""Pairing of entries and exits into sessions (SPEC §4)."""

from __future__ import annotations


import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dwell.domain.sessions import Pairing, SessionStatus, pair_sessions
from dwell.domain.vocabulary import EventKind
from reference import reference

O, E, X = int(EventKind.OTHER), int(EventKind.ENTRY), int(EventKind.EXIT)
COMPLETE, MISSING, OPEN = "complete", "missing_exit", "open"


def pair(events, **kw) -> Pairing:
    """Events as (key, ts, kind) tuples in load order."""
    key = np.array([e[0] for e in events], dtype=np.int64)
    ts = np.array([e[1] for e in events], dtype=np.int64)
    kind = np.array([e[2] for e in events], dtype=np.int8)
    return pair_sessions(key, ts, kind, **kw)


def sessions_of(events, p: Pairing) -> list[tuple]:
    """(key, entry ts, exit ts or None, status, dwell) per session, in output order."""
    out = []
    for entry, exit_, status, dwell in zip(p.entry_index, p.exit_index, p.status, p.dwell_ms):
        exit_ts = events[exit_][1] if exit_ >= 0 else None
        out.append((events[entry][0], events[entry][1], exit_ts,
                    SessionStatus(status).label, int(dwell)))
    return out


# --- hand-computed cases ------------------------------------------------------------------


def test_entry_then_exit_makes_one_complete_session():
    events = [(1, 1000, E), (1, 4500, X)]
    p = pair(events)
    assert sessions_of(events, p) == [(1, 1000, 4500, COMPLETE, 3500)]
    assert p.entry_index.tolist() == [0] and p.exit_index.tolist() == [1]
    assert p.session_of_event.tolist() == [0, 0]
    assert not p.orphan_exit.any() and not p.duplicate_entry.any()


def test_input_in_load_order_is_sorted_by_time():
    events = [(1, 4500, X), (1, 1000, E)]
    p = pair(events)
    assert sessions_of(events, p) == [(1, 1000, 4500, COMPLETE, 3500)]
    assert p.entry_index.tolist() == [1] and p.exit_index.tolist() == [0]


def test_exit_and_reentry_at_same_instant_make_two_sessions():
    # open at 11:00, so the exit comes first, then the entry opens a new session
    events = [(1, 0, E), (1, 100, E), (1, 100, X), (1, 250, X)]
    p = pair(events)
    assert sessions_of(events, p) == [(1, 0, 100, COMPLETE, 100), (1, 100, 250, COMPLETE, 150)]
    assert p.session_of_event.tolist() == [0, 1, 0, 1]
    assert not p.orphan_exit.any()


def test_entry_and_exit_at_same_instant_make_one_zero_second_session():
    # nothing open, so the entry comes first even though the exit was loaded first
    events = [(1, 500, X), (1, 500, E)]
    p = pair(events)
    assert sessions_of(events, p) == [(1, 500, 500, COMPLETE, 0)]
    assert not p.orphan_exit.any()


def test_tie_rule_depends_on_state_left_by_earlier_mixed_instants():
    # 100: closed -> entry, exit (0 s); 200: closed -> entry, exit (0 s); 300: entry opens
    events = [(1, 100, X), (1, 100, E), (1, 200, E), (1, 200, X), (1, 300, E)]
    p = pair(events)
    assert sessions_of(events, p) == [
        (1, 100, 100, COMPLETE, 0), (1, 200, 200, COMPLETE, 0), (1, 300, None, OPEN, -1)]


def test_tie_rule_when_open_before_several_mixed_instants():
    # open from 0; at 10 exit then entry; at 20 exit then entry again; still open at the end
    events = [(1, 20, E), (1, 10, E), (1, 0, E), (1, 20, X), (1, 10, X)]
    p = pair(events)
    assert sessions_of(events, p) == [
        (1, 0, 10, COMPLETE, 10), (1, 10, 20, COMPLETE, 10), (1, 20, None, OPEN, -1)]


def test_tie_rule_state_does_not_leak_from_the_previous_key():
    # key 1 is left open, key 2 starts closed: its entry comes first, then the exit
    events = [(1, 0, E), (2, 5, X), (2, 5, E)]
    p = pair(events)
    assert sessions_of(events, p) == [(1, 0, None, OPEN, -1), (2, 5, 5, COMPLETE, 0)]
    assert not p.orphan_exit.any()


def test_extra_events_at_one_instant_are_duplicates_and_orphans():
    # closed before: entries first (second is a duplicate), exits next (second is an orphan)
    events = [(1, 7, X), (1, 7, E), (1, 7, X), (1, 7, E)]
    p = pair(events)
    assert sessions_of(events, p) == [(1, 7, 7, COMPLETE, 0)]
    assert p.entry_index.tolist() == [1] and p.exit_index.tolist() == [0]
    assert p.duplicate_entry.tolist() == [False, False, False, True]
    assert p.orphan_exit.tolist() == [False, False, True, False]
    assert p.session_of_event.tolist() == [0, 0, -1, 0]


def test_entry_entry_gives_missing_exit_then_a_new_session():
    events = [(1, 0, E), (1, 60_000, E), (1, 90_000, X)]
    p = pair(events)
    assert sessions_of(events, p) == [
        (1, 0, None, MISSING, -1), (1, 60_000, 90_000, COMPLETE, 30_000)]
    assert p.session_of_event.tolist() == [0, 1, 1]
    assert not p.duplicate_entry.any()


def test_same_instant_entries_are_duplicates_with_zero_window():
    events = [(1, 0, E), (1, 0, E), (1, 1, E)]
    p = pair(events)
    assert sessions_of(events, p) == [(1, 0, None, MISSING, -1), (1, 1, None, OPEN, -1)]
    assert p.duplicate_entry.tolist() == [False, True, False]
    assert p.session_of_event.tolist() == [0, 0, 1]


def test_entry_inside_duplicate_window_is_ignored():
    events = [(1, 0, E), (1, 3000, E), (1, 10_000, X)]
    p = pair(events, duplicate_window_ms=5000)
    assert sessions_of(events, p) == [(1, 0, 10_000, COMPLETE, 10_000)]
    assert p.duplicate_entry.tolist() == [False, True, False]
    assert p.session_of_event.tolist() == [0, 0, 0]


def test_entry_exactly_at_duplicate_window_is_ignored():
    events = [(1, 0, E), (1, 5000, E), (1, 10_000, X)]
    p = pair(events, duplicate_window_ms=5000)
    assert sessions_of(events, p) == [(1, 0, 10_000, COMPLETE, 10_000)]
    assert p.duplicate_entry.tolist() == [False, True, False]


def test_entry_outside_duplicate_window_opens_a_new_session():
    events = [(1, 0, E), (1, 5001, E), (1, 10_000, X)]
    p = pair(events, duplicate_window_ms=5000)
    assert sessions_of(events, p) == [
        (1, 0, None, MISSING, -1), (1, 5001, 10_000, COMPLETE, 4999)]
    assert not p.duplicate_entry.any()


def test_duplicate_window_is_measured_from_the_opener_not_the_previous_entry():
    events = [(1, 0, E), (1, 3, E), (1, 7, E), (1, 9, E), (1, 13, E), (1, 20, X)]
    p = pair(events, duplicate_window_ms=5)
    # 3 is within 5 of 0; 7 is not (although within 5 of 3) and opens; 9 dups 7; 13 opens
    assert sessions_of(events, p) == [
        (1, 0, None, MISSING, -1), (1, 7, None, MISSING, -1), (1, 13, 20, COMPLETE, 7)]
    assert p.duplicate_entry.tolist() == [False, True, False, True, False, False]
    assert p.session_of_event.tolist() == [0, 0, 1, 1, 2, 2]


def test_duplicate_window_chains_in_several_runs_and_keys():
    events = [(2, 0, E), (1, 0, E), (2, 4, E), (1, 6, E), (2, 5, X),
              (2, 10, E), (2, 12, E), (2, 20, E), (1, 30, X)]
    p = pair(events, duplicate_window_ms=5)
    assert sessions_of(events, p) == [
        (1, 0, None, MISSING, -1), (1, 6, 30, COMPLETE, 24),
        (2, 0, 5, COMPLETE, 5), (2, 10, None, MISSING, -1), (2, 20, None, OPEN, -1)]
    assert p.duplicate_entry.tolist() == [False, False, True, False, False,
                                          False, True, False, False]


def test_exit_without_open_session_is_orphan():
    events = [(1, 0, X), (1, 10, E), (1, 20, X), (1, 30, X)]
    p = pair(events)
    assert sessions_of(events, p) == [(1, 10, 20, COMPLETE, 10)]
    assert p.orphan_exit.tolist() == [True, False, False, True]
    assert p.session_of_event.tolist() == [-1, 0, 0, -1]


def test_exit_beyond_max_session_is_orphan_and_session_missing_exit():
    events = [(1, 0, E), (1, 1001, X)]
    p = pair(events, max_session_ms=1000)
    assert sessions_of(events, p) == [(1, 0, None, MISSING, -1)]
    assert p.orphan_exit.tolist() == [False, True]
    assert p.session_of_event.tolist() == [0, -1]


def test_exit_exactly_at_max_session_is_complete():
    events = [(1, 0, E), (1, 1000, X)]
    p = pair(events, max_session_ms=1000)
    assert sessions_of(events, p) == [(1, 0, 1000, COMPLETE, 1000)]
    assert not p.orphan_exit.any()


def test_max_session_counts_from_the_opener_after_duplicates():
    events = [(1, 0, E), (1, 400, E), (1, 1200, X)]
    p = pair(events, duplicate_window_ms=500, max_session_ms=1000)
    assert sessions_of(events, p) == [(1, 0, None, MISSING, -1)]
    assert p.orphan_exit.tolist() == [False, False, True]


def test_default_max_session_is_one_day():
    day = 86_400_000
    events = [(1, 0, E), (1, day, X), (1, day + 1, E), (1, 2 * day + 2, X)]
    p = pair(events)
    assert sessions_of(events, p) == [(1, 0, day, COMPLETE, day), (1, day + 1, None, MISSING, -1)]


def test_session_open_at_end_of_data():
    events = [(1, 0, E), (1, 10, X), (1, 20, E)]
    p = pair(events)
    assert sessions_of(events, p) == [(1, 0, 10, COMPLETE, 10), (1, 20, None, OPEN, -1)]
    assert p.exit_index.tolist() == [1, -1]


def test_other_events_are_ignored():
    events = [(1, 0, E), (1, 5, O), (1, 5, E), (1, 7, O), (1, 10, X), (1, 12, O)]
    p = pair(events)
    # the `other` at 5 does not close anything, so the entry at 5 makes a missing_exit
    assert sessions_of(events, p) == [(1, 0, None, MISSING, -1), (1, 5, 10, COMPLETE, 5)]
    assert p.session_of_event.tolist() == [0, -1, 1, -1, 1, -1]
    assert not p.orphan_exit.any() and not p.duplicate_entry.any()


def test_only_other_events_make_no_sessions():
    p = pair([(1, 0, O), (2, 0, O)])
    assert p.n_sessions == 0
    assert p.session_of_event.tolist() == [-1, -1]


def test_several_keys_interleaved_are_independent():
    events = [(3, 0, E), (1, 5, E), (3, 8, X), (2, 9, X), (1, 9, X), (2, 1, E),
              (1, 20, E), (3, 20, E)]
    p = pair(events)
    assert sessions_of(events, p) == [
        (1, 5, 9, COMPLETE, 4), (1, 20, None, OPEN, -1),
        (2, 1, 9, COMPLETE, 8),
        (3, 0, 8, COMPLETE, 8), (3, 20, None, OPEN, -1)]
    assert p.session_of_event.tolist() == [3, 0, 3, 2, 0, 2, 1, 4]


def test_sessions_are_ordered_by_key_then_entry_time():
    events = [(9, 50, E), (-4, 70, E), (9, 10, E), (-4, 30, E)]
    p = pair(events)
    assert sessions_of(events, p) == [
        (-4, 30, None, MISSING, -1), (-4, 70, None, OPEN, -1),
        (9, 10, None, MISSING, -1), (9, 50, None, OPEN, -1)]


def test_empty_input():
    p = pair([])
    assert p.n_sessions == 0
    for arr in (p.entry_index, p.exit_index, p.status, p.dwell_ms,
                p.session_of_event, p.orphan_exit, p.duplicate_entry):
        assert len(arr) == 0
    assert p.entry_index.dtype == np.int64 and p.status.dtype == np.int8


def test_output_dtypes():
    p = pair([(1, 0, E), (1, 1, X), (1, 2, X)])
    assert p.entry_index.dtype == np.int64 and p.exit_index.dtype == np.int64
    assert p.status.dtype == np.int8 and p.dwell_ms.dtype == np.int64
    assert p.session_of_event.dtype == np.int64
    assert p.orphan_exit.dtype == bool and p.duplicate_entry.dtype == bool


def test_invalid_arguments_are_rejected():
    with pytest.raises(ValueError):
        pair([(1, 0, E)], duplicate_window_ms=-1)
    with pytest.raises(ValueError):
        pair([(1, 0, E)], max_session_ms=-1)
    with pytest.raises(ValueError):
        pair_sessions(np.zeros(2, np.int64), np.zeros(3, np.int64), np.zeros(2, np.int8))


# --- reference state machine and properties ---------------------------------------------


def as_rows(p: Pairing, events) -> list[tuple]:
    return [(events[a][0], int(a), int(b), SessionStatus(s).label, int(d))
            for a, b, s, d in zip(p.entry_index, p.exit_index, p.status, p.dwell_ms)]


KEYS = st.sampled_from([-7, 0, 3, 2**40])
event_st = st.tuples(KEYS, st.integers(0, 40), st.sampled_from([O, E, E, X, X]))


@settings(max_examples=500, deadline=None)
@given(events=st.lists(event_st, max_size=60),
       window=st.one_of(st.just(0), st.integers(0, 25)),
       max_session=st.integers(0, 45))
def test_matches_reference_state_machine(events, window, max_session):
    p = pair(events, duplicate_window_ms=window, max_session_ms=max_session)
    sessions, of_event, orphan, dup = reference(events, window, max_session)
    assert as_rows(p, events) == sessions
    assert p.session_of_event.tolist() == of_event
    assert p.orphan_exit.tolist() == orphan
    assert p.duplicate_entry.tolist() == dup


@settings(max_examples=200, deadline=None)
@given(events=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 10**6), st.just(E)),
                       max_size=80),
       window=st.integers(0, 10**6))
def test_wide_windows_and_long_runs_match_reference(events, window):
    p = pair(events, duplicate_window_ms=window)
    sessions, of_event, _, dup = reference(events, window, 86_400_000)
    assert as_rows(p, events) == sessions
    assert p.session_of_event.tolist() == of_event
    assert p.duplicate_entry.tolist() == dup


@settings(max_examples=100, deadline=None)
@given(events=st.lists(st.tuples(st.sampled_from([-(2**62), 5, 2**62]), st.integers(0, 20),
                                 st.sampled_from([O, E, X])), max_size=40),
       window=st.integers(0, 10))
def test_keys_spanning_the_int64_range_match_reference(events, window):
    p = pair(events, duplicate_window_ms=window, max_session_ms=15)
    sessions, of_event, orphan, dup = reference(events, window, 15)
    assert as_rows(p, events) == sessions
    assert p.session_of_event.tolist() == of_event
    assert p.orphan_exit.tolist() == orphan
    assert p.duplicate_entry.tolist() == dup


@settings(max_examples=300, deadline=None)
@given(events=st.lists(event_st, max_size=50, unique=True),
       window=st.integers(0, 15), max_session=st.integers(0, 45), data=st.data())
def test_load_order_does_not_change_sessions(events, window, max_session, data):
    perm = data.draw(st.permutations(range(len(events))))
    shuffled = [events[i] for i in perm]
    p = pair(events, duplicate_window_ms=window, max_session_ms=max_session)
    q = pair(shuffled, duplicate_window_ms=window, max_session_ms=max_session)
    assert sessions_of(shuffled, q) == sessions_of(events, p)
    # the same event gets the same flags and session wherever it was loaded
    assert q.orphan_exit.tolist() == [p.orphan_exit[i] for i in perm]
    assert q.duplicate_entry.tolist() == [p.duplicate_entry[i] for i in perm]
    assert q.session_of_event.tolist() == [p.session_of_event[i] for i in perm]


def test_order_independence_of_two_uploads():
    a = [(1, 0, E), (2, 5, E), (1, 10, X)]
    b = [(1, 10, E), (2, 5, X), (1, 30, X)]
    ab, ba = a + b, b + a
    assert sessions_of(ab, pair(ab)) == sessions_of(ba, pair(ba)) == [
        (1, 0, 10, COMPLETE, 10), (1, 10, 30, COMPLETE, 20), (2, 5, 5, COMPLETE, 0)]
