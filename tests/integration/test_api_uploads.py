"""Uploads through real HTTP: streaming, background processing, dedup, errors, pagination."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import psycopg
import pytest
from conftest import serve_app

from dwell import jobs, synth
from dwell.analytics import members
from dwell.store import records
from dwell.store.migrations import migrate
from dwell.store.server import scratch_database, with_dbname

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample_camera_events.csv"
HEADER = "timestamp,person_id,camera_id,event_type"
FINAL = ("completed", "failed")
SESSION_ROWS_SQL = """
    SELECT person_id, camera_id, entry_ts, exit_ts, status, dwell_s FROM person_sessions
    ORDER BY person_id, camera_id, entry_ts, status
"""


def post_file(client: httpx.Client, content: bytes, filename: str = "events.csv",
              **fields: str) -> httpx.Response:
    return client.post("/api/v1/uploads", files={"file": (filename, content, "text/csv")},
                       data=fields)


def wait_until_done(client: httpx.Client, upload_id: int, timeout_s: float = 120) -> dict:
    """Poll the upload until it is completed or failed (deadline, no fixed waits)."""
    deadline = time.monotonic() + timeout_s
    while True:
        upload = client.get(f"/api/v1/uploads/{upload_id}").json()
        if upload["status"] in FINAL:
            return upload
        assert upload["status"] in ("queued", "processing"), upload
        assert 0 <= upload["progress"] <= 1
        if time.monotonic() > deadline:
            raise AssertionError(f"upload {upload_id} still {upload['status']} after {timeout_s} s")
        time.sleep(0.05)


def total_events(client: httpx.Client) -> int:
    return client.get("/api/v1/analytics/kpis").json()["total_events"]


def analyze_json(database_url: str, path: Path) -> dict:
    """`dwell analyze --json` on the same PostgreSQL server (a throw-away database)."""
    env = {**os.environ, "DATABASE_URL": with_dbname(database_url, "postgres")}
    command = [str(Path(sys.executable).parent / "dwell"), "analyze", str(path), "--json"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def one_visit_file(person: str) -> bytes:
    return (f"{HEADER}\n2024-03-11T08:00:00Z,{person},CAM-01,entry\n"
            f"2024-03-11T08:05:00Z,{person},CAM-01,exit\n").encode()


def spooled_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def spooled_files_after_the_job(root: Path, timeout_s: float = 10) -> list[Path]:
    """The spooled files left once the job is over: it deletes the file just after the
    upload shows as done, so they are polled for until none are left (or the deadline)."""
    deadline = time.monotonic() + timeout_s
    while (left := spooled_files(root)) and time.monotonic() < deadline:
        time.sleep(0.02)
    return left


def test_upload_is_accepted_at_once_and_processed_in_the_background(api, clean_database_url):
    with httpx.Client(base_url=api.url, timeout=60) as client:
        accepted = post_file(client, SAMPLE.read_bytes(), SAMPLE.name)
        assert accepted.status_code == 202, accepted.text
        upload = accepted.json()
        assert upload["status"] in ("queued", "processing")
        assert upload["filename"] == SAMPLE.name
        assert upload["size_bytes"] == SAMPLE.stat().st_size
        assert upload["duplicate_of"] is None
        assert upload["params"]["source_tz"] == "UTC"
        assert accepted.headers["location"] == f"/api/v1/uploads/{upload['id']}"

        done = wait_until_done(client, upload["id"])
        assert done["status"] == "completed", done
        assert done["phase"] == "completed"
        assert done["progress"] == 1
        assert done["eta_s"] == 0
        assert done["error"] is None
        assert done["started_at"] and done["finished_at"]
        expected = analyze_json(clean_database_url, SAMPLE)
        assert done["rows_processed"] == expected["quality"]["total_rows"]
        assert done["quality"] == expected["quality"]
        assert total_events(client) == expected["kpis"]["total_events"]


def test_a_large_upload_is_processed_in_parts_with_the_same_numbers(clean_database_url,
                                                                    tmp_path):
    """Above `spill_above_bytes` the worker spills the file by person into parts next to
    the spool; the numbers equal `dwell analyze` of the whole file, and no part is left."""
    path = tmp_path / "large.csv"
    synth.write_csv(path, 5000, seed=3, messy=True, days=2)
    spool = tmp_path / "uploads"
    with serve_app(clean_database_url, spill_above_bytes=0, part_rows=1000, data_dir=tmp_path,
                   upload_dir=spool) as live, httpx.Client(base_url=live.url, timeout=60) as client:
        done = wait_until_done(client, post_file(client, path.read_bytes(), path.name).json()["id"])
        assert done["status"] == "completed", done
        expected = analyze_json(clean_database_url, path)
        assert done["quality"] == expected["quality"]
        assert client.get("/api/v1/analytics/kpis").json() == expected["kpis"]
        assert spooled_files_after_the_job(spool) == []


def test_same_file_uploaded_twice_answers_with_the_earlier_upload(api):
    with httpx.Client(base_url=api.url, timeout=60) as client:
        first = post_file(client, SAMPLE.read_bytes(), SAMPLE.name).json()
        wait_until_done(client, first["id"])
        events = total_events(client)
        assert events > 0

        again = post_file(client, SAMPLE.read_bytes(), "renamed.csv")
        assert again.status_code == 200, again.text
        assert again.json()["id"] == first["id"]
        assert again.json()["duplicate_of"] == first["id"]
        assert again.json()["status"] == "completed"
        assert total_events(client) == events
        listed = client.get("/api/v1/uploads").json()["items"]
        assert [u["id"] for u in listed] == [first["id"]]

        other_options = post_file(client, SAMPLE.read_bytes(), SAMPLE.name, max_session_s="3600")
        assert other_options.status_code == 202
        assert other_options.json()["id"] != first["id"]
        wait_until_done(client, other_options.json()["id"])


def test_same_file_sent_twice_at_once_is_processed_once(api):
    content = one_visit_file("P-TWICE")
    with httpx.Client(base_url=api.url, timeout=60) as a, httpx.Client(base_url=api.url,
                                                                      timeout=60) as b:
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda c: post_file(c, content), (a, b)))
        ids = {r.json()["id"] for r in answers}
        assert len(ids) == 1
        assert sorted(r.status_code for r in answers) == [200, 202]
        assert wait_until_done(a, ids.pop())["status"] == "completed"


BAD_FILES = {
    "empty_file": b"",
    "no_data_rows": (HEADER + "\n").encode(),
    "missing_columns": b"ts,person\n2024-03-11T08:00:00Z,P1\n",
    "not_text": bytes(range(256)) * 8,
}


def test_each_kind_of_bad_file_fails_with_its_kind_and_stores_nothing(api):
    with httpx.Client(base_url=api.url, timeout=60) as client:
        ids = {}
        for kind, content in BAD_FILES.items():
            answer = post_file(client, content, f"{kind}.csv")
            assert answer.status_code == 202, answer.text
            ids[kind] = answer.json()["id"]
        for kind, upload_id in ids.items():
            upload = wait_until_done(client, upload_id)
            assert upload["status"] == "failed", upload
            assert upload["error"]["kind"] == kind
            assert f"{kind}.csv" in upload["error"]["message"]
            assert upload["quality"] is None
            rejected = client.get(f"/api/v1/uploads/{upload_id}/rejected-rows").json()
            assert rejected == {"items": [], "next_cursor": None}
        assert total_events(client) == 0
        failed = client.get("/api/v1/uploads", params={"status": "failed"}).json()["items"]
        assert {u["id"] for u in failed} == set(ids.values())


def test_file_over_the_limit_is_refused_with_413_while_streaming(clean_database_url, tmp_path):
    spool = tmp_path / "uploads"
    with serve_app(clean_database_url, max_upload_bytes=1000, data_dir=tmp_path,
                   upload_dir=spool) as live, httpx.Client(base_url=live.url, timeout=60) as client:
        refused = post_file(client, SAMPLE.read_bytes(), SAMPLE.name)
        assert refused.status_code == 413
        assert refused.json()["error"]["kind"] == "upload_too_large"
        assert "1000" in refused.json()["error"]["message"]
        assert client.get("/api/v1/uploads").json()["items"] == []
        assert spooled_files(spool) == []

        small = one_visit_file("P-SMALL")
        assert len(small) < 1000
        accepted = post_file(client, small)
        assert accepted.status_code == 202
        assert wait_until_done(client, accepted.json()["id"])["status"] == "completed"
        assert spooled_files_after_the_job(spool) == []


def test_bad_options_and_bodies_are_refused_naming_the_problem(api, tmp_path):
    content = one_visit_file("P1")
    with httpx.Client(base_url=api.url, timeout=60) as client:
        for field, value in [("source_tz", "Mars/Olympus"), ("dayfirst", "perhaps"),
                             ("duplicate_window_s", "-1"), ("max_session_s", "0"),
                             ("max_session_s", "soon"), ("timestamp_format", "dd/mm/yyyy"),
                             ("colour", "blue")]:
            answer = post_file(client, content, **{field: value})
            assert answer.status_code == 422, (field, answer.text)
            assert answer.json()["error"]["parameter"] == field
            assert field in answer.json()["error"]["message"]
        no_file = client.post("/api/v1/uploads", files={"source_tz": (None, "UTC")})
        assert no_file.status_code == 422
        assert no_file.json()["error"]["parameter"] == "file"
        not_multipart = client.post("/api/v1/uploads", content=content,
                                    headers={"content-type": "text/csv"})
        assert not_multipart.status_code == 415
        assert client.get("/api/v1/uploads").json()["items"] == []
        assert spooled_files(tmp_path / "uploads") == []

        options = post_file(client, content, source_tz="Europe/Berlin", dayfirst="true",
                            duplicate_window_s="2.5")
        assert options.status_code == 202
        params = options.json()["params"]
        assert params["source_tz"] == "Europe/Berlin"
        assert params["dayfirst"] is True
        assert params["duplicate_window_s"] == 2.5
        assert wait_until_done(client, options.json()["id"])["status"] == "completed"


def test_a_file_name_outside_latin_1_is_kept_and_a_nul_in_an_option_refused(api):
    """Browsers send UTF-8 file names raw in the part's Content-Disposition."""
    content = one_visit_file("P1")
    boundary = "dwellboundary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="caméra-東京-\U0001F4F7.csv"\r\nContent-Type: text/csv\r\n\r\n').encode()
    body += content + f"\r\n--{boundary}--\r\n".encode()
    with httpx.Client(base_url=api.url, timeout=60) as client:
        accepted = client.post("/api/v1/uploads", content=body, headers={
            "content-type": f"multipart/form-data; boundary={boundary}"})
        assert accepted.status_code == 202, accepted.text
        assert accepted.json()["filename"] == "caméra-東京-\U0001F4F7.csv"
        assert wait_until_done(client, accepted.json()["id"])["status"] == "completed"
        nul = post_file(client, content, source_tz="UTC\x00")
        assert nul.status_code == 422 and nul.json()["error"]["parameter"] == "source_tz"


