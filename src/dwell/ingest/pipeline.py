"""The upload pipeline: read, check, de-duplicate, pair and store one file.

Everything an upload writes (events, re-paired sessions, rejected rows, its status) commits
in one transaction, so a failure leaves nothing half-stored. Writers serialize on one
advisory lock for the write phase only; reading and checking run in parallel.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc

from dwell.domain.codes import group_codes
from dwell.domain.hours import HOUR_MS, presence_spans, touched_hours
from dwell.domain.rollup_rows import EventColumns, SessionColumns, rollup_rows
from dwell.domain.sessions import Pairing, SessionStatus, pair_sessions
from dwell.domain.timestamps import decide_day_first
from dwell.domain.validate import (
    SAMPLES_PER_ISSUE,
    QualityReport,
    RowChecks,
    RowError,
    check_rows,
    first_occurrences,
    issue_samples,
)
from dwell.domain.vocabulary import EventKind
from dwell.ingest.errors import UploadRejected
from dwell.ingest.reader import FileLayout, MalformedRow, RawRows, iter_chunks, read_rows, sniff
from dwell.ingest.spill import DEFAULT_PARTITIONING, Partitioning, Spill
from dwell.store import rollups as rollup_store
from dwell.store import touched, uploads
from dwell.store.bulk import allocate_ids, copy_in, estimated_rows, indexes_built_after

log = logging.getLogger(__name__)

INGEST_LOCK = 0x6477656C6C01
# A first load at least this large into an empty store builds its indexes after the COPY.
BULK_FIRST_LOAD_ROWS = 50_000
# Uploads adding at least this many events, and at least this share of the events stored
# before them, refresh the planner's statistics at once, so the next report is planned for
# them. Smaller growth hardly moves the statistics and is left to autovacuum (whose default
# share is the same): ANALYZE reads a sample of the whole table, 0.4 s at 1.7 M events,
# which an upload of a day's events into a large store paid every time.
ANALYZE_AFTER_ROWS = 20_000
ANALYZE_AFTER_GROWTH = 0.1
KIND_LABELS = pa.array([k.label for k in EventKind])
STATUS_LABELS = pa.array([s.label for s in SessionStatus])
UTC_MS = pa.timestamp("ms", tz="UTC")

@dataclass(frozen=True)
class IngestOptions:
    """Per-upload settings of SPEC §2-§4 (defaults from `Settings`)."""

    source_tz: str = "UTC"
    dayfirst: bool | None = None
    timestamp_format: str | None = None
    duplicate_window_s: float = 0.0
    max_session_s: float = 86400.0
    future_tolerance_s: float = 86400.0

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.source_tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"source_tz: unknown time zone {self.source_tz!r}") from exc
        if self.duplicate_window_s < 0:
            raise ValueError("duplicate_window_s must be >= 0")
        if self.max_session_s <= 0:
            raise ValueError("max_session_s must be > 0")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Progress:
    phase: str        # reading, checking, pairing, storing, completed
    fraction: float   # 0..1 of the whole upload
    rows: int         # data rows read so far


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class IngestResult:
    upload_id: int
    quality: QualityReport
    events_stored: int
    sessions_written: int
    seconds: float


def ingest_file(conn: psycopg.Connection, path: Path, options: IngestOptions = IngestOptions(),
                *, filename: str | None = None, upload_id: int | None = None,
                content_sha256: str | None = None,
                progress: ProgressCallback | None = None,
                partitioning: Partitioning = DEFAULT_PARTITIONING,
                rollups: bool = True) -> IngestResult:
    """Load one file. Raises `UploadRejected` for a file-level error (nothing stored).

    A file larger than `partitioning.spill_above_bytes` is first spilled to disk in hash
    partitions of persons and then processed part by part, in the same transaction, so its
    memory is bounded by the part instead of the file. With `rollups` the hourly rollups of
    the hours it changed are refreshed in that transaction too; without (a store that only
    answers one report) they are marked stale and every answer comes from the events.
    """
    path = Path(path)
    name = filename or path.name
    started = time.perf_counter()
    report_progress = progress or (lambda _: None)
    if upload_id is None:
        upload_id = uploads.create(conn, name, path.stat().st_size, content_sha256, options.as_dict())
    uploads.mark_processing(conn, upload_id)
    events_before = estimated_rows(conn, "camera_events")
    now_ms = int(time.time() * 1000)  # one "now" for the future-tolerance check of every part
    try:
        layout = sniff(path)
        size = path.stat().st_size
        if partitioning.spills(size, layout.compressed):
            buckets = partitioning.buckets_for(size, layout.compressed)
            with Spill(layout, buckets, partitioning.spill_dir) as spill:
                source = _spilled(path, spill, options, partitioning, now_ms, report_progress)
                quality, stored, sessions = _store(conn, upload_id, name, source, options,
                                                   report_progress, rollups)
        else:
            source = _whole(path, layout, partitioning.block_bytes, now_ms, report_progress)
            quality, stored, sessions = _store(conn, upload_id, name, source, options,
                                               report_progress, rollups)
    except UploadRejected as exc:
        uploads.mark_failed(conn, upload_id, exc.as_dict())
        raise
    except BaseException as exc:
        uploads.mark_failed(conn, upload_id, {"kind": "internal_error", "message": str(exc)})
        raise
    if stored >= max(ANALYZE_AFTER_ROWS, ANALYZE_AFTER_GROWTH * events_before):
        conn.execute("ANALYZE camera_events, person_sessions")
    seconds = time.perf_counter() - started
    report_progress(Progress("completed", 1.0, source.rows))
    log.info("upload stored", extra={"upload_id": upload_id, "file": name,
                                     "rows": quality.total_rows, "events": stored,
                                     "parts": len(source.parts), "seconds": round(seconds, 3),
                                     "rows_per_s": round(quality.total_rows / max(seconds, 1e-9))})
    return IngestResult(upload_id, quality, stored, sessions, seconds)


def rebuild_rollups(conn: psycopg.Connection) -> None:
    """Rebuild every hourly rollup from the stored events and sessions, under the ingest
    lock: for a store loaded without them (`rollups=False`, or before they existed)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (INGEST_LOCK,))
        rollup_store.mark_stale(conn)
        rollup_store.refresh(conn, rollup_store.Changes.none())


