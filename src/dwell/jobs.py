"""The upload job queue: procrastinate on the store's own PostgreSQL.

`POST /api/v1/uploads` spools the file, inserts the `uploads` row ('queued', options in
`params`) and defers `dwell.process_upload`. Any worker sharing the database takes it: the
ones inside `dwell serve` (unless `run_worker` is off) and `dwell worker` processes on other
machines, which must see the spooled file at the same path (a shared `upload_dir`).

A job runs the synchronous `ingest_file` in a thread; its progress goes to the uploads row
through a connection of its own, so readers see it while the ingest transaction is open.

Nothing stays 'queued' or 'processing' forever. Every worker sweeps at start and then every
`SWEEP_INTERVAL_S`:

- a job whose worker stopped sending heartbeats (killed machine, `kill -9`) for
  `STALLED_AFTER_S` goes back to the queue and runs again; the ingest transaction of the
  dead run was rolled back by PostgreSQL, so nothing is counted twice (a job that lost its
  database connection is retried the same way, with its file, up to 5 attempts);
- an upload older than `LOST_AFTER_S` that is still queued or processing with no job waiting
  or running (the server stopped between storing the row and deferring its job, or the job
  record was deleted) is marked failed, kind `upload_lost`, asking for the file again. A
  job whose spooled file is gone ends the same way.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import fields
from pathlib import Path
from typing import Any

import procrastinate
import psycopg
from procrastinate.schema import SchemaManager
from psycopg.types.json import Jsonb

from dwell import metrics
from dwell.analytics import hourly
from dwell.ingest.errors import UploadRejected
from dwell.ingest.pipeline import IngestOptions, Progress, ingest_file
from dwell.ingest.spill import DEFAULT_PARTITIONING, Partitioning
from dwell.settings import Settings
from dwell.store import uploads

log = logging.getLogger(__name__)

TASK_NAME = "dwell.process_upload"
QUEUE = "uploads"
SCHEMA_LOCK = 0x6477656C6C02        # serializes servers creating the queue's tables
UPLOAD_LOCK_CLASS = 0x64776C        # (class, upload id): one run of an upload at a time
PROGRESS_INTERVAL_S = 0.25          # progress rows are written at most ~4 times a second
SWEEP_INTERVAL_S = 60.0
STALLED_AFTER_S = 60.0              # worker heartbeats come every 10 s
LOST_AFTER_S = 120.0
RESTART_DELAY_S = 5.0
SPOOL_PREFIX = "spool-"
# The database going away mid-job: the job runs again later, with its spooled file.
RETRY = procrastinate.RetryStrategy(max_attempts=5, exponential_wait=5,
                                    retry_exceptions={psycopg.OperationalError})

LOST_UPLOADS_SQL = """
    WITH lost AS (
        UPDATE uploads u
        SET status = 'failed', error = %(error)s, finished_at = now()
        WHERE u.status IN ('queued', 'processing')
          AND u.created_at < now() - make_interval(secs => %(grace_s)s)
          AND NOT EXISTS (
              SELECT 1 FROM procrastinate_jobs j
              WHERE j.task_name = %(task)s AND j.status IN ('todo', 'doing')
                AND j.args ->> 'upload_id' = u.id::text)
        RETURNING u.id
    )
    SELECT lost.id,
           (SELECT j.args ->> 'path' FROM procrastinate_jobs j
            WHERE j.task_name = %(task)s AND j.args ->> 'upload_id' = lost.id::text
            ORDER BY j.id DESC LIMIT 1)
    FROM lost ORDER BY lost.id
