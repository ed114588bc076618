"""Timestamp parsing (SPEC §2): layouts, offsets, day-first detection, zones, invalid values."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dwell.domain.timestamps import ParsedTimestamps, parse_timestamps

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def utc_ms(*fields: int, ms: int = 0) -> int:
    """Epoch ms of a UTC wall time, e.g. utc_ms(2024, 3, 5, 14, 23, 11, ms=123)."""
    return (datetime(*fields, tzinfo=timezone.utc) - EPOCH) // timedelta(milliseconds=1) + ms


def parse(values, **kwargs) -> ParsedTimestamps:
    return parse_timestamps(pa.array(values, pa.string()), **kwargs)


def parse_one(value: str, **kwargs) -> int | None:
    result = parse([value], **kwargs)
    return int(result.ts_ms[0]) if result.valid[0] else None


# --- ISO 8601 ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("2024-03-05T14:23:11.123Z", 1709648591123),
    ("2024-03-05 14:23:11", 1709648591000),
    ("2024-03-05T14:23:11", 1709648591000),
    ("2024-03-05T14:23", 1709648580000),
    ("2024-03-05T14:23Z", 1709648580000),
    ("2024-03-05t14:23:11z", 1709648591000),
    ("2024-03-05T14:23:11,5Z", 1709648591500),
])
def test_iso_dates_with_t_or_space_and_optional_seconds_and_fraction(value, expected):
    assert parse_one(value) == expected


@pytest.mark.parametrize("value, expected", [
    ("2024-03-05T14:23:11+05:30", utc_ms(2024, 3, 5, 8, 53, 11)),
    ("2024-03-05T14:23:11+0530", utc_ms(2024, 3, 5, 8, 53, 11)),
    ("2024-03-05T14:23:11-0800", utc_ms(2024, 3, 5, 22, 23, 11)),
    ("2024-03-05 14:23:11-08:00", utc_ms(2024, 3, 5, 22, 23, 11)),
    ("2024-03-05T14:23:11+05", utc_ms(2024, 3, 5, 9, 23, 11)),
    ("2024-03-05T14:23:11.250+01:00", utc_ms(2024, 3, 5, 13, 23, 11, ms=250)),
    ("2024-03-05T01:00:00+05:30", utc_ms(2024, 3, 4, 19, 30, 0)),
])
def test_iso_offsets_are_applied(value, expected):
    assert parse_one(value) == expected


def test_offsets_and_z_ignore_source_tz():
    result = parse(["2024-03-05T14:23:11Z", "2024-03-05T14:23:11+05:30"],
                   source_tz="America/New_York")
    assert result.ts_ms.tolist() == [utc_ms(2024, 3, 5, 14, 23, 11), utc_ms(2024, 3, 5, 8, 53, 11)]


@pytest.mark.parametrize("value, expected_ms", [
    ("2024-03-05T14:23:11.1Z", 100),
    ("2024-03-05T14:23:11.12Z", 120),
    ("2024-03-05T14:23:11.1239Z", 123),
    ("2024-03-05T14:23:11.999999Z", 999),
    ("2024-03-05T14:23:11.123456789Z", 123),
    ("2024-03-05T14:23:11.99999999999999Z", 999),
    ("2024-03-05 14:23:11.9999", 999),
])
def test_fractional_seconds_are_truncated_to_the_millisecond(value, expected_ms):
    assert parse_one(value) == utc_ms(2024, 3, 5, 14, 23, 11) + expected_ms


def test_truncation_floors_before_1970():
    assert parse_one("1969-12-31T23:59:59.9999Z") == -1
    assert parse_one("1969-12-31T23:59:59.0005Z") == -1000


# --- epochs -----------------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("1709648591", 1709648591000),
    ("1709648591123", 1709648591123),
    ("1709648591123456", 1709648591123),
    ("1709648591.5", 1709648591500),
    ("1709648591.123456", 1709648591123),
    ("1709648591.", None),
    ("946684800", 946684800000),
    ("17096485911", 17096485911000),           # 11 digits: seconds
    ("-1.5", -1500),
    ("-1.0005", -1001),
    ("-1709648591123", -1709648591123),
    ("12345678901234567", None),               # seconds that overflow int64 milliseconds
])
def test_epochs_by_digit_count_or_decimal_point(value, expected):
    assert parse_one(value) == expected


def test_epoch_layout_names():
    result = parse(["1709648591", "1709648591123", "1709648591123456", "1709648591.5"])
    assert result.valid.all()
    assert result.layouts == ["epoch seconds", "epoch milliseconds", "epoch microseconds"]


def test_epochs_are_utc_whatever_the_source_tz():
    assert parse_one("1709648591", source_tz="Europe/Berlin") == 1709648591000


# --- other layouts ----------------------------------------------------------------------------

T = utc_ms(2024, 3, 5, 14, 23, 11)
T_NO_SECONDS = utc_ms(2024, 3, 5, 14, 23)


@pytest.mark.parametrize("value, expected, layout", [
    ("2024/03/05 14:23:11", T, "%Y/%m/%d %H:%M[:%S]"),
    ("2024/3/5 14:23", T_NO_SECONDS, "%Y/%m/%d %H:%M[:%S]"),
    ("05-03-2024 14:23:11", T, "%d-%m-%Y %H:%M[:%S]"),
    ("5-3-2024 14:23", T_NO_SECONDS, "%d-%m-%Y %H:%M[:%S]"),
    ("05.03.2024 14:23:11", T, "%d.%m.%Y %H:%M[:%S]"),
    ("05.03.2024 14:23", T_NO_SECONDS, "%d.%m.%Y %H:%M[:%S]"),
    ("05 Mar 2024 14:23:11", T, "%d %b %Y %H:%M[:%S]"),
    ("5 MAR 2024 14:23", T_NO_SECONDS, "%d %b %Y %H:%M[:%S]"),
    ("05 March 2024 14:23:11", T, "%d %b %Y %H:%M[:%S]"),
    ("Mar 05 2024 14:23:11", T, "%b %d %Y %H:%M[:%S]"),
    ("Mar 5, 2024 14:23", T_NO_SECONDS, "%b %d %Y %H:%M[:%S]"),
    ("20240305T142311", T, "%Y%m%dT%H%M%S"),
    ("03/05/2024 2:23:11 PM", T, "%m/%d/%Y %I:%M[:%S] %p"),
    ("3/5/2024 2:23 pm", T_NO_SECONDS, "%m/%d/%Y %I:%M[:%S] %p"),
    ("05/03/2024 9:05", utc_ms(2024, 5, 3, 9, 5), "%m/%d/%Y %H:%M[:%S]"),
])
def test_each_common_layout_parses_with_its_name(value, expected, layout):
    result = parse([value])
    assert result.valid.tolist() == [True]
    assert result.ts_ms.tolist() == [expected]
    assert result.layouts == [layout]


@pytest.mark.parametrize("value, expected", [
    ("03/05/2024 12:05 AM", utc_ms(2024, 3, 5, 0, 5)),
    ("03/05/2024 12:05:09 AM", utc_ms(2024, 3, 5, 0, 5, 9)),
    ("03/05/2024 12:05 PM", utc_ms(2024, 3, 5, 12, 5)),
    ("03/05/2024 1:05 AM", utc_ms(2024, 3, 5, 1, 5)),
    ("03/05/2024 11:59 PM", utc_ms(2024, 3, 5, 23, 59)),
    ("03/05/2024 13:05 PM", None),
    ("03/05/2024 0:05 AM", None),
])
def test_am_pm_clock_with_twelve_am_as_midnight(value, expected):
    assert parse_one(value) == expected


def test_mixed_layouts_in_one_array_keep_first_seen_order():
    values = ["1709648591123", "2024-03-05T14:23:11Z", "05.03.2024 14:23:11", "2024-03-05 14:23:11",
              "Mar 05 2024 14:23:11", "1709648591"]
    result = parse(values)
    assert result.valid.all()
    assert result.ts_ms.tolist() == [T + 123, T, T, T, T, T]
    assert result.layouts == ["epoch milliseconds", "ISO 8601", "%d.%m.%Y %H:%M[:%S]",
                              "%b %d %Y %H:%M[:%S]", "epoch seconds"]


def test_layouts_list_only_layouts_of_valid_values():
    result = parse(["garbage", "31.02.2024 10:00", "2024-03-05T14:23:11Z"])
    assert result.layouts == ["ISO 8601"]


# --- day-first detection ----------------------------------------------------------------------

def test_first_field_above_12_makes_the_file_day_first():
    result = parse(["05/03/2024 10:00", "13/03/2024 10:00"])
    assert result.dayfirst is True and result.ambiguous_dates is False
    assert result.ts_ms.tolist() == [utc_ms(2024, 3, 5, 10, 0), utc_ms(2024, 3, 13, 10, 0)]
    assert result.layouts == ["%d/%m/%Y %H:%M[:%S]"]


def test_second_field_above_12_makes_the_file_month_first():
    result = parse(["05/03/2024 10:00", "03/13/2024 10:00"])
    assert result.dayfirst is False and result.ambiguous_dates is False
    assert result.ts_ms.tolist() == [utc_ms(2024, 5, 3, 10, 0), utc_ms(2024, 3, 13, 10, 0)]
    assert result.layouts == ["%m/%d/%Y %H:%M[:%S]"]


def test_first_field_above_12_wins_when_both_occur():
    result = parse(["13/03/2024 10:00", "03/13/2024 10:00", "05/03/2024 10:00"])
    assert result.dayfirst is True and result.ambiguous_dates is False
    assert result.valid.tolist() == [True, False, True]
    assert result.ts_ms[[0, 2]].tolist() == [utc_ms(2024, 3, 13, 10, 0), utc_ms(2024, 3, 5, 10, 0)]


def test_undecidable_file_is_month_first_and_flagged_ambiguous():
    result = parse(["05/03/2024 10:00", "01/02/2024 10:00"])
    assert result.dayfirst is False and result.ambiguous_dates is True
    assert result.ts_ms.tolist() == [utc_ms(2024, 5, 3, 10, 0), utc_ms(2024, 1, 2, 10, 0)]


@pytest.mark.parametrize("dayfirst, expected", [(True, utc_ms(2024, 3, 5, 10)),
                                                (False, utc_ms(2024, 5, 3, 10))])
def test_explicit_dayfirst_switches_detection_and_flag_off(dayfirst, expected):
    result = parse(["05/03/2024 10:00"], dayfirst=dayfirst)
    assert result.dayfirst is dayfirst and result.ambiguous_dates is False
    assert result.ts_ms.tolist() == [expected]


def test_explicit_dayfirst_overrides_evidence():
    result = parse(["13/03/2024 10:00", "03/04/2024 10:00"], dayfirst=False)
    assert result.valid.tolist() == [False, True]
    assert result.ts_ms[1] == utc_ms(2024, 3, 4, 10)


def test_invalid_rows_are_no_evidence_for_the_order():
    # 31/02 is impossible either way round, so only the ambiguous row remains
    result = parse(["31/02/2024 10:00", "05/03/2024 10:00"])
    assert result.ambiguous_dates is True and result.dayfirst is False


def test_dayfirst_is_none_without_slash_dates():
    result = parse(["2024-03-05T14:23:11Z", "05.03.2024 10:00", "03/05/2024 1:00 PM"])
    assert result.dayfirst is None and result.ambiguous_dates is False
    assert parse(["2024-03-05T14:23:11Z"], dayfirst=True).dayfirst is None


def test_am_pm_dotted_and_dashed_dates_keep_their_fixed_order_in_a_day_first_file():
    result = parse(["13/03/2024 10:00", "03/05/2024 1:00 PM", "05-03-2024 10:00",
                    "05.03.2024 10:00"])
    assert result.dayfirst is True
    assert result.ts_ms.tolist() == [utc_ms(2024, 3, 13, 10), utc_ms(2024, 3, 5, 13),
                                     utc_ms(2024, 3, 5, 10), utc_ms(2024, 3, 5, 10)]


def test_dashed_and_dotted_dates_are_day_first_even_in_a_month_first_file():
    result = parse(["03/13/2024 10:00", "05-03-2024 10:00", "05.03.2024 10:00"])
    assert result.dayfirst is False
    assert result.ts_ms[1:].tolist() == [utc_ms(2024, 3, 5, 10)] * 2


# --- source time zone -------------------------------------------------------------------------

@pytest.mark.parametrize("wall, expected", [
    ("2024-03-31 01:30:00", utc_ms(2024, 3, 31, 0, 30)),      # CET, before the gap
    ("2024-03-31 02:30:00", utc_ms(2024, 3, 31, 1, 0)),       # skipped: 03:00 CEST, after the gap
    ("2024-03-31 03:30:00", utc_ms(2024, 3, 31, 1, 30)),      # CEST
    ("2024-10-27 01:30:00", utc_ms(2024, 10, 26, 23, 30)),    # CEST
    ("2024-10-27 02:30:00", utc_ms(2024, 10, 27, 0, 30)),     # repeated: earliest (CEST)
    ("2024-10-27 03:30:00", utc_ms(2024, 10, 27, 2, 30)),     # CET
])
def test_naive_values_are_berlin_wall_clock_across_dst(wall, expected):
    assert parse_one(wall, source_tz="Europe/Berlin") == expected


@pytest.mark.parametrize("wall, expected", [
    ("2024-01-15 12:00:00", utc_ms(2024, 1, 15, 17)),
    ("2024-07-01 12:00:00", utc_ms(2024, 7, 1, 16)),
    ("07/01/2024 12:00", utc_ms(2024, 7, 1, 16)),
    ("2024-03-10 02:30:00", utc_ms(2024, 3, 10, 7)),           # skipped: 03:00 EDT
    ("2024-11-03 01:30:00", utc_ms(2024, 11, 3, 5, 30)),       # repeated: earliest (EDT)
])
def test_naive_values_are_new_york_wall_clock(wall, expected):
    assert parse_one(wall, source_tz="America/New_York") == expected


@pytest.mark.parametrize("start", [datetime(2024, 3, 26), datetime(2024, 10, 22)])
def test_long_columns_convert_wall_times_exactly_across_transitions(start):
    # dense enough (a row every 5 minutes) for the per-hour offset table to be used
    zone = ZoneInfo("Europe/Berlin")
    walls = [start + timedelta(minutes=5 * i) for i in range(3000)]
    result = parse([w.strftime("%Y-%m-%d %H:%M:%S") for w in walls], source_tz="Europe/Berlin")
    expected = []
    for wall in walls:
        aware = wall.replace(tzinfo=zone)            # fold=0: the earlier of repeated times
        if aware.astimezone(timezone.utc).astimezone(zone).replace(tzinfo=None) != wall:
            aware = wall.replace(hour=3, minute=0, tzinfo=zone)     # skipped: 03:00 CEST
        expected.append((aware - EPOCH) // timedelta(milliseconds=1))
    assert result.valid.all()
    assert result.ts_ms.tolist() == expected


def test_unknown_source_tz_raises_naming_it():
    with pytest.raises(ValueError, match="Mars/Olympus_Mons"):
        parse(["2024-03-05 14:23:11"], source_tz="Mars/Olympus_Mons")


# --- invalid values ---------------------------------------------------------------------------

@pytest.mark.parametrize("value", [
    "2024-03-05", "05/03/2024", "05.03.2024", "Mar 05 2024", "20240305T", "2024-03-05T14",
    "garbage", "", "   ", "31/02/2024 10:00", "29/02/2023 10:00", "2024-02-30T10:00:00Z",
    "2024-03-05 25:00:00", "2024-03-05 24:00", "2024-03-05 10:60", "2024-03-05 10:00:60",
    "2024-13-05 10:00:00", "2024-03-05T14:23:11+24:00", "2024-03-05T14:23:11+05:60",
    "2024-03-05T14:23:11.Z", "2024-03-05T14:23:11+5:30", "00/03/2024 10:00", "Foo 05 2024 10:00",
    "2024-03-05T14:23:11 junk", "1.2.3", "--1", "2024-03-05 14:23:11 PM",
])
def test_values_that_are_not_timestamps_are_invalid(value):
    assert parse_one(value) is None


def test_leap_day_only_in_leap_years():
    result = parse(["29/02/2024 10:00", "29/02/2023 10:00", "29.02.2000 10:00", "29.02.1900 10:00"])
    assert result.valid.tolist() == [True, False, True, False]


def test_nulls_and_empty_strings_are_invalid_without_disturbing_the_rest():
    result = parse([None, "", "2024-03-05T14:23:11Z", None, "1709648591"])
    assert result.valid.tolist() == [False, False, True, False, True]
    assert result.ts_ms[[2, 4]].tolist() == [T, T]


def test_surrounding_whitespace_is_trimmed():
    result = parse(["  2024-03-05T14:23:11Z", "2024-03-05 14:23:11\t", "\n1709648591 ",
                    "\u00a005.03.2024 14:23:11"])
    assert result.valid.all()
    assert result.ts_ms.tolist() == [T] * 4


def test_empty_input():
    result = parse([])
    assert result.ts_ms.dtype == np.int64 and result.ts_ms.size == 0 and result.layouts == []


# --- explicit format --------------------------------------------------------------------------

def test_explicit_format_parses_every_value_with_it_only():
    result = parse(["05/03/2024 10:00", "2024-03-05T14:23:11Z", "13/03/2024 10:00"],
                   timestamp_format="%d/%m/%Y %H:%M")
    assert result.valid.tolist() == [True, False, True]
    assert result.ts_ms[[0, 2]].tolist() == [utc_ms(2024, 3, 5, 10), utc_ms(2024, 3, 13, 10)]
    assert result.layouts == ["%d/%m/%Y %H:%M"]
    assert result.dayfirst is None and result.ambiguous_dates is False


@pytest.mark.parametrize("fmt, value, expected", [
    ("%Y-%m-%dT%H:%M:%S.%f%z", "2024-03-05T14:23:11.123456+05:30",
     utc_ms(2024, 3, 5, 8, 53, 11, ms=123)),
    ("%Y-%m-%d %H:%M:%S%z", "2024-03-05 14:23:11Z", T),
    ("%d %B %Y, %I:%M %p", "5 March 2024, 2:23 PM", T_NO_SECONDS),
    ("%a %b %d %H:%M:%S %Y", "Tue Mar 05 14:23:11 2024", T),
    ("%y%m%d%H%M%S", "240305142311", T),
    ("%d|%m|%Y %H.%M", "05|03|2024 14.23", T_NO_SECONDS),
    ("%Y-%m-%d %H:%M", "2024-02-30 14:23", None),
    ("%Y-%m-%d %H:%M", "2024-03-05 14:23:11", None),
])
def test_explicit_strptime_formats(fmt, value, expected):
    assert parse_one(value, timestamp_format=fmt) == expected


def test_explicit_format_naive_values_use_source_tz():
    assert parse_one("05/03/2024 10:00", timestamp_format="%d/%m/%Y %H:%M",
                     source_tz="Europe/Berlin") == utc_ms(2024, 3, 5, 9)


def test_unsupported_format_directive_raises():
    with pytest.raises(ValueError, match="%Q"):
        parse(["x"], timestamp_format="%Y %Q")


# --- array shapes and paths -------------------------------------------------------------------

def test_chunked_sliced_and_large_string_inputs():
    values = ["2024-03-05T14:23:11Z", "1709648591", None, "05.03.2024 14:23:11"]
    chunked = pa.chunked_array([values[:2], values[2:]], pa.string())
    for arr in (chunked, pa.array(["x"] + values, pa.large_string()).slice(1),
                pa.chunked_array([pa.array(values)])):
        result = parse_timestamps(arr)
        assert result.valid.tolist() == [True, True, False, True]
        assert result.ts_ms[[0, 1, 3]].tolist() == [T, T, T]


def test_one_bad_row_in_a_long_iso_column_spoils_only_itself():
    values = ["2024-03-05T14:23:11.123Z"] * 70_000
    values[40_000] = "2024-02-30T14:23:11.123Z"
    values[69_999] = "2024-03-05t14:23:11.123z"
    result = parse(values)
    assert result.valid.sum() == 69_999 and not result.valid[40_000]
    assert (result.ts_ms[result.valid] == T + 123).all()


def test_columns_of_assorted_garbage_are_invalid_but_valid_rows_survive():
    rng = random.Random(7)
    alphabet = "abcdefXYZ0123456789-:/. "
    values = ["".join(rng.choice(alphabet) for _ in range(19)) for _ in range(3000)]
    values[::10] = ["2024-03-05 14:23:11"] * len(values[::10])
    values[5::10] = ["03/05/2024 14:23:11"] * len(values[5::10])
    result = parse(values)
    expected_valid = np.zeros(len(values), bool)
    expected_valid[::10] = expected_valid[5::10] = True
    assert result.valid.tolist() == expected_valid.tolist()
    assert set(result.ts_ms[expected_valid].tolist()) == {T}


# --- property: ISO with offsets round-trips ---------------------------------------------------

aware_datetimes = st.builds(
    lambda naive, minutes: naive.replace(tzinfo=timezone(timedelta(minutes=minutes))),
    st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2099, 12, 30)),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)


def iso(dt: datetime, sep: str, style: str, digits: int) -> str:
    text = dt.strftime(f"%Y-%m-%d{sep}%H:%M:%S")
    if digits:
        text += "." + f"{dt.microsecond:06d}{'7' * 3}"[:digits]
    minutes = int(dt.utcoffset() // timedelta(minutes=1))
    sign, hh, mm = "+" if minutes >= 0 else "-", abs(minutes) // 60, abs(minutes) % 60
    if style == "Z" and minutes == 0:
        return text + "Z"
    if style == "hhmm":
        return text + f"{sign}{hh:02d}{mm:02d}"
    if style == "hh" and mm == 0:
        return text + f"{sign}{hh:02d}"
    return text + f"{sign}{hh:02d}:{mm:02d}"


def expected_ms(dt: datetime, digits: int) -> int:
    kept = int(f"{dt.microsecond:06d}"[:min(digits, 6)].ljust(6, "0")) if digits else 0
    return (dt.replace(microsecond=kept) - EPOCH) // timedelta(milliseconds=1)


iso_cases = st.lists(st.tuples(aware_datetimes, st.sampled_from(["T", " "]),
                               st.sampled_from(["Z", "hh:mm", "hhmm", "hh"]),
                               st.integers(min_value=0, max_value=9)), min_size=1, max_size=20)


@settings(max_examples=200, deadline=None)
@given(iso_cases)
def test_iso_with_offsets_round_trips_to_the_exact_millisecond(cases):
    texts = [iso(*case) for case in cases]
    expected = [expected_ms(dt, digits) for dt, _, _, digits in cases]
    result = parse(texts)
    assert result.valid.all(), texts
    assert result.ts_ms.tolist() == expected, texts
    # the same values beside a row Arrow refuses go through the general decoder: same answers
    beside_bad = parse(texts + ["2024-02-30T00:00:00Z", "2024-02-30 00:00:00"])
    assert beside_bad.valid.tolist() == [True] * len(texts) + [False, False]
    assert beside_bad.ts_ms[:len(texts)].tolist() == expected, texts


COMMON_LAYOUTS = [  # (strftime pattern, dayfirst to pass)
    ("%Y/%m/%d %H:%M:%S", None), ("%d-%m-%Y %H:%M", None), ("%d.%m.%Y %H:%M:%S", None),
    ("%d %b %Y %H:%M:%S", None), ("%b %d %Y %H:%M", None), ("%Y%m%dT%H%M%S", None),
    ("%m/%d/%Y %I:%M:%S %p", None), ("%d/%m/%Y %H:%M:%S", True), ("%m/%d/%Y %H:%M", False),
    ("%Y-%m-%d %H:%M:%S", None),
]


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(COMMON_LAYOUTS),
       st.lists(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 12, 31)),
                min_size=1, max_size=20))
def test_common_layouts_agree_with_the_standard_library(layout, walls):
    pattern, dayfirst = layout
    texts = [w.strftime(pattern) for w in walls]
    expected = [(datetime.strptime(t, pattern).replace(tzinfo=timezone.utc) - EPOCH)
                // timedelta(milliseconds=1) for t in texts]
    result = parse(texts, dayfirst=dayfirst)
    assert result.valid.all(), texts
    assert result.ts_ms.tolist() == expected, texts
