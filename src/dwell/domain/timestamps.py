"""Timestamp layout detection and vectorized parsing, SPEC §2. (Interface; implementation pending.)"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa


@dataclass(frozen=True)
class ParsedTimestamps:
    ts_ms: np.ndarray            # int64 UTC epoch milliseconds; undefined where ~valid
    valid: np.ndarray            # bool: the value parsed under one of the layouts
    layouts: list[str] = field(default_factory=list)  # names of the layouts present, first-seen order
    dayfirst: bool | None = None  # the decision taken for a/b/YYYY dates (None: none present)
    ambiguous_dates: bool = False  # a/b/YYYY dates present and the file could not tell


def parse_timestamps(values: pa.Array, *, source_tz: str = "UTC", dayfirst: bool | None = None,
                     timestamp_format: str | None = None) -> ParsedTimestamps:
    raise NotImplementedError
