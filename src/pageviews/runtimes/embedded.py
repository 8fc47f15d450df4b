"""The embedded runtime: the whole pipeline in this process, on one DuckDB file in a data dir."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from pageviews.errors import ConfigError
from pageviews.output_files import check_output_file, write_owner_only
from pageviews.pipeline import MAX_BATCH_LINES, MAX_THREADS, RunOptions, RunStats, run_pipeline
from pageviews.runtimes.base import BenchRequest, CheckReport, RunRequest, Runtime, Say
from pageviews.store.base import Store
from pageviews.store.data_dir import make_data_dir
from pageviews.timefmt import format_ms

BENCH_EVENTS = 5_000_000
BENCH_LIVE_RATE = 50_000.0


def default_data_dir() -> Path:
    return Path(os.environ.get("PAGEVIEWS_DATA_DIR", "data"))


class EmbeddedRuntime(Runtime):
    name = "embedded"
    SUPPORTS_DATA_DIR = True
    SUPPORTS_BATCH_LINES = True
    SUPPORTS_THREADS = True
    SUPPORTS_STATS_JSON = True
    SUPPORTS_BENCH_WORK_DIR = True

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        batch_lines: int | None = None,
        threads: int | None = None,
        stats_json: Path | None = None,
        bench_work_dir: Path | None = None,
    ) -> None:
        # Checked here too (RunOptions does as well): a bad value fails before a run starts.
        if batch_lines is not None and not 1 <= batch_lines <= MAX_BATCH_LINES:
            raise ConfigError(
                f"--batch-lines must be within 1..{MAX_BATCH_LINES:,}, got {batch_lines}"
            )
        if threads is not None and not 1 <= threads <= MAX_THREADS:
            raise ConfigError(f"--threads must be within 1..{MAX_THREADS}, got {threads}")
        if stats_json is not None:
            check_output_file(stats_json, "--stats-json")
        self.data_dir = default_data_dir() if data_dir is None else data_dir
        self.batch_lines = RunOptions.batch_lines if batch_lines is None else batch_lines
        self.threads = threads
        self.stats_json = stats_json
        self.bench_work_dir = bench_work_dir

    def destination(self) -> str:
        return str(self.data_dir)

    def prepare_run(self) -> None:
        make_data_dir(self.data_dir)

    def run(self, request: RunRequest) -> None:
        options = RunOptions(
            input=request.input,
            data_dir=self.data_dir,
            config=request.windows,
            rate=request.rate,
            batch_lines=self.batch_lines,
            threads=self.threads,
            serve_queries=True,
        )
        progress = _Progress(request.input.is_live, request.say) if request.progress else None
        stats = run_pipeline(options, progress, should_stop=request.should_stop)
        if self.stats_json is not None:
            write_owner_only(self.stats_json, json.dumps(stats.summary()), "--stats-json")
        if stats.already_complete:
            request.say("pageviews: this input was already fully processed; nothing to do.")
            return
        state = "input complete" if stats.ended else "stopped; run the same command to resume"
        request.say(
            f"pageviews: {state}. lines {stats.lines:,} (accepted {stats.accepted:,}, "
            f"dead letters {stats.dead:,}{_failed(stats)}) in {stats.seconds:.1f}s, "
            f"watermark {format_ms(stats.watermark_ms)}"
        )

    def check(self, say: Say) -> CheckReport:
        from pageviews.check.run import check_data_dir

        text, ok = check_data_dir(self.data_dir)
        return CheckReport(text, ok)

    def store(self) -> Store:
        from pageviews.store.clients import open_data_dir_store

        # Never Pinot, even with $PAGEVIEWS_PINOT_BROKER_URL set: that is for the stack.
        return open_data_dir_store(self.data_dir)

    def dashboard_dir(self) -> Path:
        return self.data_dir

    def dashboard_env(self) -> dict[str, str]:
        return {}

    def bench(self, request: BenchRequest) -> None:
        from pageviews.bench.embedded import run_bench

        run_bench(
            events=BENCH_EVENTS if request.events is None else request.events,
            seed=request.seed,
            live_rate=BENCH_LIVE_RATE if request.live_rate is None else request.live_rate,
            live_seconds=request.live_seconds,
            work_dir=self.bench_work_dir,
            compact_json=request.compact_json,
        )


def _failed(stats: RunStats) -> str:
    """How many dead letters failed processing (engine/isolation.py), when any did."""
    return f", {stats.failed:,} of them failed processing" if stats.failed else ""


class _Progress:
    """One status line every few seconds: rate, watermark, lag."""

    def __init__(self, live: bool, say: Say, every_s: float = 2.0) -> None:
        self.live = live
        self.say = say
        self.every_s = every_s
        self.started = time.monotonic()
        self.last = 0.0

    def __call__(self, stats: RunStats) -> None:
        now = time.monotonic()
        if now - self.last < self.every_s:
            return
        self.last = now
        elapsed = now - self.started
        line = (
            f"[{elapsed:7.1f}s] lines {stats.lines:,}  {stats.lines / max(elapsed, 1e-9):,.0f}/s"
            f"  dead letters {stats.dead:,}{_failed(stats)}"
            f"  watermark {format_ms(stats.watermark_ms)}"
        )
        if self.live and stats.watermark_ms is not None:
            lag_s = time.time() - stats.watermark_ms / 1000
            line += f"  lag {lag_s:,.1f}s"
        self.say(line)