"""
LOST_ERROR = {
    "kind": "upload_lost",
    "message": "The upload was not processed: no job is left to process it (a server stopped "
               "before it ran, or the job failed). Upload the file again.",
}
MISSING_FILE_ERROR = {
    "kind": "upload_lost",
    "message": "The uploaded file is no longer on the server that processes it (is the upload "
               "directory shared with the workers?). Upload the file again.",
}


def spool_root(settings: Settings) -> Path:
    """Where uploads wait for their job: `upload_dir`, else `data_dir/uploads`."""
    return Path(settings.upload_dir or Path(settings.data_dir) / "uploads")


def spool_path(root: Path, filename: str) -> Path:
    """A new spool file: `root/spool-<random>/<filename>`, so that messages about the file
    (UploadRejected names `path.name`) show the name the user sent."""
    folder = root / f"{SPOOL_PREFIX}{secrets.token_hex(8)}"
    folder.mkdir(parents=True)
    return folder / filename


def remove_spooled(path: Path) -> None:
    """Delete a spooled file and its per-upload directory."""
    with suppress(FileNotFoundError):
        path.unlink()
    if path.parent.name.startswith(SPOOL_PREFIX):
        with suppress(OSError):
            path.parent.rmdir()


def ensure_schema(conninfo: str) -> bool:
    """Create procrastinate's tables unless they exist; True when created. Idempotent and safe
    when several servers start at once (they queue on an advisory lock)."""
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        row = conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").fetchone()
        if row and row[0]:
            return False
        conn.execute(SchemaManager.get_schema())  # no parameters: sent as is
        log.info("job queue tables created")
        return True


def build_app(conninfo: str, settings: Settings,
              after_upload: Callable[[], None] | None = None) -> procrastinate.App:
    """The job queue on `conninfo`, with the upload task registered; `after_upload` runs
    (in a thread) after each upload this process ingests."""
    connector = procrastinate.PsycopgConnector(
        conninfo=conninfo, min_size=1, max_size=max(settings.worker_concurrency, 1) + 3)
    app = procrastinate.App(connector=connector)

    @app.task(name=TASK_NAME, queue=QUEUE, retry=RETRY)
    async def process_upload(upload_id: int, path: str, content_sha256: str | None = None) -> None:
        """Ingest one spooled upload (the ingest is synchronous: it runs in a thread)."""
        await asyncio.to_thread(run_upload, conninfo, upload_id, Path(path), content_sha256,
                                partitioning)
        if after_upload is not None:
            await asyncio.to_thread(after_upload)

    # Large uploads spill next to the spooled files: on the data disk, not in a tmpfs.
    partitioning = Partitioning.from_settings(settings, spill_dir=spool_root(settings))

    return app


async def defer_upload(app: procrastinate.App, upload_id: int, path: Path,
                       content_sha256: str | None) -> int:
    """Queue an upload for processing; returns the job id."""
    return await app.configure_task(TASK_NAME, queue=QUEUE).defer_async(
        upload_id=upload_id, path=str(path), content_sha256=content_sha256)


def options_from_params(params: dict[str, Any]) -> IngestOptions:
    known = {f.name for f in fields(IngestOptions)}
    return IngestOptions(**{k: v for k, v in (params or {}).items() if k in known})


class ProgressWriter:
    """Writes ingest progress to the uploads row on its own autocommit connection, at most
    every `interval_s` (and at each phase change). Best effort: a failed write is skipped,
    it never fails the upload."""

    def __init__(self, conninfo: str, upload_id: int, interval_s: float = PROGRESS_INTERVAL_S):
        self._conninfo, self._upload_id, self._interval_s = conninfo, upload_id, interval_s
        self._conn: psycopg.Connection | None = None
        self._phase: str | None = None
        self._last = 0.0

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        if progress.phase == self._phase and now - self._last < self._interval_s:
            return
        self._phase, self._last = progress.phase, now
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self._conninfo, autocommit=True)
                # Never wait on the ingest transaction: a progress row is not worth a stall.
                self._conn.execute("SET lock_timeout = '200ms'")
            uploads.record_progress(self._conn, self._upload_id, progress.phase,
                                    min(max(progress.fraction, 0.0), 1.0), progress.rows)
        except psycopg.Error as exc:
            log.debug("progress not recorded", extra={"upload_id": self._upload_id,
                                                      "error": str(exc)})
            self.close()

    def close(self) -> None:
        if self._conn is not None:
            with suppress(psycopg.Error):
                self._conn.close()
            self._conn = None


def run_upload(conninfo: str, upload_id: int, path: Path, content_sha256: str | None,
               partitioning: Partitioning = DEFAULT_PARTITIONING) -> str:
    """Process one queued upload; returns its final status ('completed', 'failed') or
    'skipped' when the job no longer matches a pending upload. A rejected file is an answer,
    not an error: the upload row says 'failed' with the reason and nothing was stored.
    The spooled file is deleted, unless the database went away (the job is retried)."""
    keep_file = False
    try:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            locked = conn.execute("SELECT pg_try_advisory_lock(%s, %s)",
                                  (UPLOAD_LOCK_CLASS, upload_id % 2**31)).fetchone()
            if not (locked and locked[0]):
                log.warning("upload already being processed elsewhere",
                            extra={"upload_id": upload_id})
                return "skipped"
            row = uploads.get(conn, upload_id)
            if (row is None or row["status"] not in ("queued", "processing")
                    or (content_sha256 and row["content_sha256"] != content_sha256)):
                log.warning("upload job does not match a pending upload; skipped",
                            extra={"upload_id": upload_id,
                                   "status": row["status"] if row else None})
                return "skipped"
            if not path.is_file():
                uploads.mark_failed(conn, upload_id, MISSING_FILE_ERROR)
                metrics.UPLOADS.labels(status="failed").inc()
                return "failed"
            try:
                options = options_from_params(row["params"])
            except (TypeError, ValueError) as exc:
                uploads.mark_failed(conn, upload_id, {"kind": "invalid_parameter",
                                                      "message": str(exc)})
                metrics.UPLOADS.labels(status="failed").inc()
                return "failed"
            progress = ProgressWriter(conninfo, upload_id)
            try:
                result = ingest_file(conn, path, options, filename=row["filename"],
                                     upload_id=upload_id, content_sha256=row["content_sha256"],
                                     progress=progress, partitioning=partitioning)
            except UploadRejected as exc:
                log.info("upload rejected", extra={"upload_id": upload_id, "kind": exc.kind})
                metrics.UPLOADS.labels(status="failed").inc()
                return "failed"
            except Exception:
                metrics.UPLOADS.labels(status="failed").inc()
                raise  # ingest_file marked the upload failed (internal_error); the job fails
            finally:
                progress.close()
            metrics.UPLOADS.labels(status="completed").inc()
            metrics.ROWS_INGESTED.inc(result.quality.total_rows)
            return "completed"
    except psycopg.OperationalError:
        keep_file = True
        raise
    finally:
        if not keep_file:
            remove_spooled(path)


def fail_lost_uploads(conninfo: str, grace_s: float = LOST_AFTER_S) -> list[int]:
    """Mark failed the uploads pending for longer than `grace_s` that no job will ever run,
    and delete their spooled files when this machine sees them."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute(LOST_UPLOADS_SQL, {"error": Jsonb(LOST_ERROR), "grace_s": grace_s,
                                               "task": TASK_NAME}).fetchall()
    for _, path in rows:
        if path:
            remove_spooled(Path(path))
    lost = [int(r[0]) for r in rows]
    if lost:
        metrics.UPLOADS.labels(status="failed").inc(len(lost))
        log.warning("uploads without a job marked failed", extra={"upload_ids": lost})
    return lost


