"""Uploads: send a file, follow its processing, read its quality report and rejected rows.

The body is parsed as it arrives (python-multipart's streaming parser over the request
stream): the file goes to a spool file on disk, hashed on the way, and a file over
`max_upload_bytes` is refused with 413 as soon as the limit is crossed. Processing happens
in a job (`dwell.jobs`), so the POST answers 202 at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from dwell import jobs
from dwell.api.deps import check_tz, get_conn, get_services
from dwell.api.errors import ERROR_RESPONSES, ApiError, ErrorBody, bad_parameter
from dwell.api.security import require
from dwell.api.services import Services
from dwell.api.upload_models import RejectedRowPage, Upload, UploadPage
from dwell.ingest.pipeline import IngestOptions
from dwell.store import records, uploads

router = APIRouter(prefix="/api/v1/uploads", tags=["uploads"], responses=ERROR_RESPONSES)

OPTION_FIELDS = ("source_tz", "dayfirst", "timestamp_format", "duplicate_window_s",
                 "max_session_s")
FIELD_MAX_BYTES = 4096
FORM_OVERHEAD_BYTES = 64 * 1024   # multipart framing and option fields around the file
FLUSH_BYTES = 1024 * 1024         # file bytes buffered before one write (off the event loop)
DEDUP_LOCK_CLASS = 0x647764       # (class, hash of the content): one registration at a time
DEFAULT_LIMIT, MAX_LIMIT = 50, 1000

UPLOAD_COLUMNS = (
    "id, filename, status, phase, progress, rows_processed, size_bytes, created_at,"
    " started_at, finished_at, params, quality, error,"
    " extract(epoch FROM clock_timestamp() - started_at)::float8 AS elapsed_s"
)
GET_UPLOAD_SQL = "SELECT " + UPLOAD_COLUMNS + " FROM uploads WHERE id = %(id)s"
LIST_UPLOADS_SQL = (
    "SELECT " + UPLOAD_COLUMNS + " FROM uploads"
    " WHERE (%(after)s::bigint IS NULL OR id < %(after)s::bigint)"
    "   AND (%(status)s::text IS NULL OR status = %(status)s::text)"
    " ORDER BY id DESC LIMIT %(limit)s"
)
SAME_UPLOAD_SQL = """
    SELECT id FROM uploads
    WHERE content_sha256 = %(sha256)s AND params = %(params)s
      AND status IN ('queued', 'processing', 'completed')
    ORDER BY id LIMIT 1
"""
REJECTED_ROWS_SQL = """
    SELECT line, reason, column_name AS column, value, raw FROM rejected_rows
    WHERE upload_id = %(id)s
      AND (%(after)s::integer IS NULL OR line > %(after)s::integer)
      AND (%(reason)s::text IS NULL OR reason = %(reason)s::text)
    ORDER BY line LIMIT %(limit)s
"""

UPLOAD_BODY = {
    "required": True,
    "content": {"multipart/form-data": {"schema": {
        "type": "object",
        "required": ["file"],
        "properties": {
            "file": {"type": "string", "format": "binary",
                     "description": "The CSV file (.csv or .csv.gz)."},
            "source_tz": {"type": "string", "example": "Europe/Berlin",
                          "description": "IANA zone of naive timestamps (default: UTC)."},
            "dayfirst": {"type": "boolean", "description": (
                "How to read a/b/YYYY dates; omit to detect per file.")},
            "timestamp_format": {"type": "string", "example": "%d/%m/%Y %H:%M:%S",
                                 "description": "An explicit strptime format."},
            "duplicate_window_s": {"type": "number", "minimum": 0, "description": (
                "Entries this close to the open session's entry are duplicates.")},
            "max_session_s": {"type": "number", "exclusiveMinimum": 0, "description": (
                "Longer sessions are data gaps (missing exit + orphan exit).")},
        },
    }}},
}

Svc = Annotated[Services, Depends(get_services)]
Conn = Annotated[psycopg.Connection, Depends(get_conn)]
UploadId = Annotated[int, PathParam(ge=1, description="The upload's id.")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")]
Cursor = Annotated[str | None, Query(description="`next_cursor` of the previous page.")]


# --- receiving the body ------------------------------------------------------------------


@dataclass
class SpooledFile:
    """The uploaded file, on disk under its own directory, and the form's option fields."""

    path: Path
    filename: str
    size_bytes: int
    sha256: str
    fields: dict[str, Any]


def too_large(limit: int) -> ApiError:
    return ApiError(413, "upload_too_large",
                    f"The file is larger than the upload limit of {limit} bytes.")


