"""The web dashboard in a real headless Chromium (Debian's `chromium`, driven by Playwright).

A person's path through it: upload a generated file and watch the progress bar reach 100%,
read the quality report, see KPI cards that equal the API's numbers, change filters and see
every card, chart and table follow (and the address carry them), sort, page, export a CSV
that a spreadsheet cannot run, open a person's timeline, read why a file was rejected, give
an API key once per tab. Screenshots of the main views go to docs/screenshots/.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import psycopg
import pytest

from .conftest import missing_browser, screenshot, serve_dashboard

_why = missing_browser()
if _why:
    pytest.skip(_why, allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402

from dwell import auth, synth  # noqa: E402

pytestmark = pytest.mark.integration

KPI_FIELDS = ("unique_visitors", "total_events", "active_cameras", "avg_dwell_s", "median_dwell_s",
              "max_dwell_s", "avg_dwell_per_person_s", "peak_occupancy")


# --- helpers --------------------------------------------------------------------------------


@pytest.fixture
def events_csv(tmp_path: Path) -> Path:
    path = tmp_path / "camera-events.csv"
    synth.write_csv(path, 3000, seed=1, messy=True)
    return path


def wait_overview(page, search: str = "") -> None:
    """Until the overview has loaded everything for the filters in `search`."""
    content = page.locator("#overview-content")
    expect(content).to_have_attribute("data-loaded-for", search)
    expect(content).to_have_attribute("data-state", "ready")


def wait_table(page, kind: str, page_number: int, search: str = "") -> None:
    panel = page.locator("#table-panel")
    expect(panel).to_have_attribute("data-loaded-for", f"{kind}|{page_number}|{search}")
    expect(panel).to_have_attribute("data-state", "ready")


def as_number(text: str | None) -> float | None:
    return None if text in (None, "") else float(text)


def card_values(page) -> dict[str, float | None]:
    raw = page.eval_on_selector_all(
        "[data-kpi]", "els => Object.fromEntries(els.map(e => [e.dataset.kpi, e.dataset.value]))")
    return {name: as_number(value) for name, value in raw.items()}


def assert_cards_match(page, dashboard, params: list[tuple[str, str]]) -> dict:
    kpis = dashboard.get("/api/v1/analytics/kpis", params)
    repeat = dashboard.get("/api/v1/analytics/repeat-visitors", params)
    cards = card_values(page)
    for name in KPI_FIELDS:
        expected = kpis[name]
        assert cards[name] == (None if expected is None else pytest.approx(expected)), name
    assert cards["repeat_rate"] == (None if repeat["repeat_rate"] is None
                                    else pytest.approx(repeat["repeat_rate"]))
    assert cards["sessions"] == kpis["sessions"]["complete"]
    return kpis


def chart_rows(page, name: str) -> list[list[str]]:
    """The numbers table of a chart: [label value, series values...] per row."""
    return page.eval_on_selector_all(
        f'figure[data-chart="{name}"] .chart-table tbody tr',
        "rows => rows.map(r => Array.from(r.children).map(c => c.dataset.value))")


def series(chart: dict, name: str) -> list:
    return next(s["data"] for s in chart["series"] if s["name"] == name)


def query_of(page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def tab_until_focused(page, selector: str, limit: int = 25) -> None:
    """Press Tab until `selector` has the keyboard focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement === document.querySelector(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def read_download(download) -> list[list[str]]:
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


# --- tests ----------------------------------------------------------------------------------


def test_upload_by_keyboard_shows_progress_quality_report_and_kpis_equal_to_the_api(
        dashboard, page, events_csv):
    # Intercept file choosers from the start: enabling it only around the key press races
    # with the press, and the chooser then opens unseen.
    page.on("filechooser", lambda chooser: None)
    page.goto(f"{dashboard.url}/#upload")
    expect(page.locator("#h-upload")).to_be_visible()
    # Record every state of the progress bar while the file is sent and processed.
    page.evaluate("""() => {
        window.progressSeen = [];
        const bar = document.querySelector('#upload-progress');
        new MutationObserver(() => window.progressSeen.push(
            [bar.dataset.phase, Number(bar.getAttribute('aria-valuenow'))]
        )).observe(bar, {attributes: true, attributeFilter: ['aria-valuenow', 'data-phase']});
    }""")

    tab_until_focused(page, "#pick-file")
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Enter")
    chooser.value.set_files(str(events_csv))

    bar = page.locator("#upload-progress")
    expect(bar).to_have_attribute("aria-valuenow", "100", timeout=120_000)
    expect(bar).to_have_attribute("data-phase", "completed")
    expect(page.locator("#up-percent")).to_have_text("100%")
    expect(page.locator("#up-phase")).to_have_text("Completed")
    expect(page.locator("#up-rows")).to_have_text("3,000 rows")
    expect(page.locator("#up-eta")).to_have_text("done")
    seen = page.evaluate("window.progressSeen")
    processing = [value for phase, value in seen if phase != "sending"]
    assert processing == sorted(processing), seen  # never goes backwards once processing
    assert processing[-1] == 100

    upload = dashboard.get("/api/v1/uploads", {"limit": 1})["items"][0]
    quality = upload["quality"]
    assert upload["status"] == "completed" and quality["total_rows"] == 3000
    report = page.locator("#quality")
    expect(report).to_be_visible()
    assert as_number(page.locator("#quality-score").get_attribute("data-value")) == pytest.approx(
        quality["quality_score"])
    expect(page.locator("#quality-score .score-value")).to_have_text(
        f"{quality['quality_score'] * 100:.1f}%")
    issues = report.locator("table.issues tbody tr")
    expect(issues).to_have_count(len(quality["issues"]))
    for name, count in quality["issues"].items():
        expect(issues.filter(has_text=name)).to_contain_text(f"{count:,}")
    for name, samples in quality["samples"].items():
        block = report.locator("details.samples", has_text=name)
        if block.get_attribute("open") is None:
            block.locator("summary").click()
        first = samples[0]
        row = block.locator("tbody tr").first
        expect(row).to_contain_text(str(first["line"]))
        if first.get("value"):
            expect(row).to_contain_text(first["value"])
    detected = report.locator("dl.detected")
    expect(detected).to_contain_text("comma (,)")
    for layout in quality["detected"]["timestamp_layouts"]:
        expect(detected).to_contain_text(layout)
    # The rejected rows, as they were in the file.
    report.get_by_role("button", name="Show rejected rows").click()
    rejected = dashboard.get(f"/api/v1/uploads/{upload['id']}/rejected-rows",
                             {"limit": 50})["items"]
    expect(report.locator(".rejected tbody tr")).to_have_count(len(rejected))
    expect(report.locator(".rejected tbody tr").first).to_contain_text(rejected[0]["raw"])
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "upload-quality")

    page.get_by_role("link", name="See the overview").click()
    wait_overview(page)
    kpis = assert_cards_match(page, dashboard, [("tz", "UTC")])
    expect(page.locator('[data-kpi="unique_visitors"] .kpi-value')).to_have_text(
        f"{kpis['unique_visitors']:,}")
    expect(page.locator('[data-kpi="total_events"] .kpi-value')).to_have_text(
        f"{kpis['total_events']:,}")
    for name in ("visitors", "occupancy", "dwell-histogram", "per-camera", "repeat",
                 "demographics"):
        expect(page.locator(f'figure[data-chart="{name}"]')).to_have_attribute(
            "data-state", "ready")
    visitors = dashboard.get("/api/v1/analytics/charts/visitors", {"interval": "day", "tz": "UTC"})
    rows = chart_rows(page, "visitors")
    assert [r[0] for r in rows] == visitors["labels"]
    assert [int(r[1]) for r in rows] == series(visitors, "unique_visitors")
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "overview")


