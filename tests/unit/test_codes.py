"""Distinct tuples numbered in tuple order, by counting or by sorting."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dwell.domain.codes import group_codes

# Small values are numbered by counting; values spread over 2**40 by sorting.
SMALL = st.integers(-3, 5)
SPREAD = st.integers(-(2**40), 2**40)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_tuples_are_numbered_in_their_order_and_each_row_points_at_its_own(data):
    width = data.draw(st.integers(1, 3))
    values = data.draw(st.sampled_from([SMALL, SPREAD]))
    rows = data.draw(st.lists(st.tuples(*[values] * width), min_size=1, max_size=60))
    columns = [np.array([row[i] for row in rows], np.int64) for i in range(width)]

    first, codes = group_codes(*columns)

    distinct = sorted(set(rows))
    assert [tuple(int(c[i]) for c in columns) for i in first] == distinct
    assert codes.tolist() == [distinct.index(row) for row in rows]


def test_columns_whose_fold_would_overflow_are_renumbered_first() -> None:
    big = np.array([0, 2**40, 2**40, 0], np.int64)
    first, codes = group_codes(big, big, big)   # (2**41)**3 does not fit in an int64
    assert codes.tolist() == [0, 1, 1, 0]
    assert sorted(big[first].tolist()) == [0, 2**40]
