"""The filters every analytics query accepts, SPEC §5."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Filters:
    """Half-open time range [start, end), cameras and persons (empty = all), and the time
    zone buckets and calendar days are taken in. Events filter by timestamp, sessions by entry."""

    start: datetime | None = None   # timezone-aware
    end: datetime | None = None
    camera_ids: tuple[str, ...] = ()
    person_ids: tuple[str, ...] = ()
    tz: str = "UTC"