@dataclass
class _Source:
    """A file ready to be processed part by part: every part holds all rows of its persons."""

    layout: FileLayout
    rows: int                              # data rows that parsed (blank lines excluded)
    malformed: list[MalformedRow]          # rows that did not parse, stored once
    parts: list[Callable[[], RawRows]]     # each loads one part's rows, in line order
    dayfirst: bool | None                  # the a/b/YYYY decision for every part
    now_ms: int                            # the upload's "now" for out-of-range checks
    ambiguous_dates: bool | None = None    # decided for the whole file (None: by the part)
    progress_from: float = 0.6             # the fraction of the upload done once read


def _no_rows(path: Path) -> UploadRejected:
    return UploadRejected("no_data_rows", f"{path.name} has a header but no data rows.")


def _whole(path: Path, layout: FileLayout, block_bytes: int, now_ms: int,
           report_progress: ProgressCallback) -> _Source:
    """A file small enough to hold: one part, read at once."""
    raw = read_rows(path, layout, block_bytes=block_bytes,
                    on_bytes=_on_bytes(path, layout, 0.6, report_progress))
    if raw.table.num_rows == 0 and not raw.malformed:
        raise _no_rows(path)
    part = RawRows(layout, raw.table, raw.lines)
    return _Source(layout, raw.table.num_rows, raw.malformed, [lambda: part], dayfirst=None,
                   now_ms=now_ms)


def _spilled(path: Path, spill: Spill, options: IngestOptions, partitioning: Partitioning,
             now_ms: int, report_progress: ProgressCallback) -> _Source:
    """Stream the file into the spill's buckets, gathering what must be known file-wide:
    the rows that did not parse, and the day-first evidence of a/b/YYYY dates (so that
    every part reads them the same way)."""
    layout = spill.layout
    malformed: list[MalformedRow] = []
    seeks_evidence = options.dayfirst is None and options.timestamp_format is None
    has_slash_dates, evidence_df, evidence_mf = False, False, False
    on_bytes = _on_bytes(path, layout, 0.3, report_progress)
    for chunk in iter_chunks(path, layout, block_bytes=partitioning.block_bytes,
                             on_bytes=on_bytes):
        malformed.extend(chunk.malformed)
        spill.add(chunk)
        if seeks_evidence and not evidence_df and chunk.table.num_rows and pc.any(
                pc.match_substring(chunk.table.column("timestamp"), "/")).as_py():
            checks = _check(chunk, options, None, now_ms)
            if checks.dayfirst is not None:
                has_slash_dates = True
                evidence_df |= checks.evidence[0]
                evidence_mf |= checks.evidence[1]
    spill.finish()
    rows = int(spill.rows.sum())
    if rows == 0 and not malformed:
        raise _no_rows(path)
    dayfirst, ambiguous = options.dayfirst, False
    if has_slash_dates:
        dayfirst, ambiguous = decide_day_first((evidence_df, evidence_mf), None)
    parts = [lambda part=part: spill.read(part) for part in spill.parts(partitioning.part_rows)]
    return _Source(layout, rows, malformed, parts, dayfirst, now_ms, ambiguous,
                   progress_from=0.3)


def _on_bytes(path: Path, layout: FileLayout, share: float,
              report_progress: ProgressCallback) -> Callable[[int], None] | None:
    """Reading progress as `share` of the upload, by bytes (unknown for a gzip file)."""
    if layout.compressed:
        return None
    total = max(path.stat().st_size, 1)
    seen = 0

    def on_bytes(count: int) -> None:
        nonlocal seen
        seen += count
        report_progress(Progress("reading", share * min(seen / total, 1.0), 0))

    return on_bytes


def _check(raw: RawRows, options: IngestOptions, dayfirst: bool | None,
           now_ms: int) -> RowChecks:
    return check_rows(
        raw.table, source_tz=options.source_tz,
        dayfirst=dayfirst if dayfirst is not None else options.dayfirst,
        timestamp_format=options.timestamp_format, now_ms=now_ms,
        future_tolerance_ms=int(options.future_tolerance_s * 1000),
    )


