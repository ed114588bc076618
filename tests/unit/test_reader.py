"""Block-by-block reading: every row keeps its physical line whatever the block size."""

from __future__ import annotations

from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from dwell.ingest.reader import iter_chunks, read_rows, sniff

HEADER = "timestamp,person_id,camera_id,event_type,note"
ROW_KINDS = st.sampled_from(["plain", "multiline", "short", "long_multiline", "blank"])


def _file(kinds: list[str]) -> tuple[str, list[tuple[int, str]], list[int]]:
    """The file text, the (line, person) of each good row, and the lines of malformed ones."""
    text, good, malformed, line = [HEADER], [], [], 2
    for i, kind in enumerate(kinds):
        person = f"P{i}"
        if kind == "plain":
            text.append(f"2024-01-01T00:00:00Z,{person},C1,entry,n")
            good.append((line, person))
        elif kind == "multiline":  # a quoted value spanning three physical lines
            text.append(f'2024-01-01T00:00:00Z,{person},C1,entry,"a\nb\nc"')
            good.append((line, person))
        elif kind == "short":
            text.append(f"2024-01-01T00:00:00Z,{person},C1,entry")
            malformed.append(line)
        elif kind == "long_multiline":
            text.append(f'2024-01-01T00:00:00Z,{person},C1,entry,"x\ny",extra')
            malformed.append(line)
        else:
            text.append("")
        line += text[-1].count("\n") + 1
    return "\n".join(text) + "\n", good, malformed


@settings(max_examples=200, deadline=None)
@given(kinds=st.lists(ROW_KINDS, max_size=400), block_bytes=st.integers(64, 4096))
# A block holding only a row that does not parse, after which the parser had already
# reported a row of a later block.
@example(kinds=["plain", "plain", "long_multiline", "plain", "short"], block_bytes=64)
def test_lines_are_physical_whatever_the_block_size(tmp_path_factory, kinds, block_bytes):
    path = Path(tmp_path_factory.mktemp("reader")) / "events.csv"
    text, good, malformed = _file(kinds)
    path.write_text(text)
    layout = sniff(path)

    raw = read_rows(path, layout, block_bytes=block_bytes)
    assert list(zip(raw.lines.tolist(), raw.table.column("person_id").to_pylist())) == good
    assert [row.line for row in raw.malformed] == malformed
    assert raw.blank_lines == kinds.count("blank")

    chunks = list(iter_chunks(path, layout, block_bytes=block_bytes))
    assert sum(chunk.table.num_rows for chunk in chunks) == len(good)
    assert sorted(row.line for chunk in chunks for row in chunk.malformed) == malformed


def test_a_large_file_comes_in_several_chunks(tmp_path):
    path = tmp_path / "events.csv"
    rows = [f"2024-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z,P{i},C1,entry,n" for i in range(5000)]
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    chunks = list(iter_chunks(path, sniff(path), block_bytes=8192))
    assert len(chunks) > 10
    assert max(chunk.table.num_rows for chunk in chunks) < 5000
    lines = [line for chunk in chunks for line in chunk.lines.tolist()]
    assert lines == list(range(2, 5002))