def test_unknown_upload_answers_404(api):
    with httpx.Client(base_url=api.url) as client:
        assert client.get("/api/v1/uploads/999").json()["error"]["kind"] == "not_found"
        assert client.get("/api/v1/uploads/999/rejected-rows").status_code == 404


def _halves(tmp_path: Path) -> tuple[Path, Path]:
    """The sample split line by line into two files: most people are in both."""
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text("\n".join([lines[0], *lines[1::2]]) + "\n", encoding="utf-8")
    second.write_text("\n".join([lines[0], *lines[2::2]]) + "\n", encoding="utf-8")
    return first, second


def _sessions(conninfo: str) -> list[tuple]:
    with psycopg.connect(conninfo) as conn:
        return conn.execute(SESSION_ROWS_SQL).fetchall()


def test_concurrent_uploads_of_the_same_people_give_the_sequential_sessions(
        api, clean_database_url, server_conninfo, tmp_path):
    first, second = _halves(tmp_path)
    with httpx.Client(base_url=api.url, timeout=60) as client:
        ids = [post_file(client, p.read_bytes(), p.name).json()["id"] for p in (first, second)]
        assert all(wait_until_done(client, i)["status"] == "completed" for i in ids)
    concurrent = _sessions(clean_database_url)

    with scratch_database(server_conninfo, prefix="dwell_seq") as sequential_url:
        with psycopg.connect(sequential_url, autocommit=True) as conn:
            migrate(conn)
        with serve_app(sequential_url, data_dir=tmp_path / "seq",
                       upload_dir=tmp_path / "seq" / "uploads") as live, \
                httpx.Client(base_url=live.url, timeout=60) as client:
            for path in (first, second):
                upload_id = post_file(client, path.read_bytes(), path.name).json()["id"]
                assert wait_until_done(client, upload_id)["status"] == "completed"
        sequential = _sessions(sequential_url)
    assert len(concurrent) > 100
    assert concurrent == sequential