def test_filters_apply_to_cards_charts_and_tables_and_live_in_the_address(dashboard, page, new_page,
                                                                          events_csv):
    assert dashboard.load(events_csv)["status"] == "completed"
    page.goto(dashboard.url)
    wait_overview(page)
    cameras = [c["camera_id"] for c in dashboard.get("/api/v1/cameras")["items"]]
    assert len(cameras) > 2
    camera = cameras[1]
    before = page.locator('figure[data-chart="per-camera"]').get_attribute("data-version")

    # Cameras: a multi-select; the address, KPI cards and charts follow.
    page.locator("#camera-picker summary").click()
    page.get_by_role("checkbox", name=camera).check()
    wait_overview(page, f"?camera_id={camera}")
    assert query_of(page)["camera_id"] == [camera]
    expect(page.locator("#camera-summary")).to_have_text(camera)
    assert_cards_match(page, dashboard, [("camera_id", camera), ("tz", "UTC")])
    assert card_values(page)["active_cameras"] == 1
    assert page.locator('figure[data-chart="per-camera"]').get_attribute("data-version") != before
    assert [r[0] for r in chart_rows(page, "per-camera")] == [camera]
    filtered = dashboard.get("/api/v1/analytics/charts/visitors",
                             [("camera_id", camera), ("interval", "day"), ("tz", "UTC")])
    assert [int(r[1]) for r in chart_rows(page, "visitors")] == series(filtered, "unique_visitors")

    second = cameras[2]
    page.get_by_role("checkbox", name=second).check()
    wait_overview(page, f"?camera_id={camera}&camera_id={second}")
    assert_cards_match(page, dashboard,
                       [("camera_id", camera), ("camera_id", second), ("tz", "UTC")])
    page.keyboard.press("Escape")

    # Hour / day / week buckets.
    page.get_by_role("button", name="Hour", exact=True).click()
    search = f"?camera_id={camera}&camera_id={second}&interval=hour"
    wait_overview(page, search)
    expect(page.get_by_role("button", name="Hour", exact=True)).to_have_attribute(
        "aria-pressed", "true")
    hourly = dashboard.get("/api/v1/analytics/charts/visitors",
                           [("camera_id", camera), ("camera_id", second), ("interval", "hour"),
                            ("tz", "UTC")])
    rows = chart_rows(page, "visitors")
    assert [r[0] for r in rows] == hourly["labels"]
    assert [int(r[1]) for r in rows] == series(hourly, "unique_visitors")

    # A date range (whole days, end included) in a chosen time zone.
    page.locator("#f-start").fill("2024-03-05")
    page.locator("#f-end").fill("2024-03-06")
    page.locator("#f-tz").select_option("Europe/Berlin")
    search = (f"?start=2024-03-05&end=2024-03-06&camera_id={camera}&camera_id={second}"
              "&tz=Europe%2FBerlin&interval=hour")
    wait_overview(page, search)
    range_params = [("start", "2024-03-04T23:00:00Z"), ("end", "2024-03-06T23:00:00Z"),
                    ("camera_id", camera), ("camera_id", second), ("tz", "Europe/Berlin")]
    kpis = assert_cards_match(page, dashboard, range_params)
    assert 0 < kpis["total_events"]
    hourly = dashboard.get("/api/v1/analytics/charts/visitors",
                           [*range_params, ("interval", "hour")])
    assert [r[0] for r in chart_rows(page, "visitors")] == hourly["labels"]

    # The address alone brings the same view back (a shared link, in another window).
    other = new_page()
    other.goto(page.url)
    wait_overview(other, search)
    assert card_values(other) == card_values(page)
    expect(other.locator("#f-start")).to_have_value("2024-03-05")
    expect(other.locator("#f-end")).to_have_value("2024-03-06")
    expect(other.locator("#f-tz")).to_have_value("Europe/Berlin")
    expect(other.locator("#camera-summary")).to_have_text("2 cameras")
    expect(other.locator(f"#camera-options input[value=\"{second}\"]")).to_be_checked()

    # A person: every card follows, and the tables show only that person.
    first = dashboard.get("/api/v1/sessions", [*range_params, ("limit", 1)])["items"][0]
    person = first["person_id"]
    page.locator("#f-person").fill(person)
    page.locator("#f-person").press("Enter")
    search = search.replace("&tz=", f"&person={person}&tz=")
    wait_overview(page, search)
    assert_cards_match(page, dashboard, [*range_params, ("person_id", person)])
    assert card_values(page)["unique_visitors"] == 1

    page.get_by_role("link", name="Sessions & events").click()
    wait_table(page, "sessions", 1, search)
    expected = dashboard.get("/api/v1/sessions", [*range_params, ("person_id", person)])["items"]
    rows = page.locator("#data-table tbody tr")
    expect(rows).to_have_count(len(expected))
    for index in range(len(expected)):
        expect(rows.nth(index)).to_contain_text(person)

    # Back (browser history) restores the previous filters.
    page.go_back()
    page.go_back()
    assert "person" not in query_of(page)
    expect(page.locator("#f-person")).to_have_value("")

    # Clear filters keeps time zone and buckets.
    page.goto(f"{dashboard.url}/{search}")
    wait_overview(page, search)
    page.get_by_role("button", name="Clear filters").click()
    wait_overview(page, "?tz=Europe%2FBerlin&interval=hour")


