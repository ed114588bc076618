"""Synthetic camera events: realistic data for tests, the bundled example and benchmarks.

The generator models a venue (a shop, a station hall) watched by a few cameras:

* opening hours per weekday (Mon-Fri 08:00-21:00, Sat 09:00-20:00, Sun 10:00-18:00) and an
  hourly profile with morning, lunch and evening peaks on weekdays, broader afternoon crowds at
  weekends; more traffic on Fridays and Saturdays, less on Sundays;
* a population of persons with very unequal visit frequencies, so many come back on several
  days (repeat visitors) while most come once; at most one visit per person and day;
* each visit passes through 1-3 distinct cameras (the entrance camera is the busiest), with an
  `entry` and an `exit` per camera: dwell is lognormal (a few minutes, up to about an hour,
  longer at some cameras), with a short walk between cameras;
* about 2% of camera passages lose their exit (`missing_exit`) and 1% their entry (the exit is an
  `orphan_exit`); age group and gender are stable per person, missing on about 1% of events.

`messy=True` then damages about 1% of the rows in realistic ways (see `MESSY_KINDS`).

Everything is vectorized with NumPy and pyarrow: the data is produced one day at a time (every
event of a day's visits lies before the next day's opening, so the days concatenate in order),
which also bounds memory when writing large files. Output is a pure function of the arguments.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

__all__ = [
    "COLUMNS",
    "MESSY_KINDS",
    "MESSY_METADATA_KEY",
    "generate_events",
    "write_csv",
]

COLUMNS: tuple[str, ...] = ("timestamp", "person_id", "camera_id", "event_type", "age_group",
                            "gender")
SCHEMA = pa.schema([(name, pa.string()) for name in COLUMNS])

DEFAULT_START = datetime(2024, 3, 4, tzinfo=timezone.utc)  # a Monday

AGE_GROUPS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
AGE_P = (0.14, 0.24, 0.21, 0.17, 0.14, 0.10)
GENDERS = ("female", "male", "unknown")
GENDER_P = (0.49, 0.45, 0.06)
ATTRIBUTE_MISSING_P = 0.01  # per event: the classifier gave no answer

# Opening hours (minutes of the day, [open, close)) and traffic weight, Monday first.
OPENING = ((480, 1260),) * 5 + ((540, 1200), (600, 1080))
DAY_WEIGHT = (0.85, 0.90, 0.95, 1.00, 1.20, 1.45, 0.70)
LAST_ENTRY_BEFORE_CLOSE_MIN = 10

CAMERAS_PER_VISIT_P = (0.50, 0.33, 0.17)  # 1, 2 or 3 cameras
DWELL_MEDIAN_S = 480.0
DWELL_SIGMA = 0.8
DWELL_CLIP_S = (15.0, 4500.0)
WALK_MEDIAN_S = 45.0
WALK_SIGMA = 0.8
WALK_CLIP_S = (3.0, 600.0)
MISSING_EXIT_P = 0.02  # per camera passage
ORPHAN_EXIT_P = 0.01   # per camera passage

# Persons in the population per expected visit, and the shape of their visit-rate weights
# (a small gamma shape gives a few very loyal visitors and many occasional ones).
POPULATION_PER_VISIT = 2.0
LOYALTY_SHAPE = 0.5

MESSY_METADATA_KEY = b"dwell.synth.messy"
# Share of rows per problem kind with messy=True (about 1% in all).
MESSY_KINDS: dict[str, float] = {
    "invalid_timestamp": 0.0015,       # "2024-03-05T25:23:11.123Z", "n/a", a date without time...
    "timestamp_out_of_range": 0.0005,  # a camera clock reset to 1970
    "missing_value": 0.0020,           # a required field empty or only spaces
    "duplicate_row": 0.0015,           # an exact copy of the previous row
    "unknown_event_type": 0.0015,      # "loiter", "linger", ...
    "other_layout": 0.0030,            # valid instants in another layout (day-first, epoch ms...)
}
MESSY_MIN_ROWS = 50  # from this size on, every kind appears at least once

_INVALID_LITERALS = ("n/a", "#VALUE!", "0000-00-00 00:00:00", "unknown")
_UNKNOWN_TYPES = ("loiter", "linger", "pass_by", "Loiter")
_MS_PER_DAY = 86_400_000


# --------------------------------------------------------------------------------------------
# public API


def generate_events(rows: int, *, seed: int = 0, start: datetime = DEFAULT_START, days: int = 14,
                    cameras: int = 8, messy: bool = False) -> pa.Table:
    """Exactly `rows` camera events over `days` days from `start`, sorted by timestamp.

    Days are whole UTC days beginning with the UTC day of `start` (a naive `start` is UTC);
    opening hours are read in UTC. The final evening's last visits may end after midnight.

    All columns are strings (see `COLUMNS`). With `messy=True` about 1% of the rows carry a
    problem; the count per kind is in the schema metadata under `MESSY_METADATA_KEY` (JSON).
    The same arguments always give the same table.
    """
    chunks: list[pa.Table] = []
    counts = dict.fromkeys(MESSY_KINDS, 0)
    for chunk, chunk_counts in _iter_days(rows, seed=seed, start=start, days=days,
                                          cameras=cameras, messy=messy):
        chunks.append(chunk)
        for kind, n in chunk_counts.items():
            counts[kind] += n
    table = pa.concat_tables(chunks) if chunks else SCHEMA.empty_table()
    if messy:
        table = table.replace_schema_metadata({MESSY_METADATA_KEY: json.dumps(counts)})
    return table


def write_csv(path: str | Path, rows: int, *, seed: int = 0, messy: bool = False,
              chunk_rows: int = 200_000, **kw) -> int:
    """Write `generate_events(rows, seed=seed, messy=messy, **kw)` as CSV; return the row count.

    A `.gz` suffix writes gzip. The data is produced and written a day at a time, in slices of
    `chunk_rows`, so memory stays bounded by the busiest day whatever the file size. Fields are
    quoted only when they need it. The bytes depend only on the arguments (gzip mtime is 0).
    """
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be positive")
    path = Path(path)
    header = (",".join(COLUMNS) + "\n").encode()
    written = 0
    with open(path, "wb") as raw:
        out = (gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0)
               if path.suffix == ".gz" else raw)
        try:
            out.write(header)
            for chunk, _ in _iter_days(rows, seed=seed, messy=messy, **kw):
                for offset in range(0, chunk.num_rows, chunk_rows):
                    part = chunk.slice(offset, chunk_rows)
                    out.write(_csv_bytes(part))
                    written += part.num_rows
        finally:
            if out is not raw:
                out.close()
    return written


def _csv_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    try:
        pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False,
                                                        quoting_style="none"))
    except pa.ArrowInvalid:  # a value holds a delimiter, quote or newline: quote strings
        sink = pa.BufferOutputStream()
        pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False,
                                                        quoting_style="needed"))
    return sink.getvalue().to_pybytes()


# --------------------------------------------------------------------------------------------
# the venue and its population


@dataclass(frozen=True)
class _Population:
    weight: np.ndarray     # float64 visit-rate weight per person
    age: np.ndarray            # int8 index into AGE_GROUPS
    gender: np.ndarray         # int8 index into GENDERS
    labels: pa.StringArray     # "P000001", ...
    camera_weight: np.ndarray  # popularity of each camera
    camera_dwell: np.ndarray   # dwell multiplier of each camera
    camera_labels: pa.StringArray


def _mean_events_per_visit(cameras: int) -> float:
    p = np.asarray(CAMERAS_PER_VISIT_P)
    ks = np.minimum(np.arange(1, len(p) + 1), cameras)
    return float((p * ks).sum()) * (2.0 - MISSING_EXIT_P - ORPHAN_EXIT_P)


def _population(rng: np.random.Generator, rows: int, cameras: int,
                busiest_day_rows: int) -> _Population:
    per_visit = _mean_events_per_visit(cameras)
    visits = rows / per_visit
    # Enough persons that even the busiest day finds distinct visitors easily.
    size = max(16, math.ceil(visits * POPULATION_PER_VISIT),
               math.ceil(3 * busiest_day_rows / per_visit))
    weight = rng.gamma(LOYALTY_SHAPE, 1.0, size)
    age = rng.choice(len(AGE_GROUPS), size=size, p=AGE_P).astype(np.int8)
    gender = rng.choice(len(GENDERS), size=size, p=GENDER_P).astype(np.int8)
    width = max(6, len(str(size)))
    labels = _labels("P", np.arange(1, size + 1), width)
    camera_weight = 1.0 / np.arange(1, cameras + 1) ** 0.6
    camera_dwell = np.exp(rng.normal(0.0, 0.35, cameras))
    camera_labels = _labels("CAM-", np.arange(1, cameras + 1), max(2, len(str(cameras))))
    return _Population(weight, age, gender, labels, camera_weight, camera_dwell, camera_labels)


def _hour_profiles() -> np.ndarray:
    """(7, 1440) probability of a visit starting at each minute, Monday first."""
    minute = np.arange(1440)

    def bumps(*peaks: tuple[float, float, float]) -> np.ndarray:
        out = np.full(1440, 0.08)  # a steady trickle while open
        for centre_h, sd_min, weight in peaks:
            out += weight * np.exp(-0.5 * ((minute - centre_h * 60) / sd_min) ** 2)
        return out

    weekday = bumps((9.5, 45, 0.35), (12.75, 55, 0.8), (17.75, 70, 1.0))
    weekend = bumps((11.5, 80, 0.7), (15.0, 110, 1.0))
    profiles = np.empty((7, 1440))
    for dow, (open_min, close_min) in enumerate(OPENING):
        shape = weekday if dow < 5 else weekend
        mask = (minute >= open_min) & (minute < close_min - LAST_ENTRY_BEFORE_CLOSE_MIN)
        p = np.where(mask, shape, 0.0)
        profiles[dow] = p / p.sum()
    return profiles


_PROFILE_CDF = np.cumsum(_hour_profiles(), axis=1)


def _allocate(total: int, weights: np.ndarray) -> np.ndarray:
    """Split `total` into integers proportional to `weights` (largest remainder)."""
    weights = np.asarray(weights, dtype=float)
    if total <= 0 or weights.sum() <= 0:
        return np.zeros(len(weights), dtype=np.int64)
    exact = total * weights / weights.sum()
    out = np.floor(exact).astype(np.int64)
    rest = total - int(out.sum())
    if rest:
        order = np.argsort(-(exact - out), kind="stable")
        out[order[:rest]] += 1
    return out


# --------------------------------------------------------------------------------------------
# day by day


def _iter_days(rows: int, *, seed: int, start: datetime = DEFAULT_START, days: int = 14,
               cameras: int = 8, messy: bool = False
               ) -> Iterator[tuple[pa.Table, dict[str, int]]]:
    if rows < 0:
        raise ValueError("rows must be >= 0")
    if days < 1:
        raise ValueError("days must be >= 1")
    if cameras < 1:
        raise ValueError("cameras must be >= 1")
    if seed < 0:
        raise ValueError("seed must be >= 0")
    if start.tzinfo is None:
        start = start.replace(tzinfo=timezone.utc)
    start_ms = int(start.timestamp() * 1000)
    day0_ms = start_ms - start_ms % _MS_PER_DAY  # visits are laid out on whole UTC days
    day_starts = day0_ms + _MS_PER_DAY * np.arange(days, dtype=np.int64)
    dow = ((day_starts // _MS_PER_DAY) + 3) % 7  # 1970-01-01 was a Thursday
    dom = _civil(day_starts // _MS_PER_DAY)[2]

    day_rows = _allocate(rows, np.asarray(DAY_WEIGHT)[dow])
    messy_rows = _messy_plan(rows, day_rows, dom) if messy else None
    population = _population(np.random.default_rng([seed, 0]), rows, cameras,
                             int(day_rows.max()))
    # Day-first dates are only written when some day of the month is above 12, so a reader can
    # tell the layout (SPEC 2); `_messy_plan` puts at least one such row on that day.
    dayfirst_ok = bool((dom > 12).any())

    for d in range(days):
        quota = int(day_rows[d])
        if quota == 0:
            continue
        plan = messy_rows[d] if messy_rows is not None else {}
        n_dup = plan.get("duplicate_row", 0)
        rng = np.random.default_rng([seed, 1, d])
        ts_ms, person, camera, is_exit = _day_events(rng, population, int(day_starts[d]),
                                                     int(dow[d]), quota - n_dup)
        table = _to_table(rng, population, ts_ms, person, camera, is_exit)
        counts: dict[str, int] = {}
        if messy:
            table, counts = _inject_messy(np.random.default_rng([seed, 2, d]), table, ts_ms, plan,
                                          dayfirst_ok=dayfirst_ok,
                                          force_dayfirst=dayfirst_ok and int(dom[d]) > 12)
        yield table, counts


def _day_events(rng: np.random.Generator, pop: _Population, day_ms: int, dow: int, need: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The first `need` events of a day's visits (generation order), then sorted by time."""
    per_visit = _mean_events_per_visit(len(pop.camera_weight))
    seen = np.zeros(len(pop.weight), dtype=bool)
    parts: list[tuple[np.ndarray, ...]] = []
    total = 0
    while total < need:
        batch = math.ceil((need - total) / per_visit * 1.1) + 8
        weight = np.where(seen, 0.0, pop.weight)
        cdf = np.cumsum(weight)
        # sorted queries keep the lookup cache-friendly; the shuffle restores a random order
        draws = np.sort(rng.random(batch)) * cdf[-1]
        persons = rng.permutation(np.minimum(np.searchsorted(cdf, draws, side="right"),
                                             len(cdf) - 1))
        _, first = np.unique(persons, return_index=True)  # one visit per person and day
        persons = persons[np.sort(first)]
        persons = persons[~seen[persons]]
        if len(persons) == 0:
            raise RuntimeError("synthetic population exhausted")  # cannot happen by sizing
        seen[persons] = True
        part = _visit_events(rng, pop, day_ms, dow, persons)
        parts.append(part)
        total += len(part[0])
    ts_ms, person, camera, is_exit = (np.concatenate(cols)[:need] for cols in zip(*parts))
    order = np.argsort(ts_ms, kind="stable")
    return ts_ms[order], person[order], camera[order], is_exit[order]


