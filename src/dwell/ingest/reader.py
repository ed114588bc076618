"""Streaming CSV reading: sniffing, decoding, chunked parsing with physical line numbers.

The file is read in blocks through pyarrow's CSV reader, so the raw text is never held
whole; what is kept is one string column per field. Decoding is ours: UTF-8 (BOM or not)
or Latin-1 when the start of the file is not UTF-8; bytes that are not UTF-8 later in a
UTF-8 file become U+FFFD, and those rows are reported as malformed (undecodable bytes).
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from dwell.domain.vocabulary import REQUIRED_COLUMNS, canonical_column
from dwell.ingest.errors import UploadRejected

DELIMITERS = (",", ";", "\t", "|")
SNIFF_BYTES = 64 * 1024
REPLACEMENT = "\ufffd"
GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class FileLayout:
    """What sniffing found: how to read the file and what its columns mean."""

    delimiter: str
    encoding: str                 # "utf-8", "utf-8-sig" or "latin-1"
    compressed: bool
    headers: list[str]            # trimmed header names, in file order
    columns: dict[str, int]       # required column -> position
    attributes: dict[str, int]    # attribute name -> position


@dataclass
class MalformedRow:
    line: int
    text: str
    reason: str


@dataclass
class RawRows:
    """Every data row of a file as trimmed strings, with its physical line number."""

    layout: FileLayout
    table: pa.Table               # columns named by FileLayout (required + attributes)
    lines: np.ndarray             # int64 physical line of each table row (header = 1)
    malformed: list[MalformedRow] = field(default_factory=list)
    blank_lines: int = 0


def open_binary(path: Path) -> io.BufferedIOBase:
    """The file's bytes, transparently gunzipped (by content, not by name)."""
    raw = open(path, "rb")
    if raw.read(2) == GZIP_MAGIC:
        raw.seek(0)
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    raw.seek(0)
    return raw


def sniff(path: Path) -> FileLayout:
    """Decide encoding and delimiter, and map the header onto the required columns."""
    with open_binary(path) as stream:
        try:
            head = stream.read(SNIFF_BYTES)
        except (OSError, EOFError) as exc:
            raise UploadRejected("not_text", f"{path.name} could not be read: {exc}.") from exc
    compressed = isinstance(stream, gzip.GzipFile)
    if not head.strip():
        raise UploadRejected("empty_file", f"{path.name} is empty.")
    if b"\x00" in head:
        raise UploadRejected("not_text", f"{path.name} is not a text file (it contains binary data).")
    encoding = _detect_encoding(head)
    text = head.decode(encoding, errors="replace")
    header_line = text.splitlines()[0] if text.splitlines() else ""
    delimiter = _detect_delimiter(text)
    headers = _split_header(header_line, delimiter)
    columns: dict[str, int] = {}
    attributes: dict[str, int] = {}
    for position, name in enumerate(headers):
        canonical = canonical_column(name)
        if canonical and canonical not in columns:
            columns[canonical] = position
        else:
            attributes[name or f"column_{position + 1}"] = position
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        found = ", ".join(h for h in headers if h) or "none"
        raise UploadRejected(
            "missing_columns",
            f"{path.name} lacks the required column(s) {', '.join(missing)}; "
            f"the header has: {found}.",
        )
    return FileLayout(delimiter, encoding, compressed, headers, columns, attributes)


def _detect_encoding(head: bytes) -> str:
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of a full sniff window is still UTF-8.
        cut_by_window = len(head) >= SNIFF_BYTES and exc.reason == "unexpected end of data"
        if not cut_by_window:
            return "latin-1"
    return "utf-8"


def _detect_delimiter(text: str) -> str:
    """The candidate that splits the header most and the next lines consistently."""
    lines = [line for line in text.splitlines()[:50] if line.strip()]
    if len(lines) > 1:
        lines = lines[:-1]  # the last line of the sniff window may be cut
    best, best_score = ",", (0, 0)
    for candidate in DELIMITERS:
        counts = [line.count(candidate) for line in lines]
        if not counts or counts[0] == 0:
            continue
        consistent = sum(1 for c in counts if c == counts[0])
        score = (consistent, counts[0])
        if score > best_score:
            best, best_score = candidate, score
    return best