def _raw_text(raw: RawRows, rows: np.ndarray) -> list[str]:
    """The rows' fields joined by the file's delimiter, in file column order (for reports)."""
    if len(rows) == 0:
        return []
    subset = raw.table.take(pa.array(rows))
    positions = {**raw.layout.columns, **raw.layout.attributes}
    ordered = [subset.column(name) for name, _ in sorted(positions.items(), key=lambda x: x[1])]
    return pc.binary_join_element_wise(*ordered, raw.layout.delimiter).to_pylist()


def _file_quality(name: str, source: _Source) -> QualityReport:
    """The report's file-wide part: the rows that did not parse, the reading layout."""
    layout = source.layout
    report = QualityReport(file=name)
    report.total_rows = report.rejected_rows = len(source.malformed)
    report.missing_values = {column: 0 for column in [*layout.columns, *layout.attributes]}
    report.detected = {
        "delimiter": layout.delimiter,
        "encoding": layout.encoding,
        "compressed": layout.compressed,
        "timestamp_layouts": [],
        "attributes": list(layout.attributes),
    }
    report.add_issue("malformed_row", len(source.malformed),
                     [{"line": m.line, "value": m.text, "reason": m.reason}
                      for m in source.malformed[:SAMPLES_PER_ISSUE]])
    return report


@dataclass
class _Seen:
    """What the parts have shown so far of the whole file: the first line of each timestamp
    layout, and the first and last accepted instants."""

    layout_lines: dict[str, int] = field(default_factory=dict)
    first_ms: int | None = None
    last_ms: int | None = None

    def write(self, report: QualityReport) -> None:
        report.detected["timestamp_layouts"] = sorted(self.layout_lines,
                                                      key=self.layout_lines.__getitem__)
        if self.first_ms is not None and self.last_ms is not None:
            report.time_range = [iso_utc_ms(self.first_ms), iso_utc_ms(self.last_ms)]


def _part_quality(report: QualityReport, raw: RawRows, checks: RowChecks, seen: _Seen) -> None:
    """Add one part's row counts, issues and samples to the report, and its layouts and
    instants to `seen`."""
    rejected = int((~checks.ok).sum())
    report.total_rows += raw.table.num_rows
    report.rejected_rows += rejected
    report.valid_rows += raw.table.num_rows - rejected
    for column in report.missing_values:
        report.missing_values[column] += checks.missing_per_column.get(column, 0)
    for name, row in zip(checks.layouts, checks.layout_rows):
        line = int(raw.lines[row])
        seen.layout_lines[name] = min(line, seen.layout_lines.get(name, line))
    for error in RowError:
        if error is RowError.NONE:
            continue
        rows = np.flatnonzero(checks.error == error)
        if len(rows) == 0:
            continue
        first = rows[np.argsort(raw.lines[rows], kind="stable")[:SAMPLES_PER_ISSUE]]
        values = _issue_values(raw, checks, first, error)
        report.add_issue(error.label, len(rows),
                         issue_samples(raw.lines[first], np.asarray(values, dtype=object),
                                       checks.column[first]))
    unknown = np.flatnonzero(checks.ok & (checks.kind == EventKind.OTHER))
    if len(unknown):
        first = unknown[:SAMPLES_PER_ISSUE]
        values = raw.table.column("event_type").take(pa.array(first)).to_pylist()
        report.add_issue("unknown_event_type", len(unknown),
                         issue_samples(raw.lines[first], np.asarray(values, dtype=object)))
    if checks.ok.any():
        ts = checks.ts_ms[checks.ok]
        low, high = int(ts.min()), int(ts.max())
        seen.first_ms = low if seen.first_ms is None else min(seen.first_ms, low)
        seen.last_ms = high if seen.last_ms is None else max(seen.last_ms, high)


def _issue_values(raw: RawRows, checks: RowChecks, rows: np.ndarray, error: RowError) -> list[str]:
    if error is RowError.MALFORMED_ROW:
        return _raw_text(raw, rows)
    columns = checks.column[rows]
    return [raw.table.column(column)[int(row)].as_py() for row, column in zip(rows, columns)]


