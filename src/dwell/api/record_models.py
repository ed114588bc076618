"""Response models of the raw-data endpoints (events, sessions, cameras, persons), for OpenAPI."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

_NEXT_CURSOR = ("Pass as `cursor` for the next page; null on the last page. Opaque: pass it back "
                "unchanged.")


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class EventRecord(_Model):
    id: int = Field(examples=[10452])
    ts: str = Field(description="The event's instant, ISO 8601 UTC.",
                    examples=["2024-03-05T14:02:11.250Z"])
    person_id: str = Field(examples=["P-0042"])
    camera_id: str = Field(examples=["entrance-1"])
    event_type: str = Field(description="entry, exit or other.", examples=["entry"])
    raw_event_type: str = Field(description="The value as it was in the file.", examples=["IN"])
    session_id: int | None = Field(description="The session the event opens or closes; null for "
                                   "an orphan exit or an `other` event.", examples=[812])
    dwell_s: float | None = Field(description="The dwell of that session when it is complete.",
                                  examples=[754.5])
    upload_id: int = Field(examples=[3])
    line: int = Field(description="Physical line in the uploaded file, header = 1.", examples=[118])
    attributes: dict[str, str | None] | None = Field(
        description="The file's other columns, as text.",
        examples=[{"age_group": "25-34", "gender": "f"}])


class SessionRecord(_Model):
    id: int = Field(examples=[812])
    person_id: str = Field(examples=["P-0042"])
    camera_id: str = Field(examples=["entrance-1"])
    entry: str = Field(description="Entry instant, ISO 8601 UTC.",
                       examples=["2024-03-05T14:02:11.250Z"])
    exit: str | None = Field(description="Exit instant; null unless complete.",
                             examples=["2024-03-05T14:14:45.750Z"])
    status: str = Field(description="complete, missing_exit or open.", examples=["complete"])
    dwell_s: float | None = Field(description="exit - entry in seconds; null unless complete.",
                                  examples=[754.5])
    attributes: dict[str, str | None] | None = Field(
        description="The attributes of the entry event.", examples=[{"age_group": "25-34"}])


class CameraRecord(_Model):
    camera_id: str = Field(examples=["entrance-1"])
    first_seen: str = Field(description="Its first event, ISO 8601 UTC.",
                            examples=["2024-03-04T08:00:03Z"])
    last_seen: str = Field(description="Its last event, ISO 8601 UTC.",
                           examples=["2024-03-10T21:59:40Z"])
    events: int = Field(examples=[18250])
    unique_visitors: int = Field(description="Distinct persons among its events.", examples=[2301])
    sessions: int = Field(description="Its sessions, every status.", examples=[8840])


class EventPage(_Model):
    items: list[EventRecord]
    next_cursor: str | None = Field(description=_NEXT_CURSOR, examples=[None])


class SessionPage(_Model):
    items: list[SessionRecord]
    next_cursor: str | None = Field(description=_NEXT_CURSOR, examples=[None])


class CameraPage(_Model):
    items: list[CameraRecord]
    next_cursor: str | None = Field(description=_NEXT_CURSOR, examples=[None])


class PersonSummary(_Model):
    first_seen: str | None = Field(examples=["2024-03-04T10:12:00Z"])
    last_seen: str | None = Field(examples=["2024-03-09T17:40:21Z"])
    events: int = Field(examples=[14])
    cameras: list[str] = Field(description="The cameras that saw the person, in id order.",
                               examples=[["entrance-1", "shelf-3"]])
    visits: int = Field(description="Distinct calendar days (in `tz`) with an event.", examples=[3])
    complete_sessions: int = Field(examples=[6])
    total_dwell_s: float | None = Field(description="Sum of complete sessions' dwell.",
                                        examples=[4210.5])
    avg_dwell_s: float | None = Field(description="Mean of complete sessions' dwell.",
                                      examples=[701.75])


class PersonTimeline(_Model):
    person_id: str = Field(examples=["P-0042"])
    summary: PersonSummary
    events: EventPage = Field(description="The person's events by time; page on with "
                                          "`events_cursor`.")
    sessions: SessionPage = Field(description="The person's sessions by entry; page on with "
                                              "`sessions_cursor`.")
