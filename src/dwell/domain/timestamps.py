"""Timestamp layout detection and vectorized parsing (SPEC §2).

Camera exports disagree on how to write a time, and one file may even mix layouts, yet a file of
millions of rows has to parse in well under a second. So nothing here loops over rows in Python:

* ISO 8601, by far the most common layout, goes through Arrow's strict string-to-timestamp cast,
  after a few byte checks pick the candidate rows and route naive and offset values apart.
* Everything else (and any ISO batch the cast rejects) is reduced to its *shape*: digits become
  ``0``, ASCII letters are lower-cased, other characters stay (``05/03/2024 9:05`` ->
  ``00/00/0000 0:00``). A file holds a handful of distinct shapes, so recognising the layout
  with a regex costs one match per shape, not per row, and since every field then sits at a
  fixed byte position all rows of one shape are decoded at once with numpy arithmetic.
  Calendar checks are explicit: Arrow's strptime would roll 31/02 over into March.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.lib.stride_tricks import sliding_window_view


@dataclass(frozen=True)
class ParsedTimestamps:
    ts_ms: np.ndarray            # int64 UTC epoch milliseconds; undefined where ~valid
    valid: np.ndarray            # bool: the value parsed under one of the layouts
    layouts: list[str] = field(default_factory=list)  # names of the layouts present, first-seen order
    dayfirst: bool | None = None  # the decision taken for a/b/YYYY dates (None: none present)
    ambiguous_dates: bool = False  # a/b/YYYY dates present and the file could not tell
    # What the a/b/YYYY rows showed: a first field above 12 (day-first), a second (month-first)
    evidence: tuple[bool, bool] = (False, False)
    first_rows: list[int] = field(default_factory=list)  # where each of `layouts` first occurs


# --------------------------------------------------------------------------------------------
# Layouts, written as regexes over shapes (digit -> "0", letters lower-cased).

ISO = "ISO 8601"
EPOCH_S = "epoch seconds"
EPOCH_MS = "epoch milliseconds"
EPOCH_US = "epoch microseconds"
DAY_FIRST = "%d/%m/%Y %H:%M[:%S]"
MONTH_FIRST = "%m/%d/%Y %H:%M[:%S]"

_MONTHS: dict[str, int] = {}
for _i, _full in enumerate(("january", "february", "march", "april", "may", "june", "july",
                            "august", "september", "october", "november", "december"), 1):
    _MONTHS[_full] = _MONTHS[_full[:3]] = _i
_MONTHS["sept"] = 9
_MONTH_RE = "(?P<mon>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + ")"
_WEEKDAY_RE = "(?:" + "|".join(sorted(
    [d for w in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
     for d in (w, w[:3])], key=len, reverse=True)) + ")"

_FRAC = r"(?:[.,](?P<f>0+))?"
_SECS = r"(?::(?P<S>00)" + _FRAC + ")?"
_TIME24 = r" +(?P<H>00?):(?P<M>00)" + _SECS
_OFFSET = r"(?P<z>z|(?P<zs>[+-])(?P<zh>00)(?::?(?P<zm>00))?)"

_BUILTIN_NAMES = [ISO, EPOCH_S, EPOCH_MS, EPOCH_US, DAY_FIRST, MONTH_FIRST,
                  "%m/%d/%Y %I:%M[:%S] %p", "%Y/%m/%d %H:%M[:%S]", "%d-%m-%Y %H:%M[:%S]",
                  "%d.%m.%Y %H:%M[:%S]", "%d %b %Y %H:%M[:%S]", "%b %d %Y %H:%M[:%S]",
                  "%Y%m%dT%H%M%S"]
_ID = {name: i for i, name in enumerate(_BUILTIN_NAMES)}


@dataclass(frozen=True)
class _Layout:
    layout_id: int
    kind: str                    # "fields", "epoch" or "ab" (the a/b/YYYY pair, decided per file)
    regex: re.Pattern


def _layout(name: str, kind: str, pattern: str) -> _Layout:
    return _Layout(_ID[name], kind, re.compile(pattern))


_BUILTIN = (
    _layout(ISO, "fields",
            r"(?P<Y>0000)-(?P<m>00)-(?P<d>00)[t ](?P<H>00):(?P<M>00)" + _SECS + _OFFSET + "?"),
    _layout(EPOCH_S, "epoch", r"(?P<neg>-)?(?P<i>0+)(?:\.(?P<f>0+))?"),
    _layout(DAY_FIRST, "ab", r"(?P<p1>00?)/(?P<p2>00?)/(?P<Y>0000)" + _TIME24),
    _layout("%m/%d/%Y %I:%M[:%S] %p", "fields",
            r"(?P<m>00?)/(?P<d>00?)/(?P<Y>0000) +(?P<I>00?):(?P<M>00)" + _SECS
            + r" *(?P<p>am|pm)"),
    _layout("%Y/%m/%d %H:%M[:%S]", "fields", r"(?P<Y>0000)/(?P<m>00?)/(?P<d>00?)" + _TIME24),
    _layout("%d-%m-%Y %H:%M[:%S]", "fields", r"(?P<d>00?)-(?P<m>00?)-(?P<Y>0000)" + _TIME24),
    _layout("%d.%m.%Y %H:%M[:%S]", "fields", r"(?P<d>00?)\.(?P<m>00?)\.(?P<Y>0000)" + _TIME24),
    _layout("%d %b %Y %H:%M[:%S]", "fields",
            r"(?P<d>00?) +" + _MONTH_RE + r" +(?P<Y>0000)" + _TIME24),
    _layout("%b %d %Y %H:%M[:%S]", "fields",
            _MONTH_RE + r" +(?P<d>00?),? +(?P<Y>0000)" + _TIME24),
    _layout("%Y%m%dT%H%M%S", "fields",
            r"(?P<Y>0000)(?P<m>00)(?P<d>00)t(?P<H>00)(?P<M>00)(?P<S>00)" + _OFFSET + "?"),
)

_DIRECTIVES = {
    "Y": "(?P<Y>0000)", "y": "(?P<y>00)", "m": "(?P<m>00?)", "d": "(?P<d>00?)",
    "H": "(?P<H>00?)", "I": "(?P<I>00?)", "M": "(?P<M>00?)", "S": "(?P<S>00?)",
    "f": "(?P<f>0{1,6})", "p": "(?P<p>am|pm)", "b": _MONTH_RE, "B": _MONTH_RE, "h": _MONTH_RE,
    "a": _WEEKDAY_RE, "A": _WEEKDAY_RE, "z": _OFFSET, "%": "%",
}


@functools.lru_cache(maxsize=64)
def _layouts_for(fmt: str | None) -> tuple[_Layout, ...]:
    """The built-in layouts, or the single layout a caller's strptime format describes."""
    if fmt is None:
        return _BUILTIN
    parts, i = [], 0
    while i < len(fmt):
        c = fmt[i]
        if c == "%":
            directive = fmt[i + 1:i + 2]
            if directive not in _DIRECTIVES:
                raise ValueError(f"unsupported directive %{directive} in timestamp_format {fmt!r}")
            parts.append(_DIRECTIVES[directive])
            i += 2
        elif c.isspace():
            parts.append(r"\s+")
            while i < len(fmt) and fmt[i].isspace():
                i += 1
        else:
            parts.append("0" if c.isdigit() else re.escape(c.lower()))
            i += 1
    try:
        regex = re.compile("".join(parts))
    except re.error as exc:  # e.g. a directive used twice
        raise ValueError(f"invalid timestamp_format {fmt!r}: {exc}") from None
    return (_Layout(0, "fields", regex),)