def iso_utc_ms(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{ms % 1000:03d}Z" if ms % 1000 else f"{text}Z"


def _events(raw: RawRows, checks: RowChecks) -> tuple[pa.Table, list[str]]:
    """The accepted rows as an event table in line order (not yet de-duplicated), and the
    distinct attribute combinations as JSON texts, which its `attribute_code` indexes."""
    ok = checks.ok
    mask = pa.array(ok)
    table = raw.table if ok.all() else raw.table.filter(mask)  # no copy for a clean file
    codes, sets = attribute_sets(table, list(raw.layout.attributes))
    return pa.table({
        "line": pa.array(raw.lines[ok].astype(np.int32)),
        "ts_ms": pa.array(checks.ts_ms[ok]),
        "person_id": table.column("person_id"),
        "camera_id": table.column("camera_id"),
        "kind": pa.array(checks.kind[ok]),
        "raw_event_type": table.column("event_type"),
        "attribute_code": pa.array(codes),
    }), sets


def attribute_sets(table: pa.Table, names: list[str]) -> tuple[np.ndarray, list[str]]:
    """Each row's combination of attribute values, as an index (int32, -1 with no attribute
    columns) into the distinct combinations, each a JSON object text (missing values null).

    Rows are only coded with integers; the JSON is written once per distinct combination.
    """
    if not names or table.num_rows == 0:
        return np.full(table.num_rows, -1, dtype=np.int32), []
    columns = []
    for name in names:
        encoded = pc.dictionary_encode(table.column(name).combine_chunks())
        columns.append((encoded.dictionary, encoded.indices))
    first, codes = group_codes(*(indices.to_numpy() for _, indices in columns))
    rows = pa.array(first)
    parts = [pc.binary_join_element_wise(
        ("{" if i == 0 else ",") + _json_string(name) + ":",
        _json_values(dictionary).take(indices.take(rows)), "")
        for i, (name, (dictionary, indices)) in enumerate(zip(names, columns))]
    texts = pc.binary_join_element_wise(*parts, pa.array(["}"] * len(first)), "")
    return codes.astype(np.int32).reshape(-1), texts.to_pylist()


def _json_values(values: pa.Array) -> pa.Array:
    """Strings as JSON string literals; the empty string (a missing value) as null."""
    escaped = pc.replace_substring(values, "\\", "\\\\")
    escaped = pc.replace_substring(escaped, '"', '\\"')
    escaped = pc.replace_substring_regex(escaped, r"[\x00-\x1f]", " ")
    quoted = pc.binary_join_element_wise('"', escaped, '"', "")
    return pc.if_else(pc.equal(values, ""), pa.scalar("null"), quoted)


def _json_string(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)


@dataclass(frozen=True)
class _Part:
    """One part of an upload, checked: its rows, their verdicts, the accepted events."""

    raw: RawRows
    checks: RowChecks
    events: pa.Table
    attribute_texts: list[str]


class _PartProgress:
    """Progress over the parts: from the share reading took to the end, by rows."""

    def __init__(self, source: _Source, report: ProgressCallback) -> None:
        self._start, self._total, self._report = source.progress_from, max(source.rows, 1), report
        self.done = 0

    def __call__(self, phase: str, part_rows: int, share_of_part: float) -> None:
        rows = self.done + share_of_part * part_rows
        fraction = self._start + (1.0 - self._start) * min(rows / self._total, 1.0)
        self._report(Progress(phase, fraction, int(rows)))


def _checked_parts(source: _Source, options: IngestOptions, quality: QualityReport,
                   progress: _PartProgress) -> Iterator[_Part]:
    """Each part loaded and checked, its quality added to the report, when it is needed.
    The report lists the timestamp layouts in the order the file first uses them."""
    seen = _Seen()
    for load in source.parts:
        raw = load()
        progress("checking", raw.table.num_rows, 0.0)
        checks = _check(raw, options, source.dayfirst, source.now_ms)
        _part_quality(quality, raw, checks, seen)
        seen.write(quality)
        events, attribute_texts = _events(raw, checks)
        yield _Part(raw, checks, events, attribute_texts)
        progress.done += raw.table.num_rows
        pa.default_memory_pool().release_unused()  # the part's pages, before the next part


def _store(conn: psycopg.Connection, upload_id: int, name: str, source: _Source,
           options: IngestOptions, report_progress: ProgressCallback, rollups: bool
           ) -> tuple[QualityReport, int, int]:
    """Check and write every part, in one transaction under the ingest lock. The first part
    is read and checked before taking the lock, in parallel with other uploads."""
    quality = _file_quality(name, source)
    progress = _PartProgress(source, report_progress)
    parts = _checked_parts(source, options, quality, progress)
    first = next(parts, None)
    events_stored = sessions_written = 0
    ambiguous = bool(source.ambiguous_dates)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (INGEST_LOCK,))
        store_empty = conn.execute("SELECT NOT EXISTS (SELECT 1 FROM camera_events)").fetchone()[0]
        first_load = store_empty and source.rows >= BULK_FIRST_LOAD_ROWS
        bulk = indexes_built_after(conn, ("camera_events", "person_sessions")) if first_load \
            else nullcontext()
        # Rollup rows of the hours only this upload fills (every hour, into an empty store)
        # are made from its own arrays; the SQL refresh recomputes the rest.
        staged = rollup_store.StagedRollups(conn, first_load=store_empty) \
            if rollups and (store_empty or rollup_store.ready(conn)) else None
        with bulk:
            changes = []
            for part in itertools.chain([first] if first else [], parts):
                stored, sessions, changed = _store_part(conn, upload_id, part, quality, options,
                                                        store_empty, progress, staged)
                changes.append(changed)
                events_stored += stored
                sessions_written += sessions
                _store_rejected(conn, upload_id, part.raw, part.checks)
                if source.ambiguous_dates is None:
                    ambiguous |= part.checks.ambiguous_dates
        _store_malformed(conn, upload_id, source.malformed)
        if not rollups:
            rollup_store.mark_stale(conn)
        elif staged is not None and staged.first_load:
            staged.finish_first_load()
        elif events_stored or sessions_written:
            rollup_store.refresh(conn, rollup_store.Changes.combine(changes), staged)
        if ambiguous:
            quality.add_issue("ambiguous_dates", 1, [])
        for attribute in source.layout.attributes:
            conn.execute(
                "INSERT INTO attributes (name, first_upload_id) VALUES (%s, %s)"
                " ON CONFLICT (name) DO NOTHING", (attribute, upload_id),
            )
        conn.execute("UPDATE data_version SET version = version + 1")
        uploads.mark_completed(conn, upload_id, quality.as_dict(), quality.total_rows)
    return quality, events_stored, sessions_written


