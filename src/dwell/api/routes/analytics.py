"""Analytics endpoints: thin wrappers over `dwell.analytics`, cached by data version.

The handlers are `async def`: a cached answer is looked up and sent from the event loop, its
stored bytes as they are; only a miss computes (and renders) in a worker thread."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse, Response

from dwell import analytics
from dwell.analytics import charts
from dwell.analytics.filters import Filters
from dwell.api.deps import accepts_gzip, filter_params, get_filters, get_services
from dwell.api.errors import ERROR_RESPONSES, ApiError, ErrorBody, bad_parameter
from dwell.api.models import Bucket, CameraStats, Chart, Group, Kpis, OccupancyBucket, RepeatVisitors, Report
from dwell.api.security import require
from dwell.api.services import Services
from dwell.cache import Answer, render_json
from dwell.store import uploads

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"], responses=ERROR_RESPONSES,
                   dependencies=[Depends(require("viewer"))])

Interval = Annotated[Literal["hour", "day", "week"], Query(
    description="Bucket size: hour, day or ISO week (Monday first), in `tz`.")]
_PARAMETER = re.compile(r"^([a-z_]+):")


def send(answer: Answer, hit: bool, gzip_ok: bool) -> Response:
    """The answer with `X-Cache: hit|miss`, gzip-encoded when it is stored so and the client
    takes it."""
    headers = {"X-Cache": "hit" if hit else "miss", "Vary": "Accept-Encoding"}
    if answer.gzipped and gzip_ok:
        headers["Content-Encoding"] = "gzip"
        return Response(answer.data, media_type="application/json", headers=headers)
    return Response(answer.json(), media_type="application/json", headers=headers)


async def answer(services: Services, name: str, filters: Filters, extra: dict[str, Any],
                 compute: Callable[[psycopg.Connection], Any], gzip_ok: bool) -> Response:
    """Compute (or fetch from the cache) and answer with `X-Cache: hit|miss`."""

    def run() -> bytes:
        with services.pool.connection() as conn:
            try:
                return render_json(compute(conn))
            except ValueError as exc:
                message = str(exc)
                found = _PARAMETER.match(message)
                raise bad_parameter(found.group(1) if found else name, message) from exc

    params = {**filter_params(filters), **extra}
    cached, hit = await services.cache.get_or_compute(name, params, run)
    return send(cached, hit, gzip_ok)


Svc = Annotated[Services, Depends(get_services)]
Flt = Annotated[Filters, Depends(get_filters)]
Gzip = Annotated[bool, Depends(accepts_gzip)]


@router.get("/kpis", response_model=Kpis, summary="Key figures (SPEC §6)")
async def kpis(services: Svc, filters: Flt, gzip_ok: Gzip) -> Response:
    return await answer(services, "kpis", filters, {}, lambda c: analytics.kpis(c, filters),
                        gzip_ok)


@router.get("/report", response_model=Report, summary="The whole report, as `dwell analyze --json`")
async def report(services: Svc, filters: Flt, gzip_ok: Gzip) -> Response:
    return await answer(services, "report", filters, {}, lambda c: analytics.report(c, filters),
                        gzip_ok)


@router.get("/timeseries", response_model=list[Bucket], summary="Trends per bucket (SPEC §8)")
async def timeseries(services: Svc, filters: Flt, gzip_ok: Gzip,
                     interval: Interval = "hour") -> Response:
    return await answer(services, "timeseries", filters, {"interval": interval},
                        lambda c: analytics.timeseries(c, filters, interval), gzip_ok)


@router.get("/occupancy", response_model=list[OccupancyBucket],
            summary="Peak and mean occupancy per bucket (SPEC §7)")
async def occupancy(services: Svc, filters: Flt, gzip_ok: Gzip,
                    interval: Interval = "hour") -> Response:
    return await answer(services, "occupancy", filters, {"interval": interval},
                        lambda c: analytics.occupancy(c, filters, interval), gzip_ok)


@router.get("/dwell", response_model=list[Group], summary="Dwell statistics by group (SPEC §10)")
async def dwell(services: Svc, filters: Flt, gzip_ok: Gzip,
                group_by: Annotated[str, Query(
                    description="person, camera, hour, day, week, or attribute:<name>",
                    examples=["camera", "attribute:age_group"])] = "camera") -> Response:
    return await answer(services, "dwell", filters, {"group_by": group_by},
                        lambda c: analytics.dwell_groups(c, filters, group_by), gzip_ok)


@router.get("/repeat-visitors", response_model=RepeatVisitors, summary="Repeat visitors (SPEC §9)")
async def repeat_visitors(services: Svc, filters: Flt, gzip_ok: Gzip) -> Response:
    return await answer(services, "repeat", filters, {},
                        lambda c: analytics.repeat_visitors(c, filters), gzip_ok)


@router.get("/per-camera", response_model=dict[str, CameraStats], summary="Statistics per camera")
async def per_camera(services: Svc, filters: Flt, gzip_ok: Gzip) -> Response:
    return await answer(services, "per_camera", filters, {},
                        lambda c: analytics.per_camera(c, filters), gzip_ok)


@router.get("/demographics", response_model=list[Group],
            summary="Visitors and dwell by an attribute (age_group, gender, ...)")
async def demographics(services: Svc, filters: Flt, gzip_ok: Gzip,
                       attribute: Annotated[str, Query(
                           description="An attribute column of the uploads.",
                           examples=["age_group"])]) -> Response:
    return await answer(services, "demographics", filters, {"attribute": attribute},
                        lambda c: analytics.demographics(c, filters, attribute), gzip_ok)


@router.get("/charts/{name}", response_model=Chart, summary="Chart-ready labels and series",
            responses={404: {"model": ErrorBody, "description": "No chart has this name."}})
async def chart(services: Svc, filters: Flt, gzip_ok: Gzip,
                name: Annotated[str, Path(description=f"One of: {', '.join(charts.CHARTS)}")],
                interval: Interval = "day",
                attribute: Annotated[str | None, Query(
                    description="For the demographics chart.")] = None,
                ) -> Response:
    if name not in charts.CHARTS:
        raise ApiError(404, "not_found", f"name: unknown chart {name!r}; "
                       f"choose one of {', '.join(charts.CHARTS)}", "name")
    return await answer(services, f"chart:{name}", filters,
                        {"interval": interval, "attribute": attribute},
                        lambda c: charts.chart(c, name, filters, interval=interval,
                                               attribute=attribute), gzip_ok)


@router.get("/quality", summary="Data quality over all uploads")
def quality(services: Svc) -> JSONResponse:
    with services.pool.connection() as conn:
        return JSONResponse(uploads.quality_summary(conn))
