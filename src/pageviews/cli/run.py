"""`pageviews run`: the pipeline on a file, stdin or the generator, on the chosen runtime."""

from __future__ import annotations

import argparse
import os
import signal
from pathlib import Path
from types import FrameType

from pageviews.cli import arg_types
from pageviews.cli.backend import add_backend_options, add_data_dir_option, choose_runtime
from pageviews.cli.console import say
from pageviews.cli.dashboard import add_dashboard_options
from pageviews.cli.window_options import add_window_options, window_config
from pageviews.dashboard.launcher import LOG_FILE, check_port_free, start_dashboard
from pageviews.errors import UsageError, require_extra
from pageviews.pipeline import MAX_BATCH_LINES, MAX_THREADS, RunOptions
from pageviews.runtimes.base import RunRequest
from pageviews.sources.generator import MAX_USERS
from pageviews.sources.inputs import InputSpec

DEFAULT_LIVE_RATE = 1_000.0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "run",
        help="run the pipeline on a file, stdin, or the generator",
        description=(
            "Run the pipeline (with --backend stack: on Kafka, Flink and Pinot). With --input "
            "it replays JSONL (a file, or - for stdin); with --events it replays N generated "
            "events on a simulated clock; with neither it runs the live generator on the wall "
            "clock until Ctrl-C. A replay ends with the watermark at +inf, so every window is "
            "final. Running the same command again on the same data dir resumes where it "
            "stopped."
        ),
    )
    parser.add_argument("--input", metavar="FILE", help="JSONL file to replay, or - for stdin")
    parser.add_argument(
        "--events",
        type=arg_types.int_in(0),
        metavar="N",
        help="generate N events (simulated clock) and stop",
    )
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    parser.add_argument(
        "--users",
        type=arg_types.int_in(1, MAX_USERS),
        default=1_000,
        help="generator users (default 1000)",
    )
    parser.add_argument(
        "--rate",
        type=arg_types.positive_number,
        metavar="EV_PER_S",
        help=f"input lines per second (live default {DEFAULT_LIVE_RATE:.0f}; replay: unlimited)",
    )
    add_data_dir_option(parser)
    parser.add_argument("--no-dashboard", action="store_true", help="do not start the dashboard")
    add_dashboard_options(parser)
    parser.add_argument(
        "--batch-lines",
        type=arg_types.int_in(1, MAX_BATCH_LINES),
        help=f"max lines per batch (default {RunOptions.batch_lines}; embedded only)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument(
        "--threads",
        type=arg_types.int_in(1, MAX_THREADS),
        help="DuckDB worker threads (default: all cores; embedded only)",
    )
    parser.add_argument(
        "--stats-json",
        type=arg_types.path,
        help="write run statistics to this file (embedded only)",
    )
    add_backend_options(parser, "Kafka and MariaDB -> Flink -> Pinot, on `pageviews stack`")
    add_window_options(parser)
    parser.set_defaults(handler=command)


def input_spec(args: argparse.Namespace) -> InputSpec:
    if args.input is not None:
        if args.events is not None:
            raise UsageError("--input and --events do not go together")
        if args.input == "-":
            return InputSpec("stdin")
        if not args.input.strip():
            raise UsageError("--input must not be empty (- reads stdin)")
        if Path(args.input).is_dir():
            raise UsageError(f"--input {args.input} is a directory, not a file")
        if not Path(args.input).is_file():
            raise UsageError(f"no such input file: {args.input}")
        if not os.access(args.input, os.R_OK):
            raise UsageError(f"--input {args.input} is not readable")
        return InputSpec("file", path=str(Path(args.input).resolve()))
    if args.events is not None:
        return InputSpec("generator", seed=args.seed, events=args.events, users=args.users)
    return InputSpec("live", seed=args.seed, users=args.users)


def command(args: argparse.Namespace) -> int:
    runtime = choose_runtime(args)
    spec = input_spec(args)
    rate = args.rate if args.rate is not None or not spec.is_live else DEFAULT_LIVE_RATE
    stop_requested = False

    def request_stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stop_requested
        stop_requested = True

    request = RunRequest(
        input=spec,
        windows=window_config(args),
        rate=rate,
        should_stop=lambda: stop_requested,
        say=say,
        progress=not args.quiet,
    )
    if not args.no_dashboard:
        # Before the run's first line, so that a missing extra is the only line printed.
        require_extra("dashboard", "the dashboard", hint="or run with --no-dashboard")
        check_port_free(args.dashboard_port)
    runtime.prepare_run()  # last: every setting has been checked
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    say(
        f"pageviews: {spec.describe()} -> {runtime.destination()}"
        + (f" at {rate:,.0f} lines/s" if rate else "")
    )
    dashboard = None
    if not args.no_dashboard:
        dashboard_dir = runtime.dashboard_dir()
        dashboard = start_dashboard(
            dashboard_dir, args.dashboard_port, args.refresh, runtime.dashboard_env()
        )
        say(
            f"pageviews: dashboard at http://127.0.0.1:{args.dashboard_port} "
            f"(log: {dashboard_dir / LOG_FILE})"
        )
    try:
        runtime.run(request)
    finally:
        if dashboard is not None:
            dashboard.terminate()
            dashboard.wait(timeout=10)
    return 0
