"""A large file is spilled to disk and processed in parts of persons; what it stores and
reports must not depend on that. Every test loads the same files whole and in parts and
compares everything the store and the quality report hold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import psycopg
import pyarrow as pa

from storage import empty_store

from dwell import synth
from dwell.ingest.pipeline import IngestOptions, ingest_file
from dwell.ingest.reader import FileLayout, RawRows
from dwell.ingest.spill import Partitioning, Spill, person_buckets

IN_PARTS = Partitioning(spill_above_bytes=0, part_rows=700, buckets=16)
def snapshot(conn: psycopg.Connection) -> dict[str, list[tuple]]:
    """Everything stored, without the ids that numbering order may change."""
    return {
        "events": sorted(conn.execute(
            "SELECT e.line, e.ts, e.person_id, e.camera_id, e.event_type, e.raw_event_type,"
            " e.dwell_duration, s.entry_ts, s.status, a.attributes::text"
            " FROM camera_events e LEFT JOIN person_sessions s ON s.id = e.session_id"
            " LEFT JOIN attribute_sets a ON a.attribute_set = e.attribute_set").fetchall(),
            key=repr),
        "sessions": sorted(conn.execute(
            "SELECT s.person_id, s.camera_id, s.entry_ts, s.exit_ts, s.status, s.dwell_s,"
            " en.line, ex.line, a.attributes::text FROM person_sessions s"
            " JOIN camera_events en ON en.id = s.entry_event_id"
            " LEFT JOIN camera_events ex ON ex.id = s.exit_event_id"
            " LEFT JOIN attribute_sets a ON a.attribute_set = s.attribute_set").fetchall(),
            key=repr),
        "rejected": sorted(conn.execute(
            "SELECT upload_id, line, reason, column_name, value, raw FROM rejected_rows"
        ).fetchall(), key=repr),
    }


def load_both_ways(conn: psycopg.Connection, files: list[Path],
                   options: IngestOptions | None = None) -> tuple[dict, dict, list, list]:
    results = {}
    for name, partitioning in (("whole", Partitioning()), ("parts", IN_PARTS)):
        empty_store(conn)
        reports = [ingest_file(conn, path, options or IngestOptions(),
                               partitioning=partitioning).quality.as_dict()
                   for path in files]
        results[name] = (snapshot(conn), reports)
    (whole, whole_reports), (parts, parts_reports) = results["whole"], results["parts"]
    return whole, parts, whole_reports, parts_reports


def test_a_messy_file_stores_and_reports_the_same_in_parts(conn, tmp_path):
    path = tmp_path / "messy.csv"
    synth.write_csv(path, 6000, seed=7, messy=True, days=3)
    whole, parts, whole_reports, parts_reports = load_both_ways(conn, [path])
    assert len(whole["events"]) > 4000 and whole["rejected"]
    assert parts == whole
    assert parts_reports == whole_reports
    assert len(parts_reports[0]["detected"]["timestamp_layouts"]) > 1  # in first-use order


def test_later_files_repair_stored_keys_the_same_in_parts(conn, tmp_path):
    """Three overlapping files: each re-pairs the stored events of the keys it touches."""
    files = []
    for seed in range(3):
        files.append(tmp_path / f"day{seed}.csv")
        synth.write_csv(files[-1], 3000, seed=seed, days=2)
    whole, parts, whole_reports, parts_reports = load_both_ways(
        conn, files, IngestOptions(duplicate_window_s=2))
    assert parts == whole
    assert parts_reports == whole_reports


def test_day_first_evidence_in_one_part_decides_for_the_whole_file(conn, tmp_path):
    """Only p0's rows can tell that 05/03/2024 is the 5th of March; every part must read
    the other persons' a/b dates the same way."""
    rows = ["timestamp,person_id,camera_id,event_type"]
    for person in range(40):
        rows += [f"05/03/2024 10:{person:02d},p{person},c1,entry",
                 f"05/03/2024 11:{person:02d},p{person},c1,exit"]
    rows.append("25/03/2024 09:00,p0,c1,entry")
    path = tmp_path / "dayfirst.csv"
    path.write_text("\n".join(rows) + "\n")
    whole, parts, whole_reports, parts_reports = load_both_ways(conn, [path])
    assert parts == whole
    assert {ts.month for _, ts, *_ in parts["events"]} == {3}
    assert parts_reports == whole_reports
    assert "ambiguous_dates" not in parts_reports[0]["issues"]


def test_ambiguous_dates_are_flagged_once_for_a_file_in_parts(conn, tmp_path):
    rows = ["timestamp,person_id,camera_id,event_type"]
    rows += [f"05/03/2024 10:{p:02d},p{p},c1,entry" for p in range(30)]
    path = tmp_path / "ambiguous.csv"
    path.write_text("\n".join(rows) + "\n")
    _, _, whole_reports, parts_reports = load_both_ways(conn, [path])
    assert parts_reports[0]["issues"]["ambiguous_dates"] == 1
    assert parts_reports == whole_reports


