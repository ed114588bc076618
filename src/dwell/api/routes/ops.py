"""Liveness, readiness and Prometheus metrics: open, no key needed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from dwell import metrics
from dwell.api.deps import get_services
from dwell.api.services import Services

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Alive")
def healthz() -> dict[str, str]:
    """The process answers. Says nothing about its database or cache (see /readyz)."""
    return {"status": "ok"}


def database_ping(services: Services) -> None:
    with services.pool.connection(timeout=2) as conn:
        conn.execute("SELECT 1")


@router.get("/readyz", summary="Database and cache reachable",
            responses={503: {"description": "A dependency does not answer."}})
async def readyz(services: Annotated[Services, Depends(get_services)]) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        await run_in_threadpool(database_ping, services)
        checks["database"] = "ok"
    except Exception as exc:  # readiness reports, it does not raise
        checks["database"] = f"unreachable: {exc}"
    try:
        await services.cache.backend.ping()
        checks["cache"] = f"ok ({services.cache.backend.name})"
    except Exception as exc:
        checks["cache"] = f"unreachable ({services.cache.backend.name}): {exc}"
    ready = all(value.startswith("ok") for value in checks.values())
    return JSONResponse({"status": "ready" if ready else "not_ready", "checks": checks},
                        status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def prometheus_metrics(services: Annotated[Services, Depends(get_services)]) -> Response:
    try:
        with services.pool.connection(timeout=2) as conn:
            (depth,) = conn.execute(
                "SELECT count(*) FROM uploads WHERE status IN ('queued', 'processing')").fetchone()
        metrics.QUEUE_DEPTH.set(depth)
    except Exception:  # metrics must still be served when the database is down
        pass
    return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)
