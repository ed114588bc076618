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