def test_tables_sort_page_show_a_timeline_and_export_csv_that_spreadsheets_cannot_run(
        dashboard, page, events_csv, tmp_path):
    assert dashboard.load(events_csv)["status"] == "completed"
    page.goto(f"{dashboard.url}/#tables")
    wait_table(page, "sessions", 1)
    rows = page.locator("#data-table tbody tr")
    expect(rows).to_have_count(50)
    first_page = dashboard.get("/api/v1/sessions", {"limit": 50, "tz": "UTC"})
    expect(rows.first).to_have_attribute("data-id", str(first_page["items"][0]["id"]))

    # Pages: next, then back.
    page.get_by_role("button", name="Next →").click()
    wait_table(page, "sessions", 2)
    second_page = dashboard.get("/api/v1/sessions", {"limit": 50, "tz": "UTC",
                                                      "cursor": first_page["next_cursor"]})
    expect(page.locator("#page-label")).to_contain_text("Page 2")
    expect(rows.first).to_have_attribute("data-id", str(second_page["items"][0]["id"]))

    # Sort the page by dwell; aria-sort says so, and the export follows the order shown.
    dwell = page.locator("#data-table thead th", has=page.locator('button[data-key="dwell_s"]'))
    dwell.get_by_role("button").click()
    expect(dwell).to_have_attribute("aria-sort", "ascending")
    dwell.get_by_role("button").click()
    expect(dwell).to_have_attribute("aria-sort", "descending")
    expect(page.locator("#table-note")).to_contain_text("within this page")
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "tables", full_page=False)
    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    exported = read_download(download.value)
    header, body = exported[0], exported[1:]
    assert header[:6] == ["entry", "exit", "person_id", "camera_id", "status", "dwell_s"]
    assert "age_group" in header and "gender" in header
    assert len(body) == 50
    assert sorted((r[0], r[2], r[3]) for r in body) == sorted(
        (s["entry"], s["person_id"], s["camera_id"]) for s in second_page["items"])
    dwells = [float(r[5]) for r in body if r[5]]
    assert dwells == sorted(dwells, reverse=True)
    assert all(not r[5] for r in body[len(dwells):])  # sessions without dwell last

    # A person's timeline, from the table.
    person = second_page["items"][0]["person_id"]
    page.locator("#data-table tbody button.person-link", has_text=person).first.click()
    dialog = page.locator("#person-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#person-title")).to_have_text(f"Person {person}")
    timeline = dashboard.get(f"/api/v1/persons/{person}", {"tz": "UTC", "limit": 50})
    expect(dialog.locator(".person-facts")).to_contain_text(
        f"Events{timeline['summary']['events']}")
    expect(dialog.locator("table").nth(1).locator("tbody tr")).to_have_count(
        len(timeline["events"]["items"]))
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    # Cells that begin with = + - @ come out as text.
    person = '=HYPERLINK("http://example.invalid")'
    risky = tmp_path / "risky.csv"
    with risky.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "person_id", "camera_id", "event_type", "note"])
        writer.writerow(["2024-03-05T10:00:00Z", person, "CAM-01", "entry", "+SUM(1)"])
        writer.writerow(["2024-03-05T10:05:00Z", person, "CAM-01", "exit", "-2+3"])
        writer.writerow(["2024-03-05T11:00:00Z", person, "@cam", "entry", "@A1"])
        writer.writerow(["2024-03-05T11:09:00Z", person, "@cam", "exit", "plain"])
    assert dashboard.load(risky)["status"] == "completed"
    page.goto(f"{dashboard.url}/?person={quote(person)}#tables")
    page.get_by_role("tab", name="Events").click()
    expect(page.locator("#table-panel")).to_have_attribute(
        "data-loaded-for", re.compile(r"^events\|1\|\?person="))
    expect(page.locator("#table-panel")).to_have_attribute("data-state", "ready")
    expect(rows).to_have_count(4)
    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    exported = read_download(download.value)
    header = exported[0]
    column = {name: header.index(name) for name in ("person_id", "camera_id", "note")}
    for row in exported[1:]:
        assert row[column["person_id"]] == "'" + person
    assert sorted(r[column["note"]] for r in exported[1:]) == ["'+SUM(1)", "'-2+3", "'@A1", "plain"]
    assert sorted(r[column["camera_id"]] for r in exported[1:]) == [
        "'@cam", "'@cam", "CAM-01", "CAM-01"]


