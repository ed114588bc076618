"""Operations endpoints through real HTTP."""

import logging

import httpx


def test_health_ready_and_metrics_answer(api):
    with httpx.Client(base_url=api.url) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"]["database"] == "ok"
        metrics = client.get("/metrics")
        assert "dwell_request_seconds" in metrics.text


def test_every_request_has_an_id_a_log_line_and_a_latency_sample(api, caplog):
    with httpx.Client(base_url=api.url) as client, caplog.at_level(logging.INFO, "dwell.api"):
        given = client.get("/api/v1/analytics/kpis", headers={"X-Request-ID": "abc-123"})
        made = client.get("/api/v1/analytics/kpis", params={"tz": "Nowhere/Else"})
        unmatched = client.get("/no/such/page")
        metrics = client.get("/metrics").text
    assert given.headers["X-Request-ID"] == "abc-123"
    assert len(made.headers["X-Request-ID"]) == 16 and made.status_code == 422
    assert unmatched.status_code == 404 and unmatched.headers["X-Request-ID"]
    lines = [r for r in caplog.records if r.getMessage() == "request"]
    seen = {(r.request_id, r.method, r.route, r.status) for r in lines}
    assert ("abc-123", "GET", "/api/v1/analytics/kpis", 200) in seen
    assert (made.headers["X-Request-ID"], "GET", "/api/v1/analytics/kpis", 422) in seen
    assert (unmatched.headers["X-Request-ID"], "GET", "unmatched", 404) in seen
    assert all(r.ms >= 0 for r in lines)
    assert ('dwell_request_seconds_count{method="GET",route="/api/v1/analytics/kpis",'
            'status="422"}') in metrics


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


def test_framework_errors_keep_the_error_shape_and_their_headers(api):
    with httpx.Client(base_url=api.url) as client:
        wrong_method = client.request("TRACE", "/api/v1/analytics/kpis")
        assert wrong_method.status_code == 405
        assert wrong_method.headers["allow"] == "GET"  # RFC 9110: a 405 lists what is allowed
        assert wrong_method.json()["error"]["kind"] == "method_not_allowed"
        not_json = client.post("/api/v1/keys", content=b"J\xff{",
                               headers={"content-type": "application/json"})
        assert not_json.status_code == 400
        assert not_json.json()["error"]["kind"] == "malformed_body"


def test_a_nul_character_in_any_parameter_answers_422_naming_it(api):
    with httpx.Client(base_url=api.url) as client:
        for path, params in [("/api/v1/analytics/report", {"camera_id": "CAM\x00"}),
                             ("/api/v1/analytics/kpis", {"person_id": ["P1", "P\x002"]}),
                             ("/api/v1/analytics/demographics", {"attribute": "age\x00"}),
                             ("/api/v1/events", {"cursor": "\x00"}),
                             ("/api/v1/persons/P%001", {})]:
            answer = client.get(path, params=params)
            assert answer.status_code == 422, (path, answer.text)
            expected = next(iter(params), "person_id")
            assert answer.json()["error"]["parameter"] == expected


def test_the_dashboard_is_served_at_the_root(api):
    with httpx.Client(base_url=api.url) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "<title>" in page.text
        assert client.get("/static/vendor/echarts.min.js").status_code == 200


def test_the_openapi_document_validates_and_documents_every_route(api):
    from openapi_spec_validator import validate

    with httpx.Client(base_url=api.url) as client:
        document = client.get("/openapi.json").json()
        assert client.get("/docs").status_code == 200
    validate(document)
    paths = document["paths"]
    for route in ("/api/v1/uploads", "/api/v1/uploads/{upload_id}", "/api/v1/analytics/kpis",
                  "/api/v1/analytics/timeseries", "/api/v1/analytics/charts/{name}",
                  "/api/v1/events", "/api/v1/sessions", "/api/v1/cameras",
                  "/api/v1/persons/{person_id}", "/api/v1/keys", "/healthz", "/readyz"):
        assert route in paths, route
    kpis = paths["/api/v1/analytics/kpis"]["get"]
    assert {p["name"] for p in kpis["parameters"]} >= {"start", "end", "camera_id", "person_id",
                                                      "tz"}
    assert "422" in kpis["responses"]
    schema = document["components"]["schemas"]["Kpis"]
    assert "examples" in schema["properties"]["total_events"]