def _visit_events(rng: np.random.Generator, pop: _Population, day_ms: int, dow: int,
                  persons: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Events of one visit per person, grouped by visit, each visit in time order."""
    n_cams = len(pop.camera_weight)
    v = len(persons)
    minute = np.searchsorted(_PROFILE_CDF[dow], rng.random(v) * _PROFILE_CDF[dow, -1],
                             side="right")
    start = day_ms + minute.astype(np.int64) * 60_000 + rng.integers(0, 60_000, v)

    k = np.minimum(rng.choice(len(CAMERAS_PER_VISIT_P), size=v, p=CAMERAS_PER_VISIT_P) + 1,
                   n_cams)
    # k distinct cameras per visit, drawn by popularity (Gumbel top-k), in passage order
    keys = np.log(pop.camera_weight)[None, :] + rng.gumbel(size=(v, n_cams))
    order = np.argsort(-keys, axis=1)
    visit = np.repeat(np.arange(v), k)
    first = np.cumsum(k) - k
    pos = np.arange(len(visit)) - np.repeat(first, k)
    camera = order[visit, pos]

    n = len(visit)
    dwell = DWELL_MEDIAN_S * pop.camera_dwell[camera] * np.exp(rng.normal(0, DWELL_SIGMA, n))
    dwell_ms = np.round(np.clip(dwell, *DWELL_CLIP_S) * 1000).astype(np.int64)
    walk = WALK_MEDIAN_S * np.exp(rng.normal(0, WALK_SIGMA, n))
    walk_ms = np.where(pos == 0, 0, np.round(np.clip(walk, *WALK_CLIP_S) * 1000)).astype(np.int64)
    step = walk_ms + dwell_ms
    cum = np.cumsum(step)
    cum -= np.repeat(cum[first] - step[first], k)  # running total within the visit
    exit_ms = start[visit] + cum
    entry_ms = exit_ms - dwell_ms

    u = rng.random(n)
    keep = np.empty((n, 2), dtype=bool)
    keep[:, 0] = ~((u >= MISSING_EXIT_P) & (u < MISSING_EXIT_P + ORPHAN_EXIT_P))  # entry
    keep[:, 1] = ~(u < MISSING_EXIT_P)                                             # exit
    keep = keep.ravel()
    ts_ms = np.column_stack([entry_ms, exit_ms]).ravel()[keep]
    person = np.repeat(persons[visit], 2)[keep]
    cam = np.repeat(camera, 2)[keep]
    is_exit = np.tile(np.array([False, True]), n)[keep]
    return ts_ms, person, cam, is_exit


def _to_table(rng: np.random.Generator, pop: _Population, ts_ms: np.ndarray,
              person: np.ndarray, camera: np.ndarray, is_exit: np.ndarray) -> pa.Table:
    n = len(ts_ms)
    age_missing = rng.random(n) < ATTRIBUTE_MISSING_P
    gender_missing = rng.random(n) < ATTRIBUTE_MISSING_P
    age = pa.array(pop.age[person], mask=age_missing)
    gender = pa.array(pop.gender[person], mask=gender_missing)
    return pa.Table.from_arrays([
        _iso_ms(ts_ms),
        pop.labels.take(pa.array(person)),
        pop.camera_labels.take(pa.array(camera)),
        pa.array(["entry", "exit"]).take(pa.array(is_exit.astype(np.int8))),
        pa.array(AGE_GROUPS).take(age),
        pa.array(GENDERS).take(gender),
    ], schema=SCHEMA)


# --------------------------------------------------------------------------------------------
# messy data


def _messy_plan(rows: int, day_rows: np.ndarray, dom: np.ndarray) -> list[dict[str, int]]:
    """Rows per problem kind per day, so that the file-wide shares hold."""
    days = len(day_rows)
    plan = [dict.fromkeys(MESSY_KINDS, 0) for _ in range(days)]
    for kind, share in MESSY_KINDS.items():
        total = round(rows * share)
        if rows >= MESSY_MIN_ROWS:
            total = max(1, total)
        per_day = _allocate(total, day_rows)
        if kind == "other_layout" and total:
            # the first busy day with a day of month above 12 shows a telling day-first date
            anchors = np.flatnonzero((dom > 12) & (day_rows > 0))
            if len(anchors) and per_day[anchors[0]] == 0:
                per_day[int(np.argmax(per_day))] -= 1
                per_day[anchors[0]] += 1
        for d in range(days):
            plan[d][kind] = int(per_day[d])
    for d in range(days):  # tiny days: keep most rows clean
        budget = int(day_rows[d]) // 2
        for kind in MESSY_KINDS:
            plan[d][kind] = min(plan[d][kind], budget)
            budget -= plan[d][kind]
    return plan


def _inject_messy(rng: np.random.Generator, table: pa.Table, ts_ms: np.ndarray,
                  plan: dict[str, int], *, dayfirst_ok: bool, force_dayfirst: bool
                  ) -> tuple[pa.Table, dict[str, int]]:
    counts = dict.fromkeys(MESSY_KINDS, 0)

    # exact duplicates: extra copies right after their source row
    n_dup = plan.get("duplicate_row", 0)
    clean = table.num_rows
    src = np.sort(rng.choice(clean, size=min(n_dup, clean), replace=False))
    take = np.sort(np.concatenate([np.arange(clean), src]), kind="stable")
    table = table.take(pa.array(take))
    ts_ms = ts_ms[take]
    counts["duplicate_row"] = len(src)
    dup_at = src + np.arange(len(src))
    protected = np.zeros(table.num_rows, dtype=bool)
    protected[dup_at] = protected[dup_at + 1] = True

    candidates = rng.permutation(np.flatnonzero(~protected))
    edits: dict[str, list[tuple[np.ndarray, pa.Array]]] = {c: [] for c in COLUMNS}
    at = 0
    for kind in MESSY_KINDS:
        if kind == "duplicate_row":
            continue
        pos = np.sort(candidates[at:at + plan.get(kind, 0)])
        at += len(pos)
        counts[kind] = len(pos)
        if not len(pos):
            continue
        iso = table.column("timestamp").take(pa.array(pos)).combine_chunks()
        if kind == "invalid_timestamp":
            edits["timestamp"].append((pos, _invalid_timestamps(rng, iso)))
        elif kind == "timestamp_out_of_range":
            edits["timestamp"].append((pos, _join("1970-01-01", _cut(iso, 10))))
        elif kind == "unknown_event_type":
            edits["event_type"].append((pos, pa.array(rng.choice(_UNKNOWN_TYPES, len(pos)))))
        elif kind == "missing_value":
            column = rng.integers(0, 4, len(pos))
            blank = rng.random(len(pos)) < 0.25
            for c, name in enumerate(COLUMNS[:4]):
                sel = column == c
                if sel.any():
                    values = pa.array(np.where(blank[sel], "   ", ""), mask=~blank[sel])
                    edits[name].append((pos[sel], values))
        elif kind == "other_layout":
            edits["timestamp"].append((pos, _other_layouts(rng, iso, ts_ms[pos],
                                                           dayfirst_ok, force_dayfirst)))

    columns = []
    for name in COLUMNS:
        column = table.column(name).combine_chunks()
        if edits[name]:
            pos = np.concatenate([p for p, _ in edits[name]])
            values = pa.concat_arrays([v.cast(pa.string()) for _, v in edits[name]])
            order = np.argsort(pos, kind="stable")
            mask = np.zeros(len(column), dtype=bool)
            mask[pos] = True
            column = pc.replace_with_mask(column, pa.array(mask), values.take(pa.array(order)))
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=SCHEMA), counts


def _cut(s: pa.Array, begin: int, end: int | None = None) -> pa.Array:
    return pc.utf8_slice_codeunits(s, begin, end) if end is not None else \
        pc.utf8_slice_codeunits(s, begin)


def _join(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _invalid_timestamps(rng: np.random.Generator, iso: pa.Array) -> pa.Array:
    n = len(iso)
    variants = [
        _join(_cut(iso, 0, 11), "25", _cut(iso, 13)),  # hour 25
        _join(_cut(iso, 0, 5), "13", _cut(iso, 7)),    # month 13
        _cut(iso, 0, 10),                              # a date without a time
        _cut(iso, 0, 15),                              # truncated mid-minute
        pa.array(rng.choice(_INVALID_LITERALS, n)),
    ]
    return pc.choose(pa.array(rng.integers(0, len(variants), n), pa.int8()), *variants)


def _other_layouts(rng: np.random.Generator, iso: pa.Array, ts_ms: np.ndarray,
                   dayfirst_ok: bool, force_dayfirst: bool) -> pa.Array:
    """The same instants written in other accepted layouts (SPEC 2)."""
    n = len(iso)
    hms = _cut(iso, 11, 19)
    variants = [
        _join(_cut(iso, 0, 10), " ", _cut(iso, 11, 23)),                     # naive, space
        pa.array(ts_ms).cast(pa.string()),                                   # epoch ms
        _join(_cut(_iso_ms(ts_ms + 3_600_000), 0, 23), "+01:00"),            # UTC offset
        _join(_cut(iso, 0, 4), "/", _cut(iso, 5, 7), "/", _cut(iso, 8, 10), " ", hms),
        _join(_cut(iso, 8, 10), "/", _cut(iso, 5, 7), "/", _cut(iso, 0, 4), " ", hms),  # d/m/Y
    ]
    choice = rng.integers(0, len(variants) if dayfirst_ok else len(variants) - 1, n)
    if force_dayfirst:
        choice[0] = len(variants) - 1
    return pc.choose(pa.array(choice, pa.int8()), *variants)


# --------------------------------------------------------------------------------------------
# fast fixed-width text


def _civil(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(year, month, day) of days since 1970-01-01, proleptic Gregorian."""
    z = np.asarray(days, dtype=np.int64) + 719_468
    era = np.floor_divide(z, 146_097)
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    return year, month, day


def _put(buf: np.ndarray, col: int, values: np.ndarray, width: int) -> None:
    """Write `values` as zero-padded decimals of `width` digits into columns col.. of buf."""
    v = np.asarray(values).astype(np.int64 if width > 9 else np.int32)
    for i in range(col + width - 1, col - 1, -1):
        q = v // 10
        buf[:, i] = v - q * 10 + 48
        v = q


def _fixed_width(buf: np.ndarray) -> pa.Array:
    n, width = buf.shape
    data = pa.py_buffer(np.ascontiguousarray(buf).tobytes())
    if n * width < 2**31:
        offsets = pa.py_buffer(np.arange(0, (n + 1) * width, width, dtype=np.int32))
        return pa.StringArray.from_buffers(n, offsets, data)
    offsets = pa.py_buffer(np.arange(0, (n + 1) * width, width, dtype=np.int64))
    return pa.LargeStringArray.from_buffers(n, offsets, data).cast(pa.string())


def _iso_ms(ms: np.ndarray) -> pa.Array:
    """`YYYY-MM-DDTHH:MM:SS.mmmZ` for UTC epoch milliseconds (years 0-9999)."""
    ms = np.asarray(ms, dtype=np.int64)
    days, rem = np.divmod(ms, _MS_PER_DAY)
    year, month, day = _civil(days)
    buf = np.empty((len(ms), 24), dtype=np.uint8)
    for col, ch in ((4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":"), (19, "."), (23, "Z")):
        buf[:, col] = ord(ch)
    _put(buf, 0, year, 4)
    _put(buf, 5, month, 2)
    _put(buf, 8, day, 2)
    _put(buf, 11, rem // 3_600_000, 2)
    _put(buf, 14, rem // 60_000 % 60, 2)
    _put(buf, 17, rem // 1000 % 60, 2)
    _put(buf, 20, rem % 1000, 3)
    return _fixed_width(buf)


def _labels(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """`prefix` + zero-padded `numbers`, e.g. "CAM-03"."""
    head = prefix.encode()
    buf = np.empty((len(numbers), len(head) + width), dtype=np.uint8)
    buf[:, :len(head)] = np.frombuffer(head, dtype=np.uint8)
    _put(buf, len(head), numbers, width)
    return _fixed_width(buf)
