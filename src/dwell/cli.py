"""The `dwell` command line: analyze, ingest, report, generate. Thin: it calls the same
ingest and analytics functions as the API, so both speak the same numbers."""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Optional

import psycopg
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from dwell import analytics, logs
from dwell.analytics.filters import Filters
from dwell.ingest.errors import UploadRejected
from dwell.ingest.pipeline import IngestOptions, IngestResult, ingest_file, rebuild_rollups
from dwell.ingest.pipeline import Progress as IngestProgress
from dwell.ingest.spill import Partitioning
from dwell.settings import Settings, get_settings
from dwell.store import records
from dwell.store.connect import persistent_store, throwaway_store

app = typer.Typer(help="Camera-event analytics: dwell time, occupancy, visitors, data quality.",
                  no_args_is_help=True, add_completion=False)
out = Console()
err = Console(stderr=True)
PROGRESS_MIN_BYTES = 8 * 1024**2

Files = Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True,
                                             help="CSV files (.csv or .csv.gz), loaded in order.")]
SourceTz = Annotated[Optional[str], typer.Option(help="IANA zone of naive timestamps.")]
Tz = Annotated[Optional[str], typer.Option(help="IANA zone for hourly/daily buckets and days.")]
DayFirst = Annotated[Optional[bool], typer.Option(
    "--dayfirst/--monthfirst", help="How to read a/b/YYYY dates (default: detect per file).")]
TimestampFormat = Annotated[Optional[str], typer.Option(help="Explicit strptime format.")]
DuplicateWindow = Annotated[Optional[float], typer.Option(
    help="Entries this close (s) to the open session's entry are duplicates.")]
MaxSession = Annotated[Optional[float], typer.Option(help="Longer sessions are data gaps (s).")]
DatabaseUrl = Annotated[Optional[str], typer.Option(help="PostgreSQL URL (default: embedded).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the SPEC §12 report document.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Log progress as JSON on stderr.")]


