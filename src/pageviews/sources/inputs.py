"""Input specifications and the line chunks each one yields, resumable from a position.

An input is a JSONL file, stdin, the seeded generator (simulated clock), or the live generator
(wall clock, paced). Each yields LineChunk objects whose position can be saved and resumed.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa

from pageviews.errors import ConfigError
from pageviews.sources.generator import MAX_USERS, GeneratorConfig, generate_lines
from pageviews.sources.jsonl import LineChunk, read_line_chunks


@dataclass(frozen=True)
class InputSpec:
    """What to read. kind: 'file', 'stdin', 'generator' (seeded replay) or 'live'."""

    kind: str
    path: str | None = None
    seed: int = 0
    events: int | None = None
    users: int = 1_000

    def __post_init__(self) -> None:
        # Checked here, before a data dir is bound to this input (the generator would check
        # them only once it starts).
        if self.kind not in ("file", "stdin", "generator", "live"):
            raise ConfigError(f"unknown input kind: {self.kind!r}")
        if self.events is not None and self.events < 0:
            raise ConfigError(f"--events must be at least 0, got {self.events}")
        if not 1 <= self.users <= MAX_USERS:
            raise ConfigError(f"--users must be within 1..{MAX_USERS:,}, got {self.users}")

    @property
    def is_live(self) -> bool:
        return self.kind == "live"

    def identity(self) -> dict[str, object]:
        """What must match for a data dir to resume this input."""
        return {key: value for key, value in asdict(self).items() if value is not None}

    def describe(self) -> str:
        if self.kind == "file":
            return f"file {self.path}"
        if self.kind == "generator":
            return f"generator seed={self.seed} events={self.events}"
        return self.kind


@dataclass(frozen=True)
class Position:
    """Where to resume: the start of a chunk (bytes, lines) and lines already taken from it."""

    bytes: int = 0
    lines: int = 0
    skip: int = 0

    @property
    def lines_done(self) -> int:
        return self.lines + self.skip


def open_chunks(
    spec: InputSpec, resume: Position, chunk_lines: int, lateness_ms: int
) -> Iterator[LineChunk]:
    """Chunks of input lines, starting after `resume`. The generator keeps its disorder within
    `lateness_ms`, the pipeline's allowed lateness."""
    if spec.kind == "file":
        assert spec.path is not None
        with Path(spec.path).open("rb") as stream:
            stream.seek(resume.bytes)
            yield from read_line_chunks(
                stream, start_byte=resume.bytes, start_line=resume.lines, skip_lines=resume.skip
            )
    elif spec.kind == "stdin":
        # stdin cannot seek: lines already processed are read again and dropped.
        yield from read_line_chunks(sys.stdin.buffer, skip_lines=resume.lines_done)
    else:
        config = GeneratorConfig(
            seed=spec.seed, events=spec.events, users=spec.users, lateness_ms=lateness_ms
        )
        clock = (lambda: int(time.time() * 1000)) if spec.is_live else None
        lines = generate_lines(config, clock_ms=clock)
        # The generator is deterministic: skipping reproduces the position exactly.
        lines = itertools.islice(lines, resume.lines_done, None)
        number = resume.lines_done
        while True:
            batch = list(itertools.islice(lines, chunk_lines))
            if not batch:
                return
            number += len(batch)
            yield LineChunk(pa.array(batch, pa.string()), None, bytes_end=0, lines_end=number)


class Pacer:
    """Keeps a producer at `rate` lines per second (None: as fast as possible)."""

    def __init__(self, rate: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.clock = clock
        self.started = clock()
        self.sent = 0

    def allowance(self, limit: int) -> int:
        """How many lines may go now (at most `limit`); sleeps briefly when none may."""
        if self.rate is None:
            return limit
        due = int((self.clock() - self.started) * self.rate) - self.sent
        if due <= 0:
            time.sleep(min(0.05, 1 / self.rate))
            return 0
        return min(due, limit)

    def sent_lines(self, count: int) -> list[tuple[float, int]]:
        """Record `count` lines as sent; return when they were due, as (monotonic time, lines).

        A paced line arrives at its due time whether or not the pipeline is busy then, so
        freshness is measured from there. The span is split in four, which is plenty for
        percentiles.
        """
        first = self.sent
        self.sent += count
        if self.rate is None:
            return [(self.clock(), count)]
        quarters = [count // 4 + (1 if i < count % 4 else 0) for i in range(4)]
        due: list[tuple[float, int]] = []
        offset = first
        for part in quarters:
            if part:
                due.append((self.started + (offset + part / 2) / self.rate, part))
                offset += part
        return due
