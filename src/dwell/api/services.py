"""What every request needs: settings, the connection pool and the cache."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from psycopg_pool import ConnectionPool

from dwell.cache import AnalyticsCache
from dwell.settings import Settings


@dataclass
class Services:
    settings: Settings
    conninfo: str
    pool: ConnectionPool
    cache: AnalyticsCache
    extras: dict[str, Any] = field(default_factory=dict)  # e.g. the job queue
