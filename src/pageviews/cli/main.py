"""The parser, assembled from one module per command, and the one error handler.

A `PageviewsError` is the user's to act on: one line on stderr, exit code 2. Any other
exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

import duckdb

from pageviews.cli import bench, check, dashboard, generate, query, run, stack
from pageviews.errors import PageviewsError, UsageError

Command = Callable[[argparse.Namespace], int]


class OneLineParser(argparse.ArgumentParser):
    """A usage error is a UsageError, so one line on stderr like every other, and exit 2.

    Its subcommands' parsers are of this class too (argparse builds them with the parent's)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="pageviews",
        description=(
            "Real-time page-view analytics in event time: embedded (DuckDB), or distributed "
            "(Kafka, Flink, Pinot) with --backend stack."
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True)
    # In this order in --help.
    for module in (run, dashboard, generate, stack, query, check, bench):
        module.add_parser(commands)
    return parser


def one_line(error: BaseException) -> str:
    """An error's message on one line: DuckDB's carry a query excerpt and a caret line."""
    lines = [line.strip() for line in str(error).splitlines()]
    return " ".join(line for line in lines if line.strip("^ "))


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        command: Command = args.handler
        return command(args)
    except PageviewsError as error:
        print(f"pageviews: error: {one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except duckdb.Error as error:
        print(f"pageviews: database error: {one_line(error)}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
