"""`make bench-api`: the HTTP API on a large store, in one run.

Steps of the report (see benchmarks/README.md, "API benchmark"):

1. a store of N events in a throw-away database, loaded through the real pipeline
   (`dwell.ingest.pipeline.ingest_file`) from several synthetic files of consecutive
   fortnights, so that the same persons come back from file to file;
2. the app (`dwell.api.app.create_app`) served by uvicorn in a child process, Redis as cache;
3. latency and throughput of every analytics endpoint and of the events listing, with real
   HTTP requests at concurrency 16, uncached (every request misses the cache) and cached,
   and for each uncached request where the server spent its time;
4. an upload through the API (POST, then poll until completed) against `dwell analyze` and
   `ingest_file` alone on the same file.

Every database is created for the run and dropped afterwards, also after errors.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import gzip
import inspect
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack, ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_pipeline as pipeline  # the pipeline benchmark's helpers
from bench_pipeline import (
    DATA_DIR,
    LOCAL_SERVER,
    ROOT,
    log,
    markdown_table,
    publish,
    scratch_database,
    text_table,
)

FULL_EVENTS = 10_000_000
QUICK_EVENTS = 200_000
FILE_ROWS = 1_500_000           # rows per store file at most (the files are ~1-2 M rows)
MIN_FILES = 2                   # at least two files, so persons repeat across uploads
FILE_DAYS = 14                  # each file is a fortnight; the next one starts where it ends
STORE_SEED = 20_241_200         # file i uses STORE_SEED + i
UPLOAD_ROWS = 1_500_000         # the file of step 4 (shared with the pipeline benchmark)
QUICK_UPLOAD_ROWS = 100_000
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
CONCURRENCY = 16
UNCACHED_MAX_REQUESTS = 60
UNCACHED_BUDGET_S = 120.0
CACHED_MAX_REQUESTS = 1_000
CACHED_BUDGET_S = 20.0
QUICK_UNCACHED_MAX_REQUESTS = 32
QUICK_UNCACHED_BUDGET_S = 30.0
QUICK_CACHED_MAX_REQUESTS = 300
QUICK_CACHED_BUDGET_S = 10.0
SOLO_UNCACHED_REQUESTS = 3      # the same at concurrency 1: service time without queueing
SOLO_CACHED_REQUESTS = 50
SOLO_BUDGET_S = 30.0
REQUEST_TIMEOUT_S = 1_800.0
SERVER_START_TIMEOUT_S = 120.0
UPLOAD_TIMEOUT_S = 3_600.0
POLL_INTERVAL_S = 0.1

# Targets.
UNCACHED_P95_MAX_S = 1.0        # uncached KPIs and time series
CACHED_P95_MAX_S = 0.020        # every cached analytics answer
UPLOAD_VS_ANALYZE_MAX = 1.2

A = "/api/v1/analytics"


@dataclass(frozen=True)
class Endpoint:
    name: str
    path: str
    params: tuple[tuple[str, Any], ...] = ()
    cached: bool = True               # answers through the analytics cache (X-Cache)
    uncached_target: bool = False     # p95 < 1 s uncached is a target
    deep: bool = False                # needs the cursor of a page in the middle of the store


ENDPOINTS = (
    Endpoint("kpis", f"{A}/kpis", uncached_target=True),
    Endpoint("report", f"{A}/report"),
    Endpoint("timeseries?interval=hour", f"{A}/timeseries", (("interval", "hour"),),
             uncached_target=True),
    Endpoint("timeseries?interval=day", f"{A}/timeseries", (("interval", "day"),),
             uncached_target=True),
    Endpoint("occupancy?interval=day", f"{A}/occupancy", (("interval", "day"),)),
    Endpoint("dwell?group_by=camera", f"{A}/dwell", (("group_by", "camera"),)),
    Endpoint("repeat-visitors", f"{A}/repeat-visitors"),
    Endpoint("per-camera", f"{A}/per-camera"),
    Endpoint("demographics?attribute=gender", f"{A}/demographics", (("attribute", "gender"),)),
    Endpoint("charts/visitors", f"{A}/charts/visitors"),
    Endpoint("events?limit=100, first page", "/api/v1/events", (("limit", 100),), cached=False),
    Endpoint("events?limit=100, deep page", "/api/v1/events", (("limit", 100),), cached=False,
             deep=True),
)

# Server-side phases of one request, in the order of the report.
PHASES = ("outside", "framework", "pool", "cache", "sql", "python")
PHASE_LABELS = {
    "outside": "HTTP + queue",        # client latency - time inside the app
    "framework": "framework",         # routing, validation, threadpool, JSON, logs
    "pool": "pool wait",              # waiting for a pooled connection
    "cache": "cache",                 # data-version query + Redis get/set
    "sql": "SQL",                     # statements of the answer (execute: PostgreSQL + transfer)
    "python": "analytics Python",     # the analytics function minus its SQL: rows to answer
}


# ------------------------------------------------------------------------------------------
# step 1: the store


def store_plan(events: int) -> list[tuple[int, int, datetime]]:
    """(rows, seed, start) of each file: consecutive fortnights, the rows split evenly."""
    files = max(MIN_FILES, math.ceil(events / FILE_ROWS))
    base, extra = divmod(events, files)
    start = datetime(2024, 3, 4, tzinfo=timezone.utc)   # a Monday, as dwell.synth's default
    return [(base + (1 if i < extra else 0), STORE_SEED + i,
             start + timedelta(days=FILE_DAYS * i)) for i in range(files)]


def store_file(rows: int, seed: int, start: datetime, synth: Any) -> tuple[Path, dict[str, Any]]:
    """One file of the store, generated once and reused while rows, seed, start, the
    generator's source and the byte size are unchanged (sidecar .json)."""
    import hashlib

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / f"events-{rows}-seed{seed}-from{start:%Y%m%d}.csv"
    sidecar = path.with_suffix(".json")
    generator = hashlib.sha256(Path(synth.__file__).read_bytes()).hexdigest()[:16]
    wanted = {"rows": rows, "seed": seed, "start": start.isoformat(), "days": FILE_DAYS,
              "generator": generator}
    if path.exists() and sidecar.exists():
        recorded = json.loads(sidecar.read_text())
        if {k: recorded.get(k) for k in wanted} == wanted and \
                recorded.get("bytes") == path.stat().st_size:
            return path, {**recorded, "reused": True, "seconds": None}
    started = time.perf_counter()
    synth.write_csv(path, rows, seed=seed, start=start, days=FILE_DAYS)
    seconds = time.perf_counter() - started
    info = {**wanted, "bytes": path.stat().st_size}
    sidecar.write_text(json.dumps(info, indent=2) + "\n")
    return path, {**info, "reused": False, "seconds": seconds}


