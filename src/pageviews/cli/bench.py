"""`pageviews bench`: throughput, memory and freshness of the chosen runtime, as JSON."""

from __future__ import annotations

import argparse

from pageviews.cli import arg_types
from pageviews.cli.backend import RUNTIMES, STACK_DIR_HELP, choose_runtime
from pageviews.runtimes import embedded, stack
from pageviews.runtimes.base import BenchRequest
from pageviews.store.data_dir import check_data_dir


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("bench", help="measure throughput, memory and freshness (JSON)")
    parser.add_argument(
        "--events",
        type=arg_types.int_in(1),
        help=f"default {embedded.BENCH_EVENTS:,} (stack: {stack.BENCH_EVENTS:,} page views)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--live-rate",
        type=arg_types.positive_number,
        help=(
            f"freshness rate (default {embedded.BENCH_LIVE_RATE:,.0f}/s; "
            f"stack {stack.BENCH_LIVE_RATE:,.0f}/s)"
        ),
    )
    parser.add_argument("--live-seconds", type=arg_types.positive_number, default=20.0)
    parser.add_argument(
        "--work-dir", type=arg_types.path, help="where to keep the input and data dirs"
    )
    parser.add_argument("--json", action="store_true", help="print only the JSON report")
    parser.add_argument(
        "--backend",
        choices=tuple(RUNTIMES),
        default=embedded.EmbeddedRuntime.name,
        help="embedded: the DuckDB pipeline; stack: Kafka produce rate, stack up time, RSS",
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        default=None,  # None: not given (see cli/backend.py)
        help="with --backend stack: also time a cold stack up",
    )
    parser.add_argument("--stack-dir", type=arg_types.path, help=STACK_DIR_HELP)
    parser.set_defaults(handler=command)


def command(args: argparse.Namespace) -> int:
    runtime = choose_runtime(args)
    if args.work_dir is not None:
        check_data_dir(args.work_dir, "--work-dir")  # a dir that we can write in, as a data dir
    runtime.bench(
        BenchRequest(
            events=args.events,
            seed=args.seed,
            live_rate=args.live_rate,
            live_seconds=args.live_seconds,
            compact_json=args.json,
        )
    )
    return 0
