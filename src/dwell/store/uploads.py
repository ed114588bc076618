"""The uploads table: one row per file, its status, progress and quality report."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb


def create(conn: psycopg.Connection, filename: str, size_bytes: int | None,
           content_sha256: str | None, params: dict[str, Any]) -> int:
    row = conn.execute(
        "INSERT INTO uploads (filename, size_bytes, content_sha256, params)"
        " VALUES (%s, %s, %s, %s) RETURNING id",
        (filename, size_bytes, content_sha256, Jsonb(params)),
    ).fetchone()
    assert row is not None
    return int(row[0])


def mark_processing(conn: psycopg.Connection, upload_id: int) -> None:
    conn.execute(
        "UPDATE uploads SET status = 'processing', phase = 'reading', started_at = now()"
        " WHERE id = %s", (upload_id,),
    )


def record_progress(conn: psycopg.Connection, upload_id: int, phase: str, fraction: float,
                    rows: int) -> None:
    conn.execute(
        "UPDATE uploads SET phase = %s, progress = %s, rows_processed = %s WHERE id = %s",
        (phase, fraction, rows, upload_id),
    )


def mark_completed(conn: psycopg.Connection, upload_id: int, quality: dict[str, Any],
                   rows: int) -> None:
    conn.execute(
        "UPDATE uploads SET status = 'completed', phase = 'completed', progress = 1,"
        " rows_processed = %s, quality = %s, finished_at = now() WHERE id = %s",
        (rows, Jsonb(quality), upload_id),
    )


def mark_failed(conn: psycopg.Connection, upload_id: int, error: dict[str, str]) -> None:
    if conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
        conn.rollback()
    conn.execute(
        "UPDATE uploads SET status = 'failed', error = %s, finished_at = now() WHERE id = %s",
        (Jsonb(error), upload_id),
    )


def get(conn: psycopg.Connection, upload_id: int) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM uploads WHERE id = %s", (upload_id,)).fetchone()


QUALITY_SUMMARY_SQL = """
    SELECT id, filename, status, created_at, finished_at, quality, error
    FROM uploads ORDER BY id
"""


def quality_summary(conn: psycopg.Connection) -> dict[str, Any]:
    """Data quality over every upload: totals, issue counts, and one line per upload."""
    totals = {"uploads": 0, "completed": 0, "failed": 0, "total_rows": 0, "valid_rows": 0,
              "rejected_rows": 0, "duplicate_events": 0}
    issues: dict[str, int] = {}
    per_upload = []
    with conn.cursor(row_factory=dict_row) as cur:
        for row in cur.execute(QUALITY_SUMMARY_SQL):
            totals["uploads"] += 1
            if row["status"] in ("completed", "failed"):
                totals[row["status"]] += 1
            quality = row["quality"] or {}
            for key in ("total_rows", "valid_rows", "rejected_rows", "duplicate_events"):
                totals[key] += int(quality.get(key) or 0)
            for name, count in (quality.get("issues") or {}).items():
                issues[name] = issues.get(name, 0) + int(count)
            per_upload.append({
                "upload_id": row["id"], "filename": row["filename"], "status": row["status"],
                "total_rows": quality.get("total_rows"), "rejected_rows": quality.get("rejected_rows"),
                "quality_score": quality.get("quality_score"), "error": row["error"],
            })
    score = totals["valid_rows"] / totals["total_rows"] if totals["total_rows"] else None
    return {**totals, "quality_score": score, "issues": dict(sorted(issues.items())),
            "uploads_detail": per_upload}
