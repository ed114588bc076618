"""Bulk transfer between Arrow tables and PostgreSQL: COPY in both directions, id blocks."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql

COPY_BATCH_ROWS = 100_000  # bounds the CSV text held at once


def copy_in(conn: psycopg.Connection, table: str, data: pa.Table) -> None:
    """COPY an Arrow table into `table`; column names of `data` are the target columns.

    Arrow writes the CSV in C, batch by batch, so no Python code runs per row. Nulls are
    written unquoted (NULL to PostgreSQL), empty strings quoted.
    """
    if data.num_rows == 0:
        return
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, data.column_names))
    )
    data = _naive_utc(data)
    options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
    with conn.transaction():
        # Arrow formats zone-aware timestamps twenty times slower than naive ones: send UTC
        # wall-clock text and let the session zone (UTC, for this COPY only) make instants.
        conn.execute("SET LOCAL TIME ZONE 'UTC'")
        with conn.cursor().copy(statement) as copy:
            for batch in data.to_batches(max_chunksize=COPY_BATCH_ROWS):
                buffer = io.BytesIO()
                pacsv.write_csv(batch, buffer, options)
                copy.write(buffer.getbuffer())


def _naive_utc(data: pa.Table) -> pa.Table:
    """Zone-aware timestamp columns as naive UTC (same instants, cheaper text)."""
    for index, field in enumerate(data.schema):
        if pa.types.is_timestamp(field.type) and field.type.tz is not None:
            naive = data.column(index).cast(pa.timestamp(field.type.unit))
            data = data.set_column(index, field.name, naive)
    return data


def copy_out(conn: psycopg.Connection, query: sql.Composable | str, schema: pa.Schema,
             params: tuple = ()) -> pa.Table:
    """Run `query` through COPY ... TO STDOUT and read the rows into an Arrow table."""
    statement = sql.SQL("COPY ({}) TO STDOUT (FORMAT csv)").format(
        query if isinstance(query, sql.Composable) else sql.SQL(query)  # type: ignore[arg-type]
    )
    buffer = io.BytesIO()
    with conn.cursor().copy(statement, params or None) as copy:
        for chunk in copy:
            buffer.write(chunk)
    if buffer.tell() == 0:
        return schema.empty_table()
    buffer.seek(0)
    return pacsv.read_csv(
        buffer,
        read_options=pacsv.ReadOptions(column_names=schema.names),
        convert_options=pacsv.ConvertOptions(
            column_types=schema, strings_can_be_null=True, quoted_strings_can_be_null=False
        ),
    )


def allocate_ids(conn: psycopg.Connection, sequence: str, count: int) -> int:
    """Reserve `count` consecutive ids from `sequence`; returns the first.

    Callers hold the ingest lock, so the block cannot interleave with another writer's.
    """
    if count == 0:
        return 0
    first = conn.execute("SELECT nextval(%s::regclass)", (sequence,)).fetchone()[0]  # type: ignore[index]
    conn.execute("SELECT setval(%s::regclass, %s)", (sequence, first + count - 1))
    return int(first)


@contextmanager
def indexes_built_after(conn: psycopg.Connection, tables: tuple[str, ...]) -> Iterator[None]:
    """Drop the tables' secondary indexes, run the block, then build them again.

    Building an index over loaded rows costs about half of maintaining it row by row, so
    the first large load into empty tables uses this. Must run inside a transaction: the
    indexes come back (or the whole load rolls back) before anyone else sees the tables.
    """
    rows = conn.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i"
        " JOIN pg_class c ON c.relname = i.indexname"
        " WHERE i.schemaname = current_schema() AND i.tablename = ANY(%s)"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = c.oid)",
        (list(tables),),
    ).fetchall()
    for name, _ in rows:
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    yield
    conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
    for _, definition in rows:
        conn.execute(definition)  # the definition PostgreSQL itself reported