def _store_part(conn: psycopg.Connection, upload_id: int, part: _Part, quality: QualityReport,
                options: IngestOptions, store_empty: bool, progress: _PartProgress,
                staged: rollup_store.StagedRollups | None = None
                ) -> tuple[int, int, rollup_store.Changes]:
    """De-duplicate, re-pair and write one part's events with the stored events of its
    keys. Parts share no person, so each part's keys are untouched by the others. Returns
    the events stored, the sessions written and what changed in the rollups; the rows of
    the hours only its own events fill go to `staged`."""
    rows = part.raw.table.num_rows
    progress("pairing", rows, 0.25)
    events = _with_attribute_sets(conn, part.events, part.attribute_texts)
    lookups = None if store_empty else touched.touch_keys(conn, events)
    stored = touched.STORED_EVENTS.empty_table() if lookups is None else \
        touched.stored_events(conn, lookups)

    merged = _merge(stored, events)
    with ThreadPoolExecutor(max_workers=1) as helper:
        # The persons' keys are written while the events are paired, and the staged rollup
        # rows grouped while the events are copied: PostgreSQL and NumPy on both cores.
        # The connection is the helper's alone until its keys are in.
        keys = None if staged is None else helper.submit(
            rollup_store.person_keys, conn, merged.persons)
        keep = first_occurrences(merged.key, merged.ts_ms, merged.kind, merged.order)
        new_kept = keep[stored.num_rows:]
        _report_duplicates(quality, part.raw, events, ~new_kept)
        kept = np.flatnonzero(keep)
        everything = len(kept) == len(keep)  # the usual case: no copies of the columns
        pairing = pair_sessions(
            merged.key if everything else merged.key[kept],
            merged.ts_ms if everything else merged.ts_ms[kept],
            merged.kind if everything else merged.kind[kept],
            duplicate_window_ms=int(options.duplicate_window_s * 1000),
            max_session_ms=int(options.max_session_s * 1000),
        )
        progress("storing", rows, 0.5)
        pa.default_memory_pool().release_unused()  # the pairing's scratch, before the COPY
        person_keys = None if keys is None else keys.result()

        n_stored = stored.num_rows
        event_ids = np.full(len(merged.key), -1, dtype=np.int64)
        event_ids[:n_stored] = stored.column("id").to_numpy()
        new_index = kept[kept >= n_stored]
        first_id = allocate_ids(conn, "camera_events_id_seq", len(new_index))
        event_ids[new_index] = first_id + np.arange(len(new_index), dtype=np.int64)

        session_ids = _session_ids(conn, pairing, kept, stored)
        sid, dwell = _event_sessions(pairing, session_ids, kept, len(merged.key))
        part_rollups = None if staged is None or person_keys is None else helper.submit(
            _part_rollups, merged, kept, sid, pairing, person_keys, n_stored,
            staged.known_hours(np.unique(merged.ts_ms[new_index] // HOUR_MS)), staged.first_load)

        replaced = touched.REPLACED_SESSIONS.empty_table() if lookups is None else \
            touched.replace_sessions(conn, lookups)
        _update_stored(conn, stored, sid[:n_stored], dwell[:n_stored])
        new_events = events if new_kept.all() else events.filter(pa.array(new_kept))
        copy_in(conn, "camera_events", _event_table(
            new_events, upload_id, event_ids[new_index], merged.ts_ms[new_index],
            merged.kind[new_index], sid[new_index], dwell[new_index]))
        made_rollups = None if part_rollups is None else part_rollups.result()
        pa.default_memory_pool().release_unused()  # the grouping's scratch, as above
        sessions = _session_table(pairing, session_ids, kept, merged, event_ids)
        copy_in(conn, "person_sessions", sessions)
        if staged is not None and made_rollups is not None:
            rows, spans = made_rollups
            staged.add(rows, cameras=merged.cameras, spans=spans)
            if staged.first_load:
                return len(new_index), len(pairing.status), rollup_store.Changes.none()
    orphan_flipped = (stored.column("event_type").to_numpy(zero_copy_only=False) == "exit") & (
        stored.column("session_id").is_null().to_numpy(zero_copy_only=False) != (sid[:n_stored] < 0))
    return len(new_index), len(pairing.status), _rollup_changes(
        np.concatenate([merged.ts_ms[new_index], merged.ts_ms[:n_stored][orphan_flipped]]),
        replaced, sessions)


def _part_rollups(merged: _Merged, kept: np.ndarray, sid: np.ndarray, pairing: Pairing,
                  keys: np.ndarray, n_stored: int, known_hours: np.ndarray, first_load: bool
                  ) -> tuple[pa.Table, tuple[np.ndarray, np.ndarray] | None]:
    """A part's rollup rows for the hours only its new events fill (those not in
    `known_hours`): its new events there, and the sessions they open (every event of such
    an hour is new, so every session entering in it is one of the part's). In a first
    load also its persons' presence spans (SPEC §7: complete sessions of positive length).
    `keys` are the person keys of `merged.persons`."""
    attribute_set = merged.attribute_set.fill_null(0).to_numpy()
    events = kept[kept >= n_stored]
    opener = kept[pairing.entry_index]
    sessions = np.arange(len(opener)) if first_load else np.flatnonzero(opener >= n_stored)
    if len(known_hours):
        events = events[~np.isin(merged.ts_ms[events] // HOUR_MS, known_hours)]
        sessions = sessions[~np.isin(merged.ts_ms[opener[sessions]] // HOUR_MS, known_hours)]

    def take(values: np.ndarray, at: np.ndarray) -> np.ndarray:  # no copy for everything
        return values if len(at) == len(values) else values[at]

    entry = opener[sessions]
    person = merged.person_code[entry]
    entry_ms = merged.ts_ms[entry]
    status, dwell_ms = take(pairing.status, sessions), take(pairing.dwell_ms, sessions)
    rows = rollup_rows(
        EventColumns(take(merged.ts_ms, events), take(merged.camera_code, events),
                     take(attribute_set, events), keys[take(merged.person_code, events)],
                     take(merged.kind, events), take(sid, events) >= 0),
        SessionColumns(entry_ms, merged.camera_code[entry], attribute_set[entry], keys[person],
                       status, dwell_ms))
    if not first_load:
        return rows, None
    present = (status == SessionStatus.COMPLETE) & (dwell_ms > 0)
    return rows, presence_spans(person[present], entry_ms[present],
                                entry_ms[present] + dwell_ms[present])


def _rollup_changes(event_ts_ms: np.ndarray, replaced: pa.Table,
                    made: pa.Table) -> rollup_store.Changes:
    """What an upload changed in the rollups. Hours to recompute: those of its new events
    and of stored exits that became or stopped being orphans; and of every session that
    differs between those it replaced and those it made (a session is its opening entry,
    closing exit and status), at its entry and, if complete, under it. A session that only
    went from open to missing_exit (a returning person's next entry) is a recount of its
    hour instead: recomputing each such hour of the past cost more than the rest of the
    upload. Re-pairing mostly makes again the sessions it replaced, which change nothing."""
    def columns(table: pa.Table) -> tuple[np.ndarray, ...]:
        entry, exit_, status, entry_ms, exit_ms = (table.column(name) for name in (
            "entry_event_id", "exit_event_id", "status", "entry_ts", "exit_ts"))
        return (entry.to_numpy(), exit_.fill_null(-1).to_numpy(),
                pc.index_in(status, STATUS_LABELS).to_numpy(zero_copy_only=False),
                entry_ms.cast(pa.int64()).to_numpy(),
                exit_ms.cast(pa.int64()).fill_null(-1).to_numpy())

    old, new = columns(replaced), columns(made)
    _, in_old, in_new = np.intersect1d(old[0], new[0], assume_unique=True, return_indices=True)
    same = (old[1][in_old] == new[1][in_new]) & (old[2][in_old] == new[2][in_new])
    recount = ~same & (old[1][in_old] < 0) & (new[1][in_new] < 0)  # no exit either way
    changed_old = np.ones(len(old[0]), dtype=bool)
    changed_old[in_old[same | recount]] = False
    changed_new = np.ones(len(new[0]), dtype=bool)
    changed_new[in_new[same | recount]] = False
    entries = np.concatenate([old[3][changed_old], new[3][changed_new]])
    complete = int(SessionStatus.COMPLETE)
    complete_old = changed_old & (old[2] == complete)
    complete_new = changed_new & (new[2] == complete)
    hours = touched_hours(
        np.concatenate([event_ts_ms, entries]),
        np.concatenate([old[3][complete_old], new[3][complete_new]]),
        np.concatenate([old[4][complete_old], new[4][complete_new]]),
    )
    was, now = old[2][in_old[recount]], new[2][in_new[recount]]
    recounts = pa.table({
        "hour": pa.array(new[3][in_new[recount]] // HOUR_MS),
        "camera_id": made.column("camera_id").take(pa.array(in_new[recount])),
        "open": pa.array((now == SessionStatus.OPEN).astype(np.int64)
                         - (was == SessionStatus.OPEN)),
        "missing_exit": pa.array((now == SessionStatus.MISSING_EXIT).astype(np.int64)
                                 - (was == SessionStatus.MISSING_EXIT)),
    })
    return rollup_store.Changes(hours, recounts)


def _with_attribute_sets(conn: psycopg.Connection, events: pa.Table,
                         texts: list[str]) -> pa.Table:
    """`events` with `attribute_set`: the store's id of each row's combination, added to
    `attribute_sets` when new (NULL for a file without attribute columns)."""
    codes = events.column("attribute_code").to_numpy()
    if not texts:
        column = pa.nulls(len(codes), pa.int32())
    else:
        conn.execute("INSERT INTO attribute_sets (attributes)"
                     " SELECT x::jsonb FROM unnest(%s::text[]) x"
                     " ON CONFLICT (attributes) DO NOTHING", (texts,))
        found = conn.execute(
            "SELECT t.i, s.attribute_set FROM unnest(%s::text[]) WITH ORDINALITY t(x, i)"
            " JOIN attribute_sets s ON s.attributes = t.x::jsonb", (texts,)).fetchall()
        if len(found) != len(texts):  # every text was just inserted or already there
            raise RuntimeError(f"{len(texts) - len(found)} attribute sets were not stored")
        ids = np.zeros(len(texts), dtype=np.int32)
        for position, attribute_set in found:  # one per distinct combination, not per row
            ids[position - 1] = attribute_set
        column = pa.array(ids[codes])
    return events.drop_columns(["attribute_code"]).append_column("attribute_set", column)


def _event_table(events: pa.Table, upload_id: int, ids: np.ndarray, ts_ms: np.ndarray,
                 kind: np.ndarray, session_id: np.ndarray, dwell_s: np.ndarray) -> pa.Table:
    """New events as `camera_events` rows (session -1 and dwell NaN become NULL)."""
    return pa.table({
        "id": pa.array(ids),
        "upload_id": pa.array(np.full(len(ids), upload_id, dtype=np.int64)),
        "line": events.column("line"),
        "ts": pa.array(ts_ms).cast(UTC_MS),
        "person_id": events.column("person_id"),
        "camera_id": events.column("camera_id"),
        "event_type": KIND_LABELS.take(pa.array(kind)),
        "raw_event_type": events.column("raw_event_type"),
        "session_id": pa.array(session_id, mask=session_id < 0),
        "dwell_duration": pa.array(dwell_s, mask=np.isnan(dwell_s)),
        "attribute_set": events.column("attribute_set"),
    })


@dataclass(frozen=True)
class _Merged:
    """Stored events of the touched keys followed by the new events, as NumPy columns."""

    key: np.ndarray
    ts_ms: np.ndarray
    kind: np.ndarray
    order: np.ndarray
    person: pa.ChunkedArray
    camera: pa.ChunkedArray
    attribute_set: pa.ChunkedArray
    person_code: np.ndarray      # int64 index into `persons`
    persons: pa.Array            # the distinct person ids
    camera_code: np.ndarray      # int64 index into `cameras`
    cameras: pa.Array


def _merge(stored: pa.Table, events: pa.Table) -> _Merged:
    person = _concat(stored.column("person_id"), events.column("person_id"))
    camera = _concat(stored.column("camera_id"), events.column("camera_id"))
    person_enc = pc.dictionary_encode(person.combine_chunks())
    person_code = person_enc.indices.to_numpy().astype(np.int64)
    camera_enc = pc.dictionary_encode(camera.combine_chunks())
    camera_code = camera_enc.indices.to_numpy().astype(np.int64)
    key = person_code * max(len(camera_enc.dictionary), 1) + camera_code
    stored_kind = np.zeros(stored.num_rows, dtype=np.int8)
    stored_types = stored.column("event_type").to_numpy(zero_copy_only=False)
    stored_kind[stored_types == "entry"] = EventKind.ENTRY
    stored_kind[stored_types == "exit"] = EventKind.EXIT
    n = stored.num_rows + events.num_rows
    return _Merged(
        key=key,
        ts_ms=np.concatenate([stored.column("ts_ms").to_numpy(), events.column("ts_ms").to_numpy()]),
        kind=np.concatenate([stored_kind, events.column("kind").to_numpy()]).astype(np.int8),
        order=np.arange(n, dtype=np.int64),
        person=person,
        camera=camera,
        attribute_set=pa.chunked_array(
            [*stored.column("attribute_set").chunks, *events.column("attribute_set").chunks],
            type=pa.int32()),
        person_code=person_code,
        persons=person_enc.dictionary,
        camera_code=camera_code,
        cameras=camera_enc.dictionary,
    )


def _concat(stored: pa.ChunkedArray, new: pa.ChunkedArray) -> pa.ChunkedArray:
    """Stored values then new ones, as strings, without copying the chunks."""
    return pa.chunked_array([*stored.cast(pa.string()).chunks, *new.cast(pa.string()).chunks],
                            type=pa.string())


def _report_duplicates(quality: QualityReport, raw: RawRows, events: pa.Table,
                       duplicate: np.ndarray) -> None:
    count = int(duplicate.sum())
    quality.duplicate_events += count
    if not count:
        return
    lines = np.sort(events.column("line").to_numpy()[duplicate])[:20]
    rows = np.flatnonzero(np.isin(raw.lines, lines))
    values = _raw_text(raw, rows)
    quality.add_issue("duplicate_event", count,
                      issue_samples(raw.lines[rows], np.asarray(values, dtype=object)))


def _session_ids(conn: psycopg.Connection, pairing: Pairing, kept: np.ndarray,
                 stored: pa.Table) -> np.ndarray:
    """Keep the id of a session whose opening entry is a stored event; number the rest."""
    n_sessions = len(pairing.status)
    ids = np.full(n_sessions, -1, dtype=np.int64)
    opener = kept[pairing.entry_index]
    n_stored = stored.num_rows
    if n_stored:
        old = stored.column("session_id").to_numpy(zero_copy_only=False)
        old = np.where(np.isnan(old), -1, old).astype(np.int64) if old.dtype.kind == "f" else old
        from_stored = opener < n_stored
        ids[from_stored] = old[opener[from_stored]]
        # An id can only be kept once: a stored entry that now opens a session whose id
        # another session already took gets a new one.
        reused = ids >= 0
        _, first_pos = np.unique(ids[reused], return_index=True)
        duplicate = np.ones(int(reused.sum()), dtype=bool)
        duplicate[first_pos] = False
        ids[np.flatnonzero(reused)[duplicate]] = -1
    fresh = np.flatnonzero(ids < 0)
    first = allocate_ids(conn, "person_sessions_id_seq", len(fresh))
    ids[fresh] = first + np.arange(len(fresh), dtype=np.int64)
    return ids


def _event_sessions(pairing: Pairing, session_ids: np.ndarray, kept: np.ndarray,
                    n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per merged event: its session id (-1) and its session's dwell in s (NaN unless complete)."""
    sid = np.full(n, -1, dtype=np.int64)
    dwell = np.full(n, np.nan)
    has = pairing.session_of_event >= 0
    sessions = pairing.session_of_event[has]
    sid[kept[has]] = session_ids[sessions]
    complete = pairing.status[sessions] == SessionStatus.COMPLETE
    dwell_s = np.where(complete, pairing.dwell_ms[sessions] / 1000.0, np.nan)
    dwell[kept[has]] = dwell_s
    return sid, dwell


def _update_stored(conn: psycopg.Connection, stored: pa.Table, sid: np.ndarray,
                   dwell: np.ndarray) -> None:
    """Write back the session of stored events whose pairing changed."""
    if stored.num_rows == 0:
        return
    old_sid = np.asarray(pc.fill_null(stored.column("session_id"), -1).to_numpy(), dtype=np.int64)
    old_dwell = np.asarray(
        pc.fill_null(stored.column("dwell_duration"), np.nan).to_numpy(), dtype=np.float64)
    same_dwell = (old_dwell == dwell) | (np.isnan(old_dwell) & np.isnan(dwell))
    changed = (old_sid != sid) | ~same_dwell
    if not changed.any():
        return
    conn.execute("DROP TABLE IF EXISTS repaired")
    conn.execute(
        "CREATE TEMP TABLE repaired (id bigint, session_id bigint, dwell_duration double precision)"
        " ON COMMIT DROP"
    )
    copy_in(conn, "repaired", pa.table({
        "id": stored.column("id").filter(pa.array(changed)),
        "session_id": pa.array(sid[changed], mask=sid[changed] < 0),
        "dwell_duration": pa.array(dwell[changed], mask=np.isnan(dwell[changed])),
    }))
    conn.execute(
        "UPDATE camera_events e SET session_id = r.session_id, dwell_duration = r.dwell_duration"
        " FROM repaired r WHERE e.id = r.id"
    )


def _session_table(pairing: Pairing, session_ids: np.ndarray, kept: np.ndarray,
                   merged: _Merged, event_ids: np.ndarray) -> pa.Table:
    opener = kept[pairing.entry_index]
    has_exit = pairing.exit_index >= 0
    closer = np.where(has_exit, kept[np.maximum(pairing.exit_index, 0)], 0)
    complete = pairing.status == SessionStatus.COMPLETE
    exit_ts = merged.ts_ms[closer]
    return pa.table({
        "id": pa.array(session_ids),
        "person_id": merged.person.take(pa.array(opener)),
        "camera_id": merged.camera.take(pa.array(opener)),
        "entry_ts": pa.array(merged.ts_ms[opener]).cast(UTC_MS),
        "exit_ts": pa.array(exit_ts, mask=~has_exit).cast(UTC_MS),
        "status": STATUS_LABELS.take(pa.array(pairing.status.astype(np.int64))),
        "dwell_s": pa.array(pairing.dwell_ms / 1000.0, mask=~complete),
        "entry_event_id": pa.array(event_ids[opener]),
        "exit_event_id": pa.array(event_ids[closer], mask=~has_exit),
        "attribute_set": merged.attribute_set.take(pa.array(opener)),
    })


def _store_rejected(conn: psycopg.Connection, upload_id: int, raw: RawRows,
                    checks: RowChecks) -> None:
    """Keep every rejected row (line, reason, value, raw text): nothing is lost silently."""
    rows = np.flatnonzero(~checks.ok)
    if len(rows):
        columns = checks.column[rows]
        taken = pa.array(rows)
        values = pa.nulls(len(rows), pa.string())
        for name in {c for c in columns if c is not None}:
            mask = pa.array(columns == name)
            values = pc.if_else(mask, raw.table.column(name).take(taken), values)
        labels = pa.array([e.label for e in RowError])
        copy_in(conn, "rejected_rows", pa.table({
            "upload_id": pa.array(np.full(len(rows), upload_id, dtype=np.int64)),
            "line": pa.array(raw.lines[rows].astype(np.int32)),
            "reason": labels.take(pa.array(checks.error[rows].astype(np.int64))),
            "column_name": pa.array(columns, pa.string()),
            "value": values,
            "raw": pa.array(_raw_text(raw, rows), pa.string()),
        }))


def _store_malformed(conn: psycopg.Connection, upload_id: int,
                     malformed: list[MalformedRow]) -> None:
    """Keep the rows that did not parse, with their text."""
    if malformed:
        copy_in(conn, "rejected_rows", pa.table({
            "upload_id": pa.array([upload_id] * len(malformed), pa.int64()),
            "line": pa.array([m.line for m in malformed], pa.int32()),
            "reason": pa.array(["malformed_row"] * len(malformed)),
            "column_name": pa.nulls(len(malformed), pa.string()),
            "value": pa.array([m.reason for m in malformed]),
            "raw": pa.array([m.text for m in malformed]),
        }))


__all__ = ["IngestOptions", "IngestResult", "Partitioning", "Progress", "ingest_file"]
