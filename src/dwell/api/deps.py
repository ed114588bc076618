"""FastAPI dependencies: services, a pooled connection, and the filters of SPEC §5.

Dependencies that never wait are `async def`: FastAPI runs a plain `def` one in a worker
thread, a hand-off that costs more than the work itself."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg
from fastapi import Depends, Query, Request

from dwell.analytics.filters import Filters
from dwell.api.errors import bad_parameter
from dwell.api.services import Services


async def get_services(request: Request) -> Services:
    return request.app.state.services


async def accepts_gzip(request: Request) -> bool:
    """Whether the client takes a gzip-encoded body (Accept-Encoding, RFC 9110 §12.5.3): an
    explicit `gzip` decides by its q-value, else `*` does; q=0 (or a bad q) refuses."""
    qualities: dict[str, bool] = {}
    for part in request.headers.get("accept-encoding", "").lower().split(","):
        coding, _, params = part.partition(";")
        quality = params.strip().removeprefix("q=").strip()
        try:
            qualities[coding.strip()] = not quality or float(quality) > 0
        except ValueError:
            qualities[coding.strip()] = False
    return qualities.get("gzip", qualities.get("*", False))


def get_conn(services: Annotated[Services, Depends(get_services)]) -> Iterator[psycopg.Connection]:
    with services.pool.connection() as conn:
        yield conn


async def reject_nul(request: Request) -> None:
    """A NUL character is never part of an id, a name or a cursor, and PostgreSQL text
    cannot hold one: a parameter with one is invalid (422), not a server error."""
    for name, value in (*request.path_params.items(), *request.query_params.multi_items()):
        if "\x00" in str(value):
            raise bad_parameter(name, f"{name}: must not contain a NUL character")


def check_tz(name: str, parameter: str = "tz") -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise bad_parameter(parameter, f"{parameter}: unknown time zone {name!r} "
                                       "(use an IANA name such as Europe/Berlin)") from None
    return name


def _aware(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment


async def get_filters(
    services: Annotated[Services, Depends(get_services)],
    start: Annotated[datetime | None, Query(
        description="Start of the range (inclusive), ISO 8601; UTC when no offset is given.",
        examples=["2024-03-04T00:00:00Z"])] = None,
    end: Annotated[datetime | None, Query(
        description="End of the range (exclusive), ISO 8601; UTC when no offset is given.",
        examples=["2024-03-11T00:00:00Z"])] = None,
    camera_id: Annotated[list[str], Query(description="Camera id; repeat for several.")] = [],  # noqa: B006
    person_id: Annotated[list[str], Query(description="Person id; repeat for several.")] = [],  # noqa: B006
    tz: Annotated[str | None, Query(
        description="IANA time zone of buckets and calendar days.",
        examples=["Europe/Berlin"])] = None,
) -> Filters:
    return make_filters(services, start, end, camera_id, person_id, tz)


def make_filters(services: Services, start: datetime | None, end: datetime | None,
                 camera_id: list[str], person_id: list[str], tz: str | None) -> Filters:
    """The filters of a request, checked (422 answers name the parameter)."""
    start, end = _aware(start), _aware(end)
    if start and end and end <= start:
        raise bad_parameter("end", "end: must be after start (the range is [start, end))")
    return Filters(start=start, end=end, camera_ids=tuple(camera_id), person_ids=tuple(person_id),
                   tz=check_tz(tz or services.settings.tz))


def filter_params(filters: Filters) -> dict:
    """The filters as cache-key material."""
    return {"start": filters.start.isoformat() if filters.start else None,
            "end": filters.end.isoformat() if filters.end else None,
            "camera_id": sorted(filters.camera_ids), "person_id": sorted(filters.person_ids),
            "tz": filters.tz}
