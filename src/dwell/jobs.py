"""The upload job queue. (First cut: no background workers.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any


@asynccontextmanager
async def lifespan(services: Any, *, run_worker: bool) -> AsyncIterator[None]:
    yield