def test_rejected_file_shows_its_one_sentence_reason_and_nothing_is_stored(dashboard, page,
                                                                           tmp_path):
    bad = tmp_path / "no-camera.csv"
    bad.write_text("time,person,type\n2024-03-05T10:00:00Z,P1,entry\n")
    page.goto(f"{dashboard.url}/#upload")
    page.locator("#file-input").set_input_files(str(bad))
    error = page.locator("#upload-error")
    expect(error).to_be_visible(timeout=60_000)
    upload = dashboard.get("/api/v1/uploads", {"limit": 1})["items"][0]
    assert upload["status"] == "failed"
    message = upload["error"]["message"]
    assert "camera_id" in message
    expect(page.locator("#reject-reason")).to_have_text(message)
    expect(error).to_contain_text("no-camera.csv was rejected")
    expect(page.locator("#upload-progress")).to_have_attribute("data-phase", "failed")
    expect(page.locator("#quality")).to_be_hidden()

    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    page.locator("#file-input").set_input_files(str(empty))
    expect(page.locator("#reject-reason")).not_to_have_text(message)
    upload = dashboard.get("/api/v1/uploads", {"limit": 1})["items"][0]
    assert upload["filename"] == "empty.csv" and upload["status"] == "failed"
    expect(page.locator("#reject-reason")).to_have_text(upload["error"]["message"])
    expect(page.locator("#recent-body tr")).to_have_count(2)

    # Nothing was stored: the overview says so, and the tables are empty.
    page.get_by_role("link", name="Overview").click()
    wait_overview(page)
    expect(page.locator("#overview-empty")).to_be_visible()
    expect(page.locator("#overview-empty")).to_contain_text("No data yet — upload a CSV")
    page.get_by_role("link", name="Sessions & events").click()
    wait_table(page, "sessions", 1)
    expect(page.locator("#table-status")).to_have_text("No sessions yet — upload a CSV.")
    expect(page.get_by_role("button", name="Export CSV")).to_be_disabled()


