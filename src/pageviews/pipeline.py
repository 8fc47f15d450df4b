"""The embedded pipeline's main loop: input chunks -> micro-batches -> engine, resumable.

A batch is committed with the input position after its last line, so a restart (after Ctrl-C
or kill -9) continues exactly where the last commit left off, and no line is counted twice. A
batch that the engine commits in parts (a line in it failed processing: engine/isolation.py)
saves the position after each part.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow as pa

from pageviews.config import END_OF_INPUT_MS, WindowConfig
from pageviews.engine.processor import Batch, BatchResult, Engine
from pageviews.errors import ConfigError, PipelineError
from pageviews.sources.inputs import InputSpec, Pacer, Position, open_chunks
from pageviews.sources.jsonl import LineChunk
from pageviews.store.data_dir import DatabaseWatch
from pageviews.store.duckdb_store import DB_FILE, Meta, connect
from pageviews.store.server import QueryServer

# Upper bounds of the settings: a batch's memory grows by about 0.75 KB per line of
# batch_lines, and DuckDB starts every thread that it is given.
MAX_BATCH_LINES = 10_000_000
MAX_THREADS = 256


def check_rate(rate: float | None) -> None:
    """A rate is a finite number of lines per second above 0, or None (as fast as possible)."""
    if rate is not None and not (math.isfinite(rate) and rate > 0):
        raise ConfigError(f"--rate must be a finite number above 0 lines per second, got {rate}")


@dataclass(frozen=True)
class RunOptions:
    input: InputSpec
    data_dir: Path
    config: WindowConfig = field(default_factory=WindowConfig)
    rate: float | None = None  # lines per second; None = as fast as possible
    # Each batch has a fixed cost (about 30 statements, state written back, commit), and a
    # batch writes whole row groups of page views straight to the file. Over 5 M events, 400 000
    # took 14-15 s, 200 000 took 20 s and 600 000 took 16 s; peak RSS grows by about 0.75 KB per
    # line of this bound (770 MiB at 400 000). Paced input commits by time (flush_ms), so this
    # bound does not delay fresh lines.
    batch_lines: int = 400_000
    # Paced input commits once it has caught up with the lines due and its oldest pending line
    # has waited this long. Each commit has a fixed cost, so shorter means fresher but busier.
    flush_ms: int = 250
    idle_tick_ms: int = 1_000  # live input: advance W with the wall clock after this idle time
    threads: int | None = None
    serve_queries: bool = False  # answer read-only queries on 127.0.0.1 while running

    def __post_init__(self) -> None:
        if not 1 <= self.batch_lines <= MAX_BATCH_LINES:
            raise ConfigError(
                f"--batch-lines must be within 1..{MAX_BATCH_LINES:,}, got {self.batch_lines}"
            )
        if self.threads is not None and not 1 <= self.threads <= MAX_THREADS:
            raise ConfigError(f"--threads must be within 1..{MAX_THREADS}, got {self.threads}")
        check_rate(self.rate)


@dataclass
class RunStats:
    lines: int = 0
    accepted: int = 0
    dead: int = 0
    failed: int = 0  # dead letters because processing failed (engine/isolation.py)
    batches: int = 0
    watermark_ms: int | None = None
    ended: bool = False
    already_complete: bool = False  # the data dir had finished this input before this run
    seconds: float = 0.0
    # (seconds from a line's arrival to the commit that made it queryable, line count)
    freshness: list[tuple[float, int]] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        """Counts and timings, for --stats-json and the benchmark."""
        return {
            "lines": self.lines,
            "accepted": self.accepted,
            "dead_letters": self.dead,
            "processing_failed": self.failed,
            "batches": self.batches,
            "seconds": round(self.seconds, 3),
            "watermark_ms": self.watermark_ms,
            "ended": self.ended,
        }


ProgressCallback = Callable[[RunStats], None]


@dataclass
class _Pending:
    """Lines taken from the input but not committed yet."""

    line_parts: list[pa.StringArray] = field(default_factory=list)
    reason_parts: list[pa.StringArray | None] = field(default_factory=list)
    count: int = 0
    arrivals: list[tuple[float, int]] = field(default_factory=list)
    started: float = 0.0

    def add(
        self, chunk: LineChunk, start: int, stop: int, arrivals: list[tuple[float, int]]
    ) -> None:
        if not self.count:
            self.started = time.monotonic()
        self.line_parts.append(chunk.lines[start:stop])
        reasons = chunk.pre_reasons
        self.reason_parts.append(None if reasons is None else reasons[start:stop])
        self.count += stop - start
        self.arrivals.extend(arrivals)

    def lines(self) -> pa.StringArray:
        return pa.concat_arrays(self.line_parts) if self.line_parts else pa.array([], pa.string())

    def reasons(self) -> pa.StringArray | None:
        """Null for each line without a reason; None when no line has one."""
        if all(part is None for part in self.reason_parts):
            return None
        return pa.concat_arrays(
            [
                pa.nulls(len(lines), pa.string()) if reasons is None else reasons
                for lines, reasons in zip(self.line_parts, self.reason_parts, strict=True)
            ]
        )


# Bump when the layout or meaning of engine state changes: old state must not be resumed.
STATE_VERSION = 2


def bind_data_dir(meta: Meta, options: RunOptions) -> Position:
    """Tie a data dir to one input and config; return where to resume."""
    identity = options.input.identity()
    config = asdict(options.config)
    known_input = meta.get("input")
    if known_input is None:
        meta.set_many({"input": identity, "config": config, "state_version": STATE_VERSION})
        return Position()
    if meta.get("state_version") != STATE_VERSION:
        raise PipelineError(
            f"{options.data_dir} holds engine state of an older pageviews "
            f"(version {meta.get('state_version')}, this one writes {STATE_VERSION}); "
            "use a fresh --data-dir."
        )
    if known_input != identity:
        raise PipelineError(
            f"{options.data_dir} holds a run of {known_input}, not {identity}. "
            "Use another --data-dir for a new input."
        )
    if meta.get("config") != config:
        raise PipelineError(
            f"{options.data_dir} was run with window settings {meta.get('config')}; "
            "use the same settings to resume, or another --data-dir."
        )
    return Position(**meta.get("position", {}))


def run_pipeline(
    options: RunOptions,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> RunStats:
    started = time.monotonic()
    con = connect(options.data_dir, threads=options.threads)
    try:
        watch = DatabaseWatch(options.data_dir / DB_FILE)
    except BaseException:
        con.close()
        raise
    server = QueryServer(con, options.data_dir) if options.serve_queries else None
    try:
        if server is not None:
            server.start()
        engine = Engine(con, options.config)
        stats = RunStats(watermark_ms=engine.watermark_ms)
        resume = bind_data_dir(engine.meta, options)
        if engine.meta.get("ended", False):
            stats.ended = stats.already_complete = True
            return stats
        _Loop(engine, options, stats, progress, watch).run(resume, should_stop)
        watch.check()
        stats.seconds = time.monotonic() - started
        return stats
    finally:
        if server is not None:
            server.stop()
        con.close()


class _Loop:
    def __init__(
        self,
        engine: Engine,
        options: RunOptions,
        stats: RunStats,
        progress: ProgressCallback | None,
        watch: DatabaseWatch | None = None,
    ) -> None:
        self.engine = engine
        self.watch = watch
        self.options = options
        self.stats = stats
        self.progress = progress
        self.paced = options.rate is not None or options.input.is_live
        # Where the last commit left the input: the next batch's lines follow it.
        self.committed = Position()

    def run(self, resume: Position, should_stop: Callable[[], bool]) -> None:
        pacer = Pacer(self.options.rate)
        pending = _Pending()
        self.committed = resume
        position = resume  # position after the last line taken into `pending`
        last_line_at = time.monotonic()
        chunk_lines = self.options.batch_lines
        if self.paced and self.options.rate is not None:
            chunk_lines = max(1, min(chunk_lines, int(self.options.rate * 0.1)))
        for chunk, chunk_start in self._chunks(resume, chunk_lines):
            offset = 0
            while offset < len(chunk.lines):
                if should_stop():
                    self._commit(pending, position)
                    return
                # Never more than fits in the batch: --batch-lines is an upper bound.
                wanted = min(len(chunk.lines) - offset, self.options.batch_lines - pending.count)
                take = pacer.allowance(wanted)
                # Caught up: no line is due beyond these. Until then, a paced batch keeps
                # taking the backlog, so batches grow with load instead of falling behind.
                caught_up = take < wanted
                if take:
                    pending.add(chunk, offset, offset + take, pacer.sent_lines(take))
                    offset += take
                    last_line_at = time.monotonic()
                    if offset < len(chunk.lines):
                        position = Position(
                            chunk_start.bytes, chunk_start.lines, chunk_start.skip + offset
                        )
                    else:
                        position = Position(chunk.bytes_end, chunk.lines_end)
                if self._due(pending, caught_up):
                    self._commit(pending, position)
                    pending = _Pending()
                elif self.options.input.is_live and not pending.count:
                    self._maybe_tick(last_line_at, position)
        if should_stop():
            self._commit(pending, position)
            return
        self._commit(pending, position, end_of_input=True)

    def _chunks(self, resume: Position, chunk_lines: int) -> Iterator[tuple[LineChunk, Position]]:
        """Chunks with the position at which each starts."""
        start = resume
        lateness_ms = self.options.config.lateness_ms
        for chunk in open_chunks(self.options.input, resume, chunk_lines, lateness_ms):
            yield chunk, start
            start = Position(chunk.bytes_end, chunk.lines_end)

    def _due(self, pending: _Pending, caught_up: bool) -> bool:
        if pending.count >= self.options.batch_lines:
            return True
        if self.paced and caught_up and pending.count:
            return (time.monotonic() - pending.started) * 1000 >= self.options.flush_ms
        return False

    def _maybe_tick(self, last_line_at: float, position: Position) -> None:
        if (time.monotonic() - last_line_at) * 1000 < self.options.idle_tick_ms:
            return
        tick_ms = int(time.time() * 1000) - self.options.config.lateness_ms
        if tick_ms > self.engine.watermark_ms:
            self._commit(_Pending(), position, tick_ms=tick_ms)

    def _commit(
        self,
        pending: _Pending,
        position: Position,
        *,
        end_of_input: bool = False,
        tick_ms: int | None = None,
    ) -> None:
        if not pending.count and not end_of_input and tick_ms is None:
            return
        meta: dict[str, object] = {"position": asdict(position)}
        if end_of_input:
            tick_ms = END_OF_INPUT_MS
            meta["ended"] = True
        start = self.committed

        def position_after(lines: int) -> dict[str, object]:
            # The batch's lines are the ones right after the last commit's position.
            return {"position": asdict(Position(start.bytes, start.lines, start.skip + lines))}

        result = self.engine.process(
            Batch(
                lines=pending.lines(),
                pre_reasons=pending.reasons(),
                received_ms=int(time.time() * 1000),
                tick_ms=tick_ms,
                position=meta,
                position_after=position_after,
            )
        )
        self.committed = position
        self._record(result, pending)

    def _record(self, result: BatchResult, pending: _Pending) -> None:
        committed = time.monotonic()
        if self.watch is not None:
            self.watch.check()  # a commit into a deleted file is a commit into nothing
        stats = self.stats
        stats.lines += pending.count
        stats.accepted += result.accepted
        stats.dead += result.dead
        stats.failed += result.failed
        stats.batches += 1
        stats.watermark_ms = result.watermark_ms
        stats.ended = result.watermark_ms >= END_OF_INPUT_MS
        stats.freshness.extend((committed - arrived, n) for arrived, n in pending.arrivals)
        if len(stats.freshness) > 100_000:  # keep memory flat on endless runs
            del stats.freshness[: len(stats.freshness) // 2]
        if self.progress is not None:
            self.progress(stats)
