"""Pairing of entries and exits into sessions, SPEC §4.

Everything is whole-array NumPy; there is no loop over events. The pairing state of a
(person, camera) key is either "closed" or "open with its opening entry", and the last event
decides it: after an entry the key is always open (the entry opened a session, was a duplicate
of the open one, or ended it as `missing_exit` and opened the next), after an exit always closed
(it completed the session, ended it as `missing_exit` beyond `max_session`, or was an orphan).

1. Paired events are sorted stably by (key, ts) and grouped by instant. A group of entries
   only leaves the key open, exits only leave it closed, and a mixed group leaves the state it
   found (open before: exits, then entries -> open; closed before: entries, then exits ->
   closed). So the state before a group is the effect of the last unmixed group before it in
   its key, found by a forward fill; mixed groups are then reordered by the tie rule.
2. In the final order, the state before an event is "open" exactly when the previous event of
   its key is an entry. Consecutive entries form runs whose openers are resolved in rounds,
   all runs at once, so the loop count is the largest number of openers in one run.
3. An exit right after a run closes that run's last opener (or, beyond `max_session`, ends it
   and is an orphan); any other exit is an orphan.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from dwell.domain.vocabulary import EventKind


class SessionStatus(IntEnum):
    COMPLETE = 0
    MISSING_EXIT = 1
    OPEN = 2

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Pairing:
    # one element per session, ordered by (key, entry time)
    entry_index: np.ndarray    # int64: index into the input arrays of the opening entry
    exit_index: np.ndarray     # int64: index of the closing exit, -1 when none
    status: np.ndarray         # int8 SessionStatus
    dwell_ms: np.ndarray       # int64: exit - entry for complete sessions, -1 otherwise
    # one element per input event
    session_of_event: np.ndarray  # int64: index into the session arrays, -1 when none
    orphan_exit: np.ndarray       # bool: an exit that closed nothing (rules 4 and 5)
    duplicate_entry: np.ndarray   # bool: an entry ignored by the duplicate window (rule 3)

    @property
    def n_sessions(self) -> int:
        return len(self.entry_index)


# Upper bound for the offset-adjusted timestamps of one opener search (headroom below 2**63).
_ADJ_LIMIT = float(2**61)


def pair_sessions(key: np.ndarray, ts_ms: np.ndarray, kind: np.ndarray, *,
                  duplicate_window_ms: int = 0, max_session_ms: int = 86_400_000) -> Pairing:
    """Sessions of SPEC §4 from events in load order.

    `key` codes the (person_id, camera_id) pair, `ts_ms` is UTC milliseconds and `kind` an
    `EventKind` code; `other` events (and any code other than entry or exit) never pair and
    leave the state unchanged.
    """
    key = np.asarray(key, dtype=np.int64)
    ts_ms = np.asarray(ts_ms, dtype=np.int64)
    kind = np.asarray(kind)
    n = len(key)
    if key.ndim != 1 or ts_ms.shape != key.shape or kind.shape != key.shape:
        raise ValueError("key, ts_ms and kind must be 1-D arrays of the same length")
    window = int(duplicate_window_ms)
    max_session = int(max_session_ms)
    if window < 0 or max_session < 0:
        raise ValueError("duplicate_window_ms and max_session_ms must be >= 0")

    session_of_event = np.full(n, -1, dtype=np.int64)
    orphan_exit = np.zeros(n, dtype=bool)
    duplicate_entry = np.zeros(n, dtype=bool)

    paired = np.flatnonzero((kind == EventKind.ENTRY) | (kind == EventKind.EXIT))
    m = len(paired)
    if m == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Pairing(empty, empty.copy(), np.zeros(0, dtype=np.int8), empty.copy(),
                       session_of_event, orphan_exit, duplicate_entry)

    # --- 1. sort by (key, ts), group by instant, apply the tie rule -------------------------
    k = key[paired]
    t = ts_ms[paired]
    order = _sort_order(k, t)
    idx = paired[order]
    k = k[order]
    t = t[order]
    ent = kind[idx] == EventKind.ENTRY

    same_key = k[1:] == k[:-1]                       # event i+1 has the key of event i
    new_group = np.concatenate(([True], ~same_key | (t[1:] != t[:-1])))
    group_start = np.flatnonzero(new_group)
    n_groups = len(group_start)
    group_of = np.cumsum(new_group) - 1
    n_entries = np.add.reduceat(ent.astype(np.int64), group_start)
    group_size = np.diff(np.append(group_start, m))
    only_entries = n_entries == group_size
    mixed = (n_entries > 0) & ~only_entries

    if mixed.any():
        g = np.arange(n_groups)
        # last unmixed group strictly before each group, and the first group of its key
        last_unmixed = np.maximum.accumulate(np.where(mixed, -1, g))
        prev_unmixed = np.concatenate(([-1], last_unmixed[:-1]))
        starts_key = np.concatenate(([True], ~same_key[group_start[1:] - 1]))
        key_first = np.maximum.accumulate(np.where(starts_key, g, 0))
        open_before = (prev_unmixed >= key_first) & only_entries[np.maximum(prev_unmixed, 0)]
        # stable partition of each mixed group: exits first when open before, else entries
        sub = np.flatnonzero(mixed[group_of])
        sub_group = group_of[sub]
        second = np.where(open_before[sub_group], ent[sub], ~ent[sub])
        perm = np.argsort(sub_group * 2 + second, kind="stable")
        reordered = sub[perm]
        idx[sub] = idx[reordered]
        ent[sub] = ent[reordered]
        # k and t are constant within a group, so they need no reordering

    # --- 2. entry runs and their openers -----------------------------------------------------
    open_before_ev = np.concatenate(([False], ent[:-1] & same_key))
    e_pos = np.flatnonzero(ent)                      # positions of entries, in order
    n_e = len(e_pos)
    te = t[e_pos]
    run_head = ~open_before_ev[e_pos]                # first entry of a run (state was closed)
    run_start = np.flatnonzero(run_head)             # in entry numbering
    run_len = np.diff(np.append(run_start, n_e))
    if window == 0:
        opener = run_head.copy()
        opener[1:] |= te[1:] != te[:-1]
    else:
        opener = _resolve_openers(te, run_start, run_len, window)

    session_no = np.cumsum(opener) - 1               # per entry: its session
    n_sessions = int(session_no[-1]) + 1 if n_e else 0
    opener_e = np.flatnonzero(opener)                # entry numbering of each session's opener
    opener_pos = e_pos[opener_e]
    entry_index = idx[opener_pos]
    session_of_event[idx[e_pos]] = session_no
    duplicate_entry[idx[e_pos[~opener]]] = True

    # --- 3. exits -----------------------------------------------------------------------------
    status = np.full(n_sessions, SessionStatus.MISSING_EXIT, dtype=np.int8)
    exit_index = np.full(n_sessions, -1, dtype=np.int64)
    dwell_ms = np.full(n_sessions, -1, dtype=np.int64)

    x_pos = np.flatnonzero(~ent)
    orphan_exit[idx[x_pos[~open_before_ev[x_pos]]]] = True

    # the last opener of each run is the one still open when the run ends
    run_of_session = (np.cumsum(run_head) - 1)[opener_e]
    last_of_run = np.ones(n_sessions, dtype=bool)
    last_of_run[:-1] = run_of_session[1:] != run_of_session[:-1]
    last_sessions = np.flatnonzero(last_of_run)
    after = e_pos[run_start + run_len - 1] + 1       # position just after each run
    closes = after < m
    closes[closes] = k[after[closes]] == k[after[closes] - 1]
    status[last_sessions[~closes]] = SessionStatus.OPEN

    closing_sessions = last_sessions[closes]
    closing_pos = after[closes]                      # an exit: the run ended within the key
    dwell = t[closing_pos] - t[opener_pos[closing_sessions]]
    within = dwell <= max_session
    done = closing_sessions[within]
    status[done] = SessionStatus.COMPLETE
    exit_index[done] = idx[closing_pos[within]]
    dwell_ms[done] = dwell[within]
    session_of_event[idx[closing_pos[within]]] = done
    orphan_exit[idx[closing_pos[~within]]] = True

    return Pairing(entry_index, exit_index, status, dwell_ms,
                   session_of_event, orphan_exit, duplicate_entry)


def _sort_order(k: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Stable order by (key, ts): one argsort of a combined int64 when it fits, else lexsort."""
    k_min, t_min = int(k.min()), int(t.min())
    t_span = int(t.max()) - t_min + 1
    if (int(k.max()) - k_min + 1) * t_span <= 2**63 - 1:
        combined = (k - k_min) * t_span + (t - t_min)
        return np.argsort(combined, kind="stable")
    return np.lexsort((t, k))


