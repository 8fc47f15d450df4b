"""Reading JSONL: positions for resume, UTF-8 errors, and lines over the size limit."""

from __future__ import annotations

import io

import pytest

from pageviews.model.records import MAX_LINE_BYTES
from pageviews.sources import jsonl
from pageviews.sources.jsonl import read_line_chunks

DATA = b'{"a":1}\n\xff\xfe\nhello\r\n' + b"x" * 70_000 + b"\nlast"


@pytest.fixture(params=[7, 1 << 22])
def read_bytes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Tiny reads split lines across chunks; large reads take everything at once."""
    monkeypatch.setattr(jsonl, "READ_BYTES", request.param)
    return int(request.param)


def _lines(chunks: list[jsonl.LineChunk]) -> list[str]:
    return [line for chunk in chunks for line in chunk.lines.to_pylist()]


def _reasons(chunks: list[jsonl.LineChunk]) -> list[str | None]:
    return [
        reason
        for chunk in chunks
        for reason in (
            [None] * len(chunk.lines)
            if chunk.pre_reasons is None
            else chunk.pre_reasons.to_pylist()
        )
    ]


def test_lines_reasons_and_positions(read_bytes: int) -> None:
    chunks = list(read_line_chunks(io.BytesIO(DATA)))
    lines = _lines(chunks)
    reasons = _reasons(chunks)
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
    assert [len(line) for line in _lines(resumed)][1:] == [5, MAX_LINE_BYTES + 1, 4]
    assert resumed[-1].lines_end == 5
    skipped = list(read_line_chunks(io.BytesIO(DATA), skip_lines=3))
    assert _lines(skipped)[-1] == "last"
    assert sum(len(c.lines) for c in skipped) == 2


def test_byte_order_mark_and_multibyte_cut(read_bytes: int) -> None:
    long_line = "é".encode() * 40_000  # 80 000 bytes of two-byte characters
    data = b"\xef\xbb\xbf" + b'{"a":1}\n' + long_line + b"\n"
    chunks = list(read_line_chunks(io.BytesIO(data)))
    lines = _lines(chunks)
    reasons = _reasons(chunks)
    assert lines[0] == '{"a":1}'
    assert len(lines[1].encode()) > MAX_LINE_BYTES  # still over the limit ...
    assert not any(reasons)  # ... and valid UTF-8, so the reason will be the size


def test_clean_blocks_are_read_as_whole_arrays(read_bytes: int) -> None:
    """The bulk path gives exactly the lines of a plain split, empty and multibyte ones too."""
    text = '{"a":1}\n\n{"b":"é€😀"}\n' * 3 + "tail"
    chunks = list(read_line_chunks(io.BytesIO(text.encode())))
    assert _lines(chunks) == text.split("\n")
    assert not any(_reasons(chunks))
    assert (chunks[-1].bytes_end, chunks[-1].lines_end) == (len(text.encode()), 10)


def test_a_block_with_bad_utf8_flags_only_that_line(read_bytes: int) -> None:
    chunks = list(read_line_chunks(io.BytesIO(b'{"a":1}\n\xc3\x28\n{"b":2}\n')))
    assert _lines(chunks)[::2] == ['{"a":1}', '{"b":2}']
    assert _reasons(chunks) == [None, "not valid UTF-8 at byte 0", None]