def _options(settings: Settings, source_tz: str | None, dayfirst: bool | None,
             timestamp_format: str | None, duplicate_window_s: float | None,
             max_session_s: float | None) -> IngestOptions:
    try:
        return IngestOptions(
            source_tz=source_tz or settings.source_tz,
            dayfirst=dayfirst,
            timestamp_format=timestamp_format,
            duplicate_window_s=settings.duplicate_window_s if duplicate_window_s is None
            else duplicate_window_s,
            max_session_s=settings.max_session_s if max_session_s is None else max_session_s,
            future_tolerance_s=settings.future_tolerance_s,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


def _load(conninfo: str, files: list[Path], options: IngestOptions, as_json: bool,
          partitioning: Partitioning) -> list[IngestResult]:
    """Ingest files in order; on a rejected file print its error and exit 1."""
    results = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for path in files:
            try:
                results.append(_ingest_with_bar(conn, path, options, partitioning))
            except UploadRejected as exc:
                if as_json:
                    out.print_json(json.dumps({"error": {**exc.as_dict(), "file": str(path)}}))
                else:
                    err.print(f"[bold red]Rejected:[/] {exc.message}")
                raise typer.Exit(1) from exc
    return results


def _ingest_with_bar(conn: psycopg.Connection, path: Path, options: IngestOptions,
                     partitioning: Partitioning) -> IngestResult:
    if path.stat().st_size < PROGRESS_MIN_BYTES:
        return ingest_file(conn, path, options, partitioning=partitioning)
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
               TextColumn("{task.fields[phase]}"), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(path.name, total=1.0, phase="reading")

        def on_progress(progress: IngestProgress) -> None:
            bar.update(task, completed=progress.fraction, phase=progress.phase)

        return ingest_file(conn, path, options, progress=on_progress, partitioning=partitioning)


def _filters(settings: Settings, tz: str | None, start: datetime | None = None,
             end: datetime | None = None, cameras: list[str] | None = None,
             persons: list[str] | None = None) -> Filters:
    def aware(moment: datetime | None) -> datetime | None:
        if moment is None or moment.tzinfo is not None:
            return moment
        from datetime import timezone

        return moment.replace(tzinfo=timezone.utc)

    return Filters(start=aware(start), end=aware(end), camera_ids=tuple(cameras or ()),
                   person_ids=tuple(persons or ()), tz=tz or settings.tz)


def _report(conninfo: str, filters: Filters, *, with_sessions: bool) -> dict[str, Any]:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        try:
            document = analytics.report(
                conn, filters, connect=lambda: psycopg.connect(conninfo, autocommit=True))
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
        if with_sessions:
            document["sessions"] = records.all_sessions(conn, filters)
    return document


@app.command()
def analyze(files: Files, as_json: AsJson = False,
            sessions: Annotated[bool, typer.Option("--sessions", help="Add the session list.")] = False,
            source_tz: SourceTz = None, tz: Tz = None, dayfirst: DayFirst = None,
            timestamp_format: TimestampFormat = None, duplicate_window_s: DuplicateWindow = None,
            max_session_s: MaxSession = None, database_url: DatabaseUrl = None,
            verbose: Verbose = False) -> None:
    """Load files into a throw-away database (or --database-url) and print the full report."""
    logs.configure(logging.INFO if verbose else logging.WARNING)
    settings = get_settings()
    options = _options(settings, source_tz, dayfirst, timestamp_format, duplicate_window_s,
                       max_session_s)
    filters = _filters(settings, tz)
    store = persistent_store(settings, database_url) if database_url else throwaway_store(settings)
    with store as conninfo:
        # The first file's rollups come from its own arrays, cheaper than one report from
        # the events, and the report then reads them.
        results = _load(conninfo, files, options, as_json, Partitioning.from_settings(settings))
        document = _report(conninfo, filters, with_sessions=sessions)
    quality = [r.quality.as_dict() for r in results]
    document = {"quality": quality[0] if len(quality) == 1 else quality, **document}
    _print(document, as_json)


@app.command()
def ingest(files: Files, source_tz: SourceTz = None, dayfirst: DayFirst = None,
           timestamp_format: TimestampFormat = None, duplicate_window_s: DuplicateWindow = None,
           max_session_s: MaxSession = None, database_url: DatabaseUrl = None,
           as_json: AsJson = False, verbose: Verbose = False) -> None:
    """Load files into the persistent store (DATABASE_URL or the embedded one)."""
    logs.configure(logging.INFO if verbose else logging.WARNING)
    settings = get_settings()
    options = _options(settings, source_tz, dayfirst, timestamp_format, duplicate_window_s,
                       max_session_s)
    with persistent_store(settings, database_url) as conninfo:
        results = _load(conninfo, files, options, as_json, Partitioning.from_settings(settings))
    if as_json:
        out.print_json(json.dumps([{"upload_id": r.upload_id, "quality": r.quality.as_dict()}
                                   for r in results]))
        return
    for result in results:
        _print_quality(result.quality.as_dict())
        out.print(f"upload {result.upload_id}: {result.events_stored} events stored in "
                  f"{result.seconds:.2f} s")


@app.command()
def report(start: Annotated[Optional[datetime], typer.Option(help="From (inclusive), UTC if naive.")] = None,
           end: Annotated[Optional[datetime], typer.Option(help="To (exclusive), UTC if naive.")] = None,
           camera: Annotated[Optional[list[str]], typer.Option(help="Camera id (repeatable).")] = None,
           person: Annotated[Optional[list[str]], typer.Option(help="Person id (repeatable).")] = None,
           tz: Tz = None, as_json: AsJson = False,
           sessions: Annotated[bool, typer.Option("--sessions", help="Add the session list.")] = False,
           database_url: DatabaseUrl = None) -> None:
    """Report on what is stored, with the filters of SPEC §5."""
    settings = get_settings()
    filters = _filters(settings, tz, start, end, camera, person)
    if filters.start and filters.end and filters.end <= filters.start:
        raise typer.BadParameter("--end must be after --start")
    with persistent_store(settings, database_url) as conninfo:
        document = _report(conninfo, filters, with_sessions=sessions)
    _print(document, as_json)


@app.command()
def generate(rows: Annotated[int, typer.Option(min=1, help="Number of data rows.")],
             out_path: Annotated[Path, typer.Option("--out", help="CSV file to write (.gz to compress).")],
             seed: Annotated[int, typer.Option(help="Random seed (same seed, same file).")] = 0,
             messy: Annotated[bool, typer.Option(help="Inject ~1% realistic data problems.")] = False,
             days: Annotated[int, typer.Option(min=1)] = 14,
             cameras: Annotated[int, typer.Option(min=1)] = 8) -> None:
    """Write realistic synthetic camera events (for trials, tests and benchmarks)."""
    from dwell.synth import write_csv

    written = write_csv(out_path, rows, seed=seed, messy=messy, days=days, cameras=cameras)
    err.print(f"wrote {written} rows to {out_path}")


@app.command()
def serve(host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
          workers: Annotated[Optional[int], typer.Option(
              min=1, help="HTTP worker processes (default: DWELL_WORKERS, else 1).")] = None,
          load_if_empty: Annotated[Optional[Path], typer.Option(
              exists=True, dir_okay=False,
              help="Load this file first when the store has no events (a first look).")] = None,
          database_url: DatabaseUrl = None) -> None:
    """Run the REST API (and upload workers) on the store: DATABASE_URL or the embedded one."""
    import os

    import uvicorn

    from dwell.api.bind import BindRefused, check_bind

    logs.configure(logging.INFO)
    settings = get_settings()
    if database_url:
        os.environ["DATABASE_URL"] = database_url
        settings = get_settings()
    with persistent_store(settings) as conninfo:
        try:
            notice = check_bind(host, conninfo)
        except BindRefused as exc:
            err.print(f"[bold red]Not starting:[/] {exc.message}")
            raise typer.Exit(2) from exc
        if load_if_empty is not None:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                if conn.execute("SELECT NOT EXISTS (SELECT 1 FROM camera_events)").fetchone()[0]:
                    result = ingest_file(conn, load_if_empty, _options(settings, None, None, None,
                                                                       None, None))
                    err.print(f"loaded {result.quality.total_rows:,} rows of {load_if_empty}")
        shown = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::") else host
        err.print(notice)
        err.print(f"API:       http://{shown}:{port}/api/v1\n"
                  f"API docs:  http://{shown}:{port}/docs\n"
                  f"Dashboard: http://{shown}:{port}/")
        uvicorn.run("dwell.api.app:create_app", factory=True, host=host, port=port,
                    workers=workers or settings.workers, log_config=None, access_log=False)


@app.command("rebuild-rollups")
def rebuild_rollups_command(database_url: DatabaseUrl = None, verbose: Verbose = False) -> None:
    """Rebuild the hourly rollups of a store loaded without them (`dwell analyze
    --database-url`, or before they existed); until then it answers from the events."""
    logs.configure(logging.INFO if verbose else logging.WARNING)
    with persistent_store(get_settings(), database_url) as conninfo, \
            psycopg.connect(conninfo, autocommit=True) as conn:
        started = time.perf_counter()
        rebuild_rollups(conn)
        out.print(f"rollups rebuilt in {time.perf_counter() - started:.1f} s")


@app.command()
def worker(database_url: DatabaseUrl = None) -> None:
    """Process queued uploads (for extra machines sharing the database)."""
    import os

    from dwell import jobs

    logs.configure(logging.INFO)
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    jobs.run_worker(get_settings())


keys_app = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(role: Annotated[str, typer.Option(help="viewer, uploader or admin.")],
                name: Annotated[Optional[str], typer.Option(help="A label for people.")] = None,
                database_url: DatabaseUrl = None) -> None:
    """Create a key and print it once (only its hash is stored)."""
    from dwell import auth

    with persistent_store(get_settings(), database_url) as conninfo:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            try:
                info, secret = auth.create_key(conn, role, name)
            except ValueError as exc:
                raise typer.BadParameter(str(exc), param_hint="--role") from exc
    err.print(f"key {info.id} ({info.role}) created; it is shown only now:")
    out.print(secret, highlight=False, soft_wrap=True)


@keys_app.command("list")
def keys_list(database_url: DatabaseUrl = None) -> None:
    """List keys (prefix, role, dates); secrets are never shown again."""
    from dwell import auth

    with persistent_store(get_settings(), database_url) as conninfo:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            keys = auth.list_keys(conn)
    table = Table(title="API keys")
    for column in ("id", "prefix", "role", "name", "created", "last used", "revoked"):
        table.add_column(column)
    for key in keys:
        table.add_row(str(key.id), key.prefix, key.role, key.name or "", _fmt(key.created_at),
                      _fmt(key.last_used_at), _fmt(key.revoked_at))
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(key: Annotated[str, typer.Argument(help="Key id or prefix.")],
                database_url: DatabaseUrl = None) -> None:
    """Revoke a key: requests with it are refused from now on."""
    from dwell import auth

    with persistent_store(get_settings(), database_url) as conninfo:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            revoked = auth.revoke_key(conn, int(key) if key.isdigit() else key)
    if revoked is None:
        err.print(f"[bold red]No such key:[/] {key}")
        raise typer.Exit(1)
    err.print(f"key {revoked.id} ({revoked.prefix}) revoked")


def _print(document: dict[str, Any], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
        return
    quality = document.get("quality")
    for item in quality if isinstance(quality, list) else [quality] if quality else []:
        _print_quality(item)
    _print_summary(document)


def _print_quality(quality: dict[str, Any]) -> None:
    table = Table(title=f"Data quality: {quality['file']}", show_header=False)
    score = quality["quality_score"]
    table.add_row("rows", f"{quality['total_rows']:,}")
    table.add_row("valid / rejected", f"{quality['valid_rows']:,} / {quality['rejected_rows']:,}")
    table.add_row("duplicates skipped", f"{quality['duplicate_events']:,}")
    table.add_row("quality score", "n/a" if score is None else f"{score:.1%}")
    detected = quality["detected"]
    table.add_row("detected", f"delimiter {detected['delimiter']!r}, {detected['encoding']}, "
                              f"{', '.join(detected['timestamp_layouts']) or 'no timestamps'}")
    table.add_row("time range", " .. ".join(str(t) for t in quality["time_range"]))
    for issue, count in quality["issues"].items():
        samples = quality["samples"].get(issue, [])[:3]
        where = ", ".join(f"line {s['line']}: {s['value']!r}" for s in samples)
        table.add_row(issue, f"{count:,}" + (f"  ({where})" if where else ""))
    out.print(table)


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}{unit}"
    return f"{value:,}{unit}" if isinstance(value, int) else f"{value}{unit}"


def _print_summary(document: dict[str, Any]) -> None:
    kpis = document["kpis"]
    table = Table(title="Key figures", show_header=False)
    for label, key, unit in [
        ("events", "total_events", ""), ("unique visitors", "unique_visitors", ""),
        ("active cameras", "active_cameras", ""), ("orphan exits", "orphan_exits", ""),
        ("average dwell", "avg_dwell_s", " s"), ("median dwell", "median_dwell_s", " s"),
        ("p90 dwell", "p90_dwell_s", " s"), ("max dwell", "max_dwell_s", " s"),
        ("dwell per person", "avg_dwell_per_person_s", " s"),
        ("peak occupancy", "peak_occupancy", ""), ("peak at", "peak_occupancy_at", ""),
    ]:
        table.add_row(label, _fmt(kpis.get(key), unit))
    sessions = kpis["sessions"]
    table.add_row("sessions", ", ".join(f"{k} {v:,}" for k, v in sessions.items()))
    repeat = document["repeat"]
    table.add_row("repeat visitors", f"{repeat['repeat_visitors']:,} "
                  f"({_fmt(None if repeat['repeat_rate'] is None else repeat['repeat_rate'] * 100, '%')})")
    out.print(table)

    cameras = Table(title="Per camera")
    for column in ("camera", "events", "visitors", "sessions", "avg dwell s", "median dwell s"):
        cameras.add_column(column, justify="right" if column != "camera" else "left")
    for camera, stats in document["per_camera"].items():
        cameras.add_row(camera, _fmt(stats["events"]), _fmt(stats["unique_visitors"]),
                        _fmt(stats["complete_sessions"]), _fmt(stats["avg_dwell_s"]),
                        _fmt(stats["median_dwell_s"]))
    out.print(cameras)

    daily = Table(title="Daily")
    for column in ("day (UTC start)", "events", "visitors", "sessions", "avg dwell s", "peak occ."):
        daily.add_column(column, justify="right" if column[0] != "d" else "left")
    for bucket in document["daily"]:
        daily.add_row(bucket["bucket"], _fmt(bucket["events"]), _fmt(bucket["unique_visitors"]),
                      _fmt(bucket["sessions_started"]), _fmt(bucket["avg_dwell_s"]),
                      _fmt(bucket["peak_occupancy"]))
    out.print(daily)


if __name__ == "__main__":
    app()
