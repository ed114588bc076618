"""Operations endpoints through real HTTP."""

import httpx


def test_health_ready_and_metrics_answer(api):
    with httpx.Client(base_url=api.url) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"]["database"] == "ok"
        metrics = client.get("/metrics")
        assert "dwell_request_seconds" in metrics.text


def test_bad_filters_answer_422_naming_the_parameter(api):
    with httpx.Client(base_url=api.url) as client:
        bad_tz = client.get("/api/v1/analytics/kpis", params={"tz": "Mars/Olympus"})
        assert bad_tz.status_code == 422
        assert bad_tz.json()["error"]["parameter"] == "tz"
        reversed_range = client.get("/api/v1/analytics/kpis", params={
            "start": "2024-03-05T00:00:00Z", "end": "2024-03-04T00:00:00Z"})
        assert reversed_range.status_code == 422
        assert reversed_range.json()["error"]["parameter"] == "end"
        bad_interval = client.get("/api/v1/analytics/timeseries", params={"interval": "minute"})
        assert bad_interval.status_code == 422
        assert bad_interval.json()["error"]["parameter"] == "interval"
        not_a_date = client.get("/api/v1/analytics/kpis", params={"start": "yesterday"})
        assert not_a_date.status_code == 422
        assert not_a_date.json()["error"]["parameter"] == "start"


def test_the_dashboard_is_served_at_the_root(api):
    with httpx.Client(base_url=api.url) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "<title>" in page.text
        assert client.get("/static/vendor/echarts.min.js").status_code == 200
