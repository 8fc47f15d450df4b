"""`pageviews generate`: generated events as JSONL to a file, or into the stack."""

from __future__ import annotations

import argparse
import sys
import time

from pageviews.cli import arg_types
from pageviews.cli.backend import STACK_DIR_HELP
from pageviews.cli.console import say
from pageviews.errors import UsageError
from pageviews.output_files import check_output_file
from pageviews.sources.generator import MAX_USERS, GeneratorConfig

# The flags that only one destination (--to) honours; None means not given.
FILE_ONLY_FLAGS = (("--out", "out"),)
STACK_ONLY_FLAGS = (("--rate", "rate"), ("--stack-dir", "stack_dir"))


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("generate", help="write generated events as JSONL")
    parser.add_argument("--events", type=arg_types.int_in(0), default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--users", type=arg_types.int_in(1, MAX_USERS), default=1_000)
    parser.add_argument("--late-fraction", type=arg_types.fraction, default=0.002)
    parser.add_argument("--malformed-fraction", type=arg_types.fraction, default=0.001)
    parser.add_argument(
        "--out", type=arg_types.path, metavar="FILE", help="output file (default: stdout)"
    )
    parser.add_argument(
        "--to",
        choices=("file", "stack"),
        default="file",
        help="file: JSONL to --out; stack: page views and sessions to Kafka, users to MariaDB",
    )
    parser.add_argument(
        "--rate",
        type=arg_types.positive_number,
        metavar="EV_PER_S",
        help="with --to stack: lines/s (default: max)",
    )
    parser.add_argument("--stack-dir", type=arg_types.path, help=STACK_DIR_HELP)
    parser.set_defaults(handler=command)


def command(args: argparse.Namespace) -> int:
    other_flags = STACK_ONLY_FLAGS if args.to == "file" else FILE_ONLY_FLAGS
    for flag, dest in other_flags:
        if getattr(args, dest) is not None:
            raise UsageError(f"{flag} does not apply to --to {args.to}")
    config = GeneratorConfig(
        seed=args.seed,
        events=args.events,
        users=args.users,
        late_fraction=args.late_fraction,
        malformed_fraction=args.malformed_fraction,
    )
    if args.to == "stack":
        return _generate_to_stack(args, config)
    return _generate_to_file(args, config)


def _generate_to_file(args: argparse.Namespace, config: GeneratorConfig) -> int:
    from pageviews.sources.generator import write_jsonl

    out = "-" if args.out is None else str(args.out)
    to_file = out != "-"
    if to_file:
        check_output_file(args.out, "--out")

    def progress(count: int) -> None:
        if to_file:
            say(f"generated {count:,} / {args.events:,}")

    try:
        count = write_jsonl(config, out, progress)
    except OSError as error:
        raise UsageError(f"cannot write --out {out}: {error.strerror or error}") from error
    if to_file:
        say(f"wrote {count:,} lines to {out}")
    return 0


def _generate_to_stack(args: argparse.Namespace, config: GeneratorConfig) -> int:
    from pageviews.runtimes.stack import stack_config

    stack = stack_config(args.stack_dir)  # first: it says when the `kafka` extra is missing
    from pageviews.sources.generator import generate_lines
    from pageviews.stack.produce import GenerateStats, write_lines

    # Paced runs stamp events with the wall clock, as live input; unpaced ones replay.
    clock = (lambda: int(time.time() * 1000)) if args.rate else None

    def progress(stats: GenerateStats) -> None:
        say(
            f"[{stats.seconds:6.1f}s] {stats.lines:,} / {args.events:,} lines "
            f"({stats.lines / max(stats.seconds, 1e-9):,.0f}/s): {stats.produced:,} to Kafka, "
            f"{stats.users:,} user changes to MariaDB, {stats.refused:,} refused"
        )

    stats = write_lines(stack, generate_lines(config, clock), args.rate, progress)
    progress(stats)
    for reason, count in sorted(stats.refused_reasons.items()):
        print(f"  refused {count:,}: {reason}", file=sys.stderr)
    return 0