async def sweep(app: procrastinate.App, conninfo: str) -> None:
    """Requeue jobs of dead workers, then fail uploads that have no job (module docstring)."""
    stalled = await app.job_manager.get_stalled_jobs(
        task_name=TASK_NAME, seconds_since_heartbeat=STALLED_AFTER_S)
    for job in stalled:
        log.warning("requeueing the job of a stopped worker",
                    extra={"job_id": job.id, "upload_id": job.task_kwargs.get("upload_id")})
        await app.job_manager.retry_job(job)
    await asyncio.to_thread(fail_lost_uploads, conninfo)


async def _sweep_forever(app: procrastinate.App, conninfo: str) -> None:
    while True:
        try:
            await sweep(app, conninfo)
        except Exception:
            log.exception("upload sweep failed; trying again later")
        await asyncio.sleep(SWEEP_INTERVAL_S)


async def _work_forever(app: procrastinate.App, settings: Settings) -> None:
    """Run a worker; restart it after an error (database restart, lost listener)."""
    name = f"dwell-{socket.gethostname()}-{os.getpid()}"
    while True:
        try:
            await app.run_worker_async(
                queues=[QUEUE], name=name, concurrency=max(settings.worker_concurrency, 1),
                install_signal_handlers=False, delete_jobs="successful",
                shutdown_graceful_timeout=None)  # an ingest in a thread cannot be interrupted
        except Exception:
            log.exception("upload worker failed")
        log.warning("upload worker stopped; restarting", extra={"delay_s": RESTART_DELAY_S})
        await asyncio.sleep(RESTART_DELAY_S)