def test_text_from_data_is_shown_as_text_and_never_becomes_markup(dashboard, page, tmp_path):
    camera = '<img src=x id="from-data">'
    person = "<b>P1"
    path = tmp_path / "markup.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "person_id", "camera_id", "event_type", "zone"])
        writer.writerow(["2024-03-05T10:00:00Z", person, camera, "entry", "<i>hall</i>"])
        writer.writerow(["2024-03-05T10:05:00Z", person, camera, "exit", "<i>hall</i>"])
    assert dashboard.load(path)["status"] == "completed"

    page.goto(dashboard.url)
    wait_overview(page)
    chart = page.locator('figure[data-chart="per-camera"] .chart')
    chart.hover()
    tooltip = chart.locator("div", has_text="Events").last
    expect(tooltip).to_contain_text(camera)  # the tooltip names the camera, as text
    expect(page.locator('figure[data-chart="per-camera"] th[scope="row"]')).to_have_text(camera)
    page.locator("#camera-picker summary").click()
    expect(page.locator("#camera-options label")).to_contain_text(camera)
    page.keyboard.press("Escape")

    page.get_by_role("link", name="Sessions & events").click()
    wait_table(page, "sessions", 1)
    expect(page.locator("#data-table tbody")).to_contain_text(person)
    expect(page.locator("#data-table tbody")).to_contain_text("<i>hall</i>")
    page.locator("#data-table button.person-link").first.click()
    expect(page.locator("#person-title")).to_have_text(f"Person {person}")
    expect(page.locator("#person-body")).to_contain_text(camera)
    found = page.eval_on_selector_all("#from-data, main b, main i, dialog b",
                                      "els => els.map(e => e.outerHTML.slice(0, 200))")
    assert found == []


