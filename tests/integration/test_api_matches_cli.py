"""The API and `dwell analyze --json` call one implementation: for the same file, every
analytics endpoint answers exactly what the CLI report says."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from test_api_uploads import analyze_json, wait_until_done

from dwell.synth import write_csv

TZ = "Europe/Berlin"


@pytest.fixture
def uploaded(api, clean_database_url, tmp_path):
    """A messy generated file, uploaded through the API and processed to completion."""
    path = tmp_path / "events.csv"
    write_csv(path, 3000, seed=11, messy=True, days=5, cameras=3)
    client = httpx.Client(base_url=api.url, timeout=60)
    with path.open("rb") as handle:
        response = client.post("/api/v1/uploads", files={"file": ("events.csv", handle)})
    assert response.status_code == 202
    upload = wait_until_done(client, response.json()["id"])
    assert upload["status"] == "completed"
    yield client, path, upload
    client.close()


def test_every_analytics_endpoint_equals_the_cli_report(uploaded, clean_database_url):
    client, path, upload = uploaded
    cli = analyze_json(clean_database_url, Path(path))
    for params in ({}, {"tz": TZ}):
        if params:
            cli = _analyze_tz(clean_database_url, path)
        get = lambda route, **extra: client.get(f"/api/v1/analytics/{route}",  # noqa: E731
                                                params={**params, **extra}).json()
        assert get("kpis") == cli["kpis"]
        assert get("timeseries", interval="hour") == cli["hourly"]
        assert get("timeseries", interval="day") == cli["daily"]
        assert get("repeat-visitors") == cli["repeat"]
        assert get("per-camera") == cli["per_camera"]
        report = get("report")
        assert {k: report[k] for k in ("kpis", "hourly", "daily", "repeat", "per_camera")} == {
            k: cli[k] for k in ("kpis", "hourly", "daily", "repeat", "per_camera")}
    assert upload["quality"] == cli["quality"] | {"file": upload["quality"]["file"]}


def _analyze_tz(database_url: str, path: Path) -> dict:
    import os
    import subprocess
    import sys

    from dwell.store.server import with_dbname

    env = {**os.environ, "DATABASE_URL": with_dbname(database_url, "postgres")}
    command = [str(Path(sys.executable).parent / "dwell"), "analyze", str(path), "--json",
               "--tz", TZ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    import json

    return json.loads(done.stdout)


def test_charts_are_the_analytics_numbers_in_chart_form(uploaded):
    client, _, _ = uploaded
    daily = client.get("/api/v1/analytics/timeseries", params={"interval": "day"}).json()
    visitors = client.get("/api/v1/analytics/charts/visitors", params={"interval": "day"}).json()
    assert visitors["labels"] == [b["bucket"] for b in daily]
    series = {s["name"]: s["data"] for s in visitors["series"]}
    assert series["unique_visitors"] == [b["unique_visitors"] for b in daily]

    kpis = client.get("/api/v1/analytics/kpis").json()
    histogram = client.get("/api/v1/analytics/charts/dwell-histogram").json()
    assert sum(histogram["series"][0]["data"]) == kpis["sessions"]["complete"]
    assert len(histogram["labels"]) == len(histogram["series"][0]["data"])

    cameras = client.get("/api/v1/analytics/charts/per-camera").json()
    per_camera = client.get("/api/v1/analytics/per-camera").json()
    assert cameras["labels"] == list(per_camera)
    assert {s["name"]: s["data"] for s in cameras["series"]}["events"] == [
        v["events"] for v in per_camera.values()]

    demographics = client.get("/api/v1/analytics/charts/demographics",
                              params={"attribute": "gender"}).json()
    groups = client.get("/api/v1/analytics/demographics", params={"attribute": "gender"}).json()
    assert demographics["labels"] == [g["group"] for g in groups]

    repeat = client.get("/api/v1/analytics/charts/repeat").json()
    assert sum(repeat["series"][0]["data"]) == kpis["unique_visitors"]

    unknown = client.get("/api/v1/analytics/charts/pie")
    assert unknown.status_code == 404 and unknown.json()["error"]["parameter"] == "name"
    bad_attribute = client.get("/api/v1/analytics/demographics", params={"attribute": "shoe"})
    assert bad_attribute.status_code == 422
    assert bad_attribute.json()["error"]["parameter"] == "attribute"