def safe_filename(name: str) -> str:
    """The client's file name without directories or control characters (for the spool
    file, so messages about the file name it as the user knows it)."""
    base = re.split(r"[\\/]", name)[-1]
    base = re.sub(r"[\x00-\x1f\x7f]", "", base).strip().lstrip(".")
    return base[:200] or "upload.csv"


def parse_option(name: str, text: str) -> Any:
    """One option field of the form, checked; None means "use the default"."""
    text = text.strip()
    if text == "":
        return None
    if name == "source_tz":
        return check_tz(text, "source_tz")
    if name == "dayfirst":
        lowered = text.lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        if lowered == "auto":
            return None
        raise bad_parameter("dayfirst", "dayfirst: use true or false (or omit it to detect "
                                        "day-first dates per file)")
    if name == "timestamp_format":
        if "%" not in text:
            raise bad_parameter("timestamp_format", "timestamp_format: a strptime format "
                                                    "such as %d/%m/%Y %H:%M:%S")
        return text
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise bad_parameter(name, f"{name}: a number of seconds")
    if name == "duplicate_window_s" and number < 0:
        raise bad_parameter(name, "duplicate_window_s: must be 0 or more")
    if name == "max_session_s" and number <= 0:
        raise bad_parameter(name, "max_session_s: must be more than 0")
    return number