def test_loading_states_show_until_the_answers_arrive(dashboard, page, events_csv):
    dashboard.load(events_csv)
    held = []
    page.route("**/api/v1/analytics/kpis*", lambda route: held.append(route))
    page.goto(dashboard.url)
    expect(page.locator("#kpis")).to_have_attribute("aria-busy", "true")
    expect(page.locator("#kpis")).to_have_class(re.compile(r"\bis-loading\b"))
    expect(page.locator('figure[data-chart="visitors"]')).to_have_attribute("data-state", "ready")
    assert len(held) == 1
    held[0].continue_()
    wait_overview(page)
    expect(page.locator("#kpis")).to_have_attribute("aria-busy", "false")
    page.unroute("**/api/v1/analytics/kpis*")


def test_api_key_is_asked_once_and_kept_for_the_tab(clean_database_url, tmp_path, new_page,
                                                    events_csv):
    with psycopg.connect(clean_database_url, autocommit=True) as conn:
        _, secret = auth.create_key(conn, "uploader")
    with serve_dashboard(clean_database_url, tmp_path, key=secret) as dashboard:
        page = new_page()
        page.goto(f"{dashboard.url}/#upload")
        dialog = page.locator("#key-dialog")
        expect(dialog).to_be_visible()
        expect(page.locator("#key-message")).to_contain_text("API key")
        page.locator("#key-input").fill("not-a-key")
        page.locator("#key-input").press("Enter")
        expect(page.locator("#key-message")).to_contain_text("not accepted")
        expect(dialog).to_be_visible()
        page.locator("#key-input").fill(secret)
        page.get_by_role("button", name="Use this key").click()
        expect(dialog).to_be_hidden()
        expect(page.locator("#recent-empty")).to_be_visible()

        page.locator("#file-input").set_input_files(str(events_csv))
        expect(page.locator("#upload-progress")).to_have_attribute("aria-valuenow", "100",
                                                                    timeout=120_000)
        page.get_by_role("link", name="See the overview").click()
        wait_overview(page)
        assert_cards_match(page, dashboard, [("tz", "UTC")])

        # Kept for the tab: a reload does not ask again.
        page.reload()
        wait_overview(page)
        expect(dialog).to_be_hidden()
        assert card_values(page)["total_events"] > 0

        # Another window asks again; cancelling leaves a clear message, not a broken page.
        other = new_page()
        other.goto(dashboard.url)
        expect(other.locator("#key-dialog")).to_be_visible()
        other.get_by_role("button", name="Cancel").click()
        expect(other.locator("#notice")).to_contain_text("An API key is needed")
        expect(other.locator("#notice-key")).to_be_visible()


@pytest.mark.parametrize("width,height", [(1280, 800), (2560, 1440)])
def test_readable_on_a_laptop_and_a_wall_screen(dashboard, new_page, events_csv, width, height):
    dashboard.load(events_csv)
    page = new_page(width, height)
    page.goto(dashboard.url)
    wait_overview(page)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px at {width}px"
    columns = page.evaluate(
        "getComputedStyle(document.querySelector('#kpis')).gridTemplateColumns.split(' ').length")
    assert columns == 5
    font = page.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)")
    assert font >= 15
    if width >= 2200:
        assert font >= 19  # larger type on a wall screen
    charts = page.evaluate("""Array.from(document.querySelectorAll('figure[data-chart] canvas'))
        .map(c => c.getBoundingClientRect().width)""")
    assert len(charts) == 6 and all(w > 250 for w in charts)
    # The camera picker, the person search and the interval buttons are reachable by keyboard.
    page.locator("#f-person").focus()
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.closest('#camera-picker') !== null")
    page.keyboard.press("Enter")
    expect(page.locator("#camera-picker")).to_have_attribute("open", "")
    page.keyboard.press("Escape")
    expect(page.locator("#camera-picker")).not_to_have_attribute("open", "")
