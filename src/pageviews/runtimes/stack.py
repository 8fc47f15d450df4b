"""The stack runtime: Kafka and MariaDB -> Flink -> Pinot, on the services of `pageviews stack`.

The stack's modules import confluent_kafka and pymysql (the `kafka` extra), so they are
imported only once a stack runtime exists, after `require_extra` has said what is missing.
"""

from __future__ import annotations

import tempfile
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from pageviews.errors import ConfigError, require_extra
from pageviews.runtimes.base import BenchRequest, CheckReport, RunRequest, Runtime, Say
from pageviews.store.base import Store

if TYPE_CHECKING:
    from pageviews.stack.config import StackConfig

BENCH_EVENTS = 300_000  # page views
BENCH_LIVE_RATE = 100.0


def stack_config(stack_dir: Path | None) -> StackConfig:
    """The stack's settings: `stack_dir` (None: the default) and the PAGEVIEWS_* variables."""
    require_extra("kafka", "the stack")
    from pageviews.stack.config import StackConfig

    try:
        return StackConfig.from_env(stack_dir)
    except ValueError as error:
        # from_env only parses and checks the user's PAGEVIEWS_* settings.
        raise ConfigError(f"stack settings: {error}") from error


class StackRuntime(Runtime):
    name = "stack"
    SUPPORTS_STACK_DIR = True
    SUPPORTS_COLD_START = True

    def __init__(self, stack_dir: Path | None = None, *, bench_cold: bool = False) -> None:
        require_extra("kafka", "the stack")
        self.stack_dir = stack_dir  # as given: the bench uses a new stack dir when None
        self.bench_cold = bench_cold

    @cached_property
    def config(self) -> StackConfig:
        # Not built before it is needed: it writes the stack dir's credentials file.
        return stack_config(self.stack_dir)

    def destination(self) -> str:
        return f"Kafka and MariaDB -> Flink -> Pinot (stack dir {self.config.stack_dir})"

    def run(self, request: RunRequest) -> None:
        from pageviews.stack.produce import GenerateStats
        from pageviews.stack.run import run_on_stack

        def progress(stats: GenerateStats) -> None:
            if request.progress:
                request.say(
                    f"[{stats.seconds:6.1f}s] {stats.lines:,} lines "
                    f"({stats.lines / max(stats.seconds, 1e-9):,.0f}/s): {stats.produced:,} to "
                    f"Kafka, {stats.users:,} user changes to MariaDB, {stats.refused:,} refused "
                    "(to dead letters)"
                )

        report = run_on_stack(
            self.config,
            request.input,
            request.windows,
            request.rate,
            progress=progress,
            should_stop=request.should_stop,
        )
        progress(report.produced)
        if report.served_rows:
            rows = ", ".join(f"{table} {count:,}" for table, count in report.served_rows.items())
            request.say(f"pageviews: Pinot holds {rows}")

    def check(self, say: Say) -> CheckReport:
        """The oracle over the raw events read back from Kafka, against Pinot's tables."""
        from pageviews.check.served import check_stack
        from pageviews.stack.pinot_sync import pinot_store
        from pageviews.stack.readback import input_records
        from pageviews.stack.run import finished_replay_windows

        windows = finished_replay_windows(self.config)
        records = input_records(self.config)
        say(f"pageviews: read {len(records):,} raw records back from Kafka")
        with tempfile.TemporaryDirectory(prefix="pageviews-check-") as tmp:
            text, ok = check_stack(records, pinot_store(self.config), windows, Path(tmp))
        return CheckReport(text, ok)

    def store(self) -> Store:
        """Pinot's result tables, in Pinot's SQL, with times as datetimes."""
        from pageviews.stack.pinot_sync import pinot_store

        return pinot_store(self.config, datetimes=True)

    def dashboard_dir(self) -> Path:
        # The dashboard reads Pinot (see dashboard_env); the stack dir keeps its log.
        return self.config.stack_dir

    def dashboard_env(self) -> dict[str, str]:
        """Pinot's addresses, for the dashboard's process (see store.clients.open_store)."""
        from pageviews.stack.config import HOST

        return {
            "PAGEVIEWS_PINOT_BROKER_URL": f"http://{HOST}:{self.config.pinot.broker_port}",
            "PAGEVIEWS_PINOT_CONTROLLER_URL": f"http://{HOST}:{self.config.pinot.controller_port}",
        }

    def bench(self, request: BenchRequest) -> None:
        from pageviews.bench.stack import run_stack_bench

        run_stack_bench(
            BENCH_EVENTS if request.events is None else request.events,
            self.bench_cold,
            self.stack_dir,
            BENCH_LIVE_RATE if request.live_rate is None else request.live_rate,
            request.live_seconds,
        )
