"""The synthetic event generator: shape, determinism, realism and injected problems."""

from __future__ import annotations

import csv
import gzip
import json
import re
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from dwell.synth import COLUMNS, MESSY_KINDS, MESSY_METADATA_KEY, generate_events, write_csv

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
REPO = Path(__file__).resolve().parents[2]
AGE_GROUPS = {"18-24", "25-34", "35-44", "45-54", "55-64", "65+"}


def _np(table: pa.Table, name: str) -> np.ndarray:
    return np.asarray(table.column(name).to_pylist(), dtype=object)


def _ms(table: pa.Table) -> np.ndarray:
    values = _np(table, "timestamp").astype(str)
    return np.array([v[:-1] for v in values], dtype="datetime64[ms]").astype(np.int64)


def _pairing(table: pa.Table) -> dict[str, float]:
    """Per (person, camera) in time order: entries followed by their exit, exits after none."""
    key = np.char.add(_np(table, "person_id").astype(str), _np(table, "camera_id").astype(str))
    ts = _ms(table)
    kind = _np(table, "event_type")
    order = np.lexsort((ts, key))
    key, ts, kind = key[order], ts[order], kind[order]
    same_next = np.r_[key[1:] == key[:-1], False]
    same_prev = np.r_[False, key[1:] == key[:-1]]
    entry, exit_ = kind == "entry", kind == "exit"
    closed = entry & same_next & np.r_[kind[1:] == "exit", False]
    orphan = exit_ & ~(same_prev & np.r_[False, kind[:-1] == "entry"])
    dwell_s = (np.r_[ts[1:], 0] - ts)[closed] / 1000
    return {
        "closed_share": closed.sum() / entry.sum(),
        "missing_exit_share": 1 - closed.sum() / entry.sum(),
        "orphan_share": orphan.sum() / exit_.sum(),
        "median_dwell_s": float(np.median(dwell_s)),
        "min_dwell_s": float(dwell_s.min()),
        "max_dwell_s": float(dwell_s.max()),
    }


@pytest.fixture(scope="module")
def events() -> pa.Table:
    return generate_events(60_000, seed=11)


@pytest.fixture(scope="module")
def messy_events() -> pa.Table:
    return generate_events(20_000, seed=5, messy=True)


@pytest.mark.parametrize("rows", [0, 1, 2, 7, 999, 12_345])
def test_exact_row_count_and_columns(rows: int) -> None:
    table = generate_events(rows, seed=rows)
    assert table.num_rows == rows
    assert table.column_names == list(COLUMNS)
    assert all(field.type == pa.string() for field in table.schema)


@pytest.mark.parametrize("rows", [1, 50, 3_001])
def test_exact_row_count_when_messy(rows: int) -> None:
    assert generate_events(rows, seed=3, messy=True, days=3, cameras=2).num_rows == rows


def test_values_have_the_documented_layouts(events: pa.Table) -> None:
    assert all(ISO.match(v) for v in _np(events, "timestamp"))
    assert all(re.fullmatch(r"P\d{6,}", v) for v in _np(events, "person_id"))
    assert set(_np(events, "camera_id")) == {f"CAM-{i:02d}" for i in range(1, 9)}
    assert set(_np(events, "event_type")) == {"entry", "exit"}
    ages = _np(events, "age_group")
    genders = _np(events, "gender")
    assert set(ages) - {None} == AGE_GROUPS
    assert set(genders) - {None} == {"female", "male", "unknown"}
    for values in (ages, genders):
        missing = np.mean([v is None for v in values])
        assert 0.002 < missing < 0.03
    for name in ("timestamp", "person_id", "camera_id", "event_type"):
        assert events.column(name).null_count == 0