class _FormStream:
    """Callbacks of the streaming multipart parser: option fields in memory (small), the
    `file` part into a pending buffer that `drain` writes and hashes off the event loop."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root, self.max_bytes = root, max_bytes
        self.fields: dict[str, Any] = {}
        self.path: Path | None = None
        self.filename = ""
        self.file_done = False
        self.finished = False
        self.size_bytes = 0
        self.pending = bytearray()
        self.hasher = hashlib.sha256()
        self._handle: IO[bytes] | None = None
        self._headers: dict[str, bytes] = {}
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._part: str | None = None        # "file", an option name, or None
        self._field_value = bytearray()

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._part_begin, "on_header_field": self._header_field_data,
            "on_header_value": self._header_value_data, "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished, "on_part_data": self._part_data,
            "on_part_end": self._part_end, "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self._headers = {}
        self._part = None

    def _header_field_data(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        name = self._header_field.decode("latin-1").strip().lower()
        self._headers[name] = bytes(self._header_value)  # raw: filenames may be UTF-8
        self._header_field.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get("content-disposition", b""))
        name = params.get(b"name", b"").decode("utf-8", errors="replace")
        if name == "file":
            if self.path is not None:
                raise bad_parameter("file", "file: send one file per upload")
            self.filename = safe_filename(
                params.get(b"filename", b"").decode("utf-8", errors="replace"))
            self.path = jobs.spool_path(self.root, self.filename)
            self._handle = open(self.path, "wb")  # noqa: SIM115 - closed by close()
        elif name in OPTION_FIELDS:
            self._field_value.clear()
        else:
            raise bad_parameter(name or "file", f"{name or '(unnamed part)'}: not a field of "
                                f"an upload (file, {', '.join(OPTION_FIELDS)})")
        self._part = name

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._part == "file":
            self.pending += data[start:end]
            self.size_bytes += end - start
            if self.size_bytes > self.max_bytes:
                raise too_large(self.max_bytes)
        elif self._part is not None:
            self._field_value += data[start:end]
            if len(self._field_value) > FIELD_MAX_BYTES:
                raise bad_parameter(self._part, f"{self._part}: value too long")

    def _part_end(self) -> None:
        if self._part == "file":
            self.file_done = True
        elif self._part is not None:
            text = self._field_value.decode("utf-8", errors="replace")
            self.fields[self._part] = parse_option(self._part, text)
        self._part = None

    def _end(self) -> None:
        self.finished = True

    def _write(self, block: bytes) -> None:
        assert self._handle is not None
        self.hasher.update(block)
        self._handle.write(block)

    async def drain(self) -> None:
        if self.pending:
            block = bytes(self.pending)
            self.pending.clear()
            await asyncio.to_thread(self._write, block)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


async def receive_upload(request: Request, root: Path, max_bytes: int) -> SpooledFile:
    """Stream the multipart body to a spool file; refuse it (413) once over `max_bytes`."""
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise ApiError(415, "unsupported_media_type",
                       "Send the upload as multipart/form-data with the file in the field `file`.")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes + FORM_OVERHEAD_BYTES:
        raise too_large(max_bytes)  # before reading anything
    form = _FormStream(root, max_bytes)
    try:
        parser = MultipartParser(boundary, form.callbacks())
        try:
            async for chunk in request.stream():
                parser.write(chunk)
                if len(form.pending) >= FLUSH_BYTES:
                    await form.drain()
        except ClientDisconnect:
            raise ApiError(400, "client_disconnected", "The upload was interrupted.") from None
        parser.finalize()
        await form.drain()
        form.close()
        if form.path is None:
            raise bad_parameter("file", "file: the multipart field `file` with the CSV is "
                                        "required")
        if not (form.file_done and form.finished):
            raise ApiError(400, "malformed_body", "The multipart body ended before its end.")
        return SpooledFile(form.path, form.filename, form.size_bytes, form.hasher.hexdigest(),
                           form.fields)
    except MultipartParseError as exc:
        form.close()
        if form.path:
            jobs.remove_spooled(form.path)
        raise ApiError(400, "malformed_body", f"The multipart body is malformed: {exc}") from exc
    except BaseException:
        form.close()
        if form.path:
            jobs.remove_spooled(form.path)
        raise


def ingest_options(services: Services, chosen: dict[str, Any]) -> IngestOptions:
    """The processing options: the form's fields over the server's settings."""
    settings = services.settings
    picked = {name: value for name, value in chosen.items() if value is not None}
    try:
        return IngestOptions(
            source_tz=picked.get("source_tz", settings.source_tz),
            dayfirst=picked.get("dayfirst"),
            timestamp_format=picked.get("timestamp_format"),
            duplicate_window_s=picked.get("duplicate_window_s", settings.duplicate_window_s),
            max_session_s=picked.get("max_session_s", settings.max_session_s),
            future_tolerance_s=settings.future_tolerance_s,
        )
    except ValueError as exc:
        message = str(exc)
        parameter = message.split(":", 1)[0].split(" ", 1)[0]
        raise bad_parameter(parameter if parameter in OPTION_FIELDS else "file", message) from exc


def register_upload(services: Services, spooled: SpooledFile,
                    options: IngestOptions) -> tuple[int, bool]:
    """Store the upload row, or find the same file with the same options uploaded before
    (pending or completed): (id, is_duplicate). Concurrent identical uploads serialize."""
    params = options.as_dict()
    with services.pool.connection() as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                     (DEDUP_LOCK_CLASS, spooled.sha256))
        same = conn.execute(SAME_UPLOAD_SQL, {"sha256": spooled.sha256,
                                              "params": Jsonb(params)}).fetchone()
        if same:
            return int(same[0]), True
        return uploads.create(conn, spooled.filename, spooled.size_bytes, spooled.sha256,
                              params), False


def fail_upload(services: Services, upload_id: int, kind: str, message: str) -> None:
    with services.pool.connection() as conn:
        uploads.mark_failed(conn, upload_id, {"kind": kind, "message": message})


# --- the resource ------------------------------------------------------------------------


def iso_utc(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    text = moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def eta_seconds(row: dict[str, Any]) -> float | None:
    """Seconds left at the rate so far; null while queued, after a failure, or before any
    progress was measured."""
    if row["status"] == "completed":
        return 0.0
    progress, elapsed = float(row["progress"] or 0), row.get("elapsed_s")
    if row["status"] != "processing" or elapsed is None or not 0 < progress < 1:
        return None
    return round(max(float(elapsed), 0.0) * (1 - progress) / progress, 1)


def upload_resource(row: dict[str, Any], duplicate_of: int | None = None) -> dict[str, Any]:
    return {
        "id": row["id"], "filename": row["filename"], "status": row["status"],
        "phase": row["phase"], "progress": round(float(row["progress"] or 0), 4),
        "rows_processed": int(row["rows_processed"] or 0), "eta_s": eta_seconds(row),
        "size_bytes": row["size_bytes"], "created_at": iso_utc(row["created_at"]),
        "started_at": iso_utc(row["started_at"]), "finished_at": iso_utc(row["finished_at"]),
        "params": row["params"] or {}, "quality": row["quality"], "error": row["error"],
        "duplicate_of": duplicate_of,
    }


def fetch_upload(conn: psycopg.Connection, upload_id: int) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(GET_UPLOAD_SQL, {"id": upload_id}).fetchone()


def not_found(upload_id: int) -> ApiError:
    return ApiError(404, "not_found", f"There is no upload {upload_id}.")


def decode_cursor(kind: str, cursor: str | None) -> int | None:
    """The integer sort key in a cursor of listing `kind` (the records' cursor format)."""
    if not cursor:
        return None
    try:
        key = records.decode_cursor(kind, cursor)
    except records.InvalidCursor as exc:
        raise bad_parameter("cursor", f"cursor: {exc}") from None
    if (len(key) != 1 or not isinstance(key[0], int) or isinstance(key[0], bool)
            or not -(2**63) <= key[0] < 2**63):
        raise bad_parameter("cursor", "cursor: the cursor does not hold a sort key of this "
                                      "listing")
    return key[0]


def page(rows: list[Any], limit: int, kind: str, key: str) -> tuple[list[Any], str | None]:
    """Rows were fetched with `limit + 1`: the extra one only says another page exists."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, records.encode_cursor(kind, [int(rows[-1][key])])


# --- endpoints ---------------------------------------------------------------------------


@router.post(
    "", status_code=202, response_model=Upload, summary="Upload a file for processing",
    dependencies=[Depends(require("uploader"))], openapi_extra={"requestBody": UPLOAD_BODY},
    responses={
        202: {"description": "Accepted: the upload, queued. Poll `GET /api/v1/uploads/{id}`."},
        200: {"model": Upload, "description": (
            "The same file with the same options was uploaded before: that upload, with "
            "`duplicate_of` set. Nothing is processed or counted again.")},
        400: {"model": ErrorBody, "description": "The multipart body is malformed."},
        413: {"model": ErrorBody, "description": "The file is over `max_upload_bytes`."},
        415: {"model": ErrorBody, "description": "The body is not multipart/form-data."},
        503: {"model": ErrorBody, "description": "The job queue is not reachable."},
    },
)
async def create_upload(request: Request, services: Svc) -> JSONResponse:
    """Send a CSV file (multipart field `file`) and options. The file is stored on disk as it
    arrives and processed in the background; the answer comes at once."""
    settings = services.settings
    spooled = await receive_upload(request, jobs.spool_root(settings), settings.max_upload_bytes)
    try:
        options = ingest_options(services, spooled.fields)
        upload_id, duplicate = await asyncio.to_thread(register_upload, services, spooled,
                                                       options)
    except BaseException:
        jobs.remove_spooled(spooled.path)
        raise
    if duplicate:
        jobs.remove_spooled(spooled.path)
    else:
        queue = services.extras.get("jobs")
        try:
            if queue is None:
                raise RuntimeError("the job queue is not open")
            await jobs.defer_upload(queue, upload_id, spooled.path, spooled.sha256)
        except Exception as exc:
            jobs.remove_spooled(spooled.path)
            await asyncio.to_thread(fail_upload, services, upload_id, "internal_error",
                                    "The upload could not be queued; send it again.")
            raise ApiError(503, "queue_unavailable",
                           "The upload could not be queued; try again shortly.") from exc

    def answer() -> dict[str, Any] | None:
        with services.pool.connection() as conn:
            return fetch_upload(conn, upload_id)

    row = await asyncio.to_thread(answer)
    assert row is not None
    return JSONResponse(upload_resource(row, upload_id if duplicate else None),
                        status_code=200 if duplicate else 202,
                        headers={"Location": f"/api/v1/uploads/{upload_id}"})


@router.get("", response_model=UploadPage, summary="Uploads, newest first",
            dependencies=[Depends(require("viewer"))])
def list_uploads(
    conn: Conn, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None,
    status: Annotated[Literal["queued", "processing", "completed", "failed"] | None,
                      Query(description="Only uploads with this status.")] = None,
) -> dict[str, Any]:
    after = decode_cursor("uploads", cursor)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(LIST_UPLOADS_SQL, {"after": after, "status": status,
                                              "limit": limit + 1}).fetchall()
    rows, next_cursor = page(rows, limit, "uploads", "id")
    return {"items": [upload_resource(row) for row in rows], "next_cursor": next_cursor}


@router.get("/{upload_id}", response_model=Upload, summary="One upload: status, progress, "
            "quality report or error", dependencies=[Depends(require("viewer"))],
            responses={404: {"model": ErrorBody, "description": "No such upload."}})
def get_upload(conn: Conn, upload_id: UploadId) -> dict[str, Any]:
    row = fetch_upload(conn, upload_id)
    if row is None:
        raise not_found(upload_id)
    return upload_resource(row)


@router.get("/{upload_id}/rejected-rows", response_model=RejectedRowPage,
            summary="The upload's rejected rows, by line",
            dependencies=[Depends(require("viewer"))],
            responses={404: {"model": ErrorBody, "description": "No such upload."}})
def rejected_rows(
    conn: Conn, upload_id: UploadId, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None,
    reason: Annotated[str | None, Query(description="Only rows rejected for this reason.",
                                        examples=["invalid_timestamp"])] = None,
) -> dict[str, Any]:
    after = decode_cursor(f"rejected_rows:{upload_id}", cursor)
    if conn.execute("SELECT 1 FROM uploads WHERE id = %s", (upload_id,)).fetchone() is None:
        raise not_found(upload_id)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(REJECTED_ROWS_SQL, {"id": upload_id, "after": after, "reason": reason,
                                               "limit": limit + 1}).fetchall()
    rows, next_cursor = page(rows, limit, f"rejected_rows:{upload_id}", "line")
    return {"items": rows, "next_cursor": next_cursor}
