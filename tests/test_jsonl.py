"""Reading JSONL: positions for resume, UTF-8 errors, and lines over the size limit."""

from __future__ import annotations

import io

import pytest

from pageviews.model import MAX_LINE_BYTES
from pageviews.sources import jsonl
from pageviews.sources.jsonl import read_line_chunks

DATA = b'{"a":1}\n\xff\xfe\nhello\r\n' + b"x" * 70_000 + b"\nlast"


@pytest.fixture(params=[7, 1 << 22])
def read_bytes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Tiny reads split lines across chunks; large reads take everything at once."""
    monkeypatch.setattr(jsonl, "READ_BYTES", request.param)
    return int(request.param)


def test_lines_reasons_and_positions(read_bytes: int) -> None:
    chunks = list(read_line_chunks(io.BytesIO(DATA)))
    lines = [line for chunk in chunks for line in chunk.lines]
    reasons = [r for c in chunks for r in (c.pre_reasons or [None] * len(c.lines))]
    assert lines[0] == '{"a":1}'
    assert reasons[1] == "not valid UTF-8 at byte 0"
    assert lines[2] == "hello"  # CRLF line endings are accepted
    assert len(lines[3]) == MAX_LINE_BYTES + 1  # cut, so validation reports it as too long
    assert lines[4] == "last"  # a final line without newline still counts
    assert (chunks[-1].bytes_end, chunks[-1].lines_end) == (len(DATA), 5)


def test_resume_from_a_byte_offset_or_by_skipping(read_bytes: int) -> None:
    first_line_end = DATA.index(b"\n") + 1
    stream = io.BytesIO(DATA[first_line_end:])
    resumed = list(read_line_chunks(stream, start_byte=first_line_end, start_line=1))
    assert [len(line) for c in resumed for line in c.lines][1:] == [5, MAX_LINE_BYTES + 1, 4]
    assert resumed[-1].lines_end == 5
    skipped = list(read_line_chunks(io.BytesIO(DATA), skip_lines=3))
    assert [line for c in skipped for line in c.lines][-1] == "last"
    assert sum(len(c.lines) for c in skipped) == 2


def test_byte_order_mark_and_multibyte_cut(read_bytes: int) -> None:
    long_line = "é".encode() * 40_000  # 80 000 bytes of two-byte characters
    data = b"\xef\xbb\xbf" + b'{"a":1}\n' + long_line + b"\n"
    lines = [line for c in read_line_chunks(io.BytesIO(data)) for line in c.lines]
    reasons = [r for c in read_line_chunks(io.BytesIO(data)) for r in (c.pre_reasons or [])]
    assert lines[0] == '{"a":1}'
    assert len(lines[1].encode()) > MAX_LINE_BYTES  # still over the limit ...
    assert not any(reasons)  # ... and valid UTF-8, so the reason will be the size
