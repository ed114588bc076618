"""The upload pipeline through the real database: file errors, rejected rows, duplicates,
line numbers, encodings and atomicity."""

from __future__ import annotations

import gzip
from pathlib import Path

import psycopg
import pytest

from dwell.ingest.errors import UploadRejected
from dwell.ingest import pipeline
from dwell.ingest.pipeline import IngestOptions, ingest_file
from dwell.store import uploads

HEADER = "timestamp,person_id,camera_id,event_type\n"


def write(tmp_path: Path, text: str | bytes, name: str = "events.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def count(conn: psycopg.Connection, table: str) -> int:
    return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


@pytest.mark.parametrize(
    ("content", "kind", "fragment"),
    [
        ("", "empty_file", "is empty"),
        ("   \n\n", "empty_file", "is empty"),
        (HEADER, "no_data_rows", "no data rows"),
        (HEADER + "\n\n", "no_data_rows", "no data rows"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not_text", "not a text file"),
        ("time,visitor_id,zone\n2024-01-01 10:00,p1,a\n", "missing_columns",
         "lacks the required column(s) camera_id, event_type; the header has: time, visitor_id, zone"),
    ],
)
def test_file_level_errors_reject_the_upload_and_store_nothing(conn, tmp_path, content, kind,
                                                                fragment):
    path = write(tmp_path, content)
    with pytest.raises(UploadRejected) as caught:
        ingest_file(conn, path)
    assert caught.value.kind == kind
    assert fragment in caught.value.message
    assert count(conn, "camera_events") == 0
    assert count(conn, "rejected_rows") == 0
    status, error = conn.execute("SELECT status, error FROM uploads").fetchone()
    assert status == "failed" and error["kind"] == kind


def test_rejected_rows_keep_their_physical_line_reason_and_raw_text(conn, tmp_path):
    text = (
        HEADER                                                   # line 1
        + "2024-03-04 10:00:00,p1,cam1,entry\n"                  # 2 ok
        + "\n"                                                   # 3 blank: not a row
        + "2024-03-04 10:05:00,p1,cam1\n"                        # 4 malformed (3 fields)
        + "not a time,p2,cam1,entry\n"                           # 5 invalid_timestamp
        + "2024-03-04 10:06:00,,cam1,exit\n"                     # 6 missing person_id
        + "1999-12-31 23:59:59,p3,cam1,entry\n"                  # 7 out of range
        + f"2024-03-04 10:07:00,{'x' * 101},cam1,entry\n"        # 8 id_too_long
        + "garbage,,cam1,exit\n"                                 # 9 missing wins over timestamp
        + "2024-03-04 10:10:00,p1,cam1,exit\n"                   # 10 ok
    )
    result = ingest_file(conn, write(tmp_path, text))
    quality = result.quality.as_dict()
    assert quality["total_rows"] == 8
    assert quality["rejected_rows"] == 6
    assert quality["valid_rows"] == 2
    assert quality["quality_score"] == pytest.approx(2 / 8)
    assert quality["issues"] == {
        "malformed_row": 1, "invalid_timestamp": 1, "missing_value": 2,
        "timestamp_out_of_range": 1, "id_too_long": 1,
    }
    assert quality["missing_values"]["person_id"] == 2
    assert [s["line"] for s in quality["samples"]["missing_value"]] == [6, 9]
    assert quality["samples"]["invalid_timestamp"][0] == {
        "line": 5, "value": "not a time", "column": "timestamp"}
    rows = conn.execute(
        "SELECT line, reason, column_name, raw FROM rejected_rows ORDER BY line").fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (4, "malformed_row", None), (5, "invalid_timestamp", "timestamp"),
        (6, "missing_value", "person_id"), (7, "timestamp_out_of_range", "timestamp"),
        (8, "id_too_long", "person_id"), (9, "missing_value", "person_id"),
    ]
    raw = {r[0]: r[3] for r in rows}
    assert raw[4] == "2024-03-04 10:05:00,p1,cam1"
    assert raw[5] == "not a time,p2,cam1,entry"
    lines = conn.execute("SELECT line FROM camera_events ORDER BY line").fetchall()
    assert [line for (line,) in lines] == [2, 10]
    dwell = conn.execute("SELECT status, dwell_s FROM person_sessions").fetchall()
    assert dwell == [("complete", 600.0)]


def test_duplicates_in_the_file_and_against_stored_data_are_skipped_and_counted(conn, tmp_path):
    first = HEADER + "2024-03-04 10:00:00,p1,cam1,entry\n2024-03-04 10:00:00,p1,cam1,ENTRY\n"
    result = ingest_file(conn, write(tmp_path, first, "a.csv"))
    assert result.quality.duplicate_events == 1
    assert result.quality.valid_rows == 2  # duplicates are valid rows that are skipped
    assert result.quality.samples["duplicate_event"] == [
        {"line": 3, "value": "2024-03-04 10:00:00,p1,cam1,ENTRY"}]
    second = HEADER + "2024-03-04T10:00:00Z,p1,cam1,in\n2024-03-04 10:30:00,p1,cam1,exit\n"
    result = ingest_file(conn, write(tmp_path, second, "b.csv"))
    assert result.quality.duplicate_events == 1
    assert result.events_stored == 1
    assert count(conn, "camera_events") == 2
    assert conn.execute("SELECT status, dwell_s FROM person_sessions").fetchall() == [
        ("complete", 1800.0)]


def test_a_later_upload_completes_an_open_session_and_keeps_its_id(conn, tmp_path):
    ingest_file(conn, write(tmp_path, HEADER + "2024-03-04 10:00:00,p1,cam1,entry\n", "a.csv"))
    (session_id, status), = conn.execute("SELECT id, status FROM person_sessions").fetchall()
    assert status == "open"
    ingest_file(conn, write(tmp_path, HEADER + "2024-03-04 10:45:00,p1,cam1,exit\n", "b.csv"))
    rows = conn.execute("SELECT id, status, dwell_s FROM person_sessions").fetchall()
    assert rows == [(session_id, "complete", 2700.0)]
    events = conn.execute(
        "SELECT event_type, session_id, dwell_duration FROM camera_events ORDER BY ts").fetchall()
    assert events == [("entry", session_id, 2700.0), ("exit", session_id, 2700.0)]


@pytest.mark.parametrize(
    ("payload", "delimiter", "encoding"),
    [
        ("\ufefftimestamp;person;cam;event\n2024-03-04 10:00;p1;c1;in\n".encode(), ";", "utf-8-sig"),
        ("Time\tVisitor_ID\tDevice_ID\tDirection\tZone\n2024-03-04 10:00\tp1\tc1\tin\tCafé\n"
         .encode("latin-1"), "\t", "latin-1"),
        (b'ts|track_id|sensor_id|action\n"2024-03-04 10:00"|"p|1"|c1|enter\n', "|", "utf-8"),
    ],
)
def test_delimiter_encoding_and_header_aliases_are_detected(conn, tmp_path, payload, delimiter,
                                                            encoding):
    result = ingest_file(conn, write(tmp_path, payload))
    assert result.quality.detected["delimiter"] == delimiter
    assert result.quality.detected["encoding"] == encoding
    assert result.quality.valid_rows == 1 and result.events_stored == 1
    row = conn.execute("SELECT person_id, camera_id, event_type, attributes FROM camera_events"
                       " LEFT JOIN attribute_sets USING (attribute_set)").fetchone()
    assert row[1:3] == ("c1", "entry")
    if encoding == "latin-1":
        assert row[3] == {"Zone": "Café"}


def test_gzip_files_are_read_by_content(conn, tmp_path):
    body = HEADER + "2024-03-04 10:00:00,p1,cam1,entry\n2024-03-04 10:01:00,p1,cam1,exit\n"
    path = write(tmp_path, gzip.compress(body.encode()), "events.csv.gz")
    result = ingest_file(conn, path)
    assert result.quality.detected["compressed"] is True
    assert result.events_stored == 2


def test_undecodable_bytes_in_a_utf8_file_make_a_malformed_row(conn, tmp_path):
    good = "".join(f"2024-03-04 10:{m:02d}:00,pé{m},cam1,entry\n" for m in range(60))
    payload = (HEADER + good * 1200).encode() + b"2024-03-04 11:00:00,p\xff\xfe,cam1,entry\n"
    result = ingest_file(conn, write(tmp_path, payload))
    quality = result.quality.as_dict()
    assert quality["detected"]["encoding"] == "utf-8"
    assert quality["issues"].get("malformed_row") == 1
    assert quality["samples"]["malformed_row"][0]["line"] == 2 + 60 * 1200


def test_quoted_values_with_delimiters_and_line_breaks_keep_line_numbers(conn, tmp_path):
    text = (HEADER + '2024-03-04 10:00:00,"p,1",cam1,entry\n'
            + '2024-03-04 10:01:00,"p\n2",cam1,entry\n'      # lines 3-4
            + "bad,p3,cam1,entry\n")                           # line 5
    result = ingest_file(conn, write(tmp_path, text))
    assert result.quality.samples["invalid_timestamp"][0]["line"] == 5
    persons = [p for (p,) in conn.execute("SELECT person_id FROM camera_events ORDER BY line")]
    assert persons == ["p,1", "p\n2"]


def test_unknown_event_types_are_kept_as_other_with_a_warning(conn, tmp_path):
    text = HEADER + "2024-03-04 10:00:00,p1,cam1,loiter\n2024-03-04 10:01:00,p1,cam1,Enter\n"
    result = ingest_file(conn, write(tmp_path, text))
    assert result.quality.issues["unknown_event_type"] == 1
    assert result.quality.samples["unknown_event_type"] == [{"line": 2, "value": "loiter"}]
    rows = conn.execute("SELECT event_type, raw_event_type FROM camera_events ORDER BY line").fetchall()
    assert rows == [("other", "loiter"), ("entry", "Enter")]


def test_a_failure_while_storing_leaves_nothing_of_the_upload(conn, tmp_path, monkeypatch):
    ingest_file(conn, write(tmp_path, HEADER + "2024-03-04 10:00:00,p1,cam1,entry\n", "a.csv"))
    import dwell.ingest.pipeline as pipeline

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(pipeline, "_store_rejected", fail)
    text = HEADER + "2024-03-04 10:30:00,p1,cam1,exit\n2024-03-04 11:00:00,p2,cam1,entry\n"
    with pytest.raises(RuntimeError):
        ingest_file(conn, write(tmp_path, text, "b.csv"))
    assert count(conn, "camera_events") == 1
    assert conn.execute("SELECT status FROM person_sessions").fetchall() == [("open",)]
    failed = conn.execute("SELECT status, error FROM uploads WHERE filename = 'b.csv'").fetchone()
    assert failed[0] == "failed" and "disk full" in failed[1]["message"]


@pytest.mark.parametrize("failing", ["person_keys", "_part_rollups"])
def test_a_failure_beside_a_first_load_leaves_nothing_of_it(conn, tmp_path, monkeypatch, failing):
    """A first load writes its person keys and groups its rollups on a helper thread, while
    it pairs and copies its events: a failure there fails the upload as a whole too."""
    import dwell.ingest.pipeline as pipeline
    from dwell.store import rollups

    def fail(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(rollups if failing == "person_keys" else pipeline, failing, fail)
    text = HEADER + "2024-03-04 10:00:00,p1,cam1,entry\n2024-03-04 10:30:00,p1,cam1,exit\n"
    with pytest.raises(RuntimeError, match="out of memory"):
        ingest_file(conn, write(tmp_path, text, "a.csv"))
    for table in ("camera_events", "person_sessions", "person_keys", "rollup_hours",
                  "rollup_attributes", "rollup_occupancy"):
        assert count(conn, table) == 0, table
    failed = conn.execute("SELECT status, error FROM uploads WHERE filename = 'a.csv'").fetchone()
    assert failed[0] == "failed" and "out of memory" in failed[1]["message"]
    monkeypatch.undo()
    ingest_file(conn, write(tmp_path, text, "a.csv"))  # the same file, once it can be stored
    assert count(conn, "person_sessions") == 1 and count(conn, "rollup_hours") == 1


def test_ambiguous_dates_are_read_month_first_with_one_warning(conn, tmp_path):
    text = HEADER + "03/04/2024 10:00,p1,cam1,entry\n03/04/2024 10:30,p1,cam1,exit\n"
    result = ingest_file(conn, write(tmp_path, text))
    assert result.quality.issues["ambiguous_dates"] == 1
    (entry,) = conn.execute("SELECT min(ts) FROM camera_events").fetchone()
    assert (entry.month, entry.day) == (3, 4)
    explicit = ingest_file(conn, write(tmp_path, text.replace("p1", "p2"), "b.csv"),
                           IngestOptions(dayfirst=True))
    assert "ambiguous_dates" not in explicit.quality.issues


def test_the_upload_row_records_completion_and_its_quality(conn, tmp_path):
    result = ingest_file(conn, write(tmp_path, HEADER + "2024-03-04 10:00:00,p1,cam1,entry\n"))
    row = uploads.get(conn, result.upload_id)
    assert row["status"] == "completed" and row["progress"] == 1
    assert row["quality"]["total_rows"] == 1


def test_a_large_first_load_builds_indexes_after_and_keeps_every_rule(conn, tmp_path,
                                                                       monkeypatch):
    import dwell.ingest.pipeline as pipeline
    from dwell.synth import write_csv

    monkeypatch.setattr(pipeline, "BULK_FIRST_LOAD_ROWS", 1000)
    indexes_before = conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes"
        " WHERE tablename IN ('camera_events', 'person_sessions') ORDER BY 1").fetchall()
    path = tmp_path / "big.csv"
    write_csv(path, 5000, seed=4)
    first = ingest_file(conn, path)
    indexes_after = conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes"
        " WHERE tablename IN ('camera_events', 'person_sessions') ORDER BY 1").fetchall()
    assert indexes_after == indexes_before
    assert first.events_stored == 5000
    again = ingest_file(conn, path)  # the store is no longer empty: the normal path
    assert again.events_stored == 0 and again.quality.duplicate_events == 5000
    assert count(conn, "camera_events") == 5000


def test_statistics_are_refreshed_after_uploads_that_grow_the_store_by_a_tenth(
        conn, tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "ANALYZE_AFTER_ROWS", 10)

    def upload(events: int, day: int) -> None:
        rows = "".join(f"2024-03-{day:02d} 10:{i // 60:02d}:{i % 60:02d},p{i},cam1,entry\n"
                       for i in range(events))
        ingest_file(conn, write(tmp_path, HEADER + rows, f"day{day}.csv"))

    def analyses() -> int:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        return conn.execute("SELECT analyze_count FROM pg_stat_user_tables"
                            " WHERE relname = 'camera_events'").fetchone()[0]

    start = analyses()
    upload(200, 4)           # into an empty store
    assert analyses() == start + 1
    upload(15, 5)            # 15 < 10% of 200: left to autovacuum
    assert analyses() == start + 1
    upload(9, 6)             # under ANALYZE_AFTER_ROWS
    assert analyses() == start + 1
    upload(21, 7)            # 21 >= 10% of 200 (the count of the last analysis)
    assert analyses() == start + 2
    assert count(conn, "camera_events") == 245