def _pages(client: httpx.Client, path: str, limit: int, between=None) -> list[list[dict]]:
    pages, cursor = [], None
    while True:
        params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        body = client.get(path, params=params).json()
        pages.append(body["items"])
        if between:
            between()
            between = None
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


def test_pages_of_uploads_never_skip_or_repeat(api):
    with httpx.Client(base_url=api.url, timeout=60) as client:
        ids = [post_file(client, one_visit_file(f"P{i}")).json()["id"] for i in range(7)]
        for upload_id in ids:
            wait_until_done(client, upload_id)
        late = []
        pages = _pages(client, "/api/v1/uploads", 3, between=lambda: late.append(
            post_file(client, one_visit_file("P-LATE")).json()["id"]))
        assert [len(p) for p in pages] == [3, 3, 1]
        seen = [u["id"] for p in pages for u in p]
        assert seen == sorted(ids, reverse=True)
        wait_until_done(client, late[0])
        newest = client.get("/api/v1/uploads", params={"limit": 1}).json()["items"]
        assert [u["id"] for u in newest] == late
        bad = client.get("/api/v1/uploads", params={"cursor": "not a cursor"})
        assert bad.status_code == 422
        assert bad.json()["error"]["parameter"] == "cursor"
        assert client.get("/api/v1/uploads", params={"limit": 1001}).status_code == 422