@dataclass(frozen=True)
class _Match:
    layout: _Layout
    spans: dict[str, tuple[int, int]]
    month: int | None            # from a month name, constant within a shape
    pm: bool
    offset_sign: int
    zulu: bool


@functools.lru_cache(maxsize=8192)
def _classify(shape: str, fmt: str | None) -> _Match | None:
    for layout in _layouts_for(fmt):
        m = layout.regex.fullmatch(shape)
        if m is None:
            continue
        groups = {k: v for k, v in m.groupdict().items() if v is not None}
        return _Match(layout, {k: m.span(k) for k in groups},
                      _MONTHS[groups["mon"]] if "mon" in groups else None,
                      groups.get("p") == "pm", -1 if groups.get("zs") == "-" else 1,
                      groups.get("z") == "z")
    return None


def _prefilter(fmt: str | None) -> str:
    """All layouts as one RE2 pattern, to discard garbage shapes in bulk before Python sees them."""
    alternatives = [re.sub(r"\(\?P<\w+>", "(?:", lay.regex.pattern) for lay in _layouts_for(fmt)]
    return "^(?:" + "|".join(alternatives) + ")$"


# --------------------------------------------------------------------------------------------
# Calendar arithmetic, vectorized.

_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 0], dtype=np.int8)
_SHAPE_LUT = np.arange(256, dtype=np.uint8)
_SHAPE_LUT[48:58] = 48
_SHAPE_LUT[65:91] += 32
_MAX_LEN = 64          # longer values are not timestamps in any accepted layout
_UTC_NAMES = {"UTC", "Etc/UTC"}