async def _stop(tasks: list[asyncio.Task[Any]]) -> None:
    """Cancel the worker tasks; the worker finishes its running jobs first."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with suppress(asyncio.CancelledError):
            await task


@asynccontextmanager
async def lifespan(services: Any, *, run_worker: bool) -> AsyncIterator[procrastinate.App]:
    """The job queue for the API: `services.extras["jobs"]` defers uploads; with
    `run_worker`, upload workers run in this process until shutdown."""
    settings: Settings = services.settings
    await asyncio.to_thread(ensure_schema, services.conninfo)
    spool_root(settings).mkdir(parents=True, exist_ok=True)
    app = build_app(services.conninfo, settings, after_upload=lambda: warm_members(services))
    async with app.open_async():
        services.extras["jobs"] = app
        running: list[asyncio.Task[Any]] = []
        if run_worker:
            running = [asyncio.create_task(_work_forever(app, settings), name="upload worker"),
                       asyncio.create_task(_sweep_forever(app, services.conninfo),
                                           name="upload sweep")]
        try:
            yield app
        finally:
            await _stop(running)
            services.extras.pop("jobs", None)


def warm_members(services: Any) -> None:
    """Read the new state of the rollups into this server's memory, so that the first
    answer after an upload does not wait for it. Best effort: a failure only logs."""
    try:
        with services.pool.connection() as conn:
            hourly.warm(conn)
    except Exception as exc:  # the next answer reads them itself
        log.warning("rollup members not read ahead", extra={"error": str(exc)})


def run_worker(settings: Settings) -> None:
    """`dwell worker`: process uploads from the shared database until SIGINT or SIGTERM."""
    if settings.upload_dir is None:
        log.warning("no DWELL_UPLOAD_DIR: this worker can only process files spooled on this "
                    "machine", extra={"spool": str(spool_root(settings))})

    async def main(conninfo: str) -> None:
        await asyncio.to_thread(ensure_schema, conninfo)
        app = build_app(conninfo, settings)
        async with app.open_async():
            running = [asyncio.create_task(_work_forever(app, settings), name="upload worker"),
                       asyncio.create_task(_sweep_forever(app, conninfo), name="upload sweep")]
            loop = asyncio.get_running_loop()
            stopping = asyncio.Event()
            for signum in (signal.SIGINT, signal.SIGTERM):
                with suppress(NotImplementedError):  # not on Windows
                    loop.add_signal_handler(signum, stopping.set)
            await stopping.wait()
            log.info("stopping: waiting for running uploads to finish")
            await _stop(running)

    from dwell.store.connect import persistent_store

    with persistent_store(settings) as conninfo:
        asyncio.run(main(conninfo))


__all__ = ["TASK_NAME", "build_app", "defer_upload", "ensure_schema", "fail_lost_uploads",
           "lifespan", "run_upload", "run_worker", "spool_root", "sweep"]
