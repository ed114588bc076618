"""Raw-data endpoints: events, sessions, cameras and one person's timeline, keyset-paginated."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse

from dwell.analytics.filters import Filters
from dwell.api.deps import get_conn, get_filters, get_services, make_filters
from dwell.api.errors import ERROR_RESPONSES, ApiError, ErrorBody, bad_parameter
from dwell.api.record_models import CameraPage, EventPage, PersonTimeline, SessionPage
from dwell.api.security import require
from dwell.api.services import Services
from dwell.cache import render_json
from dwell.store import records

router = APIRouter(prefix="/api/v1", tags=["records"], responses=ERROR_RESPONSES,
                   dependencies=[Depends(require("viewer"))])

Conn = Annotated[psycopg.Connection, Depends(get_conn)]
Svc = Annotated[Services, Depends(get_services)]
Flt = Annotated[Filters, Depends(get_filters)]
Limit = Annotated[int, Query(ge=1, le=records.MAX_LIMIT,
                             description=f"Rows per page, 1 to {records.MAX_LIMIT}.")]
Cursor = Annotated[str | None, Query(
    description="The `next_cursor` of the previous page; omit for the first page.")]

_NOT_FOUND = {404: {"model": ErrorBody, "description": "No event of this person is stored."}}


def _paged(fetch: Callable[[], Any]) -> Any:
    """Run a store call, turning its complaints into 422 answers naming the parameter."""
    try:
        return fetch()
    except records.InvalidCursor as exc:
        raise bad_parameter(exc.parameter, f"{exc.parameter}: {exc}") from exc
    except ValueError as exc:
        message = str(exc)
        raise bad_parameter(message.split(":", 1)[0] if ":" in message else "request",
                            message) from exc


@router.get("/events", response_model=EventPage, summary="Stored events, by time")
def events(conn: Conn, filters: Flt, limit: Limit = 50, cursor: Cursor = None,
           event_type: Annotated[Literal["entry", "exit", "other"] | None, Query(
               description="Only events of this normalized type.")] = None,
           upload_id: Annotated[int | None, Query(
               description="Only events of this upload.")] = None) -> JSONResponse:
    """Events in `[start, end)` by timestamp, ordered by (ts, id). Pages never skip or repeat
    an event, even while uploads add events between two requests."""
    page = _paged(lambda: records.events_page(conn, filters, limit=limit, cursor=cursor,
                                              event_type=event_type, upload_id=upload_id))
    return JSONResponse(page.as_dict())


@router.get("/sessions", response_model=SessionPage, summary="Sessions, by entry time")
def sessions(conn: Conn, filters: Flt, limit: Limit = 50, cursor: Cursor = None,
             status: Annotated[Literal["complete", "missing_exit", "open"] | None, Query(
                 description="Only sessions with this status.")] = None) -> JSONResponse:
    """Sessions whose entry is in `[start, end)`, ordered by (entry, id)."""
    page = _paged(lambda: records.sessions_page(conn, filters, limit=limit, cursor=cursor,
                                                status=status))
    return JSONResponse(page.as_dict())


@router.get("/cameras", response_model=CameraPage, summary="Every camera and its activity")
async def cameras(services: Svc, limit: Limit = 50, cursor: Cursor = None) -> JSONResponse:
    """Every camera seen in the events, by camera_id, with its first and last event, events,
    unique visitors and sessions. Computed once per data version."""

    def compute() -> bytes:
        with services.pool.connection() as conn:
            return render_json(records.all_cameras(conn))

    cached, hit = await services.cache.get_or_compute("cameras", {}, compute)
    everything = json.loads(cached.json())
    page = _paged(lambda: records.cameras_page(everything, limit=limit, cursor=cursor))
    return JSONResponse(page.as_dict(), headers={"X-Cache": "hit" if hit else "miss"})


@router.get("/persons/{person_id:path}", response_model=PersonTimeline, responses=_NOT_FOUND,
            summary="One person's timeline")
def person(
    conn: Conn, services: Svc,
    person_id: Annotated[str, Path(description="The person's id as in the files.")],
    start: Annotated[datetime | None, Query(description="Start of the range (inclusive), "
                                            "ISO 8601; UTC when no offset is given.")] = None,
    end: Annotated[datetime | None, Query(description="End of the range (exclusive), "
                                          "ISO 8601; UTC when no offset is given.")] = None,
    camera_id: Annotated[list[str], Query(description="Camera id; repeatable.")] = [],  # noqa: B006
    tz: Annotated[str | None, Query(description="IANA time zone of the calendar days that make "
                                                "visits.")] = None,
    limit: Limit = 50,
    events_cursor: Annotated[str | None, Query(
        description="The `events.next_cursor` of the previous answer.")] = None,
    sessions_cursor: Annotated[str | None, Query(
        description="The `sessions.next_cursor` of the previous answer.")] = None,
) -> JSONResponse:
    """Summary (first and last seen, events, cameras, visits, complete sessions, total and
    average dwell) and the person's events and sessions, each a page of at most `limit`."""
    filters = make_filters(services, start, end, camera_id, [], tz)
    timeline = _paged(lambda: records.person_timeline(
        conn, person_id, filters, limit=limit, events_cursor=events_cursor,
        sessions_cursor=sessions_cursor))
    if timeline is None:
        raise ApiError(404, "not_found", f"person_id: no event of person {person_id!r} is stored",
                       "person_id")
    return JSONResponse(timeline)