def test_sorted_and_inside_the_requested_days(events: pa.Table) -> None:
    ts = _ms(events)
    assert np.all(np.diff(ts) >= 0)
    start = np.datetime64("2024-03-04T00:00", "ms").astype(np.int64)
    day = 86_400_000
    assert ts[0] >= start
    assert ts[-1] < start + 15 * day  # the last evening's visits may end after midnight
    assert len(np.unique((ts - start) // day)) >= 14


def test_same_seed_same_table_other_seed_other_table() -> None:
    kw = dict(days=5, cameras=3)
    assert generate_events(5_000, seed=42, **kw).equals(generate_events(5_000, seed=42, **kw))
    assert not generate_events(5_000, seed=42, **kw).equals(generate_events(5_000, seed=43, **kw))
    messy_a = generate_events(5_000, seed=42, messy=True, **kw)
    messy_b = generate_events(5_000, seed=42, messy=True, **kw)
    assert messy_a.equals(messy_b)
    assert messy_a.schema.metadata == messy_b.schema.metadata


def test_entries_are_mostly_followed_by_exits(events: pa.Table) -> None:
    stats = _pairing(events)
    assert stats["closed_share"] > 0.95
    assert 0.01 < stats["missing_exit_share"] < 0.035
    assert 0.004 < stats["orphan_share"] < 0.02
    assert 120 < stats["median_dwell_s"] < 1_200  # a few minutes
    assert stats["min_dwell_s"] >= 15
    assert stats["max_dwell_s"] <= 75 * 60


def test_repeat_visitors_and_stable_demographics(events: pa.Table) -> None:
    person = _np(events, "person_id")
    day = _ms(events) // 86_400_000
    visits: dict[str, set[int]] = {}
    for p, d in zip(person, day):
        visits.setdefault(p, set()).add(int(d))
    per_person = np.array([len(days) for days in visits.values()])
    repeat_rate = np.mean(per_person >= 2)
    assert 0.2 < repeat_rate < 0.6
    assert per_person.max() >= 5
    for column in ("age_group", "gender"):
        values: dict[str, set[str]] = {}
        for p, v in zip(person, _np(events, column)):
            if v is not None:
                values.setdefault(p, set()).add(v)
        assert all(len(v) == 1 for v in values.values())


def test_opening_hours_and_weekly_rhythm(events: pa.Table) -> None:
    ts = _ms(events)
    entry = _np(events, "event_type") == "entry"
    minute = (ts % 86_400_000) // 60_000
    weekday = ((ts // 86_400_000) + 3) % 7  # Monday = 0
    assert np.all(minute[entry] >= 8 * 60)  # nobody enters before the earliest opening
    assert np.all(minute[entry & (weekday == 6)] >= 10 * 60)  # Sunday opens at 10:00
    hourly = np.bincount(minute[entry & (weekday < 5)] // 60, minlength=24)
    assert hourly[12] > hourly[10] and hourly[17] > hourly[15]  # lunch and evening peaks
    per_day = np.bincount(weekday, minlength=7)
    assert per_day[5] > per_day[0] > per_day[6]  # Saturday busy, Sunday quiet


def test_fewer_cameras_and_days() -> None:
    table = generate_events(3_000, seed=1, days=2, cameras=1)
    assert set(_np(table, "camera_id")) == {"CAM-01"}
    assert len(np.unique(_ms(table) // 86_400_000)) == 2
    naive = generate_events(100, start=datetime(2024, 5, 1))
    aware = generate_events(100, start=datetime(2024, 5, 1, tzinfo=timezone.utc))
    assert naive.equals(aware)
    assert _np(naive, "timestamp")[0].startswith("2024-05-01")


def test_messy_injects_every_kind(messy_events: pa.Table) -> None:
    counts = json.loads(messy_events.schema.metadata[MESSY_METADATA_KEY])
    assert set(counts) == set(MESSY_KINDS)
    assert all(n >= 1 for n in counts.values())
    assert 0.007 < sum(counts.values()) / messy_events.num_rows < 0.013
    assert messy_events.num_rows == 20_000

    ts = _np(messy_events, "timestamp")
    text = [v for v in ts if v is not None and v.strip()]
    odd = [v for v in text if not ISO.match(v)]
    assert any(re.fullmatch(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2}", v) and int(v[:2]) > 12
               for v in odd), "a telling day-first date"
    assert any(re.fullmatch(r"\d{13}", v) for v in odd), "epoch milliseconds"
    assert any(v.endswith("+01:00") for v in odd), "an explicit offset"
    assert any(v.startswith("1970-01-01T") for v in text), "out of range"
    assert any(v[5:7] == "13" or v[11:13] == "25" or len(v) <= 15 for v in text), "invalid"

    required_missing = sum(
        sum(v is None or not v.strip() for v in _np(messy_events, name))
        for name in ("timestamp", "person_id", "camera_id", "event_type"))
    assert required_missing == counts["missing_value"]

    kinds = set(_np(messy_events, "event_type")) - {None}
    assert kinds - {"entry", "exit"} and all(k.strip() for k in kinds - {"entry", "exit"})
    assert sum(k not in ("entry", "exit", None) and bool(k.strip())
               for k in _np(messy_events, "event_type")) == counts["unknown_event_type"]

    rows = messy_events.to_pylist()
    dups = sum(a == b for a, b in zip(rows, rows[1:]))
    assert dups == counts["duplicate_row"]


def test_no_day_first_dates_when_no_day_of_month_is_above_12() -> None:
    table = generate_events(5_000, seed=2, messy=True, start=datetime(2024, 3, 1), days=10)
    assert not any(re.fullmatch(r"\d{2}/\d{2}/\d{4} .*", v or "")
                   for v in _np(table, "timestamp"))


def _read_back(path: Path) -> pa.Table:
    options = pacsv.ConvertOptions(column_types={c: pa.string() for c in COLUMNS},
                                   strings_can_be_null=True, null_values=[""],
                                   quoted_strings_can_be_null=False)
    return pacsv.read_csv(path, convert_options=options)


@pytest.mark.parametrize("messy", [False, True])
def test_write_csv_round_trips(tmp_path: Path, messy: bool) -> None:
    kw = dict(seed=4, messy=messy, days=6, cameras=5)
    path = tmp_path / "events.csv"
    assert write_csv(path, 7_000, chunk_rows=1_000, **kw) == 7_000
    expected = generate_events(7_000, **kw)
    back = _read_back(path)
    assert back.num_rows == 7_000
    assert back.equals(expected.replace_schema_metadata(None))
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(COLUMNS)
    assert len(lines) == 7_001
    assert '"' not in path.read_text()
    # chunking changes nothing
    other = tmp_path / "other.csv"
    write_csv(other, 7_000, chunk_rows=200_000, **kw)
    assert other.read_bytes() == path.read_bytes()


def test_write_csv_gzip_is_readable_and_compact(tmp_path: Path) -> None:
    plain, packed = tmp_path / "e.csv", tmp_path / "e.csv.gz"
    assert write_csv(plain, 20_000, seed=8) == 20_000
    assert write_csv(packed, 20_000, seed=8) == 20_000
    with gzip.open(packed, "rb") as fh:
        assert fh.read() == plain.read_bytes()
    assert _read_back(packed).num_rows == 20_000
    assert 50 < plain.stat().st_size / 20_000 < 70  # about 60 bytes per row
    assert packed.stat().st_size < plain.stat().st_size / 3
    again = tmp_path / "again.csv.gz"
    write_csv(again, 20_000, seed=8)
    assert again.read_bytes() == packed.read_bytes()


def test_bundled_example_is_small_messy_and_analysable() -> None:
    path = REPO / "examples" / "sample_camera_events.csv"
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == list(COLUMNS)
    body = rows[1:]
    assert 1_500 <= len(body) <= 2_500
    assert all(len(r) == len(COLUMNS) for r in body)
    assert {r[2] for r in body if r[2].strip()} == {f"CAM-0{i}" for i in range(1, 5)}
    odd_ts = [r[0] for r in body if not ISO.match(r[0])]
    assert 5 <= len(odd_ts) <= 60
    assert any(r[3] not in ("entry", "exit") for r in body)
    assert any(r[4] and r[5] for r in body)
