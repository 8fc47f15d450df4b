"""Read JSONL input as chunks of lines, with the byte and line position after each chunk.

A chunk's lines are one Arrow string array: a clean block of input (valid UTF-8, no CR, no byte
order mark, no oversize line) becomes one without a Python object per line. Any other block is
decoded line by line, and only its bad lines are flagged. A line longer than the 64 KiB limit is
cut while it is read, so one huge line cannot exhaust memory: it arrives truncated, flagged as
oversize.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import pyarrow as pa

from pageviews.model.records import MAX_LINE_BYTES
from pageviews.sources.line_split import split_lines

READ_BYTES = 1 << 22  # 4 MiB per read


@dataclass
class LineChunk:
    lines: pa.StringArray
    # Null for a good line, else why it is bad before any parsing (dead-letter reason).
    pre_reasons: pa.StringArray | None
    bytes_end: int  # byte offset just after the last line of this chunk
    lines_end: int  # number of lines read so far, this chunk included


def _decode(raw_lines: list[bytes]) -> tuple[list[str], list[str | None] | None]:
    try:
        return b"\n".join(raw_lines).decode("utf-8").split("\n"), None
    except UnicodeDecodeError:
        lines: list[str] = []
        reasons: list[str | None] = []
        for raw in raw_lines:
            if len(raw) > MAX_LINE_BYTES:
                # Its reason is its size: the cut may well have split a character.
                lines.append(raw.decode("utf-8", errors="replace"))
                reasons.append(None)
                continue
            try:
                lines.append(raw.decode("utf-8"))
                reasons.append(None)
            except UnicodeDecodeError as error:
                lines.append(raw.decode("utf-8", errors="replace"))
                reasons.append(f"not valid UTF-8 at byte {error.start}")
        return lines, reasons


def read_line_chunks(
    stream: BinaryIO, *, start_byte: int = 0, start_line: int = 0, skip_lines: int = 0
) -> Iterator[LineChunk]:
    """Yield chunks of complete lines; `skip_lines` lines are read and dropped first (resume)."""
    position = start_byte
    line_number = start_line
    pending = b""
    oversize: bytes | None = None  # head of a line that is being cut to the limit
    while True:
        # read1: return what a pipe has now instead of waiting for a full buffer.
        data = stream.read1(READ_BYTES) if hasattr(stream, "read1") else stream.read(READ_BYTES)
        if not data:
            break
        if oversize is not None:
            newline = data.find(b"\n")
            if newline < 0:
                position += len(data)
                continue
            position += newline + 1
            data = data[newline + 1 :]
            raw_lines: list[bytes] = [oversize]
            oversize = None
        else:
            raw_lines = []
        data = pending + data
        newline = data.rfind(b"\n")
        pending = data[newline + 1 :]
        consumed = newline + 1
        if newline >= 0 and not raw_lines and not skip_lines:
            lines, reasons = _decode_block(data[:newline])
            chunk: LineChunk | None = LineChunk(
                lines, reasons, position + consumed, line_number + len(lines)
            )
            taken = len(lines)
        else:
            raw_lines.extend(data[:newline].split(b"\n") if newline >= 0 else [])
            chunk = _make_chunk(raw_lines, skip_lines, position + consumed, line_number)
            taken = len(raw_lines)
        position += consumed
        line_number += taken
        skip_lines = max(0, skip_lines - taken)
        if len(pending) > MAX_LINE_BYTES:
            # Keep just over the limit, so the dead letter shows it was too long; drop the rest.
            oversize = pending[: MAX_LINE_BYTES + 1]
            position += len(pending)
            pending = b""
        if chunk is not None:
            yield chunk
    tail = [oversize] if oversize is not None else []
    if pending:
        tail.append(pending)
    if tail:
        chunk = _make_chunk(tail, skip_lines, position + len(pending), line_number)
        if chunk is not None:
            yield chunk


def _decode_block(block: bytes) -> tuple[pa.StringArray, pa.StringArray | None]:
    """A block of whole lines (without its last newline) as arrays of lines and reasons.

    Runs of clean lines become arrays without a Python object per line; only the few lines that
    need tidying (a CR, a byte order mark, bytes that are not UTF-8, an oversize line) are
    decoded one by one.
    """
    offsets, text, has_cr = split_lines(np.frombuffer(block, np.uint8))
    count = len(offsets) - 1
    # Not yet known to be valid UTF-8: only its clean lines are ever handed on.
    lines = pa.StringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(text))
    suspects = set(np.flatnonzero(has_cr | (np.diff(offsets) > MAX_LINE_BYTES)).tolist())
    if not block.isascii():
        # Line i starts at offsets[i] + i in the block: each line before it had a newline.
        starts = offsets[:-1].astype(np.int64) + np.arange(count)
        suspects.update(_lines_at(starts, _undecodable_bytes(block, starts)))
        if b"\xef\xbb\xbf" in block:
            suspects.update(
                _lines_at(starts, np.flatnonzero(np.frombuffer(block, np.uint8) == 0xEF))
            )
    if not suspects:
        return lines, None
    line_parts: list[pa.StringArray] = []
    reason_parts: list[pa.StringArray] = []
    clean_from = 0
    for i in sorted(suspects):
        if clean_from < i:
            line_parts.append(lines[clean_from:i])
            reason_parts.append(pa.nulls(i - clean_from, pa.string()))
        raw = text[offsets[i] : offsets[i + 1]].tobytes()
        decoded, reasons = _decode([_tidy(raw)])
        line_parts.append(pa.array(decoded, pa.string()))
        reason_parts.append(pa.array(reasons or [None], pa.string()))
        clean_from = i + 1
    if clean_from < count:
        line_parts.append(lines[clean_from:])
        reason_parts.append(pa.nulls(count - clean_from, pa.string()))
    reasons = pa.concat_arrays(reason_parts)
    return pa.concat_arrays(line_parts), reasons if reasons.null_count < len(reasons) else None


def _lines_at(starts: np.ndarray, positions: np.ndarray) -> list[int]:
    """The line of each byte position, given the start of every line."""
    return (np.searchsorted(starts, positions, side="right") - 1).tolist()  # type: ignore[no-any-return]


def _undecodable_bytes(block: bytes, starts: np.ndarray) -> np.ndarray:
    """A position in each line that is not valid UTF-8 (decoding resumes at the next line)."""
    found: list[int] = []
    position = 0
    while True:
        try:
            block[position:].decode("utf-8")
            return np.array(found, np.int64)
        except UnicodeDecodeError as error:
            bad = position + error.start
            found.append(bad)
            line = int(np.searchsorted(starts, bad, side="right"))
            if line >= len(starts):
                return np.array(found, np.int64)
            position = int(starts[line])


def _make_chunk(
    raw_lines: list[bytes], skip_lines: int, bytes_end: int, line_number: int
) -> LineChunk | None:
    lines_end = line_number + len(raw_lines)
    raw_lines = raw_lines[skip_lines:]
    if not raw_lines:
        return None
    lines, reasons = _decode([_tidy(line) for line in raw_lines])
    return LineChunk(
        pa.array(lines, pa.string()),
        None if reasons is None else pa.array(reasons, pa.string()),
        bytes_end,
        lines_end,
    )


def _tidy(line: bytes) -> bytes:
    """Drop a UTF-8 byte order mark and the CR of a CRLF ending; cut an oversize line just past
    the limit."""
    if line.startswith(b"\xef\xbb\xbf"):
        line = line[3:]
    if line.endswith(b"\r"):
        line = line[:-1]
    return line if len(line) <= MAX_LINE_BYTES else line[: MAX_LINE_BYTES + 1]
