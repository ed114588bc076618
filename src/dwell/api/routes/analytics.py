"""Analytics endpoints: thin wrappers over `dwell.analytics`, cached by data version."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse

from dwell import analytics
from dwell.analytics import charts
from dwell.analytics.filters import Filters
from dwell.api.deps import filter_params, get_filters, get_services
from dwell.api.errors import ERROR_RESPONSES, ApiError, bad_parameter
from dwell.api.models import Bucket, CameraStats, Chart, Group, Kpis, OccupancyBucket, RepeatVisitors, Report
from dwell.api.security import require
from dwell.api.services import Services
from dwell.store import uploads

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"], responses=ERROR_RESPONSES,
                   dependencies=[Depends(require("viewer"))])

Interval = Annotated[Literal["hour", "day", "week"], Query(
    description="Bucket size: hour, day or ISO week (Monday first), in `tz`.")]
_PARAMETER = re.compile(r"^([a-z_]+):")


def answer(services: Services, name: str, filters: Filters, extra: dict[str, Any],
           compute: Callable[[psycopg.Connection], Any]) -> JSONResponse:
    """Compute (or fetch from the cache) and answer with `X-Cache: hit|miss`."""

    def run() -> Any:
        with services.pool.connection() as conn:
            try:
                return compute(conn)
            except ValueError as exc:
                message = str(exc)
                found = _PARAMETER.match(message)
                raise bad_parameter(found.group(1) if found else name, message) from exc

    params = {**filter_params(filters), **extra}
    value, hit = services.cache.get_or_compute(name, params, run)
    return JSONResponse(value, headers={"X-Cache": "hit" if hit else "miss"})


Svc = Annotated[Services, Depends(get_services)]
Flt = Annotated[Filters, Depends(get_filters)]


@router.get("/kpis", response_model=Kpis, summary="Key figures (SPEC §6)")
def kpis(services: Svc, filters: Flt) -> JSONResponse:
    return answer(services, "kpis", filters, {}, lambda c: analytics.kpis(c, filters))


@router.get("/report", response_model=Report, summary="The whole report, as `dwell analyze --json`")
def report(services: Svc, filters: Flt) -> JSONResponse:
    return answer(services, "report", filters, {}, lambda c: analytics.report(c, filters))


@router.get("/timeseries", response_model=list[Bucket], summary="Trends per bucket (SPEC §8)")
def timeseries(services: Svc, filters: Flt, interval: Interval = "hour") -> JSONResponse:
    return answer(services, "timeseries", filters, {"interval": interval},
                  lambda c: analytics.timeseries(c, filters, interval))


@router.get("/occupancy", response_model=list[OccupancyBucket],
            summary="Peak and mean occupancy per bucket (SPEC §7)")
def occupancy(services: Svc, filters: Flt, interval: Interval = "hour") -> JSONResponse:
    return answer(services, "occupancy", filters, {"interval": interval},
                  lambda c: analytics.occupancy(c, filters, interval))


@router.get("/dwell", response_model=list[Group], summary="Dwell statistics by group (SPEC §10)")
def dwell(services: Svc, filters: Flt,
          group_by: Annotated[str, Query(
              description="person, camera, hour, day, week, or attribute:<name>",
              examples=["camera", "attribute:age_group"])] = "camera") -> JSONResponse:
    return answer(services, "dwell", filters, {"group_by": group_by},
                  lambda c: analytics.dwell_groups(c, filters, group_by))


@router.get("/repeat-visitors", response_model=RepeatVisitors, summary="Repeat visitors (SPEC §9)")
def repeat_visitors(services: Svc, filters: Flt) -> JSONResponse:
    return answer(services, "repeat", filters, {}, lambda c: analytics.repeat_visitors(c, filters))


@router.get("/per-camera", response_model=dict[str, CameraStats], summary="Statistics per camera")
def per_camera(services: Svc, filters: Flt) -> JSONResponse:
    return answer(services, "per_camera", filters, {}, lambda c: analytics.per_camera(c, filters))


@router.get("/demographics", response_model=list[Group],
            summary="Visitors and dwell by an attribute (age_group, gender, ...)")
def demographics(services: Svc, filters: Flt,
                 attribute: Annotated[str, Query(description="An attribute column of the uploads.",
                                                 examples=["age_group"])]) -> JSONResponse:
    return answer(services, "demographics", filters, {"attribute": attribute},
                  lambda c: analytics.demographics(c, filters, attribute))


@router.get("/charts/{name}", response_model=Chart, summary="Chart-ready labels and series")
def chart(services: Svc, filters: Flt,
          name: Annotated[str, Path(description=f"One of: {', '.join(charts.CHARTS)}")],
          interval: Interval = "day",
          attribute: Annotated[str | None, Query(description="For the demographics chart.")] = None,
          ) -> JSONResponse:
    if name not in charts.CHARTS:
        raise ApiError(404, "not_found", f"name: unknown chart {name!r}; "
                       f"choose one of {', '.join(charts.CHARTS)}", "name")
    return answer(services, f"chart:{name}", filters,
                  {"interval": interval, "attribute": attribute},
                  lambda c: charts.chart(c, name, filters, interval=interval, attribute=attribute))


@router.get("/quality", summary="Data quality over all uploads")
def quality(services: Svc) -> JSONResponse:
    with services.pool.connection() as conn:
        return JSONResponse(uploads.quality_summary(conn))
