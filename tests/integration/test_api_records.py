"""The raw-data endpoints through real HTTP: exact items, filters, a person's timeline, and
keyset pagination that never skips or repeats a row, even while uploads land between pages."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from pathlib import Path

import httpx
import psycopg
from hypothesis import given, settings
from hypothesis import strategies as st

from dwell.analytics.filters import Filters
from dwell.ingest.pipeline import ingest_file
from dwell.store import records

HEADER = "timestamp,person_id,camera_id,event_type,age_group\n"

# line: 2 .. 10 (the header is line 1); event ids follow the lines.
SMALL_FILE = [
    "2024-03-04T09:00:00Z,p1,camA,entry,adult",       # id 1  p1@camA opens
    "2024-03-04T09:05:00Z,p2,camA,in,teen",           # id 2  p2@camA opens, never closes
    "2024-03-04T09:10:00Z,p1,camA,exit,adult",        # id 3  p1@camA complete, 600 s
    "2024-03-04T09:30:00.250Z,p2,camB,exit,teen",     # id 4  orphan exit
    "2024-03-05T23:30:00Z,p1,camB,entry,adult",       # id 5  p1@camB opens
    "2024-03-06T00:15:00Z,p1,camB,exit,adult",        # id 6  p1@camB complete, 2700 s
    "2024-03-06T12:00:00Z,p1,camA,wave,adult",        # id 7  other
    "2024-03-06T13:00:00Z,p3,camC,entry,",            # id 8  p3@camC open, no age_group
    "2024-03-04T09:05:00Z,p3,camA,entry,senior",      # id 9  same instant as id 2
]


def load(conn: psycopg.Connection, tmp_path: Path, rows: list[str], name: str) -> int:
    """Write `rows` as a CSV file and upload it; returns the upload id."""
    path = tmp_path / name
    path.write_text(HEADER + "".join(row + "\n" for row in rows), encoding="utf-8")
    return ingest_file(conn, path).upload_id


def get(client: httpx.Client, path: str, **params) -> dict:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def walk(client: httpx.Client, path: str, limit: int, **params) -> list[dict]:
    """Every item of a listing, following next_cursor page by page."""
    items: list[dict] = []
    cursor = None
    for _ in range(10_000):
        page = get(client, path, limit=limit, **params, **({"cursor": cursor} if cursor else {}))
        assert len(page["items"]) <= limit
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
        assert len(page["items"]) == limit
    raise AssertionError("the listing never ended")


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def ids(items: list[dict]) -> list[int]:
    return [item["id"] for item in items]


def error_parameter(response: httpx.Response) -> str:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"]["kind"] == "invalid_parameter"
    return body["error"]["parameter"]


# ------------------------------------------------------------------------------------------
# exact items and filters


def test_events_list_every_stored_field_in_time_then_id_order(api, conn, tmp_path):
    upload = load(conn, tmp_path, SMALL_FILE, "small.csv")
    with httpx.Client(base_url=api.url) as client:
        sessions = get(client, "/api/v1/sessions")["items"]
        session = {(s["person_id"], s["camera_id"]): s["id"] for s in sessions}
        page = get(client, "/api/v1/events")

    def event(id_, ts, person, camera, kind, raw, session_id, dwell, line, age):
        return {"id": id_, "ts": ts, "person_id": person, "camera_id": camera, "event_type": kind,
                "raw_event_type": raw, "session_id": session_id, "dwell_s": dwell,
                "upload_id": upload, "line": line, "attributes": {"age_group": age}}

    assert page == {"next_cursor": None, "items": [
        event(1, "2024-03-04T09:00:00Z", "p1", "camA", "entry", "entry", session["p1", "camA"],
              600.0, 2, "adult"),
        event(2, "2024-03-04T09:05:00Z", "p2", "camA", "entry", "in", session["p2", "camA"],
              None, 3, "teen"),
        event(9, "2024-03-04T09:05:00Z", "p3", "camA", "entry", "entry", session["p3", "camA"],
              None, 10, "senior"),
        event(3, "2024-03-04T09:10:00Z", "p1", "camA", "exit", "exit", session["p1", "camA"],
              600.0, 4, "adult"),
        event(4, "2024-03-04T09:30:00.250Z", "p2", "camB", "exit", "exit", None, None, 5, "teen"),
        event(5, "2024-03-05T23:30:00Z", "p1", "camB", "entry", "entry", session["p1", "camB"],
              2700.0, 6, "adult"),
        event(6, "2024-03-06T00:15:00Z", "p1", "camB", "exit", "exit", session["p1", "camB"],
              2700.0, 7, "adult"),
        event(7, "2024-03-06T12:00:00Z", "p1", "camA", "other", "wave", None, None, 8, "adult"),
        event(8, "2024-03-06T13:00:00Z", "p3", "camC", "entry", "entry", session["p3", "camC"],
              None, 9, None),
    ]}


def test_sessions_list_by_entry_time_with_status_and_dwell(api, conn, tmp_path):
    load(conn, tmp_path, SMALL_FILE, "small.csv")
    with httpx.Client(base_url=api.url) as client:
        page = get(client, "/api/v1/sessions")
    assert page["next_cursor"] is None
    items = page["items"]
    assert len(set(ids(items))) == 5
    # Two sessions open at the same instant keep id order.
    assert ids(items)[1] < ids(items)[2]
    assert [{k: v for k, v in item.items() if k != "id"} for item in items] == [
        {"person_id": "p1", "camera_id": "camA", "entry": "2024-03-04T09:00:00Z",
         "exit": "2024-03-04T09:10:00Z", "status": "complete", "dwell_s": 600.0,
         "attributes": {"age_group": "adult"}},
        {"person_id": "p2", "camera_id": "camA", "entry": "2024-03-04T09:05:00Z", "exit": None,
         "status": "open", "dwell_s": None, "attributes": {"age_group": "teen"}},
        {"person_id": "p3", "camera_id": "camA", "entry": "2024-03-04T09:05:00Z", "exit": None,
         "status": "open", "dwell_s": None, "attributes": {"age_group": "senior"}},
        {"person_id": "p1", "camera_id": "camB", "entry": "2024-03-05T23:30:00Z",
         "exit": "2024-03-06T00:15:00Z", "status": "complete", "dwell_s": 2700.0,
         "attributes": {"age_group": "adult"}},
        {"person_id": "p3", "camera_id": "camC", "entry": "2024-03-06T13:00:00Z", "exit": None,
         "status": "open", "dwell_s": None, "attributes": {"age_group": None}},
    ]


def test_cameras_list_every_camera_with_its_activity(api, conn, tmp_path):
    load(conn, tmp_path, SMALL_FILE, "small.csv")
    with httpx.Client(base_url=api.url) as client:
        page = get(client, "/api/v1/cameras")
    assert page == {"next_cursor": None, "items": [
        {"camera_id": "camA", "first_seen": "2024-03-04T09:00:00Z",
         "last_seen": "2024-03-06T12:00:00Z", "events": 5, "unique_visitors": 3, "sessions": 3},
        {"camera_id": "camB", "first_seen": "2024-03-04T09:30:00.250Z",
         "last_seen": "2024-03-06T00:15:00Z", "events": 3, "unique_visitors": 2, "sessions": 1},
        {"camera_id": "camC", "first_seen": "2024-03-06T13:00:00Z",
         "last_seen": "2024-03-06T13:00:00Z", "events": 1, "unique_visitors": 1, "sessions": 1},
    ]}


def test_cameras_answer_follows_a_new_upload(api, conn, tmp_path):
    load(conn, tmp_path, SMALL_FILE, "small.csv")
    with httpx.Client(base_url=api.url) as client:
        assert len(get(client, "/api/v1/cameras")["items"]) == 3
        load(conn, tmp_path, ["2024-03-07T10:00:00Z,p9,camD,entry,adult"], "more.csv")
        after = get(client, "/api/v1/cameras")["items"]
    assert [item["camera_id"] for item in after] == ["camA", "camB", "camC", "camD"]


def test_event_filters_select_by_time_camera_person_type_and_upload(api, conn, tmp_path):
    first = load(conn, tmp_path, SMALL_FILE, "small.csv")
    second = load(conn, tmp_path, ["2024-03-04T09:20:00Z,p4,camB,entry,teen",
                                   "2024-03-04T09:40:00Z,p4,camB,out,teen"], "second.csv")
    with httpx.Client(base_url=api.url) as client:
        def event_ids(**params) -> list[int]:
            return ids(get(client, "/api/v1/events", **params)["items"])

        # Half-open: the event at `start` is in, the one at `end` is out.
        assert event_ids(start="2024-03-04T09:05:00Z", end="2024-03-06T00:15:00Z") == \
            [2, 9, 3, 10, 4, 11, 5]
        # A naive instant is UTC; an offset is honoured.
        assert event_ids(start="2024-03-06T12:00:00") == [7, 8]
        assert event_ids(end="2024-03-04T10:05:00+01:00") == [1]
        assert event_ids(camera_id=["camB", "camC"]) == [10, 4, 11, 5, 6, 8]
        assert event_ids(person_id=["p2", "p3"]) == [2, 9, 4, 8]
        assert event_ids(person_id="p1", camera_id="camB") == [5, 6]
        assert event_ids(event_type="other") == [7]
        assert event_ids(event_type="exit") == [3, 4, 11, 6]
        assert event_ids(event_type="exit", camera_id="camB", end="2024-03-05T00:00:00Z") == [4, 11]
        assert event_ids(upload_id=second) == [10, 11]
        assert event_ids(upload_id=first, start="2024-03-06T00:00:00Z") == [6, 7, 8]
        assert event_ids(upload_id=999) == []
        assert event_ids(camera_id="nowhere") == []
        assert error_parameter(client.get("/api/v1/events", params={"event_type": "enter"})) \
            == "event_type"
        assert error_parameter(client.get("/api/v1/events", params={"upload_id": "x"})) \
            == "upload_id"
        assert error_parameter(client.get("/api/v1/events", params={
            "start": "2024-03-05T00:00:00Z", "end": "2024-03-04T00:00:00Z"})) == "end"


def test_session_filters_use_the_entry_time_and_status(api, conn, tmp_path):
    load(conn, tmp_path, SMALL_FILE, "small.csv")
    with httpx.Client(base_url=api.url) as client:
        def entries(**params) -> list[tuple[str, str]]:
            return [(s["person_id"], s["camera_id"])
                    for s in get(client, "/api/v1/sessions", **params)["items"]]

        # p1@camB entered before midnight and left after it: it belongs to its entry day.
        assert entries(start="2024-03-06T00:00:00Z") == [("p3", "camC")]
        assert entries(end="2024-03-06T00:00:00Z") == [
            ("p1", "camA"), ("p2", "camA"), ("p3", "camA"), ("p1", "camB")]
        assert entries(start="2024-03-04T09:05:00Z", end="2024-03-05T23:30:00Z") == [
            ("p2", "camA"), ("p3", "camA")]
        assert entries(status="complete") == [("p1", "camA"), ("p1", "camB")]
        assert entries(status="open", camera_id="camA") == [("p2", "camA"), ("p3", "camA")]
        assert entries(status="missing_exit") == []
        assert entries(person_id=["p3"]) == [("p3", "camA"), ("p3", "camC")]
        assert error_parameter(client.get("/api/v1/sessions", params={"status": "closed"})) \
            == "status"


# ------------------------------------------------------------------------------------------
# a person's timeline


def test_a_person_timeline_has_hand_computed_summary_events_and_sessions(api, conn, tmp_path):
    load(conn, tmp_path, SMALL_FILE, "small.csv")
    with httpx.Client(base_url=api.url) as client:
        timeline = get(client, "/api/v1/persons/p1")
        tokyo = get(client, "/api/v1/persons/p1", tz="Asia/Tokyo")
        late = get(client, "/api/v1/persons/p1", start="2024-03-05T00:00:00Z")
        nowhere = get(client, "/api/v1/persons/p1", camera_id="camC")

    assert timeline["person_id"] == "p1"
    assert timeline["summary"] == {
        "first_seen": "2024-03-04T09:00:00Z", "last_seen": "2024-03-06T12:00:00Z",
        "events": 5, "cameras": ["camA", "camB"],
        "visits": 3,                       # 4, 5 and 6 March in UTC
        "complete_sessions": 2, "total_dwell_s": 3300.0, "avg_dwell_s": 1650.0,
    }
    assert ids(timeline["events"]["items"]) == [1, 3, 5, 6, 7]
    assert timeline["events"]["next_cursor"] is None
    assert [(s["camera_id"], s["dwell_s"]) for s in timeline["sessions"]["items"]] == [
        ("camA", 600.0), ("camB", 2700.0)]
    assert timeline["sessions"]["next_cursor"] is None
    # In Tokyo (UTC+9) 23:30 on the 5th and 12:00 on the 6th are both the 6th.
    assert tokyo["summary"]["visits"] == 2
    assert late["summary"] == {
        "first_seen": "2024-03-05T23:30:00Z", "last_seen": "2024-03-06T12:00:00Z",
        "events": 3, "cameras": ["camA", "camB"], "visits": 2,
        "complete_sessions": 1, "total_dwell_s": 2700.0, "avg_dwell_s": 2700.0,
    }
    # Known person, nothing in the filters: an empty timeline, not a 404.
    assert nowhere["summary"] == {
        "first_seen": None, "last_seen": None, "events": 0, "cameras": [], "visits": 0,
        "complete_sessions": 0, "total_dwell_s": None, "avg_dwell_s": None}
    assert nowhere["events"] == {"items": [], "next_cursor": None}
    assert nowhere["sessions"] == {"items": [], "next_cursor": None}


def test_a_person_timeline_pages_its_events_and_sessions(api, conn, tmp_path):
    load(conn, tmp_path, SMALL_FILE, "small.csv")
    with httpx.Client(base_url=api.url) as client:
        first = get(client, "/api/v1/persons/p1", limit=2)
        assert ids(first["events"]["items"]) == [1, 3]
        assert len(first["sessions"]["items"]) == 2 and first["sessions"]["next_cursor"] is None
        second = get(client, "/api/v1/persons/p1", limit=2,
                     events_cursor=first["events"]["next_cursor"])
        assert ids(second["events"]["items"]) == [5, 6]
        third = get(client, "/api/v1/persons/p1", limit=2,
                    events_cursor=second["events"]["next_cursor"])
        assert ids(third["events"]["items"]) == [7]
        assert third["events"]["next_cursor"] is None
        assert third["summary"] == first["summary"]
        one = get(client, "/api/v1/persons/p1", limit=1)
        more = get(client, "/api/v1/persons/p1", limit=1,
                   sessions_cursor=one["sessions"]["next_cursor"])
        assert [s["camera_id"] for s in one["sessions"]["items"]] == ["camA"]
        assert [s["camera_id"] for s in more["sessions"]["items"]] == ["camB"]
        assert more["sessions"]["next_cursor"] is None
        # The person's event cursor continues the event listing filtered to the person.
        listing = get(client, "/api/v1/events", person_id="p1", limit=2,
                      cursor=first["events"]["next_cursor"])
        assert ids(listing["items"]) == [5, 6]


def test_an_unknown_person_is_a_404_with_the_error_shape(api, conn, tmp_path):
    load(conn, tmp_path, SMALL_FILE, "small.csv")
    with httpx.Client(base_url=api.url) as client:
        response = client.get("/api/v1/persons/nobody")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["kind"] == "not_found" and error["parameter"] == "person_id"
    assert "nobody" in error["message"]


# ------------------------------------------------------------------------------------------
# pagination


def busy_rows() -> list[str]:
    """45 events on 9 cameras by 10 persons, three at each instant (ties cut by id)."""
    rows = []
    for i in range(45):
        minute = i // 3
        kind = "entry" if (i // 10) % 2 == 0 else "exit"
        rows.append(f"2024-03-04T10:{minute:02d}:00Z,p{i % 10},cam{i % 9},{kind},adult")
    return rows


def test_pagination_walks_every_row_exactly_once_for_any_limit(api, conn, tmp_path):
    load(conn, tmp_path, busy_rows(), "busy.csv")
    all_events = [row[0] for row in conn.execute("SELECT id FROM camera_events ORDER BY ts, id")]
    all_sessions = [row[0] for row in
                    conn.execute("SELECT id FROM person_sessions ORDER BY entry_ts, id")]
    cameras = [f"cam{i}" for i in range(9)]
    assert len(all_events) == 45 and len(all_sessions) > 7

    with httpx.Client(base_url=api.url) as client:
        @settings(max_examples=12, deadline=None, derandomize=True)
        @given(limit=st.integers(min_value=1, max_value=7))
        def check(limit: int) -> None:
            assert ids(walk(client, "/api/v1/events", limit)) == all_events
            assert ids(walk(client, "/api/v1/sessions", limit)) == all_sessions
            assert [c["camera_id"] for c in walk(client, "/api/v1/cameras", limit)] == cameras
            filtered = walk(client, "/api/v1/events", limit, camera_id=["cam1", "cam2"],
                            start="2024-03-04T10:02:00Z")
            assert ids(filtered) == [row[0] for row in conn.execute(
                "SELECT id FROM camera_events WHERE camera_id IN ('cam1', 'cam2')"
                " AND ts >= '2024-03-04T10:02:00Z' ORDER BY ts, id")]

        check()
        # One row per page, and a page size that ends exactly on the last row.
        assert ids(walk(client, "/api/v1/events", 45)) == all_events
        assert ids(walk(client, "/api/v1/events", 1000)) == all_events


def test_pages_never_skip_or_repeat_rows_while_uploads_land_between_requests(api, conn, tmp_path):
    original_rows = [f"2024-03-04T10:{minute:02d}:00Z,p{minute},cam{minute % 3},entry,adult"
                     for minute in range(0, 60, 3)]
    load(conn, tmp_path, original_rows, "first.csv")
    original = {row[0] for row in conn.execute("SELECT id FROM camera_events")}

    seen: list[dict] = []
    must_appear: set[int] = set()
    must_not_appear: set[int] = set()
    with httpx.Client(base_url=api.url) as client:
        cursor = None
        for upload in range(100):
            page = get(client, "/api/v1/events", limit=4, **({"cursor": cursor} if cursor else {}))
            seen += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
            last = seen[-1]
            last_ts = instant(last["ts"])
            # Between two pages: one event before the cursor, one at the cursor's very instant
            # (a later id, so after it), one in the unread part, one after everything.
            new_rows = [
                f"2024-03-04T09:{upload:02d}:30Z,early{upload},camE,entry,adult",
                f"{last['ts']},tie{upload},camT,entry,adult",
                f"{(last_ts.replace(second=30)).isoformat()},mid{upload},camM,entry,adult",
                f"2024-03-04T12:{upload:02d}:00Z,late{upload},camL,entry,adult",
            ]
            upload_id = load(conn, tmp_path, new_rows, f"between{upload}.csv")
            for person, id_ in conn.execute(
                    "SELECT person_id, id FROM camera_events WHERE upload_id = %s", (upload_id,)):
                (must_not_appear if person.startswith("early") else must_appear).add(id_)
        else:
            raise AssertionError("the walk never ended")

    seen_ids = ids(seen)
    assert len(seen_ids) == len(set(seen_ids)), "a row was repeated"
    assert original <= set(seen_ids), "a row that existed before the first page was skipped"
    assert must_appear <= set(seen_ids), "a row added after the cursor was skipped"
    assert not must_not_appear & set(seen_ids)
    keys = [(instant(item["ts"]), item["id"]) for item in seen]
    assert keys == sorted(keys) and len(must_appear) > 8


# ------------------------------------------------------------------------------------------
# bad parameters


def test_a_bad_limit_is_a_422_naming_limit(api):
    with httpx.Client(base_url=api.url) as client:
        for path in ("/api/v1/events", "/api/v1/sessions", "/api/v1/cameras",
                     "/api/v1/persons/p1"):
            for limit in ("0", "-3", "1001", "ten", "2.5"):
                assert error_parameter(client.get(path, params={"limit": limit})) == "limit"
        assert get(client, "/api/v1/events", limit=1000) == {"items": [], "next_cursor": None}


def test_a_garbled_or_tampered_cursor_is_a_422_naming_the_cursor(api, conn, tmp_path):
    load(conn, tmp_path, SMALL_FILE, "small.csv")
    with httpx.Client(base_url=api.url) as client:
        events_cursor = get(client, "/api/v1/events", limit=2)["next_cursor"]
        sessions_cursor = get(client, "/api/v1/sessions", limit=2)["next_cursor"]
        cameras_cursor = get(client, "/api/v1/cameras", limit=1)["next_cursor"]
        body = json.loads(base64.urlsafe_b64decode(events_cursor + "=" * (-len(events_cursor) % 4)))
        body["v"][1] += 1
        edited = base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")
        garbage = ["not a cursor!", "%%%", "e30", events_cursor[:-3],
                   base64.urlsafe_b64encode(b"\xff\xfe").decode(),
                   base64.urlsafe_b64encode(b'{"k": "events", "v": ["x", 1]}').decode(),
                   edited]
        for cursor in garbage:
            assert error_parameter(client.get("/api/v1/events", params={"cursor": cursor})) \
                == "cursor", cursor
        # A cursor of one listing is no cursor of another.
        assert error_parameter(client.get("/api/v1/events", params={"cursor": sessions_cursor})) \
            == "cursor"
        assert error_parameter(client.get("/api/v1/sessions", params={"cursor": events_cursor})) \
            == "cursor"
        assert error_parameter(client.get("/api/v1/cameras", params={"cursor": events_cursor})) \
            == "cursor"
        assert error_parameter(client.get("/api/v1/cameras", params={"cursor": "e30"})) == "cursor"
        assert error_parameter(client.get("/api/v1/sessions", params={"cursor": edited})) \
            == "cursor"
        assert error_parameter(client.get("/api/v1/persons/p1", params={
            "events_cursor": "garbled"})) == "events_cursor"
        assert error_parameter(client.get("/api/v1/persons/p1", params={
            "sessions_cursor": events_cursor})) == "sessions_cursor"
        # The genuine ones still work.
        assert get(client, "/api/v1/cameras", limit=1, cursor=cameras_cursor)["items"][0][
            "camera_id"] == "camB"


def test_openapi_documents_the_record_items(api):
    with httpx.Client(base_url=api.url) as client:
        document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    for name in ("EventRecord", "SessionRecord", "CameraRecord", "PersonTimeline"):
        assert name in schemas
    assert "dwell_s" in schemas["EventRecord"]["properties"]
    events = document["paths"]["/api/v1/events"]["get"]
    assert "records" in events["tags"]
    assert {p["name"] for p in events["parameters"]} >= {
        "start", "end", "camera_id", "person_id", "event_type", "upload_id", "limit", "cursor"}


def test_the_cli_session_list_speaks_iso_utc(conn, tmp_path):
    load(conn, tmp_path, SMALL_FILE, "small.csv")
    listed = records.all_sessions(conn, Filters(person_ids=("p1",)))
    assert [(s["camera_id"], s["entry"], s["exit"], s["dwell_s"]) for s in listed] == [
        ("camA", "2024-03-04T09:00:00Z", "2024-03-04T09:10:00Z", 600.0),
        ("camB", "2024-03-05T23:30:00Z", "2024-03-06T00:15:00Z", 2700.0)]


def test_a_person_id_with_a_slash_has_a_timeline(api, conn, tmp_path):
    load(conn, tmp_path, ["2024-03-04T10:00:00Z,gate/7,cam1,entry,adult",
                          "2024-03-04T10:05:00Z,gate/7,cam1,exit,adult"], "slash.csv")
    with httpx.Client(base_url=api.url) as client:
        timeline = client.get("/api/v1/persons/gate%2F7")
        assert timeline.status_code == 200
        assert timeline.json()["person_id"] == "gate/7"
        assert timeline.json()["summary"]["events"] == 2
