"""Distinct tuples of integer columns, numbered, without hashing each row."""

from __future__ import annotations

import numpy as np


def group_codes(*columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct tuples of the columns, numbered in tuple order: an element of each tuple
    (index into the columns, any one) and each element's tuple number (int64).

    The columns are folded into one int64, renumbered densely whenever the next one would
    overflow it. A fold no larger than the elements (hours, cameras, attribute values
    usually are) is numbered by counting, without a sort; the rest by one sort.
    """
    combined = np.zeros(len(columns[0]), np.int64)
    for column in columns:
        low = int(column.min()) if len(column) else 0
        size = (int(column.max()) - low + 1) if len(column) else 1
        if (int(combined.max(initial=0)) + 1) * size >= 2**62:
            combined = np.unique(combined, return_inverse=True)[1].reshape(-1).astype(np.int64)
        combined = combined * size + (np.asarray(column, np.int64) - low)
    span = int(combined.max(initial=0)) + 1
    if span <= 4 * len(combined) + 1024:
        seen = np.zeros(span, dtype=bool)
        seen[combined] = True
        number = np.cumsum(seen) - 1
        inverse = number[combined]
        first = np.zeros(int(seen.sum()), np.int64)
        first[inverse] = np.arange(len(combined), dtype=np.int64)
    else:
        _, first, inverse = np.unique(combined, return_index=True, return_inverse=True)
    return first.astype(np.int64), inverse.reshape(-1).astype(np.int64)