def test_pages_of_rejected_rows_follow_the_lines(api):
    rows, bad_lines = [HEADER], []
    for i in range(40):
        line = len(rows) + 1
        if i % 3 == 0:
            rows.append(f"not-a-time,P{i},CAM-01,entry")
            bad_lines.append(line)
        elif i % 7 == 0:
            rows.append(f"2024-03-11T09:{i:02d}:00Z,,CAM-01,entry")
            bad_lines.append(line)
        else:
            rows.append(f"2024-03-11T09:{i:02d}:00Z,P{i},CAM-01,entry")
    with httpx.Client(base_url=api.url, timeout=60) as client:
        upload_id = post_file(client, ("\n".join(rows) + "\n").encode()).json()["id"]
        done = wait_until_done(client, upload_id)
        assert done["quality"]["rejected_rows"] == len(bad_lines)
        pages = _pages(client, f"/api/v1/uploads/{upload_id}/rejected-rows", 4)
        assert all(len(p) == 4 for p in pages[:-1])
        found = [r["line"] for p in pages for r in p]
        assert found == bad_lines
        first = pages[0][0]
        assert first["reason"] == "invalid_timestamp"
        assert first["column"] == "timestamp"
        assert first["value"] == "not-a-time"
        assert first["raw"].startswith("not-a-time,P0")
        missing = client.get(f"/api/v1/uploads/{upload_id}/rejected-rows",
                             params={"reason": "missing_value"}).json()["items"]
        assert [r["column"] for r in missing] == ["person_id"] * len(missing) and missing
        rows_cursor = client.get(f"/api/v1/uploads/{upload_id}/rejected-rows",
                                 params={"limit": 1}).json()["next_cursor"]
        wrong_list = client.get("/api/v1/uploads", params={"cursor": rows_cursor})
        assert wrong_list.status_code == 422
        assert "another listing" in wrong_list.json()["error"]["message"]
        other_upload = client.get(f"/api/v1/uploads/{upload_id + 1}/rejected-rows",
                                  params={"cursor": rows_cursor})
        assert other_upload.status_code == 422  # a cursor belongs to its upload's rows
        huge = records.encode_cursor(f"rejected_rows:{upload_id}", [2**70])
        out_of_range = client.get(f"/api/v1/uploads/{upload_id}/rejected-rows",
                                  params={"cursor": huge})
        assert out_of_range.status_code == 422
        assert out_of_range.json()["error"]["parameter"] == "cursor"