def _split_header(line: str, delimiter: str) -> list[str]:
    import csv

    row = next(csv.reader([line], delimiter=delimiter), [])
    return [name.strip().lstrip("\ufeff").strip() for name in row]


class _Utf8Stream(io.RawIOBase):
    """UTF-8 bytes of the source, block by block, cut at line ends so no character is split."""

    def __init__(self, source: io.BufferedIOBase, encoding: str, block_bytes: int,
                 on_block: Callable[[int], None] | None) -> None:
        self._source = source
        self._encoding = "utf-8" if encoding == "utf-8-sig" else encoding
        self._strip_bom = encoding == "utf-8-sig"
        self._block_bytes = block_bytes
        self._on_block = on_block
        self._carry = b""
        self._pending = memoryview(b"")
        self._eof = False
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def _next_block(self) -> bytes:
        while not self._eof:
            raw = self._source.read(self._block_bytes)
            self.bytes_read += len(raw)
            if self._on_block:
                self._on_block(len(raw))
            if not raw:
                self._eof = True
                block, self._carry = self._carry, b""
                return self._convert(block)
            data = self._carry + raw
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                self._carry = data
                continue
            block, self._carry = data[:cut], data[cut:]
            return self._convert(block)
        return b""

    def _convert(self, block: bytes) -> bytes:
        if self._strip_bom:
            block = block.removeprefix(b"\xef\xbb\xbf")
            self._strip_bom = False
        if self._encoding == "utf-8":
            if block.isascii():  # the usual file: checked in C without decoding
                return block
            try:
                block.decode("utf-8")
                return block
            except UnicodeDecodeError:
                return block.decode("utf-8", errors="replace").encode("utf-8")
        return block.decode(self._encoding).encode("utf-8")

    def readinto(self, buffer) -> int:  # type: ignore[override]
        while not self._pending:
            self._pending = memoryview(self._next_block())
            if not self._pending:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]  # a view: no copy of the rest
        return size


def read_rows(path: Path, layout: FileLayout, *, block_bytes: int = 16 * 1024**2,
              on_bytes: Callable[[int], None] | None = None) -> RawRows:
    """Parse every data row, keeping physical line numbers and the rows that do not parse."""
    chunks = list(iter_chunks(path, layout, block_bytes=block_bytes, on_bytes=on_bytes))
    table = pa.Table.from_batches(
        [batch for chunk in chunks for batch in chunk.table.to_batches()], schema=_schema(layout))
    raw = RawRows(
        layout, table,
        np.concatenate([chunk.lines for chunk in chunks]) if chunks else np.zeros(0, np.int64),
        [row for chunk in chunks for row in chunk.malformed],
        sum(chunk.blank_lines for chunk in chunks),
    )
    # The parser's block buffers and the untrimmed batches are free now: hand their pages
    # back, so the pairing that follows does not stack on top of them.
    pa.default_memory_pool().release_unused()
    return raw


def _schema(layout: FileLayout) -> pa.Schema:
    return pa.schema([(name, pa.string()) for name in {**layout.columns, **layout.attributes}])


