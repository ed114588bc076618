"""Response models of the uploads API: an upload, its rejected rows, and their pages."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

UploadStatus = Literal["queued", "processing", "completed", "failed"]

QUALITY_EXAMPLE = {
    "file": "events.csv", "total_rows": 2000, "valid_rows": 1992, "rejected_rows": 8,
    "duplicate_events": 3, "quality_score": 0.996,
    "issues": {"duplicate_event": 3, "invalid_timestamp": 3, "missing_value": 4,
               "timestamp_out_of_range": 1, "unknown_event_type": 3},
    "missing_values": {"timestamp": 0, "person_id": 0, "camera_id": 2, "event_type": 2},
    "samples": {"invalid_timestamp": [
        {"line": 900, "value": "2024-13-14T16:44:24.093Z", "column": "timestamp"}]},
    "detected": {"delimiter": ",", "encoding": "utf-8", "compressed": False,
                 "timestamp_layouts": ["iso8601"], "attributes": ["age_group", "gender"]},
    "time_range": ["2024-03-11T08:43:50.438Z", "2024-03-17T19:02:11Z"],
}


class UploadError(BaseModel):
    """Why a whole file was refused (SPEC §3); nothing of it was stored."""

    kind: str = Field(examples=["missing_columns"], description=(
        "empty_file, no_data_rows, not_text, missing_columns, upload_lost, internal_error"))
    message: str = Field(examples=[
        "events.csv lacks the required column(s) camera_id; the header has: ts, person, type."])


class Upload(BaseModel):
    """One uploaded file: where its processing stands and, once done, its quality report."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": 42, "filename": "events.csv", "status": "processing", "phase": "checking",
        "progress": 0.6, "rows_processed": 1200000, "eta_s": 14.2, "size_bytes": 84123904,
        "created_at": "2024-03-18T09:15:02.114Z", "started_at": "2024-03-18T09:15:02.310Z",
        "finished_at": None, "params": {"source_tz": "UTC", "dayfirst": None,
                                        "timestamp_format": None, "duplicate_window_s": 0.0,
                                        "max_session_s": 86400.0, "future_tolerance_s": 86400.0},
        "quality": None, "error": None, "duplicate_of": None,
    }]})

    id: int
    filename: str = Field(examples=["events.csv"])
    status: UploadStatus = Field(description="queued, processing, completed or failed.")
    phase: str | None = Field(examples=["reading"], description=(
        "reading, checking, pairing, storing, completed; null while queued."))
    progress: float = Field(ge=0, le=1, examples=[0.6], description="Fraction done, 0 to 1.")
    rows_processed: int = Field(examples=[1200000], description="Data rows read so far.")
    eta_s: float | None = Field(examples=[14.2], description=(
        "Estimated seconds left, from the progress rate; null when unknown."))
    size_bytes: int | None = Field(examples=[84123904])
    created_at: str = Field(examples=["2024-03-18T09:15:02.114Z"])
    started_at: str | None = Field(examples=["2024-03-18T09:15:02.310Z"])
    finished_at: str | None = Field(examples=[None])
    params: dict[str, Any] = Field(description="The options the file is processed with.")
    quality: dict[str, Any] | None = Field(
        examples=[QUALITY_EXAMPLE], description="The quality report (SPEC §3) once completed.")
    error: UploadError | None = Field(description="Why the upload failed; null otherwise.")
    duplicate_of: int | None = Field(default=None, examples=[None], description=(
        "In the answer to a POST only: the same file with the same options was uploaded "
        "before, and this is that upload (nothing was processed again)."))


class UploadPage(BaseModel):
    items: list[Upload]
    next_cursor: str | None = Field(examples=["dTo0Mg"], description=(
        "Pass as `cursor` for the next page; null at the end."))


class RejectedRow(BaseModel):
    """A row that is not an event, kept so nothing is lost silently (SPEC §3)."""

    line: int = Field(examples=[900], description="Physical line in the file; the header is 1.")
    reason: str = Field(examples=["invalid_timestamp"])
    column: str | None = Field(examples=["timestamp"], description="The column at fault.")
    value: str | None = Field(examples=["2024-13-14T16:44:24.093Z"], description=(
        "The faulty value (for a malformed row: why it is malformed)."))
    raw: str = Field(examples=["2024-13-14T16:44:24.093Z,P000412,CAM-02,entry,25-34,male"])


class RejectedRowPage(BaseModel):
    items: list[RejectedRow]
    next_cursor: str | None = Field(examples=["cjo5MDA"], description=(
        "Pass as `cursor` for the next page; null at the end."))