def load_store(conninfo: str, files: list[Path]) -> dict[str, Any]:
    """Every file through `ingest_file`, one after the other, as uploads would arrive; then
    VACUUM (ANALYZE), timed apart, so that the measurements see settled statistics."""
    from dwell.ingest.pipeline import ingest_file
    from dwell.store.migrations import migrate

    loads = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        migrate(conn)
        for path in files:
            started = time.perf_counter()
            result = ingest_file(conn, path)
            seconds = time.perf_counter() - started
            loads.append({"file": str(path.relative_to(ROOT)), "rows": result.quality.total_rows,
                          "events_stored": result.events_stored,
                          "sessions_written": result.sessions_written, "seconds": seconds})
            log(f"   {path.name}: {result.quality.total_rows:,} rows in {seconds:,.1f} s "
                f"({result.quality.total_rows / seconds:,.0f} rows/s)")
        started = time.perf_counter()
        conn.execute("VACUUM (ANALYZE)")
        vacuum_s = time.perf_counter() - started
    total_s = sum(item["seconds"] for item in loads)
    total_rows = sum(item["rows"] for item in loads)
    return {"files": loads, "rows": total_rows, "seconds": total_s,
            "rows_per_s": total_rows / total_s if total_s else None, "vacuum_analyze_s": vacuum_s,
            **describe_store(conninfo)}


def describe_store(conninfo: str) -> dict[str, Any]:
    """What the store holds: events, sessions, persons, time range, size on disk."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM camera_events), (SELECT count(*) FROM person_sessions),"
            " (SELECT count(DISTINCT person_id) FROM camera_events),"
            " (SELECT min(ts) FROM camera_events), (SELECT max(ts) FROM camera_events),"
            " pg_database_size(current_database())").fetchone()
    assert row is not None
    return {"events": row[0], "sessions": row[1], "persons": row[2],
            "first_ts": row[3].isoformat(), "last_ts": row[4].isoformat(),
            "database_bytes": row[5]}


# ------------------------------------------------------------------------------------------
# step 2: the server, in a child process (`--serve`), with per-request phase timing

_REQUEST: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "bench_request", default=None)
PHASES_PATH = "/__bench/phases"
EMPTY_PATH = "/__bench/empty"   # a fixed answer outside the app: the load generator's floor
EMPTY_BODY = b'{"status":"ok"}'
TAG_HEADER = "x-bench-tag"


def _timed(cls: Any, name: str, bucket: str, *, marks: str | None = None) -> None:
    """Add the time spent in `cls.name` (a function or a coroutine function) to the current
    request's `bucket`; while it runs, statements count under `marks` instead of `sql`."""
    original = getattr(cls, name)

    def enter(record: dict[str, Any]) -> tuple[Any, float]:
        mark = record.get("_mark")
        if marks:
            record["_mark"] = marks
        return mark, time.perf_counter()

    def leave(record: dict[str, Any], mark: Any, started: float) -> None:
        elapsed = time.perf_counter() - started
        if marks:
            record["_mark"] = mark
        key = bucket
        if bucket == "sql":
            key = {"compute": "compute_sql", "cache_sql": "cache_sql"}.get(mark, "sql")
        elif bucket == "pool":
            if mark == "cache_sql":
                key = "cache_pool"        # already inside the cache's time
            elif mark == "compute":
                record["pool_in_compute"] = record.get("pool_in_compute", 0.0) + elapsed
        record[key] = record.get(key, 0.0) + elapsed

    if inspect.iscoroutinefunction(original):
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            record = _REQUEST.get()
            if record is None:
                return await original(*args, **kwargs)
            mark, started = enter(record)
            try:
                return await original(*args, **kwargs)
            finally:
                leave(record, mark, started)
    else:
        def wrapper(*args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
            record = _REQUEST.get()
            if record is None:
                return original(*args, **kwargs)
            mark, started = enter(record)
            try:
                return original(*args, **kwargs)
            finally:
                leave(record, mark, started)

    setattr(cls, name, wrapper)


def instrument() -> None:
    """Per-request timing of the server's phases (bench process only, nothing persists)."""
    import psycopg_pool

    from dwell.cache import AnalyticsCache, PostgresCache, RedisCache

    _timed(psycopg.Cursor, "execute", "sql")
    _timed(psycopg_pool.ConnectionPool, "getconn", "pool")
    _timed(AnalyticsCache, "data_version", "cache", marks="cache_sql")
    for backend in (RedisCache, PostgresCache):
        _timed(backend, "get", "cache", marks="cache_sql")
        _timed(backend, "set", "cache", marks="cache_sql")
    original = AnalyticsCache.get_or_compute

    async def get_or_compute(self: Any, name: str, params: dict[str, Any], compute: Any) -> Any:
        record = _REQUEST.get()
        if record is None:
            return await original(self, name, params, compute)

        def timed_compute() -> Any:
            record["_mark"] = "compute"
            started = time.perf_counter()
            try:
                return compute()
            finally:
                record["compute"] = record.get("compute", 0.0) + time.perf_counter() - started
                record["_mark"] = None

        return await original(self, name, params, timed_compute)

    AnalyticsCache.get_or_compute = get_or_compute  # type: ignore[method-assign]


class PhaseRecorder:
    """Outermost ASGI layer: times every tagged request inside the app and serves the records
    at PHASES_PATH (then forgets them). Each server process appends its records to a file of
    its own in `folder`, so that whichever process answers PHASES_PATH serves all of them."""

    def __init__(self, app: Any, folder: Path) -> None:
        self.app = app
        self.folder = folder
        self.file = open(folder / f"{os.getpid()}.jsonl", "a", encoding="utf-8")  # noqa: SIM115

    def keep(self, record: dict[str, Any]) -> None:
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()

    def take_all(self) -> list[dict[str, Any]]:
        records = []
        for path in sorted(self.folder.glob("*.jsonl")):
            with open(path, "r+", encoding="utf-8") as file:
                records += [json.loads(line) for line in file if line.strip()]
                file.truncate(0)
        return records

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == PHASES_PATH:
            body = json.dumps(self.take_all()).encode()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": body})
            return
        if scope["path"] == EMPTY_PATH:
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(EMPTY_BODY)).encode())]})
            await send({"type": "http.response.body", "body": EMPTY_BODY})
            return
        tag = dict(scope["headers"]).get(TAG_HEADER.encode())
        if tag is None:
            await self.app(scope, receive, send)
            return
        record: dict[str, Any] = {"tag": tag.decode()}
        token = _REQUEST.set(record)
        started = time.perf_counter()

        async def timed_send(message: dict) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body"):
                # Kept before the client can see the answer and ask for the records.
                record["server"] = time.perf_counter() - started
                record.pop("_mark", None)
                self.keep(record)
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            _REQUEST.reset(token)
            if "server" not in record:
                record.pop("_mark", None)
                self.keep(record)


