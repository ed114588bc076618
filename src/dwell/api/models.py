"""Response models: they document the API (OpenAPI) with the names of SPEC §12."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class SessionCounts(_Model):
    complete: int = Field(examples=[812])
    missing_exit: int = Field(examples=[17])
    open: int = Field(examples=[3])


class Kpis(_Model):
    total_events: int = Field(examples=[1700])
    unique_visitors: int = Field(examples=[240])
    active_cameras: int = Field(examples=[4])
    sessions: SessionCounts
    orphan_exits: int = Field(examples=[9])
    avg_dwell_s: float | None = Field(examples=[612.4])
    median_dwell_s: float | None = Field(examples=[480.0])
    max_dwell_s: float | None = Field(examples=[3540.5])
    min_dwell_s: float | None = Field(examples=[12.0])
    p90_dwell_s: float | None = Field(examples=[1320.0])
    avg_dwell_per_person_s: float | None = Field(examples=[1650.2])
    peak_occupancy: int = Field(examples=[14])
    peak_occupancy_at: str | None = Field(examples=["2024-03-05T12:31:07Z"])


class Bucket(_Model):
    bucket: str = Field(description="Bucket start, a UTC instant.", examples=["2024-03-05T12:00:00Z"])
    events: int
    entries: int
    exits: int
    unique_visitors: int
    sessions_started: int
    avg_dwell_s: float | None
    median_dwell_s: float | None
    max_dwell_s: float | None
    peak_occupancy: int
    mean_occupancy: float


class OccupancyBucket(_Model):
    bucket: str = Field(examples=["2024-03-05T12:00:00Z"])
    peak_occupancy: int
    mean_occupancy: float
    visitors: int


class RepeatVisitors(_Model):
    unique_visitors: int
    repeat_visitors: int
    repeat_rate: float | None
    visits_per_person: dict[str, int] = Field(examples=[{"1": 180, "2": 45, "3": 15}])
    mean_days_between_visits: float | None


class CameraStats(_Model):
    events: int
    unique_visitors: int
    complete_sessions: int
    avg_dwell_s: float | None
    median_dwell_s: float | None
    max_dwell_s: float | None


class Group(_Model):
    group: Any = Field(description="The group's key; null for a missing attribute value.")
    events: int
    unique_visitors: int
    sessions: int


class Report(_Model):
    kpis: Kpis
    hourly: list[Bucket]
    daily: list[Bucket]
    repeat: RepeatVisitors
    per_camera: dict[str, CameraStats]


class Chart(_Model):
    name: str = Field(examples=["visitors"])
    title: str = Field(examples=["Visitors and events over time"])
    labels: list[Any] = Field(examples=[["2024-03-05T00:00:00Z", "2024-03-06T00:00:00Z"]])
    series: list[dict[str, Any]] = Field(
        examples=[[{"name": "unique_visitors", "data": [120, 98]}]])


class Page(_Model):
    items: list[dict[str, Any]]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at the end.")
