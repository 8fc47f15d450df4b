"""What the CLI asks of a runtime, and the capabilities by which the runtimes differ.

A runtime states what it can do with `SUPPORTS_*` class constants (as sqlmesh's engine adapters
do). The CLI refuses a flag that needs a capability the chosen runtime lacks, with one message
that names the flag, instead of ignoring it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from pageviews.config import WindowConfig
from pageviews.pipeline import check_rate
from pageviews.sources.inputs import InputSpec
from pageviews.store.base import Store

Say = Callable[[str], None]


@dataclass(frozen=True)
class RunRequest:
    """One `pageviews run`, whatever the runtime."""

    input: InputSpec
    windows: WindowConfig
    rate: float | None  # input lines per second; None = as fast as possible
    should_stop: Callable[[], bool]
    say: Say  # one line for the user (stderr)
    progress: bool = True  # False: only the summary (--quiet)

    def __post_init__(self) -> None:
        check_rate(self.rate)


@dataclass(frozen=True)
class BenchRequest:
    """One `pageviews bench`; None means the runtime's own default."""

    events: int | None
    seed: int
    live_rate: float | None  # lines per second of the freshness measurement
    live_seconds: float
    compact_json: bool  # the report on one line (--json)


@dataclass(frozen=True)
class CheckReport:
    text: str
    ok: bool  # every result table matched the oracle


class Runtime(ABC):
    """Runs the pipeline, checks its results, and serves them to readers."""

    name: ClassVar[str]  # the --backend value

    # Keeps records, state and results in a local data dir (--data-dir).
    SUPPORTS_DATA_DIR: ClassVar[bool] = False
    # Runs on the services of `pageviews stack up`, which keep their data in a stack dir.
    SUPPORTS_STACK_DIR: ClassVar[bool] = False
    # Reads its input in micro-batches of a bounded number of lines (--batch-lines).
    SUPPORTS_BATCH_LINES: ClassVar[bool] = False
    # Its query engine's worker threads can be set (--threads).
    SUPPORTS_THREADS: ClassVar[bool] = False
    # Writes the statistics of a run to a file (--stats-json).
    SUPPORTS_STATS_JSON: ClassVar[bool] = False
    # Its bench keeps generated inputs and data dirs in a work dir (--work-dir).
    SUPPORTS_BENCH_WORK_DIR: ClassVar[bool] = False
    # Its bench can also time a start from an empty cache (--cold).
    SUPPORTS_COLD_START: ClassVar[bool] = False

    @abstractmethod
    def destination(self) -> str:
        """Where a run's results go, for the user."""

    def prepare_run(self) -> None:
        """Called once every setting is checked, before the run starts: refuse a run that
        cannot work (a data dir that is a file, or cannot be created), or make its place."""
        return

    @abstractmethod
    def run(self, request: RunRequest) -> None:
        """Run the pipeline until the input ends or `should_stop`; resumable."""

    @abstractmethod
    def check(self, say: Say) -> CheckReport:
        """Recompute every result from the stored raw records and compare."""

    @abstractmethod
    def store(self) -> Store:
        """The result tables, for `pageviews query`."""

    @abstractmethod
    def dashboard_dir(self) -> Path:
        """The data dir that the dashboard is given; its log is kept there too."""

    @abstractmethod
    def dashboard_env(self) -> dict[str, str]:
        """Variables that the dashboard's process needs to read this runtime's results."""

    @abstractmethod
    def bench(self, request: BenchRequest) -> None:
        """Measure throughput, memory and freshness; print the report as JSON."""