PARAMS_ENV = "DWELL_BENCH_SERVER"


def serve(params: dict[str, Any]) -> None:
    """The child: the app under uvicorn as `dwell serve` runs it (JSON request logs on, the
    same number of worker processes)."""
    import uvicorn

    os.environ[PARAMS_ENV] = json.dumps(params)   # for the worker processes' factory
    uvicorn.run("bench_api:server_app", factory=True, host="127.0.0.1", port=params["port"],
                workers=params["workers"], log_config=None, access_log=False, lifespan="on")


def server_app() -> PhaseRecorder:
    """The app of one server process, instrumented (uvicorn calls this in each worker)."""
    import logging

    from dwell import logs
    from dwell.api.app import create_app
    from dwell.settings import Settings

    params = json.loads(os.environ[PARAMS_ENV])
    logs.configure(logging.INFO)
    instrument()
    settings = Settings(DATABASE_URL=params["database_url"], REDIS_URL=params["redis_url"],
                        data_dir=params["data_dir"], upload_dir=params["upload_dir"])
    app = create_app(settings, conninfo=params["database_url"], run_worker=params["run_worker"])
    return PhaseRecorder(app, Path(params["phases_dir"]))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def api_server(database_url: str, redis_url: str, *, run_worker: bool,
               workers: int) -> Iterator[str]:
    """The API in a child process on a free loopback port; yields its base URL."""
    import httpx

    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-api-")))
        port = free_port()
        (work / "phases").mkdir()
        params = {"database_url": database_url, "redis_url": redis_url, "port": port,
                  "data_dir": str(work / "data"), "upload_dir": str(work / "uploads"),
                  "run_worker": run_worker, "workers": workers,
                  "phases_dir": str(work / "phases")}
        logfile = stack.enter_context(open(work / "server.log", "wb"))
        process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve", json.dumps(params)],
            stdout=logfile, stderr=subprocess.STDOUT, cwd=ROOT)
        url = f"http://127.0.0.1:{port}"

        def tail() -> str:
            logfile.flush()
            lines = (work / "server.log").read_text(errors="replace").splitlines()
            return "\n".join(line for line in lines[-40:] if '"message": "request"' not in line)

        try:
            deadline = time.monotonic() + SERVER_START_TIMEOUT_S
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"the API server exited ({process.returncode}):\n{tail()}")
                try:
                    if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the API server did not get ready:\n{tail()}")
                time.sleep(0.2)
            yield url
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def forget_cache(redis_url: str, database_url: str) -> int:
    """Delete the run's keys from Redis (they carry the store id of the throw-away database)."""
    import redis

    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT store_id FROM data_version").fetchone()
    if not row:
        return 0
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"dwell:{row[0]}:*", count=1000))
    for i in range(0, len(keys), 500):
        client.delete(*keys[i:i + 500])
    client.close()
    return len(keys)


# ------------------------------------------------------------------------------------------
# step 3: latency under load


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


@dataclass
class RawResponse:
    status_code: int
    headers: dict[str, str]     # lower-case names
    content: bytes              # decoded when gzip-encoded

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class LeanClient:
    """A minimal HTTP/1.1 keep-alive client: one connection, one request at a time, bodies
    with Content-Length only (what the API sends). It costs a fraction of httpx per request,
    so that on a small machine, where the clients share the CPUs with the server, the
    latencies measure the server more than the load generator. It takes gzip, as browsers
    do, and decompresses the body, as they must."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(str(base_url))
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def get(self, path: str, params: Any = None,
                  headers: dict[str, str] | None = None) -> RawResponse:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self._host, self._port)
        reader, writer = self._streams
        target = f"{path}?{urlencode(list(dict(params).items()), doseq=True)}" if params else path
        lines = [f"GET {target} HTTP/1.1", f"Host: {self._host}:{self._port}",
                 "Accept-Encoding: gzip", *(f"{k}: {v}" for k, v in (headers or {}).items())]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        fields: dict[str, str] = {}
        for line in head[1:]:
            if line:
                name, _, value = line.partition(":")
                fields[name.strip().lower()] = value.strip()
        if "content-length" not in fields:
            raise RuntimeError(f"{path}: a response without Content-Length ({fields})")
        body = await reader.readexactly(int(fields["content-length"]))
        if fields.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        return RawResponse(status, fields, body)

    async def aclose(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


async def run_batch(client: Any, endpoint: Endpoint, requests: list[dict[str, Any]],
                    tag: str, concurrency: int, budget_s: float, *,
                    shared_client: bool = False) -> dict[str, Any]:
    """The requests by `concurrency` clients until they are done or the budget is spent
    (requests under way then finish and count). Each client is a LeanClient with one
    keep-alive connection of its own, opened before the clock starts; with `shared_client`
    they all share `client`'s httpx pool instead (which queues requests unfairly: a slow
    tail of its own, besides httpx's cost per request)."""
    results: list[dict[str, Any]] = []
    queue = iter(enumerate(requests))
    async with AsyncExitStack() as stack:
        clients = [client] * concurrency
        if not shared_client:
            clients = [LeanClient(client.base_url) for _ in range(concurrency)]
            for own in clients:
                stack.push_async_callback(own.aclose)
            await asyncio.gather(*(own.get("/healthz") for own in clients))
        started = time.perf_counter()
        await asyncio.gather(*(_client_loop(own, endpoint, queue, tag, started, budget_s, results)
                               for own in clients))
        wall = time.perf_counter() - started
    return _batch_summary(results, len(requests), budget_s, wall)