def iter_chunks(path: Path, layout: FileLayout, *, block_bytes: int = 16 * 1024**2,
                on_bytes: Callable[[int], None] | None = None) -> Iterator[RawRows]:
    """The data rows block by block, each block's rows trimmed and given their physical
    lines, so a caller can stream a file of any size in memory bounded by the block."""
    width = len(layout.headers)
    names = [f"f{i}" for i in range(width)]
    invalid: list[tuple[int, str, int]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        invalid.append((row.number or 0, row.text, row.actual_columns))
        return "skip"

    kept = {**layout.columns, **layout.attributes}   # name -> position in the file
    names_kept, positions = list(kept), list(kept.values())
    position = _Position()
    with open_binary(path) as source:
        stream = _Utf8Stream(source, layout.encoding, block_bytes, on_bytes)
        reader = pacsv.open_csv(
            io.BufferedReader(stream, buffer_size=block_bytes),
            read_options=pacsv.ReadOptions(
                use_threads=False, block_size=block_bytes, skip_rows=1, column_names=names
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=layout.delimiter,
                newlines_in_values=True,
                ignore_empty_lines=False,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        for batch in reader:
            if batch.num_rows == 0:
                # A block of only rows that did not parse. The parser may already have
                # reported rows of later blocks too, so they wait for the next rows that do
                # parse (or the end) to be numbered.
                continue
            breaks = np.zeros(batch.num_rows, dtype=np.int64)
            for column in batch.columns:
                breaks += pc.count_substring(column, "\n").to_numpy(zero_copy_only=False)
            trimmed = pa.table([pc.utf8_trim_whitespace(batch.column(i)) for i in positions],
                               names=names_kept)
            yield position.assemble(layout, trimmed, breaks, invalid)
    if invalid or position.next_record == 2:  # rows that did not parse after the last block
        empty = pa.table([pa.array([], pa.string()) for _ in names_kept], names=names_kept)
        yield position.assemble(layout, empty, np.zeros(0, dtype=np.int64), invalid)


class _Position:
    """Where the reader is in the file: the next record's number (header = 1) and the line
    breaks inside quoted values of all records before it."""

    def __init__(self) -> None:
        self.next_record = 2
        self.shift = 0

    def assemble(self, layout: FileLayout, trimmed: pa.Table, row_breaks: np.ndarray,
                 invalid: list[tuple[int, str, int]]) -> RawRows:
        """Number this block's rows, take the rows that did not parse before its last row
        (removing them from `invalid`), drop blank lines.

        Physical line = record number + line breaks inside quoted values of earlier records.
        """
        invalid.sort()
        pending = np.asarray([number for number, _, _ in invalid], dtype=np.int64)
        records = _record_numbers(self.next_record, trimmed.num_rows, pending)
        last = records[-1] if len(records) else np.iinfo(np.int64).max
        taken = [row for row in invalid if row[0] <= last]
        del invalid[:len(taken)]
        if len(records):
            end = int(last) + 1
        else:  # the end of the file: only rows that did not parse are left
            end = max([self.next_record, *(number + 1 for number, _, _ in taken)])
        breaks = np.zeros(end - self.next_record, dtype=np.int64)
        if len(records):
            breaks[records - self.next_record] = row_breaks
        for number, text, _ in taken:
            breaks[number - self.next_record] = text.count("\n")
        shift = self.shift + np.concatenate(([0], np.cumsum(breaks)[:-1]))
        self.shift += int(breaks.sum())
        first = self.next_record
        self.next_record = end

        nonblank = np.zeros(trimmed.num_rows, dtype=bool)
        for column in trimmed.columns:
            nonblank |= pc.not_equal(column, "").to_numpy(zero_copy_only=False)
        malformed = []
        blank_lines = int((~nonblank).sum())
        for number, text, actual in taken:
            if not text.strip():
                blank_lines += 1
                continue
            malformed.append(MalformedRow(
                line=int(number + shift[number - first]),
                text=text,
                reason=f"{actual} fields where the header has {len(layout.headers)}",
            ))
        lines = records + shift[records - first]
        if not nonblank.all():
            trimmed, lines = trimmed.filter(pa.array(nonblank)), lines[nonblank]
        return RawRows(layout, trimmed, lines, malformed, blank_lines)


def _record_numbers(first: int, count: int, invalid_numbers: np.ndarray) -> np.ndarray:
    """The record numbers of `count` parsed rows from `first` on, skipping those that did
    not parse."""
    every = np.arange(first, first + count + len(invalid_numbers), dtype=np.int64)
    if not len(invalid_numbers):
        return every
    return np.setdiff1d(every, invalid_numbers, assume_unique=True)[:count]