def test_unparsable_rows_and_line_breaks_keep_their_lines_in_small_blocks(conn, tmp_path):
    """Rows that do not parse and quoted line breaks scattered over many tiny blocks: the
    rejected rows and every event keep their physical lines, whole or in parts."""
    rows = ["timestamp,person_id,camera_id,event_type,note"]
    for i in range(300):
        minute = f"2024-03-04T10:{i % 60:02d}:00Z"
        if i % 7 == 3:
            rows.append(f"{minute},p{i % 23},c1")                           # 3 fields
        elif i % 11 == 5:
            rows.append(f'{minute},p{i % 23},c1,entry,"two\nlines"')        # quoted break
        else:
            rows.append(f"{minute},p{i % 23},c{i % 3},{'entry' if i % 2 else 'exit'},n")
    path = tmp_path / "scattered.csv"
    path.write_text("\n".join(rows) + "\n")
    results = {}
    for name, partitioning in (("whole", Partitioning(block_bytes=256)),
                               ("parts", Partitioning(spill_above_bytes=0, part_rows=40,
                                                      buckets=8, block_bytes=256))):
        empty_store(conn)
        report = ingest_file(conn, path, partitioning=partitioning).quality.as_dict()
        results[name] = (snapshot(conn), report)
    assert results["parts"] == results["whole"]
    stored, report = results["whole"]
    lines, line = [], 2
    for i in range(300):
        lines.append(line)
        line += 2 if i % 7 != 3 and i % 11 == 5 else 1
    assert sorted(r[1] for r in stored["rejected"]) == [lines[i] for i in range(300) if i % 7 == 3]
    assert report["issues"]["malformed_row"] == len(stored["rejected"])
    assert sorted(e[0] for e in stored["events"]) == [lines[i] for i in range(300) if i % 7 != 3]


def test_a_file_of_only_malformed_rows_in_parts(conn, tmp_path):
    path = tmp_path / "broken.csv"
    path.write_text("timestamp,person_id,camera_id,event_type\na,b\nc,d\n")
    whole, parts, whole_reports, parts_reports = load_both_ways(conn, [path])
    assert parts == whole and len(parts["rejected"]) == 2
    assert parts_reports == whole_reports


def test_equal_persons_share_a_bucket_wherever_they_occur():
    persons = pa.array(["p1", "", "visitor-élan", "p1", "x" * 200, "p2", ""])
    buckets = person_buckets(persons, 16)
    again = person_buckets(pa.chunked_array([persons.slice(3), persons.slice(0, 3)]), 16)
    assert buckets[0] == buckets[3] and buckets[1] == buckets[6]
    assert np.array_equal(again, np.concatenate([buckets[3:], buckets[:3]]))
    assert ((buckets >= 0) & (buckets < 16)).all()
    many = person_buckets(pa.array([f"P{i:07d}" for i in range(64_000)]), 64)
    counts = np.bincount(many, minlength=64)
    assert counts.min() > 0.8 * 1000 and counts.max() < 1.2 * 1000  # spread evenly


def test_spill_parts_hold_every_row_once_in_line_order(tmp_path):
    layout = FileLayout(",", "utf-8", False, ["timestamp", "person_id", "camera_id", "event_type"],
                        {"timestamp": 0, "person_id": 1, "camera_id": 2, "event_type": 3}, {})
    persons = [f"p{i % 97}" for i in range(5000)]
    with Spill(layout, 8, tmp_path) as spill:
        for start in range(0, 5000, 1000):
            chunk = pa.table({"timestamp": ["t"] * 1000, "person_id": persons[start:start + 1000],
                              "camera_id": ["c"] * 1000, "event_type": ["entry"] * 1000})
            spill.add(RawRows(layout, chunk, np.arange(start, start + 1000) + 2))
        spill.finish()
        parts = spill.parts(1500)
        assert sorted(b for part in parts for b in part) == sorted(np.flatnonzero(spill.rows))
        read = [spill.read(part) for part in parts]
    assert len(parts) > 2
    lines = np.concatenate([raw.lines for raw in read])
    assert sorted(lines.tolist()) == list(range(2, 5002))
    for raw in read:
        assert (np.diff(raw.lines) > 0).all()
        assert raw.table.column("person_id").to_pylist() == [persons[i - 2] for i in raw.lines]
    by_part = [set(raw.table.column("person_id").to_pylist()) for raw in read]
    assert sum(len(s) for s in by_part) == len(set().union(*by_part))  # no person in two parts
    assert not any(tmp_path.iterdir())  # the spill removed its files


def test_partitioning_decides_by_size_counting_gzip_four_times():
    partitioning = Partitioning(spill_above_bytes=1000)
    assert partitioning.spills(1001, False) and not partitioning.spills(1000, False)
    assert partitioning.spills(300, True) and not partitioning.spills(250, True)


def test_a_larger_file_gets_more_buckets_so_no_bucket_outgrows_a_part():
    partitioning = Partitioning(part_rows=1_000_000, buckets=64)
    assert partitioning.buckets_for(100 * 1024**2, False) == 64
    assert partitioning.buckets_for(40 * 40 * 1_000_000, False) == 160   # 40 parts
    assert partitioning.buckets_for(10 * 40 * 1_000_000, True) == 160    # gzip: 4x the bytes
    assert partitioning.buckets_for(10**12, False) == 256  # open files stay bounded
