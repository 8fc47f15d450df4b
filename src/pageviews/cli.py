"""The `pageviews` command line: a thin layer over the library.

Domain errors become one clean message and exit code 2, in `main`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

import duckdb

from pageviews.dashboard.launcher import (
    DEFAULT_PORT,
    LOG_FILE,
    dashboard_command,
    start_dashboard,
)
from pageviews.errors import PageviewsError, UsageError
from pageviews.pipeline import RunOptions, RunStats, run_pipeline
from pageviews.sources.inputs import InputSpec
from pageviews.stack.commands import (
    STACK_DIR_HELP,
    add_stack_parser,
    check_stack,
    cmd_stack,
    generate_to_stack,
    pinot_reader_env,
    run_stack,
    stack_store,
)
from pageviews.timefmt import format_ms
from pageviews.window_options import add_window_options, window_config

DEFAULT_DATA_DIR = os.environ.get("PAGEVIEWS_DATA_DIR", "data")
DEFAULT_LIVE_RATE = 1_000.0
BENCH_EVENTS = 5_000_000
STACK_BENCH_EVENTS = 300_000
LIVE_BENCH_RATE = 50_000.0
STACK_LIVE_RATE = 100.0
_DATA_DIR_HELP = (
    "where records, state and results are kept (default: ./data, or $PAGEVIEWS_DATA_DIR)"
)


def _add_dashboard_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dashboard-port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}"
    )
    parser.add_argument(
        "--refresh", type=int, default=15, metavar="SECONDS", help="dashboard refresh (default 15)"
    )


def _add_backend_options(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--backend",
        choices=("embedded", "stack"),
        default="embedded",
        help=f"embedded: DuckDB in the data dir; stack: {what} (default: embedded)",
    )
    parser.add_argument("--stack-dir", type=Path, help="with --backend stack: " + STACK_DIR_HELP)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pageviews",
        description="Real-time page-view analytics in event time (embedded DuckDB runtime).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser(
        "run",
        help="run the pipeline on a file, stdin, or the generator",
        description=(
            "Run the embedded pipeline. With --input it replays JSONL (a file, or - for stdin); "
            "with --events it replays N generated events on a simulated clock; with neither it "
            "runs the live generator on the wall clock until Ctrl-C. A replay ends with the "
            "watermark at +inf, so every window is final. Running the same command again on "
            "the same data dir resumes where it stopped."
        ),
    )
    run.add_argument("--input", metavar="FILE", help="JSONL file to replay, or - for stdin")
    run.add_argument(
        "--events", type=int, metavar="N", help="generate N events (simulated clock) and stop"
    )
    run.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    run.add_argument("--users", type=int, default=1_000, help="generator users (default 1000)")
    run.add_argument(
        "--rate",
        type=float,
        metavar="EV_PER_S",
        help=f"input lines per second (live default {DEFAULT_LIVE_RATE:.0f}; replay: unlimited)",
    )
    run.add_argument("--data-dir", type=Path, default=Path(DEFAULT_DATA_DIR), help=_DATA_DIR_HELP)
    run.add_argument("--no-dashboard", action="store_true", help="do not start the dashboard")
    _add_dashboard_options(run)
    run.add_argument(
        "--batch-lines",
        type=int,
        default=RunOptions.batch_lines,
        help="max lines per batch (default %(default)s)",
    )
    run.add_argument("--quiet", action="store_true", help="no progress lines")
    run.add_argument("--threads", type=int, help="DuckDB worker threads (default: all cores)")
    run.add_argument("--stats-json", type=Path, help="write run statistics to this file")
    _add_backend_options(run, "Kafka and MariaDB -> Flink -> Pinot, on `pageviews stack`")
    add_window_options(run)

    dash = sub.add_parser(
        "dashboard",
        help="serve the dashboard at http://127.0.0.1:8501",
        description=(
            "Serve the Streamlit dashboard on 127.0.0.1. It reads a live `pageviews run` on the "
            "same data dir through the run's query endpoint, or the data dir's file when no run "
            "is live."
        ),
    )
    dash.add_argument("--data-dir", type=Path, default=Path(DEFAULT_DATA_DIR), help=_DATA_DIR_HELP)
    _add_dashboard_options(dash)
    _add_backend_options(dash, "Pinot's tables")

    gen = sub.add_parser("generate", help="write generated events as JSONL")
    gen.add_argument("--events", type=int, default=10_000)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--users", type=int, default=1_000)
    gen.add_argument("--late-fraction", type=float, default=0.002)
    gen.add_argument("--malformed-fraction", type=float, default=0.001)
    gen.add_argument("--out", default="-", metavar="FILE", help="output file (default: stdout)")
    gen.add_argument(
        "--to",
        choices=("file", "stack"),
        default="file",
        help="file: JSONL to --out; stack: page views and sessions to Kafka, users to MariaDB",
    )
    gen.add_argument(
        "--rate", type=float, metavar="EV_PER_S", help="with --to stack: lines/s (default: max)"
    )
    gen.add_argument("--stack-dir", type=Path, help=STACK_DIR_HELP)

    add_stack_parser(sub)

    query = sub.add_parser(
        "query",
        help="run read-only SQL over the result tables",
        description=(
            "Run one read-only SQL statement. Tables: cleaned_users, pageview_country, "
            "pageview_tumbling, pageview_hopping, pageview_session, user_sessions, late_events, "
            "dead_letters. Times are TIMESTAMPTZ in UTC."
        ),
    )
    query.add_argument("sql", help='for example "SELECT * FROM pageview_tumbling"')
    query.add_argument("--format", choices=("table", "csv", "json"), default="table")
    query.add_argument("--data-dir", type=Path, default=Path(DEFAULT_DATA_DIR), help=_DATA_DIR_HELP)
    _add_backend_options(query, "Pinot's tables, with the same SQL")

    check = sub.add_parser("check", help="recompute every result with batch SQL and compare")
    check.add_argument("--data-dir", type=Path, default=Path(DEFAULT_DATA_DIR), help=_DATA_DIR_HELP)
    _add_backend_options(check, "the raw events in Kafka against Pinot's tables")

    bench = sub.add_parser("bench", help="measure throughput, memory and freshness (JSON)")
    bench.add_argument(
        "--events",
        type=int,
        default=BENCH_EVENTS,
        help=f"default {BENCH_EVENTS:,} (stack: {STACK_BENCH_EVENTS:,} page views)",
    )
    bench.add_argument("--seed", type=int, default=7)
    bench.add_argument(
        "--live-rate",
        type=float,
        default=LIVE_BENCH_RATE,
        help=f"freshness rate (default {LIVE_BENCH_RATE:,.0f}/s; stack {STACK_LIVE_RATE:,.0f}/s)",
    )
    bench.add_argument("--live-seconds", type=float, default=20.0)
    bench.add_argument("--work-dir", type=Path, help="where to keep the input and data dirs")
    bench.add_argument("--json", action="store_true", help="print only the JSON report")
    bench.add_argument(
        "--backend",
        choices=("embedded", "stack"),
        default="embedded",
        help="embedded: the DuckDB pipeline; stack: Kafka produce rate, stack up time, RSS",
    )
    bench.add_argument(
        "--cold", action="store_true", help="with --backend stack: also time a cold stack up"
    )
    bench.add_argument("--stack-dir", type=Path, help=STACK_DIR_HELP)
    return parser


def _input_spec(args: argparse.Namespace) -> InputSpec:
    if args.input is not None:
        if args.events is not None:
            raise UsageError("--input and --events do not go together")
        if args.input == "-":
            return InputSpec("stdin")
        if not Path(args.input).is_file():
            raise UsageError(f"no such input file: {args.input}")
        return InputSpec("file", path=str(Path(args.input).resolve()))
    if args.events is not None:
        return InputSpec("generator", seed=args.seed, events=args.events, users=args.users)
    return InputSpec("live", seed=args.seed, users=args.users)


class _Progress:
    """One status line on stderr every few seconds: rate, watermark, lag."""

    def __init__(self, live: bool, every_s: float = 2.0) -> None:
        self.live = live
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
            f"  dead letters {stats.dead:,}  watermark {format_ms(stats.watermark_ms)}"
        )
        if self.live and stats.watermark_ms is not None:
            lag_s = time.time() - stats.watermark_ms / 1000
            line += f"  lag {lag_s:,.1f}s"
        print(line, file=sys.stderr, flush=True)


def _cmd_run(args: argparse.Namespace) -> int:
    spec = _input_spec(args)
    rate = args.rate if args.rate is not None or not spec.is_live else DEFAULT_LIVE_RATE
    options = RunOptions(
        input=spec,
        data_dir=args.data_dir,
        config=window_config(args),
        rate=rate,
        batch_lines=args.batch_lines,
        threads=args.threads,
        serve_queries=True,
    )
    stop_requested = False

    def request_stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    print(
        f"pageviews: {spec.describe()} -> {args.data_dir}"
        + (f" at {rate:,.0f} lines/s" if rate else ""),
        file=sys.stderr,
    )
    progress = None if args.quiet else _Progress(live=spec.is_live)
    dashboard = None
    if not args.no_dashboard:
        env = pinot_reader_env(args) if args.backend == "stack" else None
        dashboard = start_dashboard(args.data_dir, args.dashboard_port, args.refresh, env)
        print(
            f"pageviews: dashboard at http://127.0.0.1:{args.dashboard_port} "
            f"(log: {args.data_dir / LOG_FILE})",
            file=sys.stderr,
        )
    try:
        if args.backend == "stack":
            return run_stack(args, spec, options.config, rate, lambda: stop_requested)
        stats = run_pipeline(options, progress, should_stop=lambda: stop_requested)
    finally:
        if dashboard is not None:
            dashboard.terminate()
            dashboard.wait(timeout=10)
    if args.stats_json is not None:
        args.stats_json.write_text(json.dumps(stats.summary()))
    if stats.already_complete:
        print("pageviews: this input was already fully processed; nothing to do.", file=sys.stderr)
        return 0
    state = "input complete" if stats.ended else "stopped; run the same command to resume"
    print(
        f"pageviews: {state}. lines {stats.lines:,} (accepted {stats.accepted:,}, "
        f"dead letters {stats.dead:,}) in {stats.seconds:.1f}s, "
        f"watermark {format_ms(stats.watermark_ms)}",
        file=sys.stderr,
    )
    return 0


def _cmd_dashboard(args: argparse.Namespace) -> int:
    command = dashboard_command(args.data_dir, args.dashboard_port, args.refresh)
    env = {**os.environ, **pinot_reader_env(args)} if args.backend == "stack" else None
    print(f"pageviews: dashboard at http://127.0.0.1:{args.dashboard_port}", file=sys.stderr)
    try:
        return subprocess.run(command, check=False, env=env).returncode  # noqa: S603 - ours
    except KeyboardInterrupt:
        return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    from pageviews.sources.generator import GeneratorConfig, write_jsonl

    config = GeneratorConfig(
        seed=args.seed,
        events=args.events,
        users=args.users,
        late_fraction=args.late_fraction,
        malformed_fraction=args.malformed_fraction,
    )
    if args.to == "stack":
        return generate_to_stack(args, config)
    to_file = args.out != "-"

    def progress(count: int) -> None:
        if to_file:
            print(f"generated {count:,} / {args.events:,}", file=sys.stderr, flush=True)

    count = write_jsonl(config, args.out, progress)
    if to_file:
        print(f"wrote {count:,} lines to {args.out}", file=sys.stderr)
    return 0


def _cmd_query(args: argparse.Namespace) -> int:
    from pageviews.store.query import format_result, run_query

    if args.backend == "stack":
        result = stack_store(args).query(args.sql)
    else:
        result = run_query(args.data_dir, args.sql)
    print(format_result(result, args.format))
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from pageviews.check.run import check_data_dir

    report, ok = check_stack(args) if args.backend == "stack" else check_data_dir(args.data_dir)
    print(report)
    return 0 if ok else 1


def _cmd_bench(args: argparse.Namespace) -> int:
    if args.backend == "stack":
        from pageviews.bench.stack import run_stack_bench

        events = args.events if args.events != BENCH_EVENTS else STACK_BENCH_EVENTS
        live_rate = args.live_rate if args.live_rate != LIVE_BENCH_RATE else STACK_LIVE_RATE
        run_stack_bench(events, args.cold, args.stack_dir, live_rate, args.live_seconds)
        return 0
    from pageviews.bench.embedded import run_bench

    run_bench(args.events, args.seed, args.live_rate, args.live_seconds, args.work_dir, args.json)
    return 0


COMMANDS = {
    "run": _cmd_run,
    "dashboard": _cmd_dashboard,
    "generate": _cmd_generate,
    "query": _cmd_query,
    "check": _cmd_check,
    "bench": _cmd_bench,
    "stack": cmd_stack,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except PageviewsError as error:
        print(f"pageviews: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except duckdb.Error as error:
        print(f"pageviews: database error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
