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