def _date_ok(y, m, d):
    """Month 1..12 and day within it; the leap-year test runs only on the 29ths of February."""
    d = np.asarray(d)
    dim = _DAYS_IN_MONTH[np.clip(m, 0, 13)]
    ok = (d >= 1) & (d <= dim)
    feb29 = (d == 29) & (dim == 28)
    if feb29.any():
        y29 = np.broadcast_to(y, feb29.shape)[feb29]
        ok[feb29] = (y29 % 4 == 0) & ((y29 % 100 != 0) | (y29 % 400 == 0))
    return ok


def _civil_ms(y, m, d, hh, mi, ss, ms):
    """Proleptic Gregorian wall time -> ms since 1970-01-01 (H. Hinnant's days_from_civil)."""
    m = np.clip(m, 1, 12)
    y = y - (m <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * ((m + 9) % 12) + 2) // 5 + d - 1
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    return np.asarray(days, dtype=np.int64) * 86_400_000 + (((hh * 60 + mi) * 60 + ss) * 1000 + ms)


def _num(mat: np.ndarray, span: tuple[int, int]) -> np.ndarray:
    """Digits at fixed byte positions of every row, as integers. The ASCII bias is removed once
    at the end; int32 holds the biased sum of up to 8 digits."""
    s, e = span
    out = mat[:, s].astype(np.int32 if e - s <= 8 else np.int64)
    for p in range(s + 1, e):
        out *= 10
        out += mat[:, p]
    out -= 48 * ((10 ** (e - s) - 1) // 9)
    return out


def _frac_ms(mat: np.ndarray, span: tuple[int, int] | None) -> np.ndarray | int:
    """Leading fraction digits as whole ms: truncation, which is the floor for any sign of the
    whole seconds it is added to."""
    if span is None:
        return 0
    s, e = span
    n = min(3, e - s)
    return _num(mat, (s, s + n)) * 10 ** (3 - n)


# --------------------------------------------------------------------------------------------
# Row access and results.

@dataclass(frozen=True)
class _Text:
    """Zero-copy numpy view of a string array's bytes."""
    arr: pa.Array
    starts: np.ndarray
    lens: np.ndarray           # 0 for nulls
    data: np.ndarray
    width: int | None          # every row is non-null and exactly this many bytes long

    @classmethod
    def of(cls, arr: pa.Array) -> _Text:
        n = len(arr)
        bufs = arr.buffers()
        otype = np.int64 if pa.types.is_large_string(arr.type) else np.int32
        offsets = np.frombuffer(bufs[1], dtype=otype, count=n + 1,
                                offset=arr.offset * np.dtype(otype).itemsize)
        data = np.frombuffer(bufs[2], np.uint8) if bufs[2] is not None else np.empty(0, np.uint8)
        starts, lens = offsets[:-1], np.diff(offsets)
        if arr.null_count:
            lens = np.where(arr.is_valid().to_numpy(zero_copy_only=False), lens, 0)
        width = int(lens[0]) if n and arr.null_count == 0 and lens.min() == lens.max() else None
        return cls(arr, starts, lens, data, width)

    def is_all(self, rows: np.ndarray) -> bool:
        """rows (sorted, unique) is every row."""
        return rows.size == len(self.lens)

    def matrix(self, rows: np.ndarray, length: int) -> np.ndarray:
        """(len(rows), length) bytes of rows that are all `length` bytes long."""
        if self.width == length and self.is_all(rows):
            first = int(self.starts[0])
            return self.data[first:first + rows.size * length].reshape(rows.size, length)
        return sliding_window_view(self.data, length)[self.starts[rows]]

    def subset(self, rows: np.ndarray) -> pa.Array:
        return self.arr if self.is_all(rows) else self.arr.take(pa.array(rows))

    def needs_trim(self) -> bool:
        if self.width is not None:
            if self.width == 0:
                return False
            mat = self.matrix(np.arange(len(self.lens)), self.width)
            ends = (mat[:, 0], mat[:, -1])
        else:
            nz = self.lens > 0
            ends = (self.data[self.starts[nz]], self.data[(self.starts + self.lens - 1)[nz]])
        # ASCII whitespace is <= 32; bytes >= 0x80 may start Unicode whitespace
        return any(b.size and (b.min() <= 32 or b.max() >= 0x80) for b in ends)


@dataclass
class _Out:
    ts: np.ndarray
    valid: np.ndarray
    layout_id: np.ndarray
    naive: np.ndarray
    ab: list = field(default_factory=list)     # a/b/YYYY groups awaiting the per-file decision

    def put(self, rows: np.ndarray, ts, ok, layout_id: int, naive: bool) -> None:
        """Record results for `rows` (sorted, unique indices)."""
        where = slice(None) if rows.size == len(self.ts) else rows
        self.ts[where] = ts
        self.valid[where] = ok
        self.layout_id[where] = layout_id
        self.naive[where] = naive


def _decode(out: _Out, rows: np.ndarray, mat: np.ndarray, m: _Match) -> None:
    """Decode the rows of one shape; `mat` holds their bytes, fields sit at the match's spans."""
    sp, kind = m.spans, m.layout.kind

    def num(name, default=0):
        return _num(mat, sp[name]) if name in sp else default

    if kind == "epoch":
        digits = sp["i"][1] - sp["i"][0]
        if "f" not in sp and digits in (13, 16):
            layout_id = _ID[EPOCH_MS if digits == 13 else EPOCH_US]
            value = _num(mat, sp["i"]).astype(np.int64)
        elif digits <= 15:                       # seconds; more digits would overflow int64 ms
            layout_id = _ID[EPOCH_S]
            value = _num(mat, sp["i"]).astype(np.int64) * 1000 + _frac_ms(mat, sp.get("f"))
        else:
            return
        if "neg" in sp:
            value = -value
            if "f" in sp and sp["f"][1] - sp["f"][0] > 3:   # floor: digits past the ms count
                value -= (mat[:, sp["f"][0] + 3:sp["f"][1]] != 48).any(axis=1)
        if layout_id == _ID[EPOCH_US]:
            value //= 1000
        out.put(rows, value, True, layout_id, False)
        return

    hh, mi, ss, ms = num("H"), num("M"), num("S"), _frac_ms(mat, sp.get("f"))
    if kind == "ab":
        time_ok = np.broadcast_to((hh <= 23) & (mi <= 59) & (ss <= 59), rows.shape)
        out.ab.append((rows, num("p1"), num("p2"), num("Y"), hh, mi, ss, ms, time_ok))
        return

    ok = np.ones(len(rows), dtype=bool)
    if "Y" in sp:
        year = num("Y")
    elif "y" in sp:                              # strptime's pivot for two-digit years
        year = num("y")
        year = np.where(year <= 68, year + 2000, year + 1900)
    else:
        year = 1900
    month = m.month if m.month is not None else num("m", 1)
    day = num("d", 1)
    if "I" in sp:
        hour12 = num("I")
        ok &= (hour12 >= 1) & (hour12 <= 12)
        hh = hour12 % 12 + (12 if m.pm else 0)
    ok &= _date_ok(year, month, day) & (hh <= 23) & (mi <= 59) & (ss <= 59)
    ts = _civil_ms(year, month, day, hh, mi, ss, ms)
    naive = "z" not in sp
    if not naive and not m.zulu:
        zh, zm = num("zh"), num("zm")
        ok &= (zh <= 23) & (zm <= 59)
        ts -= m.offset_sign * (zh * 60 + zm) * 60_000
    out.put(rows, np.broadcast_to(ts, rows.shape), ok, m.layout.layout_id, naive)


def _shape_groups(keys: np.ndarray):
    """Yield (shape bytes, member positions or None for all) for a 1-D array of void shapes.

    Real files hold few shapes, so peel them off by equality with the first remaining row; fall
    back to sorting when shapes turn out to be many (garbage columns)."""
    rest = None
    for _ in range(8):
        sub = keys if rest is None else keys[rest]
        if sub.size == 0:
            return
        eq = sub == sub[0]
        if rest is None and eq.all():
            yield sub[0].tobytes(), None
            return
        members = np.flatnonzero(eq) if rest is None else rest[eq]
        yield sub[0].tobytes(), members
        rest = np.flatnonzero(~eq) if rest is None else rest[~eq]
        if members.size * 32 < sub.size:
            break
    if rest is None or rest.size == 0:
        return
    uniq, inverse = np.unique(keys[rest], return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.concatenate(([0], np.cumsum(np.bincount(inverse, minlength=len(uniq)))))
    for j in range(len(uniq)):
        yield uniq[j].tobytes(), rest[order[bounds[j]:bounds[j + 1]]]


def _drop_garbage(groups: list, length: int, fmt: str | None) -> list:
    """Keep the shapes some layout could match, testing them all at once with RE2."""
    buf = b"".join(g[0] for g in groups)
    offsets = np.arange(len(groups) + 1, dtype=np.int32) * int(length)
    arr = pa.Array.from_buffers(pa.binary(), len(groups),
                                [None, pa.py_buffer(offsets), pa.py_buffer(buf)])
    keep = pc.match_substring_regex(arr, _prefilter(fmt)).to_numpy(zero_copy_only=False)
    return [g for g, k in zip(groups, keep) if k]


def _parse_shapes(out: _Out, text: _Text, rows: np.ndarray, fmt: str | None) -> None:
    """Decode arbitrary rows by shape; rows of no known shape are left invalid."""
    if rows.size == 0:
        return
    row_lens = text.lens[rows]
    for length in np.flatnonzero(np.bincount(np.minimum(row_lens, _MAX_LEN + 1))):
        if length == 0 or length > _MAX_LEN:
            continue
        length = int(length)
        sel = rows if text.width == length else rows[row_lens == length]
        mat = text.matrix(sel, length)
        keys = np.take(_SHAPE_LUT, mat).view(np.dtype((np.void, length))).ravel()
        groups = list(_shape_groups(keys))
        if len(groups) > 256:
            groups = _drop_garbage(groups, length, fmt)
        for shape, members in groups:
            m = _classify(shape.decode("latin-1"), fmt)
            if m is None:
                continue
            if members is None:
                _decode(out, sel, mat, m)
            else:
                _decode(out, sel[members], mat[members], m)


# --------------------------------------------------------------------------------------------
# Fast paths: Arrow's own parsers for the common, fixed layouts.

_CAST_CHUNK = 65_536


def _cast_chunked(arr: pa.Array, positions: np.ndarray, typ: pa.DataType):
    """Cast whole; if any value is refused, retry by chunks so that one bad row does not send
    the whole file down the slower shape path. -> (parsed positions, int64 values, refused)."""
    done, values, refused = [], [], []

    def attempt(lo: int, size: int) -> bool:
        try:
            ints = pc.cast(arr.slice(lo, size), typ).view(pa.int64()).to_numpy()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return False
        done.append(positions[lo:lo + size])
        values.append(ints)
        return True

    if not attempt(0, len(arr)):
        if len(arr) <= _CAST_CHUNK:
            refused.append(positions)
        else:
            for lo in range(0, len(arr), _CAST_CHUNK):
                if not attempt(lo, _CAST_CHUNK):
                    refused.append(positions[lo:lo + _CAST_CHUNK])

    def cat(parts):
        if not parts:
            return np.empty(0, np.int64)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)
    return cat(done), cat(values), cat(refused)


def _union(parts: list[np.ndarray]) -> np.ndarray:
    """Sorted union of disjoint sorted row sets, without work in the usual one-or-none case."""
    parts = [p for p in parts if p.size]
    if not parts:
        return np.empty(0, np.int64)
    return parts[0] if len(parts) == 1 else np.sort(np.concatenate(parts))


def _byte_access(text: _Text, rows: np.ndarray, min_len: int):
    """Split rows on length >= min_len; for the long ones give their lengths and accessors for
    the byte at k from the start and at k from the end (k >= 1), all vectorized over rows."""
    if text.width is not None and text.is_all(rows):
        if text.width < min_len:
            return rows[:0], rows, None, None, None
        width = text.width
        mat = text.matrix(rows, width)
        return rows, rows[:0], width, (lambda k: mat[:, k]), (lambda k: mat[:, width - k])
    long_enough = text.lens[rows] >= min_len
    short, rows = rows[~long_enough], rows[long_enough]
    s, n = text.starts[rows], text.lens[rows]
    return rows, short, n, (lambda k: text.data[s + k]), (lambda k: text.data[s + n - k])


def _iso_fast(out: _Out, text: _Text, rows: np.ndarray) -> np.ndarray:
    """Parse rows that look like ISO 8601 with Arrow's strict cast; return the rows left over.

    Byte checks make sure minutes are present (Arrow would also take a bare date or hour) and
    split naive from offset values, which need different target types."""
    cand_rows, short, n, head, tail = _byte_access(text, rows, 16)
    if cand_rows.size == 0:
        return rows
    sep = head(10)
    cand = (head(4) == 45) & (head(7) == 45) & ((sep == 84) | (sep == 32)) & (head(13) == 58)
    suffix = (tail(1) == 90).astype(np.int32)                # "Z"
    for k in (6, 5, 3):                                      # +hh:mm, +hhmm, +hh
        if np.isscalar(n) and n - k < 16 or suffix.all():
            continue
        c = tail(k)
        sign = ((c == 43) | (c == 45)) & (suffix == 0) & (n - k >= 16)
        if sign.any():
            suffix = np.where(sign, np.int32(k), suffix)
    zoned = suffix > 0
    leftovers = [short]
    if not cand.all():
        leftovers.append(cand_rows[~cand])
    for is_zoned in (False, True):
        pick = cand & (zoned if is_zoned else ~zoned)
        if not pick.any():
            continue
        positions = cand_rows if pick.all() else cand_rows[pick]
        body = (n if np.isscalar(n) else n[pick]) - (suffix if pick.all() else suffix[pick])
        widest = int(np.max(body)) - 20                      # fraction digits at most
        if widest > 9:                                       # beyond ns: the shape path copes
            leftovers.append(positions)
            continue
        unit, scale = ("ms", 1) if widest <= 3 else ("us", 1000) if widest <= 6 else ("ns", 10**6)
        typ = pa.timestamp(unit, "UTC" if is_zoned else None)
        parsed, ints, refused = _cast_chunked(text.subset(positions), positions, typ)
        out.put(parsed, ints // scale if scale > 1 else ints, True, _ID[ISO], not is_zoned)
        leftovers.append(refused)
    return _union(leftovers)


def _epoch_fast(out: _Out, text: _Text, rows: np.ndarray) -> np.ndarray:
    """Parse plain 10/13/16-digit epochs with Arrow's integer cast; return the rows left over."""
    cand_rows, short, n, head, _ = _byte_access(text, rows, 10)
    if cand_rows.size == 0:
        return rows
    first = head(0)
    cand = (first >= 48) & (first <= 57) & ((n == 10) | (n == 13) | (n == 16))
    leftovers = [short, cand_rows[~cand]]
    for digits, layout, factor in ((10, EPOCH_S, 1000), (13, EPOCH_MS, 1), (16, EPOCH_US, -1000)):
        pick = cand & (n == digits)
        if not pick.any():
            continue
        positions = cand_rows if pick.all() else cand_rows[pick]
        parsed, ints, refused = _cast_chunked(text.subset(positions), positions, pa.int64())
        ints = ints * factor if factor > 0 else ints // -factor
        out.put(parsed, ints, True, _ID[layout], False)
        leftovers.append(refused)
    return _union(leftovers)


# --------------------------------------------------------------------------------------------

def _as_utf8(values) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    elif not isinstance(values, pa.Array):
        values = pa.array(values)
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        values = pc.cast(values, pa.string())
    return values


_HOUR_MS = 3_600_000


def _wall_to_utc(local: np.ndarray, tz: str) -> np.ndarray:
    """Wall-clock ms in `tz` -> UTC ms; earliest instant when repeated, first one after a gap.

    Zone offsets only change at transitions, so on a long column it is cheaper to convert the
    start and last millisecond of every wall-clock hour the data spans and look rows up in that
    table; only rows whose hour holds a transition (the offsets at its two ends differ) are
    converted one by one by Arrow."""
    def arrow(ms: np.ndarray) -> np.ndarray:
        utc = pc.assume_timezone(pa.array(ms, pa.timestamp("ms")), timezone=tz,
                                 ambiguous="earliest", nonexistent="latest")
        return utc.view(pa.int64()).to_numpy()

    hours = local // _HOUR_MS
    lo, hi = int(hours.min()), int(hours.max())
    if (hi - lo + 1) * 8 > local.size:                   # short column or long span
        return arrow(local)
    grid = np.arange(lo, hi + 1, dtype=np.int64) * _HOUR_MS
    at_start = grid - arrow(grid)
    at_end = grid + (_HOUR_MS - 1) - arrow(grid + (_HOUR_MS - 1))
    hours -= lo
    offset = at_start[hours]
    utc = local - offset
    odd = at_end[hours] != offset
    if odd.any():
        utc[odd] = arrow(local[odd])
    return utc


def _check_tz(source_tz: str) -> None:
    try:
        pc.assume_timezone(pa.array([0], pa.timestamp("ms")), timezone=source_tz)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        raise ValueError(f"unknown source_tz {source_tz!r}: expected an IANA time zone name") \
            from None


def parse_timestamps(values: pa.Array, *, source_tz: str = "UTC", dayfirst: bool | None = None,
                     timestamp_format: str | None = None) -> ParsedTimestamps:
    """Parse a string column into UTC epoch milliseconds, detecting the layout of each row.

    Values are trimmed; nulls, empty strings, dates without a time and impossible dates or times
    come out with ``valid`` False. Instants are floored to the millisecond.

    ``a/b/YYYY`` dates are read day-first or month-first for the whole array (a first field above
    12 anywhere means day-first, else a second field above 12 means month-first, else month-first
    flagged ``ambiguous_dates``), unless ``dayfirst`` is given. ``timestamp_format`` (strptime
    syntax) replaces detection: every value must match it.

    Values with ``Z`` or an offset are absolute; naive ones are wall-clock time in ``source_tz``
    (IANA name, DST aware). A wall time repeated by a DST fall-back takes the earlier instant; a
    wall time skipped by a spring-forward moves forward to the first instant after the gap
    (Europe/Berlin 2024-03-31 02:30 -> 03:00 CEST), so a clock that was not yet adjusted still
    yields ordered, plausible instants instead of losing the rows.
    Epoch values are UTC by definition. Raises ``ValueError`` for an unknown ``source_tz``.
    """
    _check_tz(source_tz)
    if timestamp_format is not None:
        _layouts_for(timestamp_format)               # reject a bad format before any work
    arr = _as_utf8(values)
    n = len(arr)
    out = _Out(np.zeros(n, np.int64), np.zeros(n, bool), np.full(n, -1, np.int16),
               np.zeros(n, bool))
    if n == 0:
        return ParsedTimestamps(out.ts, out.valid)
    text = _Text.of(arr)
    if text.needs_trim():
        text = _Text.of(pc.utf8_trim_whitespace(arr))

    rows = np.arange(n) if text.width else np.flatnonzero(text.lens > 0)
    if timestamp_format is None:
        rows = _iso_fast(out, text, rows)
        rows = _epoch_fast(out, text, rows)
    _parse_shapes(out, text, rows, timestamp_format)
    decided, ambiguous, evidence = _resolve_day_first(out, dayfirst)

    naive = out.valid & out.naive
    if source_tz not in _UTC_NAMES and naive.any():
        where = slice(None) if naive.all() else naive
        out.ts[where] = _wall_to_utc(out.ts[where], source_tz)

    names = [timestamp_format] if timestamp_format is not None else _BUILTIN_NAMES
    lid = np.where(out.valid, out.layout_id, -1)
    present = np.flatnonzero(np.bincount(lid + 1, minlength=1)[1:])
    first = {int(i): int(np.argmax(lid == i)) for i in present}
    present = sorted(first, key=first.__getitem__)
    return ParsedTimestamps(out.ts, out.valid, [names[i] for i in present], decided, ambiguous,
                            evidence, [first[i] for i in present])


def decide_day_first(evidence: tuple[bool, bool], dayfirst: bool | None) -> tuple[bool, bool]:
    """(day-first?, ambiguous?) for a/b/YYYY dates: the caller's choice, else day-first when
    any first field is above 12, else month-first, flagged ambiguous without evidence."""
    if dayfirst is not None:
        return dayfirst, False
    evidence_df, evidence_mf = evidence
    if evidence_df:
        return True, False
    return False, not evidence_mf


def _resolve_day_first(out: _Out, dayfirst: bool | None) -> tuple[bool | None, bool,
                                                                   tuple[bool, bool]]:
    """Take the per-file day-first decision for a/b/YYYY rows and decode them with it."""
    if not out.ab:
        return None, False, (False, False)
    evidence_df = evidence_mf = False
    for rows, p1, p2, year, hh, mi, ss, ms, time_ok in out.ab:
        for first, second, is_df in ((p1, p2, True), (p2, p1, False)):
            big = first > 12                     # only such rows can tell the order
            if big.any():
                ok = _date_ok(year[big], second[big], first[big]) & time_ok[big]
                if is_df:
                    evidence_df |= bool(ok.any())
                else:
                    evidence_mf |= bool(ok.any())
    decided, ambiguous = decide_day_first((evidence_df, evidence_mf), dayfirst)
    any_valid = False
    for rows, p1, p2, year, hh, mi, ss, ms, time_ok in out.ab:
        day, month = (p1, p2) if decided else (p2, p1)
        ok = _date_ok(year, month, day) & time_ok
        out.put(rows, _civil_ms(year, month, day, hh, mi, ss, ms), ok,
                _ID[DAY_FIRST if decided else MONTH_FIRST], True)
        any_valid |= bool(ok.any())
    evidence = (evidence_df, evidence_mf)
    return (decided, ambiguous, evidence) if any_valid else (None, False, evidence)
