"""Attribute combinations: rows coded by integers, JSON written once per combination."""

from __future__ import annotations

import json
import re

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from dwell.ingest.pipeline import attribute_sets

VALUES = st.sampled_from(["", "f", "m", "25-34", 'say "hi"', "back\\slash", "tab\there", "é"])


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_each_row_points_at_the_json_of_its_own_values(data):
    names = data.draw(st.lists(st.sampled_from(["age_group", "gender", "zone", 'odd "name"']),
                               min_size=1, max_size=4, unique=True))
    n = data.draw(st.integers(min_value=1, max_value=40))
    rows = [{name: data.draw(VALUES) for name in names} for _ in range(n)]
    table = pa.table({name: pa.array([row[name] for row in rows]) for name in names})

    codes, texts = attribute_sets(table, names)

    assert len(texts) == len({tuple(row.values()) for row in rows})  # one per combination
    for row, code in zip(rows, codes):
        document = json.loads(texts[code])
        assert list(document) == names
        # control characters become spaces; an empty value is null
        assert document == {name: re.sub(r"[\x00-\x1f]", " ", value) or None
                            for name, value in row.items()}


def test_many_columns_of_many_values_are_renumbered_instead_of_overflowing():
    n = 5_000
    names = [f"a{i}" for i in range(8)]  # 5,000 ** 8 combinations would overflow int64
    table = pa.table({name: pa.array([f"{name}-{(row * (i + 1)) % n}" for row in range(n)])
                      for i, name in enumerate(names)})

    codes, texts = attribute_sets(table, names)

    assert len(texts) == n and sorted(set(codes.tolist())) == list(range(n))
    assert json.loads(texts[codes[7]]) == {name: f"{name}-{(7 * (i + 1)) % n}"
                                           for i, name in enumerate(names)}


def test_a_file_without_attribute_columns_has_no_sets():
    codes, texts = attribute_sets(pa.table({"person_id": ["p1", "p2"]}), [])
    assert codes.tolist() == [-1, -1] and texts == []
