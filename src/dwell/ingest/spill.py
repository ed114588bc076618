"""Spilling a large file to disk in hash partitions of persons.

Pairing, de-duplication and re-pairing against stored events all work within one
(person, camera) key, so rows split by a hash of the person can be processed part by part:
memory is bounded by the part instead of the file. Rows go to bucket files (Arrow IPC) as
the file is read, each bucket in file order; parts are runs of buckets of about a target
number of rows.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np
import pyarrow as pa

from dwell.ingest.reader import FileLayout, RawRows
from dwell.settings import Settings

LINE = "__line"
BYTES_PER_ROW = 40  # a short row of camera events, to estimate rows from bytes
MAX_BUCKETS = 256   # open files of one spill, well under the usual limit of 1024
# Odd 64-bit multipliers by position in the string (mod 64): any fixed function of the
# bytes would do, as long as equal strings land in the same bucket.
_WEIGHTS = np.random.default_rng(0x6477656C6C).integers(1, 2**63, size=64, dtype=np.uint64) | 1


@dataclass(frozen=True)
class Partitioning:
    """How a file is cut: blocks as it is read, and parts of persons when it is too large
    to process whole (settings `spill_above_bytes`, `part_rows`, `chunk_bytes`)."""

    spill_above_bytes: int = 128 * 1024**2   # on-disk size; a gzip file counts 4x
    part_rows: int = 1_000_000
    buckets: int = 64
    block_bytes: int = 16 * 1024**2
    spill_dir: Path | None = None            # None: the system's temporary directory

    @classmethod
    def from_settings(cls, settings: Settings, spill_dir: Path | None = None) -> Partitioning:
        return cls(spill_above_bytes=settings.spill_above_bytes, part_rows=settings.part_rows,
                   block_bytes=settings.chunk_bytes, spill_dir=spill_dir)

    def spills(self, size_bytes: int, compressed: bool) -> bool:
        return _text_bytes(size_bytes, compressed) > self.spill_above_bytes

    def buckets_for(self, size_bytes: int, compressed: bool) -> int:
        """At least `buckets`, and about four per part the file will make, so that no
        bucket (which a part never splits) outgrows a part. At most MAX_BUCKETS files are
        open at once: enough for a default part of a million rows up to about 2.5 GB."""
        parts = math.ceil(_text_bytes(size_bytes, compressed) / BYTES_PER_ROW / self.part_rows)
        return min(max(self.buckets, 4 * parts), MAX_BUCKETS)


def _text_bytes(size_bytes: int, compressed: bool) -> int:
    return size_bytes * (4 if compressed else 1)


DEFAULT_PARTITIONING = Partitioning()


def person_buckets(values: pa.Array | pa.ChunkedArray, buckets: int) -> np.ndarray:
    """A bucket in [0, buckets) per string, the same for equal strings wherever they occur."""
    array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    array = array.cast(pa.large_string())
    n = len(array)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    _, offsets_buffer, data_buffer = array.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64, count=n + 1, offset=array.offset * 8)
    lo, hi = int(offsets[0]), int(offsets[-1])
    data = (np.frombuffer(data_buffer, dtype=np.uint8)[lo:hi] if data_buffer
            else np.zeros(0, np.uint8))
    starts, lengths = offsets[:-1] - lo, np.diff(offsets)
    position = np.arange(hi - lo, dtype=np.int64) - np.repeat(starts, lengths)
    mixed = np.append(data.astype(np.uint64) * _WEIGHTS[position % len(_WEIGHTS)], np.uint64(0))
    hashed = np.add.reduceat(mixed, np.minimum(starts, hi - lo))
    hashed[lengths == 0] = 0
    hashed ^= hashed >> np.uint64(33)        # fold the high bits into the ones the modulo reads
    hashed *= np.uint64(0xFF51AFD7ED558CCD)
    hashed ^= hashed >> np.uint64(33)
    return (hashed % np.uint64(buckets)).astype(np.int64)


class Spill:
    """Bucket files of one upload in a temporary directory, removed by `close`."""

    def __init__(self, layout: FileLayout, buckets: int, directory: Path | None = None) -> None:
        self.layout = layout
        self.buckets = buckets
        self.rows = np.zeros(buckets, dtype=np.int64)
        self._dir = tempfile.TemporaryDirectory(prefix="dwell-spill-", dir=directory)
        names = [*layout.columns, *layout.attributes]
        self._schema = pa.schema([*((name, pa.string()) for name in names), (LINE, pa.int64())])
        self._writers: dict[int, pa.ipc.RecordBatchStreamWriter] = {}

    def _path(self, bucket: int) -> Path:
        return Path(self._dir.name) / f"{bucket}.arrow"

    def add(self, chunk: RawRows) -> None:
        """Append the chunk's rows, with their lines, to their buckets (in file order)."""
        if chunk.table.num_rows == 0:
            return
        bucket = person_buckets(chunk.table.column("person_id"), self.buckets)
        order = np.argsort(bucket, kind="stable")
        rows = chunk.table.append_column(LINE, pa.array(chunk.lines)).take(pa.array(order))
        counts = np.bincount(bucket, minlength=self.buckets)
        self.rows += counts
        starts = np.concatenate(([0], np.cumsum(counts)))
        for b in np.flatnonzero(counts):
            writer = self._writers.get(b)
            if writer is None:
                writer = self._writers[b] = pa.ipc.new_stream(str(self._path(b)), self._schema)
            for batch in rows.slice(starts[b], counts[b]).to_batches():
                writer.write_batch(batch)

    def finish(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()

    def parts(self, part_rows: int) -> list[list[int]]:
        """Runs of consecutive buckets of about `part_rows` rows each (a bucket is never split)."""
        parts: list[list[int]] = [[]]
        size = 0
        for b in np.flatnonzero(self.rows):
            if parts[-1] and size + self.rows[b] > part_rows:
                parts.append([])
                size = 0
            parts[-1].append(int(b))
            size += int(self.rows[b])
        return [part for part in parts if part]

    def read(self, part: list[int]) -> RawRows:
        """The part's rows in line order."""
        tables = [pa.ipc.open_stream(str(self._path(b))).read_all() for b in part]
        table = pa.concat_tables(tables).combine_chunks()
        lines = table.column(LINE).to_numpy()
        order = np.argsort(lines, kind="stable")
        table = table.drop_columns([LINE]).take(pa.array(order))
        return RawRows(self.layout, table, lines[order])

    def close(self) -> None:
        self.finish()
        self._dir.cleanup()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
