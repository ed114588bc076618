"""The reference state machine for SPEC §4: one event at a time, plainly. Tests compare the
vectorized pairing (and the whole ingest pipeline) with it."""

from __future__ import annotations

from collections import defaultdict
from itertools import groupby

from dwell.domain.vocabulary import EventKind

O, E, X = int(EventKind.OTHER), int(EventKind.ENTRY), int(EventKind.EXIT)
COMPLETE, MISSING, OPEN = "complete", "missing_exit", "open"


def reference(events, window, max_session):
    """Sessions as (key, entry idx, exit idx or -1, status, dwell) plus per-event arrays."""
    n = len(events)
    sessions, of_event = [], [-1] * n
    orphan, dup = [False] * n, [False] * n
    by_key = defaultdict(list)
    for i, (k, _, c) in enumerate(events):
        if c != O:
            by_key[k].append(i)
    for k in sorted(by_key):
        opener = None
        ordered = sorted(by_key[k], key=lambda i: events[i][1])
        for t, group in groupby(ordered, key=lambda i: events[i][1]):
            first = X if opener is not None else E
            for i in sorted(group, key=lambda i: events[i][2] != first):
                if events[i][2] == E and opener is None:
                    opener = i
                    sessions.append([k, i, -1, OPEN, -1])
                elif events[i][2] == E and t - events[opener][1] <= window:
                    dup[i] = True
                elif events[i][2] == E:
                    sessions[-1][3] = MISSING
                    opener = i
                    sessions.append([k, i, -1, OPEN, -1])
                elif opener is None:
                    orphan[i] = True
                    continue
                elif t - events[opener][1] > max_session:
                    sessions[-1][3] = MISSING
                    orphan[i], opener = True, None
                    continue
                else:
                    sessions[-1][2:] = [i, COMPLETE, t - events[opener][1]]
                    opener = None
                of_event[i] = len(sessions) - 1
    return [tuple(s) for s in sessions], of_event, orphan, dup