async def _client_loop(client: Any, endpoint: Endpoint, queue: Iterator[tuple[int, Any]],
                       tag: str, started: float, budget_s: float,
                       results: list[dict[str, Any]]) -> None:
    for i, params in queue:
        if time.perf_counter() - started >= budget_s:
            return
        sent = time.perf_counter()
        response = await client.get(endpoint.path, params=params,
                                    headers={TAG_HEADER: f"{tag}:{i}"})
        latency = time.perf_counter() - sent
        results.append({"tag": f"{tag}:{i}", "latency": latency,
                        "status": response.status_code,
                        "cache": response.headers.get("x-cache"),
                        "bytes": len(response.content),
                        "error": response.text[:500] if response.status_code != 200 else None})


def _batch_summary(results: list[dict[str, Any]], planned: int, budget_s: float,
                   wall: float) -> dict[str, Any]:
    latencies = [r["latency"] for r in results if r["status"] == 200]
    errors = [r for r in results if r["status"] != 200]
    return {
        "requests": len(results), "ok": len(latencies), "errors": len(errors),
        "first_error": errors[0]["error"] if errors else None,
        "planned": planned, "budget_s": budget_s, "wall_s": wall,
        "requests_per_s": len(latencies) / wall if wall else None,
        "p50_s": percentile(latencies, 50), "p95_s": percentile(latencies, 95),
        "p99_s": percentile(latencies, 99), "max_s": max(latencies, default=None),
        "mean_s": statistics.fmean(latencies) if latencies else None,
        "cache_hits": sum(r["cache"] == "hit" for r in results),
        "cache_misses": sum(r["cache"] == "miss" for r in results),
        "response_bytes": statistics.median([r["bytes"] for r in results]) if results else None,
        "_results": results,
    }


def phase_breakdown(results: list[dict[str, Any]], records: list[dict[str, Any]]
                    ) -> dict[str, Any]:
    """Mean seconds per phase over the batch's successful requests, and the largest."""
    by_tag = {r["tag"]: r for r in records}
    totals = dict.fromkeys(PHASES, 0.0)
    n = 0
    for result in results:
        record = by_tag.get(result["tag"])
        if result["status"] != 200 or record is None or "server" not in record:
            continue
        n += 1
        server = record["server"]
        compute = record.get("compute", 0.0)
        sql_s = record.get("compute_sql", 0.0) + record.get("sql", 0.0)
        pool = record.get("pool", 0.0)
        cache = record.get("cache", 0.0)
        python = max(compute - record.get("compute_sql", 0.0)
                     - record.get("pool_in_compute", 0.0), 0.0)
        parts = {"outside": max(result["latency"] - server, 0.0), "pool": pool, "cache": cache,
                 "sql": sql_s, "python": python}
        parts["framework"] = max(server - pool - cache - sql_s - python, 0.0)
        for phase in PHASES:
            totals[phase] += parts[phase]
    if not n:
        return {"requests": 0}
    means = {phase: totals[phase] / n for phase in PHASES}
    dominant = max(means, key=lambda p: means[p])
    return {"requests": n, "mean_s": means, "dominant": dominant,
            "dominant_share": means[dominant] / sum(means.values()) if sum(means.values()) else None}


async def measure_endpoints(url: str, store: dict[str, Any], args: argparse.Namespace
                            ) -> dict[str, Any]:
    import httpx

    last = datetime.fromisoformat(store["last_ts"]).astimezone(timezone.utc)
    first = datetime.fromisoformat(store["first_ts"]).astimezone(timezone.utc)
    # Past the last event: every `end` covers the whole store, and each one is a new cache key.
    end0 = last.replace(microsecond=0) + timedelta(seconds=1)
    counter = iter(range(10**9))

    def distinct_end() -> str:
        return (end0 + timedelta(seconds=next(counter))).isoformat().replace("+00:00", "Z")

    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    out: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=url, timeout=REQUEST_TIMEOUT_S, limits=limits) as client:
        # A cursor in the middle of the store: the page after the first event at the midpoint.
        middle = first + (last - first) / 2
        response = await client.get("/api/v1/events", params={
            "limit": 1, "start": middle.isoformat().replace("+00:00", "Z")})
        response.raise_for_status()
        deep_cursor = response.json()["next_cursor"]
        out["deep_cursor_at"] = middle.isoformat()
        # The same load against a fixed answer sent before the app: what the clients, HTTP
        # and uvicorn cost by themselves on this machine (no analytics answer can be faster).
        floor = await run_batch(client, Endpoint("floor", EMPTY_PATH, cached=False),
                                [{}] * args.cached_requests, "f", args.concurrency,
                                args.cached_budget, shared_client=args.shared_client)
        floor.pop("_results")
        out["_floor"] = floor
        log(f"   load generator floor (fixed answer, no app): p50 {_ms(floor['p50_s'])} ms, "
            f"p95 {_ms(floor['p95_s'])} ms, {_num(floor['requests_per_s'], 0)} req/s")

        for endpoint in selected(args):
            base = dict(endpoint.params)
            if endpoint.deep:
                base["cursor"] = deep_cursor
            entry: dict[str, Any] = {"path": endpoint.path, "params": base,
                                     "cached_by_app": endpoint.cached}
            log(f"   {endpoint.name}")
            # Uncached: one warm-up miss, then every request with its own `end`.
            warm = await client.get(endpoint.path, params={**base, "end": distinct_end()})
            if warm.status_code != 200:
                entry["error"] = f"{warm.status_code}: {warm.text[:500]}"
                log(f"      FAILED: {entry['error']}")
                out[endpoint.name] = entry
                continue
            await client.get(PHASES_PATH)   # forget the warm-up's record
            requests = [{**base, "end": distinct_end()} for _ in range(args.uncached_requests)]
            uncached = await run_batch(client, endpoint, requests, "u", args.concurrency,
                                       args.uncached_budget, shared_client=args.shared_client)
            records = (await client.get(PHASES_PATH)).json()
            uncached["phases"] = phase_breakdown(uncached.pop("_results"), records)
            entry["uncached"] = uncached
            requests = [{**base, "end": distinct_end()} for _ in range(args.solo_uncached)]
            solo = await run_batch(client, endpoint, requests, "u1", 1, SOLO_BUDGET_S)
            records = (await client.get(PHASES_PATH)).json()
            solo["phases"] = phase_breakdown(solo.pop("_results"), records)
            entry["uncached_solo"] = solo
            # Cached: the same request, after one warm-up that fills the cache.
            same = {**base, "end": distinct_end()}
            await client.get(endpoint.path, params=same)
            cached = await run_batch(client, endpoint, [same] * args.cached_requests, "c",
                                     args.concurrency, args.cached_budget,
                                     shared_client=args.shared_client)
            records = (await client.get(PHASES_PATH)).json()
            cached["phases"] = phase_breakdown(cached.pop("_results"), records)
            entry["cached"] = cached
            solo = await run_batch(client, endpoint, [same] * args.solo_cached, "c1", 1,
                                   SOLO_BUDGET_S)
            records = (await client.get(PHASES_PATH)).json()
            solo["phases"] = phase_breakdown(solo.pop("_results"), records)
            entry["cached_solo"] = solo
            log(f"      uncached p95 {_ms(uncached['p95_s'])} ms ({uncached['ok']} requests), "
                f"cached p95 {_ms(cached['p95_s'])} ms ({cached['ok']} requests), "
                f"1 client: uncached p50 {_ms(entry['uncached_solo']['p50_s'])} ms, "
                f"cached p50 {_ms(solo['p50_s'])} ms")
            out[endpoint.name] = entry
    return out


