"""The FastAPI application: lifespan (store, pool, cache, workers), middleware, routers."""

from __future__ import annotations

import gc
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager

from fastapi import Depends, FastAPI
from psycopg_pool import AsyncConnectionPool, ConnectionPool
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dwell import __version__, metrics
from dwell.api import deps, errors
from dwell.api.services import Services
from dwell.cache import AnalyticsCache, CacheBackend, PostgresCache, RedisCache
from dwell.settings import Settings, get_settings
from dwell.store.connect import persistent_store
from dwell.store.migrations import migrate

log = logging.getLogger("dwell.api")

DESCRIPTION = """
Camera-event analytics over HTTP. Upload CSV event files, follow their processing, and ask for
dwell time, occupancy, visitors, trends, demographics and data quality.

Every analytics endpoint accepts the filters `start`, `end` (half-open `[start, end)`),
`camera_id` and `person_id` (repeatable) and, where it applies, `tz` and `interval`.
Errors always have the shape `{"error": {"kind", "message", "parameter"?}}`.
Send `Authorization: Bearer <key>` when the server has API keys.
"""


# Connections of the event loop's pool: the cache's data-version reads (one at a time, shared
# by the requests waiting for one) and the PostgreSQL cache backend's reads and writes.
ASYNC_POOL_SIZE = 4


def make_cache_backend(settings: Settings, pool: AsyncConnectionPool) -> CacheBackend:
    if settings.redis_url:
        return RedisCache(settings.redis_url)
    return PostgresCache(pool)


def freeze_startup_objects() -> None:
    """Keep what startup built (modules, the app, its routes and models, the pools) out of
    the cycle collector's scans: a full collection then walks only what requests allocate.
    Scanning the whole app took up to 66 ms, every request under way waiting: the slowest
    1% of cached answers. Garbage is collected first, so nothing dead is kept."""
    gc.collect()
    gc.freeze()


class Observe:
    """Request id, latency metric and one JSON log line per HTTP request (plain ASGI: no
    task or stream per request, unlike a BaseHTTPMiddleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                request_id = value.decode("latin-1")
                break
        request_id = request_id or uuid.uuid4().hex[:16]
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            path = getattr(scope.get("route"), "path", "unmatched")
            metrics.REQUEST_SECONDS.labels(scope["method"], path, str(status)).observe(seconds)
            log.info("request", extra={"request_id": request_id, "method": scope["method"],
                                       "route": path, "status": status,
                                       "ms": round(seconds * 1000, 2)})


def create_app(settings: Settings | None = None, *, conninfo: str | None = None,
               run_worker: bool | None = None) -> FastAPI:
    """The app. `conninfo` skips finding the store (tests pass their own database)."""
    settings = settings or get_settings()
    workers_inside = settings.run_worker if run_worker is None else run_worker

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with ExitStack() as stack:
            url = conninfo or stack.enter_context(persistent_store(settings))
            if conninfo:
                import psycopg

                with psycopg.connect(url, autocommit=True) as conn:
                    migrate(conn)
            pool = ConnectionPool(url, min_size=2, max_size=settings.pool_size,
                                  kwargs={"autocommit": True}, open=True)
            stack.callback(pool.close)
            async with AsyncConnectionPool(url, min_size=1, max_size=ASYNC_POOL_SIZE,
                                           kwargs={"autocommit": True}, open=False) as loop_pool:
                backend = make_cache_backend(settings, loop_pool)
                cache = AnalyticsCache(backend, loop_pool, settings.cache_ttl_s,
                                       on_result=metrics.record_cache,
                                       compute_slots=settings.compute_slots,
                                       memory_bytes=settings.memory_cache_bytes)
                services = Services(settings=settings, conninfo=url, pool=pool, cache=cache)
                app.state.services = services
                from dwell import jobs

                try:
                    async with jobs.lifespan(services, run_worker=workers_inside):
                        freeze_startup_objects()
                        try:
                            yield
                        finally:
                            gc.unfreeze()
                finally:
                    await backend.close()

    app = FastAPI(title="dwell", version=__version__, description=DESCRIPTION,
                  lifespan=lifespan, docs_url="/docs", openapi_url="/openapi.json",
                  dependencies=[Depends(deps.reject_nul)])
    errors.install(app)

    app.add_middleware(Observe)

    from dwell.api.routes import analytics, keys, ops, records, uploads

    for module in (ops, analytics, uploads, records, keys):
        app.include_router(module.router)
    from dwell.web import routes as web

    web.mount(app)
    return app
