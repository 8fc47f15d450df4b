"""`pageviews bench`: throughput, memory and freshness of the chosen runtime, as JSON."""

from __future__ import annotations

import argparse
from pathlib import Path

from pageviews.cli.backend import RUNTIMES, STACK_DIR_HELP, choose_runtime
from pageviews.runtimes import embedded, stack
from pageviews.runtimes.base import BenchRequest


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("bench", help="measure throughput, memory and freshness (JSON)")
    parser.add_argument(
        "--events",
        type=int,
        help=f"default {embedded.BENCH_EVENTS:,} (stack: {stack.BENCH_EVENTS:,} page views)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--live-rate",
        type=float,
        help=(
            f"freshness rate (default {embedded.BENCH_LIVE_RATE:,.0f}/s; "
            f"stack {stack.BENCH_LIVE_RATE:,.0f}/s)"
        ),
    )
    parser.add_argument("--live-seconds", type=float, default=20.0)
    parser.add_argument("--work-dir", type=Path, help="where to keep the input and data dirs")
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
    parser.add_argument("--stack-dir", type=Path, help=STACK_DIR_HELP)
    parser.set_defaults(handler=command)


def command(args: argparse.Namespace) -> int:
    runtime = choose_runtime(args)
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