# ------------------------------------------------------------------------------------------
# step 4: upload through the API vs dwell analyze and ingest_file


def upload_through_api(url: str, path: Path) -> dict[str, Any]:
    """POST the file (multipart, streamed from disk), then poll until it is processed."""
    import httpx

    with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S) as client, open(path, "rb") as file:
        started = time.perf_counter()
        response = client.post("/api/v1/uploads", files={"file": (path.name, file, "text/csv")})
        posted = time.perf_counter() - started
        if response.status_code != 202:
            return {"ok": False, "error": f"POST answered {response.status_code}: "
                                          f"{response.text[:1000]}"}
        upload_id = response.json()["id"]
        polls = 0
        processing_seen: float | None = None
        while True:
            polls += 1
            upload = client.get(f"/api/v1/uploads/{upload_id}").json()
            if upload["status"] in ("completed", "failed"):
                break
            if upload["status"] == "processing" and processing_seen is None:
                processing_seen = time.perf_counter() - started
            if time.perf_counter() - started > UPLOAD_TIMEOUT_S:
                return {"ok": False, "error": f"not processed after {UPLOAD_TIMEOUT_S:.0f} s"}
            time.sleep(POLL_INTERVAL_S)
        seconds = time.perf_counter() - started
    if upload["status"] != "completed":
        return {"ok": False, "error": json.dumps(upload["error"])}

    quality = upload.get("quality") or {}
    # Phases as the client sees them (polling every POLL_INTERVAL_S): the POST (transfer and
    # spooling), until the job reports 'processing', until 'completed'.
    processing_seen = processing_seen if processing_seen is not None else posted
    return {"ok": True, "seconds": seconds, "post_s": posted,
            "queued_s": processing_seen - posted, "processing_s": seconds - processing_seen,
            "polls": polls, "rows": quality.get("total_rows"),
            "bytes": path.stat().st_size}


def ingest_alone(server: str, path: Path) -> dict[str, Any]:
    """`ingest_file` on a fresh migrated database, in this process (migration not timed)."""
    from dwell.ingest.pipeline import ingest_file
    from dwell.store.migrations import migrate

    with scratch_database(server, "bench_api_ingest") as conninfo, \
            psycopg.connect(conninfo, autocommit=True) as conn:
        migrate(conn)
        started = time.perf_counter()
        result = ingest_file(conn, path)
        seconds = time.perf_counter() - started
    return {"ok": True, "seconds": seconds, "rows": result.quality.total_rows}


def measure_upload(server: str, redis_url: str, path: Path, workers: int) -> dict[str, Any]:
    out: dict[str, Any] = {"file": str(path.relative_to(ROOT)), "bytes": path.stat().st_size}
    log("   dwell analyze --json (child process)")
    out["analyze"] = pipeline.run_analyze(path, server, DATA_DIR / "embedded")
    log("   ingest_file alone (fresh database)")
    try:
        out["ingest_file"] = ingest_alone(server, path)
    except Exception as exc:  # reported, the run goes on
        out["ingest_file"] = {"ok": False, "error": repr(exc)}
    log("   POST /api/v1/uploads to a fresh server and database, poll until completed")
    try:
        with scratch_database(server, "bench_api_upload") as conninfo:
            try:
                with api_server(conninfo, redis_url, run_worker=True, workers=workers) as url:
                    out["api"] = upload_through_api(url, path)
            finally:
                forget_cache(redis_url, conninfo)
    except Exception as exc:
        out["api"] = {"ok": False, "error": repr(exc)}
    api, analyze, alone = out["api"], out["analyze"], out["ingest_file"]
    out["api_vs_analyze"] = (api["seconds"] / analyze["seconds"]
                             if api.get("ok") and analyze.get("ok") else None)
    out["api_vs_ingest_file"] = (api["seconds"] / alone["seconds"]
                                 if api.get("ok") and alone.get("ok") else None)
    return out