def _resolve_openers(te: np.ndarray, run_start: np.ndarray, run_len: np.ndarray,
                     window: int) -> np.ndarray:
    """Opener flags of entries grouped in runs (consecutive entries of one key, ts ascending).

    A run's first entry opens; each later entry within `window` of the current opener is a
    duplicate, and the first one beyond it becomes the next opener. All runs advance together,
    one opener per round, through np.searchsorted on timestamps made increasing across runs.
    """
    opener = np.zeros(len(te), dtype=bool)
    opener[run_start] = True
    multi = run_len > 1
    if not multi.any():
        return opener
    # Only runs of two or more entries need work: lay their entries out contiguously.
    lens = run_len[multi]
    first = np.cumsum(lens) - lens                   # run starts, in the compact numbering
    last = first + lens - 1
    where = np.arange(int(lens.sum())) + np.repeat(run_start[multi] - first, lens)
    ts = te[where]
    # Beyond the longest run span every entry of a run is a duplicate of its first opener, so
    # the window can be capped there without changing any comparison.
    w = min(window, int((ts[last] - ts[first]).max()))
    # Offset-adjusted timestamps: within a run the gaps are kept, except that gaps above the
    # window shrink to window + 1 (every comparison with the window is unchanged); between runs
    # the step is 1. Searches are capped at the run's last entry, so they never leave the run.
    step = np.empty(len(ts), dtype=np.int64)
    step[1:] = np.minimum(np.diff(ts), w + 1)
    step[first] = 1
    # Blocks of whole runs keep the adjusted values far from int64 overflow; there is one block
    # in practice (timestamps lie within decades, SPEC §2).
    block_of_run = (np.cumsum(step.astype(np.float64))[first] // _ADJ_LIMIT).astype(np.int64)
    edges = np.flatnonzero(np.diff(block_of_run)) + 1
    for runs in np.split(np.arange(len(first)), edges):
        lo, hi = first[runs[0]], last[runs[-1]] + 1
        adj = np.cumsum(step[lo:hi])
        head, stop = first[runs] - lo, last[runs] - lo
        while len(head):
            reach = np.minimum(adj[head] + w, adj[stop])
            head = np.searchsorted(adj, reach, side="right")
            more = head <= stop
            head, stop = head[more], stop[more]
            opener[where[head + lo]] = True
    return opener
