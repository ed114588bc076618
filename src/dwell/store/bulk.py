"""Bulk transfer between Arrow tables and PostgreSQL: COPY in both directions, id blocks,
table sizes."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from psycopg import sql

COPY_BATCH_ROWS = 100_000  # bounds the encoded rows held at once

try:  # Arrow to PostgreSQL's binary COPY format, in Rust; wheels for the common platforms
    from pgpq import ArrowToPostgresBinaryEncoder
except ImportError:  # pragma: no cover - platforms without a wheel use the CSV path
    ArrowToPostgresBinaryEncoder = None

# How Arrow columns travel in binary COPY, by the target column's type: the binary format
# carries no type, so each value must already have the exact width the column reads.
_BINARY_TYPES = {
    "bigint": pa.int64(), "integer": pa.int32(), "smallint": pa.int16(),
    "double precision": pa.float64(), "real": pa.float32(), "boolean": pa.bool_(),
    "text": pa.string(), "timestamp with time zone": pa.timestamp("us"), "bytea": pa.binary(),
}
_JSONB_VERSION = pa.scalar(b"\x01", pa.binary())  # jsonb's binary input: version 1, then text


def copy_in(conn: psycopg.Connection, table: str, data: pa.Table, *, binary: bool = True) -> None:
    """COPY an Arrow table into `table`; column names of `data` are the target columns.

    Binary COPY (pgpq) when available: no Python code runs per row, and the server reads
    numbers and instants as they are instead of parsing text, about a third less work than
    CSV. Otherwise (or `binary=False`) Arrow writes CSV in C: nulls unquoted (NULL to
    PostgreSQL), empty strings quoted.
    """
    if data.num_rows == 0:
        return
    data = _naive_utc(data)
    if binary and ArrowToPostgresBinaryEncoder is not None:
        _copy_binary(conn, table, data)
    else:
        _copy_csv(conn, table, data)


def _copy_statement(table: str, columns: list[str], fmt: str) -> sql.Composed:
    return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT {})").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)), sql.SQL(fmt))


def _copy_binary(conn: psycopg.Connection, table: str, data: pa.Table) -> None:
    in_table = column_types(conn, table)
    types = [in_table[name] for name in data.column_names]
    encoder = None
    with conn.cursor().copy(_copy_statement(table, data.column_names, "binary")) as copy:
        # Converted batch by batch, so the converted copy of a column is never whole.
        for batch in data.to_batches(max_chunksize=COPY_BATCH_ROWS):
            converted = pa.RecordBatch.from_arrays(
                [_as_binary_input(column, pg_type) for column, pg_type in zip(batch.columns, types)],
                names=data.column_names)
            if encoder is None:
                encoder = ArrowToPostgresBinaryEncoder(converted.schema)
                copy.write(encoder.write_header())
            copy.write(encoder.write_batch(converted))
        if encoder is not None:
            copy.write(encoder.finish())


def _as_binary_input(column: pa.Array, pg_type: str) -> pa.Array:
    if pg_type == "jsonb":
        text = column.cast(pa.string()).cast(pa.binary())
        return pc.binary_join_element_wise(_JSONB_VERSION, text, pa.scalar(b"", pa.binary()))
    wanted = _BINARY_TYPES.get(pg_type)
    if wanted is None:
        raise TypeError(f"binary COPY does not handle column type {pg_type!r}")
    return column if column.type == wanted else column.cast(wanted)


def column_types(conn: psycopg.Connection, table: str) -> dict[str, str]:
    """Column name to type name of `table` (temporary tables included)."""
    rows = conn.execute(
        "SELECT attname, format_type(atttypid, NULL) FROM pg_attribute"
        " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
        (table,),
    ).fetchall()
    return dict(rows)


def _copy_csv(conn: psycopg.Connection, table: str, data: pa.Table) -> None:
    options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
    with conn.transaction():
        # Naive UTC wall-clock text: the session zone (UTC, for this COPY only) makes instants.
        conn.execute("SET LOCAL TIME ZONE 'UTC'")
        with conn.cursor().copy(_copy_statement(table, data.column_names, "csv")) as copy:
            for batch in data.to_batches(max_chunksize=COPY_BATCH_ROWS):
                buffer = io.BytesIO()
                pacsv.write_csv(batch, buffer, options)
                copy.write(buffer.getbuffer())


def _naive_utc(data: pa.Table) -> pa.Table:
    """Zone-aware timestamp columns as naive UTC: the same instants, and the form both COPY
    formats want (binary counts from 2000-01-01 UTC; Arrow writes naive text 20x faster)."""
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


def estimated_rows(conn: psycopg.Connection, table: str) -> float:
    """The planner's count of a table's rows (0 before it was first analyzed)."""
    return float(conn.execute(
        "SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = %s::regclass", (table,)
    ).fetchone()[0])  # type: ignore[index]


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