# ------------------------------------------------------------------------------------------
# the run


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    events = args.events or (QUICK_EVENTS if args.quick else FULL_EVENTS)
    load_start = os.getloadavg()[0]
    commit, src_dirty = pipeline.git_commit()
    result: dict[str, Any] = {
        "date": date.today().isoformat(), "commit": commit, "src_uncommitted_changes": src_dirty,
        "quick": args.quick, "events": events, "concurrency": args.concurrency,
        "server_workers": args.workers, "shared_client": args.shared_client,
        "budgets": {"uncached_requests": args.uncached_requests,
                    "uncached_budget_s": args.uncached_budget,
                    "cached_requests": args.cached_requests,
                    "cached_budget_s": args.cached_budget},
        "solo_requests": {"uncached": args.solo_uncached, "cached": args.solo_cached},
        "machine": pipeline.machine(), "redis": args.redis, "notes": [],
        "scratch": bool(args.store),
    }
    synth = pipeline.synth_module(60)

    log(f"1/4 store files: {events:,} events")
    files = []
    generated = []
    for rows, seed, start in store_plan(events):
        path, info = store_file(rows, seed, start, synth)
        files.append(path)
        generated.append({**info, "path": str(path.relative_to(ROOT))})
    result["generate"] = generated
    upload_rows = args.upload_rows or (QUICK_UPLOAD_ROWS if args.quick else UPLOAD_ROWS)
    upload_path, upload_info = pipeline.event_file(upload_rows, pipeline.DEFAULT_SEED, synth)

    with pipeline.benchmark_server(args.server) as server:
        result["server"] = {"kind": server.kind, "description": server.description,
                            "settings": server.settings}
        log(f"server: {server.description}; cache: Redis at {args.redis}")
        with ExitStack() as stack:
            if args.store:
                conninfo = args.store
                result["store"] = store = {"reused": conninfo.rsplit("/", 1)[-1],
                                           **describe_store(conninfo)}
                log(f"   reusing the store in {store['reused']}: {store['events']:,} events")
                result["notes"].append(f"store reused (--store), not loaded in this run: "
                                       f"{store['events']:,} events")
            else:
                conninfo = stack.enter_context(scratch_database(server.conninfo, "bench_api"))
                log(f"   loading {len(files)} files through ingest_file")
                result["store"] = store = load_store(conninfo, files)
                log(f"   {store['rows']:,} rows in {store['seconds']:,.1f} s "
                    f"({store['rows_per_s']:,.0f} rows/s); VACUUM (ANALYZE) "
                    f"{store['vacuum_analyze_s']:,.1f} s")
            log(f"2/4 API server (uvicorn child, {args.workers} worker process(es), Redis cache, "
                f"no upload workers); "
                f"3/4 endpoints at concurrency {args.concurrency}")
            try:
                with api_server(conninfo, args.redis, run_worker=False,
                                workers=args.workers) as url:
                    result["endpoints"] = asyncio.run(measure_endpoints(url, store, args))
                    result["floor"] = result["endpoints"].pop("_floor", None)
            finally:
                result["redis_keys_removed"] = forget_cache(args.redis, conninfo)
        if not args.skip_upload:
            log(f"4/4 upload of {upload_path.name} vs dwell analyze")
            result["upload"] = measure_upload(server.conninfo, args.redis, upload_path,
                                              args.workers)
            result["upload"]["generated"] = upload_info
    result["checks"] = checks(result)
    result["load_average"] = {"start": load_start, "end": os.getloadavg()[0]}
    busiest = max(result["load_average"].values())
    if busiest > pipeline.BUSY_LOAD_PER_CPU * (os.cpu_count() or 1):
        result["notes"].append(
            f"other work shared the CPUs (1-min load average {load_start:.1f} at start, "
            f"{result['load_average']['end']:.1f} at end, {os.cpu_count()} CPUs): "
            "timings are pessimistic")
    return result


# ------------------------------------------------------------------------------------------
# targets and the report


def _check(name: str, value: float | None, target: str, passed: bool | None,
           unit: str) -> dict[str, Any]:
    return {"name": name, "value": value, "target": target, "passed": passed, "unit": unit}


def selected(args: argparse.Namespace) -> list[Endpoint]:
    """The endpoints --endpoints names (all by default)."""
    if not args.endpoints:
        return list(ENDPOINTS)
    names = [name.strip() for name in args.endpoints.split(";")]
    unknown = set(names) - {e.name for e in ENDPOINTS}
    if unknown:
        raise SystemExit(f"--endpoints: unknown {', '.join(sorted(unknown))}")
    return [e for e in ENDPOINTS if e.name in names]


def checks(result: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    endpoints = result.get("endpoints", {})
    for endpoint in ENDPOINTS:
        if endpoint.name not in endpoints:
            continue  # not measured in this run (--endpoints)
        entry = endpoints.get(endpoint.name, {})
        if endpoint.uncached_target:
            p95 = (entry.get("uncached") or {}).get("p95_s")
            out.append(_check(f"uncached {endpoint.name} p95", p95,
                              f"< {UNCACHED_P95_MAX_S * 1000:,.0f} ms",
                              None if p95 is None else p95 < UNCACHED_P95_MAX_S, "ms"))
    for endpoint in ENDPOINTS:
        if endpoint.cached and endpoint.name in endpoints:
            p95 = (endpoints.get(endpoint.name, {}).get("cached") or {}).get("p95_s")
            out.append(_check(f"cached {endpoint.name} p95", p95,
                              f"< {CACHED_P95_MAX_S * 1000:,.0f} ms",
                              None if p95 is None else p95 < CACHED_P95_MAX_S, "ms"))
    upload = result.get("upload")
    if upload is not None:
        ratio = upload.get("api_vs_analyze")
        out.append(_check("upload via API / dwell analyze", ratio,
                          f"<= {UPLOAD_VS_ANALYZE_MAX}x",
                          None if ratio is None else ratio <= UPLOAD_VS_ANALYZE_MAX, "x"))
        out.append(_check("upload via API / ingest_file alone", upload.get("api_vs_ingest_file"),
                          "(no target)", None, "x"))
    return out


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:,.1f}"


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _status(passed: bool | None) -> str:
    return {True: "PASS", False: "MISS", None: "-"}[passed]


LOAD_HEADER = ("store load", "rows", "seconds", "rows/s")


def load_rows(result: dict[str, Any]) -> list[tuple[str, ...]]:
    store = result.get("store")
    if not store or "files" not in store:
        return []
    rows: list[tuple[str, ...]] = []
    for i, item in enumerate(store["files"], 1):
        rows.append((f"file {i}: {Path(item['file']).name}", f"{item['rows']:,}",
                     _num(item["seconds"]), f"{item['rows'] / item['seconds']:,.0f}"))
    rows.append((f"all {len(store['files'])} files through ingest_file", f"{store['rows']:,}",
                 _num(store["seconds"]), f"{store['rows_per_s']:,.0f}"))
    rows.append(("VACUUM (ANALYZE) afterwards (not in the load)", "-",
                 _num(store["vacuum_analyze_s"]), "-"))
    return rows


LATENCY_HEADER = ("endpoint", "mode", "clients", "requests", "hit/miss", "p50 ms", "p95 ms", "p99 ms",
                  "req/s", "target", "result")


