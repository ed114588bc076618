"""COPY in both formats: binary (pgpq) and CSV must store exactly the same rows."""

from __future__ import annotations

from datetime import datetime, timezone

import psycopg
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dwell.store import bulk

TABLE = """
CREATE TEMP TABLE bulk_probe (
    id bigint, line integer, ts timestamptz, name text COLLATE "C", score double precision,
    flag boolean, attributes jsonb
)
"""
SELECT = "SELECT id, line, ts, name, score, flag, attributes FROM bulk_probe ORDER BY id"

UTC_MS = pa.timestamp("ms", tz="UTC")


def _table(rows: list[tuple]) -> pa.Table:
    ids, lines, ts, names, scores, flags, attributes = zip(*rows) if rows else ([],) * 7
    return pa.table({
        "id": pa.array(ids, pa.int64()),
        "line": pa.array(lines, pa.int32()),
        "ts": pa.array(ts, pa.int64()).cast(UTC_MS),
        "name": pa.array(names, pa.string()),
        "score": pa.array(scores, pa.float64()),
        "flag": pa.array(flags, pa.bool_()),
        "attributes": pa.array(attributes, pa.string()),
    })


def _stored(conn: psycopg.Connection, data: pa.Table, *, binary: bool) -> list[tuple]:
    with conn.transaction():
        conn.execute("DROP TABLE IF EXISTS bulk_probe")
        conn.execute(TABLE)
        bulk.copy_in(conn, "bulk_probe", data, binary=binary)
        return conn.execute(SELECT).fetchall()


HAND_ROWS = [
    (1, 2, 946_684_800_000, "P-1", 1.5, True, '{"gender": "female", "age_group": "25-34"}'),
    # before 2000-01-01 (the binary format's epoch), quotes, commas, a line break, unicode
    (2, 3, 946_684_799_999, 'say "hi", then\nleave', -0.0, False, '{"note": "a \\"b\\" ,c"}'),
    (3, 4, 1_709_539_200_123, "", None, None, None),          # empty text is not NULL
    (4, 5, 1_709_539_200_000, None, 1e300, True, '{"zone": "Zürich ✓"}'),
]


@pytest.mark.skipif(bulk.ArrowToPostgresBinaryEncoder is None, reason="pgpq has no wheel here")
def test_binary_and_csv_store_the_same_hand_made_rows(conn: psycopg.Connection) -> None:
    data = _table(HAND_ROWS)
    binary = _stored(conn, data, binary=True)
    assert binary == _stored(conn, data, binary=False)
    assert [row[0] for row in binary] == [1, 2, 3, 4]
    assert binary[0][2] == datetime(2000, 1, 1, tzinfo=timezone.utc)
    assert binary[1][2] == datetime(1999, 12, 31, 23, 59, 59, 999000, tzinfo=timezone.utc)
    assert binary[1][3] == 'say "hi", then\nleave'
    assert binary[2][3] == "" and binary[3][3] is None
    assert binary[0][6] == {"gender": "female", "age_group": "25-34"}
    assert binary[1][6] == {"note": 'a "b" ,c'}
    assert binary[3][6] == {"zone": "Zürich ✓"}


_text = st.one_of(st.none(), st.text(st.characters(blacklist_categories=("Cs",),
                                                   blacklist_characters="\x00"), max_size=12))
_row = st.tuples(
    st.integers(1, 2**62), st.integers(-2**31, 2**31 - 1),
    st.integers(0, 4_102_444_800_000), _text,
    st.one_of(st.none(), st.floats(allow_nan=False)), st.one_of(st.none(), st.booleans()),
    st.one_of(st.none(), st.dictionaries(st.text("abc_", min_size=1, max_size=4),
                                         st.text(max_size=6).filter(lambda t: "\x00" not in t),
                                         max_size=3)),
)


@pytest.mark.skipif(bulk.ArrowToPostgresBinaryEncoder is None, reason="pgpq has no wheel here")
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_row, max_size=30, unique_by=lambda r: r[0]))
def test_binary_and_csv_store_the_same_random_rows(conn: psycopg.Connection, rows: list[tuple]) -> None:
    import json

    rows = [(*r[:6], None if r[6] is None else json.dumps(r[6])) for r in rows]
    data = _table(rows)
    binary = _stored(conn, data, binary=True)
    assert binary == _stored(conn, data, binary=False)
    assert [r[6] for r in binary] == [None if r[6] is None else json.loads(r[6])
                                      for r in sorted(rows)]


def test_an_unsupported_column_type_is_refused_by_name(conn: psycopg.Connection) -> None:
    if bulk.ArrowToPostgresBinaryEncoder is None:
        pytest.skip("pgpq has no wheel here")
    with conn.transaction():
        conn.execute("CREATE TEMP TABLE odd (v numeric)")
        with pytest.raises(TypeError, match="numeric"):
            bulk.copy_in(conn, "odd", pa.table({"v": pa.array([1.5])}))