def test_upload_left_queued_without_a_job_is_marked_failed(api, clean_database_url):
    with psycopg.connect(clean_database_url, autocommit=True) as conn:
        (stranded,) = conn.execute(
            "INSERT INTO uploads (filename, status, created_at) VALUES ('lost.csv', 'queued', %s)"
            " RETURNING id", (datetime.now(timezone.utc) - timedelta(hours=1),)).fetchone()
        (recent,) = conn.execute(
            "INSERT INTO uploads (filename) VALUES ('just-in.csv') RETURNING id").fetchone()
    # The server's own sweep may get there first; either way the stranded upload ends failed.
    assert recent not in jobs.fail_lost_uploads(clean_database_url)
    with httpx.Client(base_url=api.url) as client:
        lost = client.get(f"/api/v1/uploads/{stranded}").json()
        assert lost["status"] == "failed"
        assert lost["error"]["kind"] == "upload_lost"
        assert client.get(f"/api/v1/uploads/{recent}").json()["status"] == "queued"


@pytest.mark.parametrize("name", ["../../etc/passwd", "C:\\temp\\events.csv", ""])
def test_client_file_names_never_leave_the_spool(name):
    from dwell.api.routes.uploads import safe_filename

    cleaned = safe_filename(name)
    assert "/" not in cleaned and "\\" not in cleaned and not cleaned.startswith(".")
    assert cleaned


def test_the_server_reads_the_new_rollup_members_after_an_upload(api, clean_database_url):
    """The worker inside the server holds the upload's new state before anyone asks."""
    with httpx.Client(base_url=api.url, timeout=60) as client:
        done = wait_until_done(client, post_file(client, SAMPLE.read_bytes()).json()["id"])
        assert done["status"] == "completed", done
        with psycopg.connect(clean_database_url) as conn:
            generation = conn.execute("SELECT generation FROM rollup_state").fetchone()[0]
            stored = conn.execute("SELECT count(*) FROM camera_events").fetchone()[0]
        deadline = time.monotonic() + 30
        slots = [members._HELD[source] for source in (members.HOURS, members.ATTRIBUTES)]
        while any(slot.generation != generation for slot in slots):
            assert time.monotonic() < deadline, "the members were not read after the upload"
            time.sleep(0.05)
        held = [slot.table for slot in slots]
        assert all(table is not None and len(table.hour_s) > 0 for table in held)
        # and answers use that state, without reading it again
        assert total_events(client) == stored
        genders = client.get("/api/v1/analytics/demographics", params={"attribute": "gender"})
        assert genders.status_code == 200 and genders.json()
        assert all(slot.table is table for slot, table in zip(slots, held))
