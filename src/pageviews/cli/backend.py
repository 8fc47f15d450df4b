"""--backend and the flags that depend on it: the one place where a runtime is chosen.

A flag that only some runtimes honour names the capability it needs. Given with a runtime
that lacks it, the flag is a usage error instead of being ignored. These flags default to None,
so that "given" means "typed by the user", whatever the value.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from pageviews.cli import arg_types
from pageviews.errors import UsageError
from pageviews.runtimes.base import Runtime
from pageviews.runtimes.embedded import EmbeddedRuntime
from pageviews.runtimes.stack import StackRuntime

RUNTIMES: dict[str, type[Runtime]] = {
    runtime.name: runtime for runtime in (EmbeddedRuntime, StackRuntime)
}

DATA_DIR_HELP = (
    "where records, state and results are kept (default: ./data, or $PAGEVIEWS_DATA_DIR)"
)
STACK_DIR_HELP = (
    "where the stack keeps data, logs and PIDs "
    "(default: ~/.cache/pageviews/stack, or $PAGEVIEWS_STACK_DIR)"
)


@dataclass(frozen=True)
class RuntimeFlag:
    flag: str  # as the user types it
    dest: str  # its attribute on the parsed arguments
    capability: str  # the Runtime.SUPPORTS_* constant that it needs


RUNTIME_FLAGS = (
    RuntimeFlag("--data-dir", "data_dir", "SUPPORTS_DATA_DIR"),
    RuntimeFlag("--stack-dir", "stack_dir", "SUPPORTS_STACK_DIR"),
    RuntimeFlag("--batch-lines", "batch_lines", "SUPPORTS_BATCH_LINES"),
    RuntimeFlag("--threads", "threads", "SUPPORTS_THREADS"),
    RuntimeFlag("--stats-json", "stats_json", "SUPPORTS_STATS_JSON"),
    RuntimeFlag("--work-dir", "work_dir", "SUPPORTS_BENCH_WORK_DIR"),
    RuntimeFlag("--cold", "cold", "SUPPORTS_COLD_START"),
)


def add_data_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=arg_types.path, help=DATA_DIR_HELP)


def add_backend_options(parser: argparse.ArgumentParser, stack_help: str) -> None:
    """--backend, with what `stack` means for this command, and --stack-dir."""
    parser.add_argument(
        "--backend",
        choices=tuple(RUNTIMES),
        default=EmbeddedRuntime.name,
        help=f"embedded: DuckDB in the data dir; stack: {stack_help} (default: embedded)",
    )
    parser.add_argument(
        "--stack-dir", type=arg_types.path, help="with --backend stack: " + STACK_DIR_HELP
    )


def refuse_unsupported_flags(args: argparse.Namespace, runtime: type[Runtime]) -> None:
    for option in RUNTIME_FLAGS:
        given = getattr(args, option.dest, None) is not None
        if given and not getattr(runtime, option.capability):
            raise UsageError(f"{option.flag} does not apply to --backend {runtime.name}")


def choose_runtime(args: argparse.Namespace) -> Runtime:
    """The runtime that --backend names, built from the flags that it supports."""
    runtime = RUNTIMES[args.backend]
    refuse_unsupported_flags(args, runtime)
    if runtime is StackRuntime:
        return StackRuntime(args.stack_dir, bench_cold=bool(getattr(args, "cold", None)))
    return EmbeddedRuntime(
        getattr(args, "data_dir", None),
        batch_lines=getattr(args, "batch_lines", None),
        threads=getattr(args, "threads", None),
        stats_json=getattr(args, "stats_json", None),
        bench_work_dir=getattr(args, "work_dir", None),
    )
