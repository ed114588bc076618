"""Every knob of SPEC.md with its default, read from the environment (prefix DWELL_)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DWELL_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        validation_alias="DATABASE_URL",
        description="PostgreSQL URL; unset starts an embedded PostgreSQL under data_dir.",
    )
    redis_url: str | None = Field(
        default=None,
        validation_alias="REDIS_URL",
        description="Redis URL for the analytics cache; unset caches in PostgreSQL.",
    )
    data_dir: Path = Field(
        default=Path.home() / ".local" / "share" / "dwell",
        description="Where the embedded PostgreSQL keeps its files.",
    )
    source_tz: str = "UTC"
    tz: str = "UTC"
    duplicate_window_s: float = 0.0
    max_session_s: float = 86400.0
    future_tolerance_s: float = 86400.0
    max_upload_bytes: int = 2 * 1024**3
    cache_ttl_s: int = 3600
    memory_cache_bytes: int = Field(
        default=64 * 1024**2, ge=0,
        description="Recent answers each server process also keeps in its own memory, in "
                    "front of Redis or PostgreSQL (0: none).")
    chunk_bytes: int = Field(default=16 * 1024**2, ge=64 * 1024,
                             description="Block size of the streaming CSV reader.")
    # A larger file is hashed by person into parts spilled to disk and processed one part at
    # a time: an upload's memory is then bounded by `part_rows`, not by the file.
    spill_above_bytes: int = Field(default=128 * 1024**2, ge=0,
                                   description="Files above this size are processed in parts.")
    part_rows: int = Field(default=1_000_000, ge=1000,
                           description="About this many rows per part of a large file.")
    run_worker: bool = Field(default=True, description="Process uploads inside `dwell serve`.")
    worker_concurrency: int = 2
    compute_slots: int = Field(default_factory=lambda: max(2, os.cpu_count() or 2), ge=1,
                               description="Analytics answers computed at once per process; "
                                           "more requests wait their turn.")
    pool_size: int = 20
    # One by default: each process runs its own upload workers (worker_concurrency ingests at
    # a time, each up to ~1 GB), keeps its own /metrics counters (a scrape sees one process)
    # and its own memo of the API key count. More processes help where clients are elsewhere
    # and CPUs are free; on 2 CPUs shared with the clients, two were slower than one.
    workers: int = Field(default=1, ge=1, description="HTTP worker processes of `dwell serve` "
                         "(`--workers`).")
    upload_dir: Path | None = Field(default=None, description="Where uploads are spooled; "
                                    "default: data_dir/uploads.")


def get_settings() -> Settings:
    return Settings()