def latency_rows(result: dict[str, Any]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    endpoints = result.get("endpoints", {})
    for endpoint in ENDPOINTS:
        entry = endpoints.get(endpoint.name)
        if entry is None:
            continue
        if "error" in entry:
            rows.append((endpoint.name, "FAILED", "-", "-", "-", "-", "-", "-", "-", "-", "-"))
            continue
        for mode in ("uncached", "uncached_solo", "cached", "cached_solo"):
            batch = entry.get(mode)
            if not batch:
                continue
            clients = "1" if mode.endswith("_solo") else str(result["concurrency"])
            mode = mode.removesuffix("_solo")
            target, passed = "-", None
            if clients == "1":
                pass
            elif mode == "uncached" and endpoint.uncached_target:
                target = f"p95 < {UNCACHED_P95_MAX_S * 1000:,.0f}"
                passed = batch["p95_s"] is not None and batch["p95_s"] < UNCACHED_P95_MAX_S
            elif mode == "cached" and endpoint.cached:
                target = f"p95 < {CACHED_P95_MAX_S * 1000:,.0f}"
                passed = batch["p95_s"] is not None and batch["p95_s"] < CACHED_P95_MAX_S
            label = mode if endpoint.cached or mode == "uncached" else "repeated"
            count = f"{batch['ok']:,}" + (f" ({batch['errors']} errors)" if batch["errors"] else "")
            hits = f"{batch['cache_hits']}/{batch['cache_misses']}" if endpoint.cached else "n/a"
            rows.append((endpoint.name, label, clients, count, hits, _ms(batch["p50_s"]),
                         _ms(batch["p95_s"]), _ms(batch["p99_s"]),
                         _num(batch["requests_per_s"], 1), target, _status(passed)))
    return rows


PHASE_HEADER = ("endpoint (uncached)", "clients", "mean ms", *(PHASE_LABELS[p] + " ms" for p in PHASES),
                "dominant")


def phase_rows(result: dict[str, Any]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for endpoint in ENDPOINTS:
        entry = result.get("endpoints", {}).get(endpoint.name) or {}
        for mode, clients in (("uncached", str(result["concurrency"])), ("uncached_solo", "1")):
            phases = (entry.get(mode) or {}).get("phases") or {}
            if not phases.get("requests"):
                continue
            means = phases["mean_s"]
            share = phases["dominant_share"] * 100
            rows.append((endpoint.name, clients, _ms(entry[mode]["mean_s"]),
                         *(_ms(means[p]) for p in PHASES),
                         f"{PHASE_LABELS[phases['dominant']]} ({share:.0f}%)"))
    return rows


UPLOAD_HEADER = ("upload of the same file", "seconds", "rows/s", "detail")


def upload_rows(result: dict[str, Any]) -> list[tuple[str, ...]]:
    upload = result.get("upload")
    if not upload:
        return []
    rows_in_file = upload.get("generated", {}).get("rows")
    out: list[tuple[str, ...]] = []

    def rate(seconds: float | None) -> str:
        return "-" if not seconds or not rows_in_file else f"{rows_in_file / seconds:,.0f}"

    analyze = upload["analyze"]
    out.append(("dwell analyze FILE --json (child process, end to end)",
                _num(analyze.get("seconds")) if analyze.get("ok") else "FAILED",
                rate(analyze.get("seconds")), "interpreter start to exit, its own database"))
    alone = upload["ingest_file"]
    out.append(("ingest_file alone (in process, migrated database)",
                _num(alone.get("seconds")) if alone.get("ok") else "FAILED",
                rate(alone.get("seconds")), "no HTTP, no job queue"))
    api = upload["api"]
    if api.get("ok"):
        out.append(("POST /api/v1/uploads until completed", _num(api["seconds"]),
                    rate(api["seconds"]),
                    f"POST {_num(api['post_s'])} s, then queued {_num(api['queued_s'])} s, "
                    f"processing {_num(api['processing_s'])} s (as polled)"))
    else:
        out.append(("POST /api/v1/uploads until completed", "FAILED", "-", "-"))
    return out


CHECK_HEADER = ("target", "value", "threshold", "result")


def check_rows(result: dict[str, Any]) -> list[tuple[str, ...]]:
    rows = []
    for check in result["checks"]:
        if check["unit"] == "ms":
            value = "-" if check["value"] is None else f"{check['value'] * 1000:,.1f} ms"
        else:
            value = "-" if check["value"] is None else f"{check['value']:.2f}x"
        status = _status(check["passed"])
        if check["value"] is None and check["target"] != "(no target)":
            status = "not measured"
        rows.append((check["name"], value, check["target"], status))
    return rows


def setup_lines(result: dict[str, Any]) -> list[str]:
    m = result["machine"]
    dirty = " (src/ has uncommitted changes, measured as they were)" \
        if result["src_uncommitted_changes"] else ""
    lines = [f"commit {result['commit']}{dirty}, {result['date']}"
             + (", QUICK run" if result["quick"] else ""),
             f"machine: {m['cpus']} CPUs ({m['cpu']}), {m['memory_bytes'] / 2**30:.0f} GiB RAM, "
             f"Python {m['python']}"]
    if "server" in result:
        s = result["server"]["settings"]
        lines.append(f"server: {result['server']['description']}, PostgreSQL "
                     f"{s.get('server_version')}, shared_buffers {s.get('shared_buffers')}, "
                     f"work_mem {s.get('work_mem')} (analytics statements set 256MB); "
                     f"cache: Redis at {result['redis']}")
    store = result.get("store")
    if store:
        lines.append(f"store: {store['events']:,} events, {store['sessions']:,} sessions, "
                     f"{store['persons']:,} persons, {store['first_ts'][:10]} to "
                     f"{store['last_ts'][:10]}, database {store['database_bytes'] / 1e9:,.2f} GB")
    workers = result.get("server_workers", 1)
    lines.append(f"API server: uvicorn, {workers} worker process{'es' if workers != 1 else ''}"
                 " (as `dwell serve` runs with the same settings; `--workers`)")
    b = result["budgets"]
    clients = ("sharing one httpx.AsyncClient pool" if result.get("shared_client")
               else "each a minimal asyncio HTTP/1.1 client (LeanClient) with its own "
                    "connection, taking gzip")
    lines.append(
        f"load: {result['concurrency']} concurrent HTTP/1.1 keep-alive clients ({clients}); "
        f"per endpoint uncached at most {b['uncached_requests']} requests or "
        f"{b['uncached_budget_s']:g} s, cached at most {b['cached_requests']} requests or "
        f"{b['cached_budget_s']:g} s (requests under way finish and count); then the same "
        f"at concurrency 1 ({result['solo_requests']['uncached']} uncached, "
        f"{result['solo_requests']['cached']} cached): the time of one request without "
        "queueing")
    floor = result.get("floor")
    if floor:
        lines.append(
            f"load generator floor: the same clients against a fixed answer sent before the app "
            f"(HTTP, uvicorn and the clients only): p50 {_ms(floor['p50_s'])} ms, p95 "
            f"{_ms(floor['p95_s'])} ms, {_num(floor['requests_per_s'], 0)} req/s at "
            f"{result['concurrency']} clients; the clients share these CPUs with the server")
    return lines


EXPLANATION = [
    "Uncached: every request has its own `end`, one second apart, all past the last event "
    "(each covers the whole store, each is a new cache key: X-Cache miss). Cached: one "
    "request repeated after a warm-up (X-Cache hit). The events listing is not cached by the "
    "app: its second row repeats the same page (warm PostgreSQL buffers). The deep page "
    "starts at a cursor in the middle of the store.",
    "Phases (server side, mean per uncached request): HTTP + queue = client latency minus the "
    "time inside the app (waiting in uvicorn's event loop, HTTP, the client); SQL = executing "
    "the answer's statements (PostgreSQL and the transfer of the rows); analytics Python = the "
    "analytics function minus its SQL; cache = the data-version query and Redis; pool wait = "
    "waiting for a pooled connection; framework = the rest inside the app (FastAPI, "
    "threadpool hand-off, JSON rendering, request logs).",
]


def render_text(result: dict[str, Any]) -> str:
    parts = ["", *setup_lines(result), "", text_table(LOAD_HEADER, load_rows(result)), "",
             text_table(LATENCY_HEADER, latency_rows(result)), "",
             text_table(PHASE_HEADER, phase_rows(result))]
    if result.get("upload"):
        parts += ["", text_table(UPLOAD_HEADER, upload_rows(result))]
    parts += ["", text_table(CHECK_HEADER, check_rows(result))]
    parts += [f"note: {n}" for n in result["notes"]]
    parts += failure_lines(result)
    return "\n".join(parts) + "\n"


def failure_lines(result: dict[str, Any]) -> list[str]:
    out = []
    for name, entry in result.get("endpoints", {}).items():
        if isinstance(entry, dict) and entry.get("error"):
            out.append(f"{name} failed: {entry['error']}")
        for mode in ("uncached", "uncached_solo", "cached", "cached_solo"):
            batch = (entry or {}).get(mode) if isinstance(entry, dict) else None
            if batch and batch.get("first_error"):
                out.append(f"{name} ({mode}): {batch['errors']} errors, first: "
                           f"{batch['first_error']}")
    upload = result.get("upload") or {}
    for step in ("analyze", "ingest_file", "api"):
        if upload.get(step) and not upload[step].get("ok"):
            out.append(f"upload {step} failed: {upload[step].get('error')}")
    return out


def render_markdown(result: dict[str, Any]) -> str:
    parts = [f"# API benchmark, {result['date']}, commit {result['commit']}, "
             f"{result['events']:,} events", "",
             *[f"- {line}" for line in setup_lines(result)], "",
             markdown_table(LOAD_HEADER, load_rows(result)), "",
             markdown_table(LATENCY_HEADER, latency_rows(result)), "",
             markdown_table(PHASE_HEADER, phase_rows(result))]
    if result.get("upload"):
        parts += ["", markdown_table(UPLOAD_HEADER, upload_rows(result))]
    parts += ["", markdown_table(CHECK_HEADER, check_rows(result)), "",
              *[f"- {line}" for line in EXPLANATION]]
    if result["notes"]:
        parts += [*[f"- {n}" for n in result["notes"]]]
    if failures := failure_lines(result):
        parts += ["", "```", *failures, "```"]
    parts += ["", "Produced by `make bench-api` (benchmarks/bench_api.py); see the API section "
                  "of benchmarks/README.md."]
    return "\n".join(parts) + "\n"


def save(result: dict[str, Any]) -> list[Path]:
    """api-<date>-<commit> and api-latest (.md, .json), as the pipeline benchmark writes."""
    return pipeline.save(result, render_markdown(result), prefix="api-")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, help=f"events in the store (default "
                                                   f"{FULL_EVENTS:,}, --quick {QUICK_EVENTS:,})")
    parser.add_argument("--quick", action="store_true",
                        help="a fast run: small store, small budgets, a 100 k upload; results "
                             "go to benchmarks/data/results/")
    parser.add_argument("--server", default=os.environ.get("BENCH_SERVER_URL", LOCAL_SERVER),
                        help="PostgreSQL server (embedded when unreachable)")
    parser.add_argument("--redis", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS),
                        help="Redis for the analytics cache")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--workers", type=int,
                        help="server worker processes (default: as `dwell serve` would run, "
                             "DWELL_WORKERS or 1)")
    parser.add_argument("--shared-client", action="store_true",
                        help="all concurrent clients share one connection pool (httpx's "
                             "queueing adds a tail of its own) instead of one connection each")
    parser.add_argument("--endpoints", metavar="NAMES",
                        help="endpoint names to measure, separated by ';' (default: all), "
                             "e.g. 'kpis;timeseries?interval=hour'")
    parser.add_argument("--uncached-requests", type=int)
    parser.add_argument("--uncached-budget", type=float, metavar="SECONDS")
    parser.add_argument("--cached-requests", type=int)
    parser.add_argument("--cached-budget", type=float, metavar="SECONDS")
    parser.add_argument("--solo-uncached", type=int, default=SOLO_UNCACHED_REQUESTS,
                        help="uncached requests per endpoint at concurrency 1")
    parser.add_argument("--solo-cached", type=int, default=SOLO_CACHED_REQUESTS,
                        help="cached requests per endpoint at concurrency 1")
    parser.add_argument("--upload-rows", type=int,
                        help=f"rows of the upload file (default {UPLOAD_ROWS:,}, the pipeline "
                             f"benchmark's file; --quick {QUICK_UPLOAD_ROWS:,})")
    parser.add_argument("--skip-upload", action="store_true", help="leave out step 4")
    parser.add_argument("--store", metavar="URL",
                        help="measure the store already in this database instead of loading "
                             "one (it is left as it is); for quick comparisons of the endpoints")
    parser.add_argument("--serve", metavar="JSON", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.workers is None:
        from dwell.settings import get_settings

        args.workers = get_settings().workers
    defaults = ((QUICK_UNCACHED_MAX_REQUESTS, QUICK_UNCACHED_BUDGET_S, QUICK_CACHED_MAX_REQUESTS,
                 QUICK_CACHED_BUDGET_S) if args.quick else
                (UNCACHED_MAX_REQUESTS, UNCACHED_BUDGET_S, CACHED_MAX_REQUESTS, CACHED_BUDGET_S))
    for name, default in zip(("uncached_requests", "uncached_budget", "cached_requests",
                              "cached_budget"), defaults):
        if getattr(args, name) is None:
            setattr(args, name, default)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        serve(json.loads(args.serve))
        return 0
    result = benchmark(args)
    publish(render_text(result), save(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
