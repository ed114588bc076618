"""The FastAPI application: lifespan (store, pool, cache, workers), middleware, routers."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager

from fastapi import FastAPI, Request, Response
from psycopg_pool import ConnectionPool

from dwell import __version__, metrics
from dwell.api import errors
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


def make_cache_backend(settings: Settings, pool: ConnectionPool) -> CacheBackend:
    if settings.redis_url:
        return RedisCache(settings.redis_url)
    return PostgresCache(pool)


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
            cache = AnalyticsCache(make_cache_backend(settings, pool), pool, settings.cache_ttl_s,
                                   on_result=metrics.record_cache)
            services = Services(settings=settings, conninfo=url, pool=pool, cache=cache)
            app.state.services = services
            from dwell import jobs

            async with jobs.lifespan(services, run_worker=workers_inside):
                yield

    app = FastAPI(title="dwell", version=__version__, description=DESCRIPTION,
                  lifespan=lifespan, docs_url="/docs", openapi_url="/openapi.json")
    errors.install(app)

    @app.middleware("http")
    async def observe(request: Request, call_next) -> Response:
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex[:16]
        started = time.perf_counter()
        response = await call_next(request)
        seconds = time.perf_counter() - started
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.REQUEST_SECONDS.labels(request.method, path, str(response.status_code)).observe(seconds)
        response.headers["X-Request-ID"] = request_id
        log.info("request", extra={"request_id": request_id, "method": request.method,
                                   "route": path, "status": response.status_code,
                                   "ms": round(seconds * 1000, 2)})
        return response

    from dwell.api.routes import analytics, keys, ops, records, uploads

    for module in (ops, analytics, uploads, records, keys):
        app.include_router(module.router)
    from dwell.web import routes as web

    web.mount(app)
    return app
