"""Turning database values into the JSON-ready values of SPEC §12."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal


def iso_utc(moment: datetime | None) -> str | None:
    """`2024-03-05T14:00:00Z`, with `.123` only when the milliseconds are not zero."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("iso_utc needs a timezone-aware datetime")
    utc = moment.astimezone(timezone.utc)
    text = utc.isoformat()  # 2024-03-05T14:00:00[.123456]+00:00
    return f"{text[:23]}Z" if utc.microsecond // 1000 else f"{text[:19]}Z"


def seconds(value: float | Decimal | None) -> float | None:
    """A duration or statistic: a float, or None when there was no data."""
    return None if value is None else float(value)


def count(value: int | Decimal | None) -> int:
    """A count: an int, 0 when there was no data."""
    return 0 if value is None else int(value)
