"""Fixtures for the dashboard tests: Debian's Chromium driven by Playwright, the app on a live
port with the dashboard mounted, and helpers that talk to the same API over HTTP.

Nothing here imports Playwright at import time, so a machine without it collects the tests
and skips them with the reason (see `missing_browser`).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
TIMEOUT_MS = 30_000


def chromium_path() -> str | None:
    """Debian's Chromium (`apt-get install chromium`); `DWELL_CHROMIUM` names another one."""
    for candidate in (os.environ.get("DWELL_CHROMIUM"), "/usr/bin/chromium",
                      shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if chromium_path() is None:
        return "browser tests skipped: Debian chromium not installed (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return ("browser tests skipped: the playwright package is missing "
                "(pip install -e '.[test]')")
    return None


class Dashboard:
    """The running app: its URL and an HTTP client for the API behind the page."""

    def __init__(self, live: Any, key: str | None = None) -> None:
        self.live = live
        self.url = live.url
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.http = httpx.Client(base_url=live.url, timeout=60, headers=headers)

    def get(self, path: str, params: Any = None) -> Any:
        response = self.http.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def load(self, path: Path, timeout_s: float = 120) -> dict:
        """Upload a file through the API and wait until it is processed."""
        with path.open("rb") as handle:
            answer = self.http.post("/api/v1/uploads",
                                    files={"file": (path.name, handle, "text/csv")})
        assert answer.status_code in (200, 202), answer.text
        upload_id = answer.json()["id"]
        deadline = time.monotonic() + timeout_s
        while True:
            upload = self.get(f"/api/v1/uploads/{upload_id}")
            if upload["status"] in ("completed", "failed"):
                return upload
            if time.monotonic() > deadline:
                raise AssertionError(f"upload {upload_id} not done after {timeout_s} s: {upload}")
            time.sleep(0.05)


@contextmanager
def serve_dashboard(database_url: str, tmp_path: Path,
                    key: str | None = None) -> Iterator[Dashboard]:
    """The app (API + dashboard) on a free loopback port, upload workers inside."""
    from conftest import serve_app  # the suite's LiveServer (tests/conftest.py)

    from dwell.web import routes as web

    live = serve_app(database_url, data_dir=tmp_path, upload_dir=tmp_path / "uploads")
    web.mount(live.server.config.app)  # a no-op once create_app mounts the dashboard itself
    with live:
        dashboard = Dashboard(live, key)
        try:
            yield dashboard
        finally:
            dashboard.http.close()


@pytest.fixture
def dashboard(clean_database_url: str, tmp_path: Path) -> Iterator[Dashboard]:
    with serve_dashboard(clean_database_url, tmp_path) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium per module. Not per session: Playwright's sync API keeps an event loop
    running in this thread while it is started, and later tests call asyncio.run()."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Any]:
    """A factory of pages in fresh browser contexts (own storage: a new tab of a new window).

    Uncaught script errors on any page fail the test."""
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    contexts, errors = [], []

    def make(width: int = 1440, height: int = 900) -> Any:
        context = browser.new_context(
            viewport={"width": width, "height": height}, locale="en-US", timezone_id="UTC",
            reduced_motion="reduce", accept_downloads=True)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        return page

    yield make
    for context in contexts:
        context.close()
    assert not errors, f"script errors in the page: {errors}"


@pytest.fixture
def page(new_page: Any) -> Any:
    return new_page()


def screenshot(page: Any, name: str, *, full_page: bool = True) -> Path:
    """Write docs/screenshots/<name>.png (the README shows these)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    return path
