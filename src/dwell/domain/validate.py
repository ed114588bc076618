"""Row checks and the data-quality report of SPEC §3, as data rather than exceptions."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dwell.domain.timestamps import parse_timestamps
from dwell.domain.vocabulary import MAX_ID_LENGTH, REQUIRED_COLUMNS, EventKind, normalize_event_types

MIN_TS_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
SAMPLES_PER_ISSUE = 20
REPLACEMENT = "\ufffd"


class RowError(IntEnum):
    """Row errors in the precedence of SPEC §3: a row is counted under its first error."""

    NONE = 0
    MALFORMED_ROW = 1
    MISSING_VALUE = 2
    ID_TOO_LONG = 3
    INVALID_TIMESTAMP = 4
    TIMESTAMP_OUT_OF_RANGE = 5

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class RowChecks:
    """The verdict on every parsed row, aligned with the input table."""

    error: np.ndarray         # int8 RowError
    column: np.ndarray        # object: the column the error concerns (None when none)
    ts_ms: np.ndarray         # int64 UTC ms, valid where error == NONE
    kind: np.ndarray          # int8 EventKind
    missing_per_column: dict[str, int]
    layouts: list[str]
    ambiguous_dates: bool
    dayfirst: bool | None = None               # the a/b/YYYY decision (None: no such dates)
    evidence: tuple[bool, bool] = (False, False)  # see ParsedTimestamps.evidence
    layout_rows: list[int] = field(default_factory=list)  # the first row of each of `layouts`

    @property
    def ok(self) -> np.ndarray:
        return self.error == RowError.NONE


def check_rows(table: pa.Table, *, source_tz: str, dayfirst: bool | None,
               timestamp_format: str | None, now_ms: int, future_tolerance_ms: int) -> RowChecks:
    """Apply every row check of SPEC §3 to whole columns at once."""
    n = table.num_rows
    error = np.zeros(n, dtype=np.int8)
    column = np.full(n, None, dtype=object)

    def flag(mask: np.ndarray, kind: RowError, name: str | None) -> None:
        new = mask & (error == RowError.NONE)
        error[new] = kind
        column[new] = name

    undecodable = np.zeros(n, dtype=bool)
    for values in table.columns:
        undecodable |= _as_bool(pc.match_substring(values, REPLACEMENT))
    flag(undecodable, RowError.MALFORMED_ROW, None)

    missing_per_column: dict[str, int] = {}
    for name in table.column_names:
        missing = _as_bool(pc.equal(table.column(name), ""))
        missing_per_column[name] = int(missing.sum())
        if name in REQUIRED_COLUMNS:
            flag(missing, RowError.MISSING_VALUE, name)

    for name, limit in MAX_ID_LENGTH.items():
        too_long = _as_bool(pc.greater(pc.utf8_length(table.column(name)), limit))
        flag(too_long, RowError.ID_TOO_LONG, name)

    candidates = error == RowError.NONE
    raw_ts = table.column("timestamp")
    parsed = parse_timestamps(
        raw_ts.filter(pa.array(candidates)), source_tz=source_tz, dayfirst=dayfirst,
        timestamp_format=timestamp_format,
    )
    ts_ms = np.zeros(n, dtype=np.int64)
    valid = np.zeros(n, dtype=bool)
    ts_ms[candidates] = parsed.ts_ms
    valid[candidates] = parsed.valid
    flag(candidates & ~valid, RowError.INVALID_TIMESTAMP, "timestamp")
    out_of_range = valid & ((ts_ms < MIN_TS_MS) | (ts_ms > now_ms + future_tolerance_ms))
    flag(out_of_range, RowError.TIMESTAMP_OUT_OF_RANGE, "timestamp")

    kind = normalize_event_types(table.column("event_type"))
    layout_rows = np.flatnonzero(candidates)[parsed.first_rows].tolist()
    return RowChecks(error, column, ts_ms, kind, missing_per_column, parsed.layouts,
                     parsed.ambiguous_dates, parsed.dayfirst, parsed.evidence, layout_rows)


def _as_bool(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


def first_occurrences(key: np.ndarray, ts_ms: np.ndarray, kind: np.ndarray,
                      order: np.ndarray) -> np.ndarray:
    """True for the first (by `order`) of each (key, ts, kind); the rest are duplicate events."""
    if len(key) == 0:
        return np.zeros(0, dtype=bool)
    sort = np.lexsort((order, kind, ts_ms, key))
    k, t, e = key[sort], ts_ms[sort], kind[sort]
    repeat = np.zeros(len(sort), dtype=bool)
    repeat[1:] = (k[1:] == k[:-1]) & (t[1:] == t[:-1]) & (e[1:] == e[:-1])
    first = np.ones(len(key), dtype=bool)
    first[sort[repeat]] = False
    return first


@dataclass
class QualityReport:
    """The data-quality report of one upload (SPEC §3, §12)."""

    file: str
    total_rows: int = 0
    valid_rows: int = 0
    rejected_rows: int = 0
    duplicate_events: int = 0
    issues: dict[str, int] = field(default_factory=dict)
    missing_values: dict[str, int] = field(default_factory=dict)
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    detected: dict[str, Any] = field(default_factory=dict)
    time_range: list[str | None] = field(default_factory=lambda: [None, None])

    @property
    def quality_score(self) -> float | None:
        return self.valid_rows / self.total_rows if self.total_rows else None

    def add_issue(self, name: str, count: int, samples: list[dict[str, Any]]) -> None:
        if count <= 0:
            return
        self.issues[name] = self.issues.get(name, 0) + count
        bucket = self.samples.setdefault(name, [])
        bucket.extend(samples)  # parts of a file may come in any order of lines
        bucket.sort(key=lambda sample: sample["line"])
        del bucket[SAMPLES_PER_ISSUE:]

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "total_rows": self.total_rows,
            "valid_rows": self.valid_rows,
            "rejected_rows": self.rejected_rows,
            "duplicate_events": self.duplicate_events,
            "quality_score": self.quality_score,
            "issues": dict(sorted(self.issues.items())),
            "missing_values": self.missing_values,
            "samples": {name: self.samples[name] for name in sorted(self.samples)},
            "detected": self.detected,
            "time_range": self.time_range,
        }


def issue_samples(lines: np.ndarray, values: np.ndarray, columns: np.ndarray | None = None,
                  limit: int = SAMPLES_PER_ISSUE) -> list[dict[str, Any]]:
    """The first `limit` (line, value[, column]) samples of an issue, in line order."""
    order = np.argsort(lines, kind="stable")[:limit]
    out = []
    for i in order:
        sample: dict[str, Any] = {"line": int(lines[i]), "value": values[i]}
        if columns is not None and columns[i] is not None:
            sample["column"] = columns[i]
        out.append(sample)
    return out


__all__ = [
    "EventKind", "QualityReport", "RowChecks", "RowError", "check_rows", "first_occurrences",
    "issue_samples",
]
